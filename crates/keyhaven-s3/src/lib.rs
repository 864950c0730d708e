//! Amazon S3 on the kernel. So far: an object version's body written and read under its encryption (`object`): sealed
//! chunk by chunk into a blob (`body`) under a data key (`data_key`) that SSE-S3's service key (`service_key`) or the
//! SSE-C customer's key (`sse_c`) keeps sealed, with the checksums S3 offers (`checksum`) and its ETag (`etag`); and
//! the bucket name rules (`names`). The buckets, object records, SSE-KMS and the wire come with the rest of the S3
//! issue.

pub mod body;
pub mod checksum;
pub mod data_key;
pub mod error;
pub mod etag;
pub mod names;
pub mod object;
pub mod service_key;
pub mod sse_c;

pub use error::S3Error;
