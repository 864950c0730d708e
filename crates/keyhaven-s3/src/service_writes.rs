//! S3 as the kernel's [`ObjectService`]: objects written by AWS services on their own (CloudTrail's log and digest
//! files), authorised as the service principal by the bucket policy alone, through the same PutObject path as a
//! client's.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::on_behalf::{ObjectFailure, ObjectService, ServiceObject};

use crate::objects::{ObjectHeaders, PutObject};
use crate::sse_kms::KmsRequest;
use crate::{S3, S3Error, SSE_KMS};

fn failure(error: S3Error) -> ObjectFailure {
    match error {
        S3Error::NoSuchBucket { .. } => ObjectFailure::NoSuchBucket,
        S3Error::AccessDenied(_) => ObjectFailure::AccessDenied,
        S3Error::Kms { code, .. } => ObjectFailure::Kms(code.to_string()),
        S3Error::Unavailable => ObjectFailure::Unavailable,
        other => ObjectFailure::Internal(format!("{other:?}")),
    }
}

impl ObjectService for S3 {
    fn check_service_access(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        key: &str,
        keys: &[(String, Vec<String>)],
    ) -> Result<(), ObjectFailure> {
        let check = || {
            let record = self.bucket(bucket)?;
            let Some(record) = record else {
                return Err(S3Error::NoSuchBucket { bucket: bucket.into() });
            };
            self.authorize(ctx, "s3:GetBucketAcl", bucket, None, Some(&record), keys)?;
            self.authorize(ctx, "s3:PutObject", bucket, Some(key), Some(&record), keys)
        };
        check().map_err(failure)
    }

    fn put_service_object(
        &self,
        ctx: &RequestContext,
        object: &ServiceObject<'_>,
        keys: &[(String, Vec<String>)],
    ) -> Result<(), ObjectFailure> {
        let put = || {
            let headers = ObjectHeaders {
                content_type: Some(object.content_type.to_string()),
                metadata: object
                    .metadata
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect(),
                ..ObjectHeaders::default()
            };
            let kms = match object.kms {
                Some((key_id, context)) => {
                    let context: serde_json::Map<String, serde_json::Value> =
                        context.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect();
                    KmsRequest {
                        key_id: Some(key_id.to_string()),
                        context: Some(STANDARD.encode(serde_json::Value::Object(context).to_string())),
                        bucket_key: None,
                    }
                }
                None => KmsRequest::default(),
            };
            let mut upload = self.begin_put(
                ctx,
                PutObject {
                    bucket: object.bucket,
                    key: object.key,
                    headers,
                    server_side_encryption: object.kms.map(|_| SSE_KMS),
                    kms,
                    keys,
                    ..PutObject::default()
                },
            )?;
            upload.write(object.body)?;
            self.finish_put(upload, None).map(|_| ())
        };
        put().map_err(failure)
    }
}
