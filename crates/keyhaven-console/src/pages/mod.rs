//! One module per section of the console; each page names the API calls it makes.

pub mod audit;
pub mod home;
pub mod iam;
pub mod kms;
pub mod s3;
pub mod secrets;
pub mod ssm;
