//! The AWS wire: SigV4, the request pipeline and its protocols (awsJson, awsQuery), error envelopes, generated shapes
//! and the adapters between them and the services.

pub mod audit_params;
pub mod authorize;
pub mod aws_chunked;
pub mod cloudtrail;
pub mod credentials;
pub mod error;
pub mod generated;
pub mod iam;
pub mod iam_credentials;
pub mod iam_resources;
pub mod iam_simulate;
pub mod kms;
pub mod logs;
pub mod pipeline;
pub mod protocol;
pub mod query;
pub mod rest_route;
pub mod rest_xml;
pub mod s3;
pub mod s3_configurations;
pub mod s3_post;
pub mod saml_federation;
pub mod secretsmanager;
pub mod server;
pub mod shapes;
pub mod sigv2;
pub mod sigv4;
pub mod ssm;
pub mod streamed;
pub mod sts;
pub mod web_identity;
