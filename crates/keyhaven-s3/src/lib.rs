//! Amazon S3 on the kernel. So far: how object bodies are stored (`body`), sealed chunk by chunk into a blob, the
//! object checksums S3 offers (`checksum`), ETags (`etag`), the bucket name rules (`names`) and SSE-C's customer
//! keys (`sse_c`). The buckets, objects, the other encryption paths and the wire come with the rest of the S3 issue.

pub mod body;
pub mod checksum;
pub mod error;
pub mod etag;
pub mod names;
pub mod sse_c;

pub use error::S3Error;
