//! Amazon S3 on the kernel. So far: how object bodies are stored (`body`), sealed chunk by chunk into a blob under
//! the object's data key (`data_key`), which SSE-S3's service key (`service_key`) or the SSE-C customer's key
//! (`sse_c`) keeps sealed; the object checksums S3 offers (`checksum`), ETags (`etag`) and the bucket name rules
//! (`names`). The buckets, objects, SSE-KMS and the wire come with the rest of the S3 issue.

pub mod body;
pub mod checksum;
pub mod data_key;
pub mod error;
pub mod etag;
pub mod names;
pub mod service_key;
pub mod sse_c;

pub use error::S3Error;
