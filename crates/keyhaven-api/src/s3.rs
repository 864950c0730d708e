//! The S3 adapter: a routed S3 request decoded through the generated shapes (`generated::s3`), run on the S3 service
//! with its body streamed in or out, and answered with the generated outputs.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use keyhaven_kernel::audit::{AuditResource, EventCategory};
use keyhaven_kernel::authz::table;
use keyhaven_kernel::context::RequestContext;
use keyhaven_s3::buckets::{
    AclWrite, BucketRecord, DefaultEncryption, NO_ENCRYPTION_TYPE, PublicAccessBlock, US_EAST_1,
};
use keyhaven_s3::checksum::ChecksumAlgorithm;
use keyhaven_s3::configurations::ConfigurationKind as Kind;
use keyhaven_s3::cors::CorsRule;
use keyhaven_s3::lifecycle;
use keyhaven_s3::multipart::{CompletedPart, Completion, CreateUpload, PartsPage, UploadPart};
use keyhaven_s3::object_lock::{DefaultRetention, LEGAL_HOLD_OFF, LEGAL_HOLD_ON, LockRequest, Retention};
use keyhaven_s3::objects::{
    self, Conditions, CopyObject, DeleteOptions, GetObject, ListObjects, ObjectRead, ObjectRecord, PutObject, Stored,
    Upload, WriteConditions,
};
use keyhaven_s3::sse_c::{CustomerKey, CustomerKeyHeaders};
use keyhaven_s3::sse_kms::KmsRequest;
use keyhaven_s3::storage_class::Restored;
use keyhaven_s3::subresources::{ObjectVersion, parse_tagging_header, request_tag_keys};
use keyhaven_s3::versions::ListVersions;
use keyhaven_s3::{Page, S3Error};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::{ApiError, s3_error};
use crate::generated::s3 as wire;
use crate::pipeline::Outcome;
use crate::protocol::rest_xml::{PREFLIGHT, query_pairs};
use crate::protocol::{Answer, Call, RequestBody, Success};
use crate::rest_route::Addressed;
use crate::rest_xml::{DecodeError, HttpRequest, Reply, Timestamp};
use crate::s3_configurations as config;

/// The largest XML or text payload an S3 request may carry (DeleteObjects with 1,000 keys of 1,024 bytes fits).
const MAX_PAYLOAD: usize = 2 * 1024 * 1024;
/// Decrypted chunks in flight between the reader and the connection.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Decodes, authorises and runs one S3 call to the bucket and key `addressed` names.
pub async fn execute(call: Call<'_>, addressed: Option<Addressed>, outcome: &mut Outcome) -> Answer {
    let Call {
        state,
        parts,
        mut body,
        route,
        ctx,
        origin,
    } = call;
    let calls = ctx.as_ref().map(|c| c.service_calls.clone());
    let bucket = addressed.as_ref().and_then(|a| a.bucket.clone());
    let answer = match addressed {
        // A form upload authenticates itself, from its fields.
        Some(address) if route.operation == crate::s3_post::POST_OBJECT => {
            crate::s3_post::post_object(state, parts, &address, &mut body, origin, outcome).await
        }
        // A streamed body's chunk or trailer signature fails as the request's own would.
        Some(address) => execute_with(state, parts, &address, &mut body, &route.operation, ctx, outcome)
            .await
            .map_err(crate::protocol::rest_xml::authentication_error),
        None => Err(ApiError::internal()),
    };
    // KMS calls made on the caller's behalf (SSE-KMS), each audited as KMS's own.
    if let Some(calls) = calls {
        outcome.service_calls = calls.drain();
    }
    let answer = match (answer, bucket) {
        (Ok(Success::Http(response)), Some(bucket)) if route.operation != PREFLIGHT => {
            Ok(Success::Http(with_cors_headers(state, parts, &bucket, response)))
        }
        (answer, _) => answer,
    };
    // A body left unread ends the connection. So does an empty one sent with `Expect: 100-continue`: the server
    // never polls it, so no `100 Continue` goes out, and botocore, having had the final answer instead, misreads
    // the next answer on the connection.
    let empty_expecting = parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
        && parts
            .headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
    if empty_expecting || matches!(&body, RequestBody::Streamed(stream) if !stream.is_finished()) {
        outcome.unread_body = true;
    }
    answer
}

/// A CORS preflight, answered from the bucket's rules.
fn preflight(state: &crate::server::AppState, parts: &Parts, address: &Addressed) -> Answer {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let headers = state
        .core
        .s3
        .preflight(
            address.bucket.as_deref().unwrap_or_default(),
            header("origin"),
            header("access-control-request-method"),
            header("access-control-request-headers"),
        )
        .map_err(s3_error)?;
    let mut response = Response::new(Body::empty());
    add_headers(&mut response, headers);
    Ok(Success::Http(response))
}

/// An answer to a cross-origin request (one with `Origin`) with the `Access-Control-*` headers a CORS rule of the
/// bucket gives it.
fn with_cors_headers(state: &crate::server::AppState, parts: &Parts, bucket: &str, mut response: Response) -> Response {
    let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return response;
    };
    if let Ok(headers) = state.core.s3.cors_headers(bucket, origin, parts.method.as_str()) {
        add_headers(&mut response, headers);
    }
    response
}

fn add_headers(response: &mut Response, headers: keyhaven_s3::cors::CorsHeaders) {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
}

async fn execute_with(
    state: &crate::server::AppState,
    parts: &Parts,
    address: &Addressed,
    body: &mut RequestBody,
    operation: &str,
    ctx: Option<RequestContext>,
    outcome: &mut Outcome,
) -> Answer {
    if operation == PREFLIGHT {
        return preflight(state, parts, address);
    }

    let ctx = ctx.ok_or_else(ApiError::internal)?;
    let query = query_pairs(parts);
    let payload = if wire::PAYLOAD_OPERATIONS.contains(&operation) {
        read_payload(body).await?
    } else {
        Vec::new()
    };
    let headers = request_headers(parts, &query, ctx.signature_v2);
    let http = HttpRequest {
        bucket: address.bucket.as_deref(),
        key: address.key.as_deref(),
        query: &query,
        headers: &headers,
        payload: &payload,
    };
    let request = wire::Request::decode(operation, &http)
        .map_err(decode_error)?
        .ok_or_else(|| ApiError {
            unserved: true,
            ..ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                format!("{operation} is not supported by this server yet."),
            )
        })?;
    let mut parameters = request.audit_parameters();
    if let Some(host) = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        parameters.insert("Host".into(), Value::String(host.to_string()));
    }
    outcome.request_parameters = Value::Object(parameters);
    outcome.read_only = ["Get", "Head", "List"].iter().any(|p| operation.starts_with(p));
    (outcome.category, outcome.resources) = audit_resources(address, operation, ctx.account_id());
    let keys = condition_keys(&headers, &query, ctx.signature_v2);
    let s3 = &state.core.s3;
    let run = Run {
        s3,
        ctx: &ctx,
        parts,
        keys: &keys,
    };
    let reply = match request {
        wire::Request::PutObject(r) => return run.put_object(r, body).await,
        wire::Request::UploadPart(r) => return run.upload_part(r, body).await,
        wire::Request::GetObject(r) => return run.get_object(r, &query),
        wire::Request::HeadObject(r) => return run.head_object(r),
        other => tokio::task::block_in_place(|| run.execute(other)).map_err(s3_error)?,
    };
    Ok(Success::Http(into_response(reply, Body::empty())))
}

/// How CloudTrail records an S3 call: operations on objects (a key, or DeleteObjects' keys) are data events, the rest
/// management events; the bucket and object are its resources.
fn audit_resources(address: &Addressed, operation: &str, account: &str) -> (EventCategory, Vec<AuditResource>) {
    let Some(bucket) = address.bucket.as_deref() else {
        return (EventCategory::Management, Vec::new());
    };
    let bucket_resource = AuditResource {
        arn: keyhaven_s3::buckets::bucket_arn(bucket),
        resource_type: "AWS::S3::Bucket",
        account_id: account.to_string(),
    };
    match address.key.as_deref() {
        Some(key) => (
            EventCategory::Data,
            vec![
                AuditResource {
                    arn: format!("{}/{key}", bucket_resource.arn),
                    resource_type: "AWS::S3::Object",
                    account_id: account.to_string(),
                },
                bucket_resource,
            ],
        ),
        None if operation == "DeleteObjects" => (EventCategory::Data, vec![bucket_resource]),
        None => (EventCategory::Management, vec![bucket_resource]),
    }
}

/// The members GetObject and HeadObject answer alike, from the object's record.
macro_rules! object_output {
    ($output:ty, $record:expr) => {{
        let record: &ObjectRecord = $record;
        let customer_key_md5 = record.customer_key_md5().map(str::to_string);
        let headers = &record.headers;
        <$output>::default_with(|o| {
            o.accept_ranges = Some("bytes".into());
            o.e_tag = Some(record.etag.clone());
            o.last_modified = Some(timestamp(record.last_modified));
            o.content_type = Some(
                headers
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "binary/octet-stream".into()),
            );
            o.content_encoding = headers.content_encoding.clone();
            o.content_disposition = headers.content_disposition.clone();
            o.content_language = headers.content_language.clone();
            o.cache_control = headers.cache_control.clone();
            o.expires = headers.expires.clone();
            o.metadata = (!headers.metadata.is_empty()).then(|| headers.metadata.clone());
            o.server_side_encryption = customer_key_md5
                .is_none()
                .then(|| record.server_side_encryption.clone());
            o.sse_customer_algorithm = customer_key_md5
                .as_ref()
                .map(|_| keyhaven_s3::sse_c::ALGORITHM.to_string());
            o.sse_customer_key_md5 = customer_key_md5;
            o.version_id = record.version_id.clone();
            o.storage_class = (record.storage_class() != keyhaven_s3::storage_class::STANDARD)
                .then(|| record.storage_class().to_string());
            o.website_redirect_location = headers.website_redirect_location.clone();
            o.restore = record.restored_until.map(|until| {
                let expiry = timestamp(until).format(crate::rest_xml::TimeFormat::HttpDate);
                format!("ongoing-request=\"false\", expiry-date=\"{expiry}\"")
            });
            o.object_lock_mode = headers.retention.as_ref().map(|r| r.mode.clone());
            o.object_lock_retain_until_date = headers.retention.as_ref().map(|r| timestamp(r.until));
            o.object_lock_legal_hold_status = record
                .headers
                .legal_hold
                .map(|on| if on { LEGAL_HOLD_ON } else { LEGAL_HOLD_OFF }.to_string());
            o.tag_count = (!headers.tags.is_empty()).then(|| i32::try_from(headers.tags.len()).unwrap_or(i32::MAX));
            if let Some((arn, bucket_key, _)) = record.kms() {
                o.ssekms_key_id = Some(arn.to_string().into());
                o.bucket_key_enabled = bucket_key.then_some(true);
            }
        })
    }};
}

/// What a PutObject, CopyObject or CreateMultipartUpload stores with the object besides its body; a storage class
/// outside the model's enum is refused.
macro_rules! object_headers {
    ($request:expr, $tags:expr) => {
        keyhaven_s3::storage_class::requested($request.storage_class.as_deref(), wire::enums::STORAGE_CLASS).map(
            |storage_class| objects::ObjectHeaders {
                content_type: $request.content_type.clone(),
                content_encoding: $request.content_encoding.clone(),
                content_disposition: $request.content_disposition.clone(),
                content_language: $request.content_language.clone(),
                cache_control: $request.cache_control.clone(),
                expires: $request.expires.clone(),
                metadata: $request.metadata.clone().unwrap_or_default(),
                tags: $tags,
                storage_class,
                website_redirect_location: $request.website_redirect_location.clone(),
                retention: None,
                legal_hold: None,
            },
        )
    };
}

/// The Object Lock headers of a request that writes a version.
macro_rules! lock_request {
    ($request:expr) => {
        LockRequest {
            mode: $request.object_lock_mode.clone(),
            retain_until: $request.object_lock_retain_until_date.as_ref().map(millis),
            legal_hold: $request.object_lock_legal_hold_status.clone(),
        }
    };
}

/// The SSE-KMS headers of a request that writes a body.
macro_rules! kms_request {
    ($request:expr) => {
        KmsRequest {
            key_id: $request.ssekms_key_id.as_ref().map(|k| k.expose().to_string()),
            context: $request
                .ssekms_encryption_context
                .as_ref()
                .map(|c| c.expose().to_string()),
            bucket_key: $request.bucket_key_enabled,
        }
    };
}

/// The members a write answers about its encryption, from what was stored.
macro_rules! encryption_members {
    ($output:expr, $stored:expr) => {{
        let (output, stored) = (&mut $output, &$stored);
        output.server_side_encryption = stored
            .customer_key_md5
            .is_none()
            .then(|| stored.server_side_encryption.clone());
        output.sse_customer_algorithm = stored
            .customer_key_md5
            .as_ref()
            .map(|_| keyhaven_s3::sse_c::ALGORITHM.to_string());
        output.sse_customer_key_md5 = stored.customer_key_md5.clone();
        if let Some((arn, bucket_key, _)) = &stored.kms {
            output.ssekms_key_id = Some(arn.clone().into());
            output.bucket_key_enabled = bucket_key.then_some(true);
        }
    }};
}

/// The ACL a request sets, from its `x-amz-acl`, `x-amz-grant-*` headers and `AccessControlPolicy` payload.
macro_rules! acl_write {
    ($request:expr) => {
        AclWrite {
            canned: $request.acl.clone(),
            grant_headers: $request.grant_full_control.is_some()
                || $request.grant_read.is_some()
                || $request.grant_read_acp.is_some()
                || $request.grant_write.is_some()
                || $request.grant_write_acp.is_some(),
            grants: $request
                .access_control_policy
                .iter()
                .flat_map(|p| p.grants.iter().flatten())
                .map(|g| {
                    let grantee = g.grantee.as_ref();
                    (
                        grantee
                            .and_then(|g| {
                                g.id.clone()
                                    .or_else(|| g.uri.clone())
                                    .or_else(|| g.email_address.clone())
                            })
                            .unwrap_or_default(),
                        g.permission.clone().unwrap_or_default(),
                    )
                })
                .collect(),
        }
    };
}

/// GetObject and HeadObject alike: the version the request names opened (its body too when `$body`), and the answer's
/// members for it, its length and range.
macro_rules! read_object {
    ($run:expr, $request:expr, $output:ty, $body:expr) => {{
        let (run, r) = ($run, &$request);
        let customer_key = customer_key!(r, None).map_err(s3_error)?;
        let get = GetObject {
            bucket: r.bucket.as_deref().unwrap_or_default(),
            key: r.key.as_deref().unwrap_or_default(),
            customer_key,
            conditions: Conditions {
                if_match: r.if_match.clone(),
                if_none_match: r.if_none_match.clone(),
                if_modified_since: r.if_modified_since.map(|t| t.0.unix_timestamp()),
                if_unmodified_since: r.if_unmodified_since.map(|t| t.0.unix_timestamp()),
            },
            range: r.range.as_deref(),
            version_id: r.version_id.as_deref(),
            part_number: r.part_number,
            keys: run.keys,
        };
        let read = tokio::task::block_in_place(|| run.s3.get_object(run.ctx, get, $body)).map_err(s3_error)?;
        let record = &read.record;
        let mut output = object_output!($output, record);
        output.content_length = Some(i64::try_from(read.content_length()).unwrap_or(i64::MAX));
        if let Some((start, end)) = read.range {
            output.content_range = Some(format!("bytes {start}-{}/{}", end - 1, record.size));
        } else {
            set_checksum(&mut output, record.checksum.as_ref());
        }
        if r.part_number.is_some() {
            output.parts_count = record.parts_count.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        }
        (read, output)
    }};
}

/// The SSE-C key a request carries in its `x-amz-server-side-encryption-customer-*` headers (with the
/// `x-amz-server-side-encryption` it must not also carry), checked as S3 checks it.
macro_rules! customer_key {
    ($request:expr, $server_side_encryption:expr) => {
        CustomerKey::from_headers(CustomerKeyHeaders {
            algorithm: $request.sse_customer_algorithm.as_deref(),
            key: $request.sse_customer_key.as_ref().map(|k| k.expose()),
            key_md5: $request.sse_customer_key_md5.as_deref(),
            server_side_encryption: $server_side_encryption,
        })
    };
}

/// The SSE-C key of a copy's source (`x-amz-copy-source-server-side-encryption-customer-*`).
macro_rules! source_customer_key {
    ($request:expr) => {
        CustomerKey::from_headers(CustomerKeyHeaders {
            algorithm: $request.copy_source_sse_customer_algorithm.as_deref(),
            key: $request.copy_source_sse_customer_key.as_ref().map(|k| k.expose()),
            key_md5: $request.copy_source_sse_customer_key_md5.as_deref(),
            server_side_encryption: None,
        })
    };
}

/// What one call runs with.
struct Run<'a> {
    s3: &'a keyhaven_s3::S3,
    ctx: &'a RequestContext,
    parts: &'a Parts,
    keys: &'a [(String, Vec<String>)],
}

impl Run<'_> {
    /// The operations whose request and answer are small: run on the store, answered whole.
    fn execute(&self, request: wire::Request) -> Result<Reply, S3Error> {
        let (s3, ctx) = (self.s3, self.ctx);
        Ok(match request {
            wire::Request::CreateBucket(r) => {
                let name = r.bucket.unwrap_or_default();
                let constraint = r.create_bucket_configuration.and_then(|c| c.location_constraint);
                s3.create_bucket(
                    ctx,
                    &name,
                    constraint.as_deref(),
                    r.object_ownership.as_deref(),
                    (
                        r.object_lock_enabled_for_bucket.unwrap_or(false),
                        r.bucket_namespace.as_deref(),
                    ),
                )?;
                wire::CreateBucketOutput {
                    location: Some(format!("/{name}")),
                    ..Default::default()
                }
                .reply()
            }
            wire::Request::DeleteBucket(r) => {
                s3.delete_bucket(ctx, &r.bucket.unwrap_or_default())?;
                wire::DeleteBucketOutput::default().reply()
            }
            wire::Request::HeadBucket(r) => {
                let bucket = s3.head_bucket(ctx, &r.bucket.unwrap_or_default())?;
                let mut reply = wire::HeadBucketOutput {
                    bucket_region: Some(bucket.region),
                    ..Default::default()
                }
                .reply();
                // S3 labels the bodiless answer XML all the same (moto's AWS-verified test_header_content_type).
                reply
                    .headers
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
                reply
            }
            wire::Request::ListBuckets(r) => self.list_buckets(r)?,
            wire::Request::GetBucketLocation(r) => {
                let bucket = s3.get_bucket_location(ctx, &r.bucket.unwrap_or_default())?;
                wire::GetBucketLocationOutput {
                    location_constraint: Some(location_constraint(&bucket)),
                }
                .reply()
            }
            wire::Request::GetBucketVersioning(r) => wire::GetBucketVersioningOutput {
                status: s3.get_bucket_versioning(ctx, &r.bucket.unwrap_or_default())?,
                mfa_delete: None,
            }
            .reply(),
            wire::Request::PutBucketVersioning(r) => {
                let status = r
                    .versioning_configuration
                    .ok_or(S3Error::MalformedXml)?
                    .status
                    .ok_or(S3Error::IllegalVersioningConfiguration)?;
                s3.put_bucket_versioning(ctx, &r.bucket.unwrap_or_default(), &status)?;
                wire::PutBucketVersioningOutput::default().reply()
            }
            wire::Request::ListObjectVersions(r) => self.list_object_versions(r)?,
            wire::Request::GetBucketEncryption(r) => {
                let (encryption, blocked) = s3.get_bucket_encryption(ctx, &r.bucket.unwrap_or_default())?;
                wire::GetBucketEncryptionOutput {
                    server_side_encryption_configuration: Some(encryption_configuration(encryption, blocked)),
                }
                .reply()
            }
            wire::Request::PutBucketEncryption(r) => {
                let rule = r
                    .server_side_encryption_configuration
                    .and_then(|c| c.rules)
                    .and_then(|rules| rules.into_iter().next())
                    .ok_or(S3Error::MalformedXml)?;
                let default = rule
                    .apply_server_side_encryption_by_default
                    .ok_or(S3Error::MalformedXml)?;
                let encryption = DefaultEncryption {
                    algorithm: default.sse_algorithm.ok_or(S3Error::MalformedXml)?,
                    kms_key_id: default.kms_master_key_id.map(|k| k.expose().to_string()),
                    bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
                };
                let blocked = rule
                    .blocked_encryption_types
                    .map(|b| b.encryption_type.unwrap_or_default());
                s3.put_bucket_encryption(ctx, &r.bucket.unwrap_or_default(), encryption, blocked)?;
                wire::PutBucketEncryptionOutput::default().reply()
            }
            wire::Request::DeleteBucketEncryption(r) => {
                s3.delete_bucket_encryption(ctx, &r.bucket.unwrap_or_default())?;
                wire::DeleteBucketEncryptionOutput::default().reply()
            }
            wire::Request::GetBucketTagging(r) => {
                let tags = s3.get_bucket_tagging(ctx, &r.bucket.unwrap_or_default())?;
                wire::GetBucketTaggingOutput {
                    tag_set: Some(tag_set(tags)),
                }
                .reply()
            }
            wire::Request::PutBucketTagging(r) => {
                let tags = r
                    .tagging
                    .and_then(|t| t.tag_set)
                    .ok_or(S3Error::MalformedXml)?
                    .into_iter()
                    .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
                    .collect();
                s3.put_bucket_tagging(ctx, &r.bucket.unwrap_or_default(), tags)?;
                // S3 answers 204 No Content here, though the model declares no status (moto's AWS-verified
                // test_put_bucket_tagging records it).
                Reply {
                    status: 204,
                    ..wire::PutBucketTaggingOutput::default().reply()
                }
            }
            wire::Request::DeleteBucketTagging(r) => {
                s3.delete_bucket_tagging(ctx, &r.bucket.unwrap_or_default())?;
                wire::DeleteBucketTaggingOutput::default().reply()
            }
            wire::Request::PutBucketPolicy(r) => {
                let policy = r
                    .policy
                    .ok_or(S3Error::MalformedPolicy("Missing required field Statement".into()))?;
                s3.put_bucket_policy(ctx, &r.bucket.unwrap_or_default(), &policy)?;
                wire::PutBucketPolicyOutput::default().reply()
            }
            wire::Request::GetBucketPolicy(r) => wire::GetBucketPolicyOutput {
                policy: Some(s3.get_bucket_policy(ctx, &r.bucket.unwrap_or_default())?),
            }
            .reply(),
            wire::Request::DeleteBucketPolicy(r) => {
                s3.delete_bucket_policy(ctx, &r.bucket.unwrap_or_default())?;
                wire::DeleteBucketPolicyOutput::default().reply()
            }
            wire::Request::GetBucketPolicyStatus(r) => wire::GetBucketPolicyStatusOutput {
                policy_status: Some(wire::PolicyStatus {
                    is_public: Some(s3.get_bucket_policy_status(ctx, &r.bucket.unwrap_or_default())?),
                }),
            }
            .reply(),
            wire::Request::PutPublicAccessBlock(r) => {
                let c = r.public_access_block_configuration.ok_or(S3Error::MalformedXml)?;
                let block = PublicAccessBlock {
                    block_public_acls: c.block_public_acls.unwrap_or(false),
                    ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
                    block_public_policy: c.block_public_policy.unwrap_or(false),
                    restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
                };
                s3.put_public_access_block(ctx, &r.bucket.unwrap_or_default(), block)?;
                wire::PutPublicAccessBlockOutput::default().reply()
            }
            wire::Request::GetPublicAccessBlock(r) => {
                let block = s3.get_public_access_block(ctx, &r.bucket.unwrap_or_default())?;
                wire::GetPublicAccessBlockOutput {
                    public_access_block_configuration: Some(wire::PublicAccessBlockConfiguration {
                        block_public_acls: Some(block.block_public_acls),
                        ignore_public_acls: Some(block.ignore_public_acls),
                        block_public_policy: Some(block.block_public_policy),
                        restrict_public_buckets: Some(block.restrict_public_buckets),
                    }),
                }
                .reply()
            }
            wire::Request::DeletePublicAccessBlock(r) => {
                s3.delete_public_access_block(ctx, &r.bucket.unwrap_or_default())?;
                wire::DeletePublicAccessBlockOutput::default().reply()
            }
            wire::Request::PutBucketOwnershipControls(r) => {
                let ownership = r
                    .ownership_controls
                    .and_then(|c| c.rules)
                    .and_then(|rules| rules.into_iter().next())
                    .and_then(|rule| rule.object_ownership)
                    .ok_or(S3Error::MalformedXml)?;
                s3.put_ownership_controls(ctx, &r.bucket.unwrap_or_default(), &ownership)?;
                wire::PutBucketOwnershipControlsOutput::default().reply()
            }
            wire::Request::GetBucketOwnershipControls(r) => wire::GetBucketOwnershipControlsOutput {
                ownership_controls: Some(wire::OwnershipControls {
                    rules: Some(vec![wire::OwnershipControlsRule {
                        object_ownership: Some(s3.get_ownership_controls(ctx, &r.bucket.unwrap_or_default())?),
                    }]),
                }),
            }
            .reply(),
            wire::Request::DeleteBucketOwnershipControls(r) => {
                s3.delete_ownership_controls(ctx, &r.bucket.unwrap_or_default())?;
                wire::DeleteBucketOwnershipControlsOutput::default().reply()
            }
            wire::Request::PutBucketNotificationConfiguration(r) => {
                let configuration = r.notification_configuration.unwrap_or_default();
                let destinations: Vec<String> = (configuration.topic_configurations.unwrap_or_default().into_iter())
                    .filter_map(|c| c.topic_arn)
                    .chain(
                        (configuration.queue_configurations.unwrap_or_default().into_iter())
                            .filter_map(|c| c.queue_arn),
                    )
                    .chain(
                        (configuration
                            .lambda_function_configurations
                            .unwrap_or_default()
                            .into_iter())
                        .filter_map(|c| c.lambda_function_arn),
                    )
                    .collect();
                let event_bridge = configuration.event_bridge_configuration.is_some();
                s3.put_notification_configuration(ctx, &r.bucket.unwrap_or_default(), event_bridge, &destinations)?;
                wire::PutBucketNotificationConfigurationOutput::default().reply()
            }
            wire::Request::GetBucketNotificationConfiguration(r) => wire::GetBucketNotificationConfigurationOutput {
                event_bridge_configuration: s3
                    .get_event_bridge(ctx, &r.bucket.unwrap_or_default())?
                    .then(wire::EventBridgeConfiguration::default),
                ..Default::default()
            }
            .reply(),
            wire::Request::DeleteObject(r) => {
                let deleted = s3.delete_object(
                    ctx,
                    &r.bucket.unwrap_or_default(),
                    &r.key.unwrap_or_default(),
                    DeleteOptions {
                        version_id: r.version_id.as_deref(),
                        if_match: r.if_match.as_deref(),
                        bypass_governance: r.bypass_governance_retention,
                    },
                    self.keys,
                )?;
                wire::DeleteObjectOutput {
                    delete_marker: deleted.delete_marker.then_some(true),
                    version_id: deleted.version_id,
                    request_charged: None,
                }
                .reply()
            }
            wire::Request::DeleteObjects(r) => self.delete_objects(r)?,
            wire::Request::GetBucketAcl(r) => {
                let account = s3.get_bucket_acl(ctx, &r.bucket.unwrap_or_default())?;
                wire::GetBucketAclOutput {
                    owner: Some(owner(&account)),
                    grants: Some(owner_full_control(&account)),
                }
                .reply()
            }
            wire::Request::PutBucketAcl(r) => {
                let acl = acl_write!(r);
                s3.put_bucket_acl(ctx, &r.bucket.unwrap_or_default(), &acl)?;
                wire::PutBucketAclOutput::default().reply()
            }
            wire::Request::GetObjectAcl(r) => {
                let (bucket, key) = (r.bucket.unwrap_or_default(), r.key.unwrap_or_default());
                let account = s3.get_object_acl(ctx, self.object_version(&bucket, &key, r.version_id.as_deref()))?;
                wire::GetObjectAclOutput {
                    owner: Some(owner(&account)),
                    grants: Some(owner_full_control(&account)),
                    request_charged: None,
                }
                .reply()
            }
            wire::Request::PutObjectAcl(r) => {
                let acl = acl_write!(r);
                let (bucket, key) = (r.bucket.unwrap_or_default(), r.key.unwrap_or_default());
                s3.put_object_acl(ctx, self.object_version(&bucket, &key, r.version_id.as_deref()), &acl)?;
                wire::PutObjectAclOutput::default().reply()
            }
            wire::Request::GetObjectTagging(r) => {
                let (bucket, key) = (r.bucket.unwrap_or_default(), r.key.unwrap_or_default());
                let record = s3.get_object_tagging(ctx, self.object_version(&bucket, &key, r.version_id.as_deref()))?;
                wire::GetObjectTaggingOutput {
                    version_id: record.version_id,
                    tag_set: Some(tag_set(record.headers.tags)),
                }
                .reply()
            }
            wire::Request::PutObjectTagging(r) => {
                let tags = r
                    .tagging
                    .and_then(|t| t.tag_set)
                    .ok_or(S3Error::MalformedXml)?
                    .into_iter()
                    .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
                    .collect();
                let (bucket, key) = (r.bucket.unwrap_or_default(), r.key.unwrap_or_default());
                let target = self.object_version(&bucket, &key, r.version_id.as_deref());
                wire::PutObjectTaggingOutput {
                    version_id: s3.put_object_tagging(ctx, "s3:PutObjectTagging", target, tags)?,
                }
                .reply()
            }
            wire::Request::PutObjectLockConfiguration(r) => {
                let configuration = r
                    .object_lock_configuration
                    .map(|c| {
                        // A Rule must hold a DefaultRetention, and that a Mode.
                        let rule = match c.rule {
                            None => None,
                            Some(rule) => {
                                let retention = rule.default_retention.ok_or(S3Error::MalformedXml)?;
                                Some(DefaultRetention {
                                    mode: retention.mode.ok_or(S3Error::MalformedXml)?,
                                    days: retention.days,
                                    years: retention.years,
                                })
                            }
                        };
                        Ok::<_, S3Error>((c.object_lock_enabled, rule))
                    })
                    .transpose()?;
                let configuration = configuration
                    .as_ref()
                    .map(|(enabled, rule)| (enabled.as_deref(), rule.clone()));
                s3.put_object_lock_configuration(ctx, &r.bucket.unwrap_or_default(), configuration)?;
                wire::PutObjectLockConfigurationOutput::default().reply()
            }
            wire::Request::GetObjectLockConfiguration(r) => {
                let configuration = s3.get_object_lock_configuration(ctx, &r.bucket.unwrap_or_default())?;
                wire::GetObjectLockConfigurationOutput {
                    object_lock_configuration: Some(wire::ObjectLockConfiguration {
                        object_lock_enabled: Some("Enabled".into()),
                        rule: configuration.default_retention.map(|d| wire::ObjectLockRule {
                            default_retention: Some(wire::DefaultRetention {
                                mode: Some(d.mode),
                                days: d.days,
                                years: d.years,
                            }),
                        }),
                    }),
                }
                .reply()
            }
            wire::Request::PutObjectRetention(r) => {
                let (bucket, key) = (r.bucket.unwrap_or_default(), r.key.unwrap_or_default());
                let target = self.object_version(&bucket, &key, r.version_id.as_deref());
                let retention = match r.retention {
                    None => return Err(S3Error::MissingRequestBody),
                    Some(wire::ObjectLockRetention {
                        mode: Some(mode),
                        retain_until_date: Some(until),
                    }) => Some(Retention {
                        mode,
                        until: millis(&until),
                    }),
                    Some(wire::ObjectLockRetention {
                        mode: None,
                        retain_until_date: None,
                    }) => None,
                    Some(_) => return Err(S3Error::MalformedXml),
                };
                let bypass = r.bypass_governance_retention.unwrap_or(false);
                s3.put_object_retention(ctx, target, retention, bypass)?;
                wire::PutObjectRetentionOutput::default().reply()
            }
            wire::Request::GetObjectRetention(r) => {
                let (bucket, key) = (r.bucket.unwrap_or_default(), r.key.unwrap_or_default());
                let retention =
                    s3.get_object_retention(ctx, self.object_version(&bucket, &key, r.version_id.as_deref()))?;
                wire::GetObjectRetentionOutput {
                    retention: Some(wire::ObjectLockRetention {
                        mode: Some(retention.mode),
                        retain_until_date: Some(timestamp(retention.until)),
                    }),
                }
                .reply()
            }
            wire::Request::PutObjectLegalHold(r) => {
                let (bucket, key) = (r.bucket.unwrap_or_default(), r.key.unwrap_or_default());
                let target = self.object_version(&bucket, &key, r.version_id.as_deref());
                let status = r.legal_hold.ok_or(S3Error::MissingRequestBody)?.status;
                s3.put_object_legal_hold(ctx, target, status.as_deref())?;
                wire::PutObjectLegalHoldOutput::default().reply()
            }
            wire::Request::GetObjectLegalHold(r) => {
                let (bucket, key) = (r.bucket.unwrap_or_default(), r.key.unwrap_or_default());
                let held =
                    s3.get_object_legal_hold(ctx, self.object_version(&bucket, &key, r.version_id.as_deref()))?;
                wire::GetObjectLegalHoldOutput {
                    legal_hold: Some(wire::ObjectLockLegalHold {
                        status: Some(if held { LEGAL_HOLD_ON } else { LEGAL_HOLD_OFF }.to_string()),
                    }),
                }
                .reply()
            }
            wire::Request::PutBucketLifecycleConfiguration(r) => {
                let rules = r
                    .lifecycle_configuration
                    .ok_or(S3Error::MissingRequestBody)?
                    .rules
                    .unwrap_or_default()
                    .into_iter()
                    .map(lifecycle_rule)
                    .collect::<Result<Vec<_>, _>>()?;
                let bucket = r.bucket.unwrap_or_default();
                s3.put_bucket_lifecycle(ctx, &bucket, rules)?;
                wire::PutBucketLifecycleConfigurationOutput::default().reply()
            }
            wire::Request::GetBucketLifecycleConfiguration(r) => {
                let rules = s3.get_bucket_lifecycle(ctx, &r.bucket.unwrap_or_default())?;
                wire::GetBucketLifecycleConfigurationOutput {
                    rules: Some(rules.into_iter().map(wire_lifecycle_rule).collect()),
                    transition_default_minimum_object_size: None,
                }
                .reply()
            }
            wire::Request::DeleteBucketLifecycle(r) => {
                s3.delete_bucket_lifecycle(ctx, &r.bucket.unwrap_or_default())?;
                wire::DeleteBucketLifecycleOutput::default().reply()
            }
            wire::Request::PutBucketAccelerateConfiguration(r) => {
                let status = r.accelerate_configuration.and_then(|c| c.status);
                s3.put_bucket_accelerate(ctx, &r.bucket.unwrap_or_default(), status.as_deref())?;
                wire::PutBucketAccelerateConfigurationOutput::default().reply()
            }
            wire::Request::GetBucketAccelerateConfiguration(r) => wire::GetBucketAccelerateConfigurationOutput {
                status: s3.get_bucket_accelerate(ctx, &r.bucket.unwrap_or_default())?,
                request_charged: None,
            }
            .reply(),
            wire::Request::PutBucketCors(r) => {
                let rules = r
                    .cors_configuration
                    .ok_or(S3Error::MissingRequestBody)?
                    .cors_rules
                    .unwrap_or_default()
                    .into_iter()
                    .map(|rule| CorsRule {
                        id: rule.id,
                        allowed_origins: rule.allowed_origins.unwrap_or_default(),
                        allowed_methods: rule.allowed_methods.unwrap_or_default(),
                        allowed_headers: rule.allowed_headers.unwrap_or_default(),
                        expose_headers: rule.expose_headers.unwrap_or_default(),
                        max_age_seconds: rule.max_age_seconds,
                    })
                    .collect();
                s3.put_bucket_cors(ctx, &r.bucket.unwrap_or_default(), rules)?;
                wire::PutBucketCorsOutput::default().reply()
            }
            wire::Request::GetBucketCors(r) => {
                let rules = s3.get_bucket_cors(ctx, &r.bucket.unwrap_or_default())?;
                let listed = |values: Vec<String>| (!values.is_empty()).then_some(values);
                wire::GetBucketCorsOutput {
                    cors_rules: Some(
                        rules
                            .into_iter()
                            .map(|rule| wire::CORSRule {
                                id: rule.id,
                                allowed_origins: Some(rule.allowed_origins),
                                allowed_methods: Some(rule.allowed_methods),
                                allowed_headers: listed(rule.allowed_headers),
                                expose_headers: listed(rule.expose_headers),
                                max_age_seconds: rule.max_age_seconds,
                            })
                            .collect(),
                    ),
                }
                .reply()
            }
            wire::Request::DeleteBucketCors(r) => {
                s3.delete_bucket_cors(ctx, &r.bucket.unwrap_or_default())?;
                wire::DeleteBucketCorsOutput::default().reply()
            }
            wire::Request::PutBucketWebsite(r) => {
                let configuration = r.website_configuration.ok_or(S3Error::MissingRequestBody)?;
                s3.put_bucket_website(ctx, &r.bucket.unwrap_or_default(), config::website(configuration))?;
                wire::PutBucketWebsiteOutput::default().reply()
            }
            wire::Request::GetBucketWebsite(r) => {
                config::website_output(s3.get_bucket_website(ctx, &r.bucket.unwrap_or_default())?).reply()
            }
            wire::Request::DeleteBucketWebsite(r) => {
                s3.delete_bucket_website(ctx, &r.bucket.unwrap_or_default())?;
                wire::DeleteBucketWebsiteOutput::default().reply()
            }
            wire::Request::PutBucketReplication(r) => {
                let configuration = r.replication_configuration.ok_or(S3Error::MissingRequestBody)?;
                let destinations = config::replication_destinations(&configuration);
                let document = config::document("ReplicationConfiguration", &configuration);
                s3.put_bucket_replication(ctx, &r.bucket.unwrap_or_default(), &destinations, document)?;
                wire::PutBucketReplicationOutput::default().reply()
            }
            wire::Request::GetBucketReplication(r) => {
                let kept =
                    s3.require_bucket_configuration(ctx, &r.bucket.unwrap_or_default(), Kind::Replication, None)?;
                wire::GetBucketReplicationOutput {
                    replication_configuration: Some(config::read_document(&kept)?),
                }
                .reply()
            }
            wire::Request::DeleteBucketReplication(r) => {
                s3.delete_bucket_configuration(ctx, &r.bucket.unwrap_or_default(), Kind::Replication, None)?;
                wire::DeleteBucketReplicationOutput::default().reply()
            }
            wire::Request::PutBucketLogging(r) => {
                let enabled = r
                    .bucket_logging_status
                    .ok_or(S3Error::MissingRequestBody)?
                    .logging_enabled;
                let target = enabled.as_ref().and_then(|e| e.target_bucket.clone());
                let document = enabled.map(|e| config::document("LoggingEnabled", &e));
                s3.put_bucket_logging(ctx, &r.bucket.unwrap_or_default(), target.as_deref(), document)?;
                wire::PutBucketLoggingOutput::default().reply()
            }
            wire::Request::GetBucketLogging(r) => {
                let kept = s3.get_bucket_configuration(ctx, &r.bucket.unwrap_or_default(), Kind::Logging, None)?;
                wire::GetBucketLoggingOutput {
                    logging_enabled: kept.as_deref().map(config::read_document).transpose()?,
                }
                .reply()
            }
            wire::Request::PutBucketInventoryConfiguration(r) => {
                let (configuration, id) =
                    config::identified(r.inventory_configuration, r.id.as_deref(), |c| c.id.as_deref())?;
                config::check_inventory_destination(&configuration)?;
                let document = config::document("InventoryConfiguration", &configuration);
                s3.put_bucket_configuration(ctx, &r.bucket.unwrap_or_default(), Kind::Inventory, id, document)?;
                wire::PutBucketInventoryConfigurationOutput::default().reply()
            }
            wire::Request::GetBucketInventoryConfiguration(r) => {
                let (bucket, id) = (r.bucket.unwrap_or_default(), r.id.as_deref());
                let kept = s3.require_bucket_configuration(ctx, &bucket, Kind::Inventory, id)?;
                wire::GetBucketInventoryConfigurationOutput {
                    inventory_configuration: Some(config::read_document(&kept)?),
                }
                .reply()
            }
            wire::Request::DeleteBucketInventoryConfiguration(r) => {
                let (bucket, id) = (r.bucket.unwrap_or_default(), r.id.as_deref());
                s3.delete_bucket_configuration(ctx, &bucket, Kind::Inventory, id)?;
                wire::DeleteBucketInventoryConfigurationOutput::default().reply()
            }
            wire::Request::ListBucketInventoryConfigurations(r) => {
                let bucket = r.bucket.unwrap_or_default();
                let page =
                    s3.list_bucket_configurations(ctx, &bucket, Kind::Inventory, r.continuation_token.as_deref())?;
                let page = config::listed(page)?;
                wire::ListBucketInventoryConfigurationsOutput {
                    continuation_token: r.continuation_token,
                    inventory_configuration_list: Some(page.configurations),
                    is_truncated: Some(page.is_truncated),
                    next_continuation_token: page.next,
                }
                .reply()
            }
            wire::Request::PutBucketMetricsConfiguration(r) => {
                let (configuration, id) =
                    config::identified(r.metrics_configuration, r.id.as_deref(), |c| c.id.as_deref())?;
                let document = config::document("MetricsConfiguration", &configuration);
                s3.put_bucket_configuration(ctx, &r.bucket.unwrap_or_default(), Kind::Metrics, id, document)?;
                wire::PutBucketMetricsConfigurationOutput::default().reply()
            }
            wire::Request::GetBucketMetricsConfiguration(r) => {
                let (bucket, id) = (r.bucket.unwrap_or_default(), r.id.as_deref());
                let kept = s3.require_bucket_configuration(ctx, &bucket, Kind::Metrics, id)?;
                wire::GetBucketMetricsConfigurationOutput {
                    metrics_configuration: Some(config::read_document(&kept)?),
                }
                .reply()
            }
            wire::Request::DeleteBucketMetricsConfiguration(r) => {
                let (bucket, id) = (r.bucket.unwrap_or_default(), r.id.as_deref());
                s3.delete_bucket_configuration(ctx, &bucket, Kind::Metrics, id)?;
                wire::DeleteBucketMetricsConfigurationOutput::default().reply()
            }
            wire::Request::ListBucketMetricsConfigurations(r) => {
                let bucket = r.bucket.unwrap_or_default();
                let page =
                    s3.list_bucket_configurations(ctx, &bucket, Kind::Metrics, r.continuation_token.as_deref())?;
                let page = config::listed(page)?;
                wire::ListBucketMetricsConfigurationsOutput {
                    continuation_token: r.continuation_token,
                    metrics_configuration_list: Some(page.configurations),
                    is_truncated: Some(page.is_truncated),
                    next_continuation_token: page.next,
                }
                .reply()
            }
            wire::Request::PutBucketAnalyticsConfiguration(r) => {
                let (configuration, id) =
                    config::identified(r.analytics_configuration, r.id.as_deref(), |c| c.id.as_deref())?;
                let document = config::document("AnalyticsConfiguration", &configuration);
                s3.put_bucket_configuration(ctx, &r.bucket.unwrap_or_default(), Kind::Analytics, id, document)?;
                wire::PutBucketAnalyticsConfigurationOutput::default().reply()
            }
            wire::Request::GetBucketAnalyticsConfiguration(r) => {
                let (bucket, id) = (r.bucket.unwrap_or_default(), r.id.as_deref());
                let kept = s3.require_bucket_configuration(ctx, &bucket, Kind::Analytics, id)?;
                wire::GetBucketAnalyticsConfigurationOutput {
                    analytics_configuration: Some(config::read_document(&kept)?),
                }
                .reply()
            }
            wire::Request::DeleteBucketAnalyticsConfiguration(r) => {
                let (bucket, id) = (r.bucket.unwrap_or_default(), r.id.as_deref());
                s3.delete_bucket_configuration(ctx, &bucket, Kind::Analytics, id)?;
                wire::DeleteBucketAnalyticsConfigurationOutput::default().reply()
            }
            wire::Request::ListBucketAnalyticsConfigurations(r) => {
                let bucket = r.bucket.unwrap_or_default();
                let page =
                    s3.list_bucket_configurations(ctx, &bucket, Kind::Analytics, r.continuation_token.as_deref())?;
                let page = config::listed(page)?;
                wire::ListBucketAnalyticsConfigurationsOutput {
                    continuation_token: r.continuation_token,
                    analytics_configuration_list: Some(page.configurations),
                    is_truncated: Some(page.is_truncated),
                    next_continuation_token: page.next,
                }
                .reply()
            }
            wire::Request::PutBucketIntelligentTieringConfiguration(r) => {
                let (configuration, id) =
                    config::identified(r.intelligent_tiering_configuration, r.id.as_deref(), |c| {
                        c.id.as_deref()
                    })?;
                let document = config::document("IntelligentTieringConfiguration", &configuration);
                let kind = Kind::IntelligentTiering;
                s3.put_bucket_configuration(ctx, &r.bucket.unwrap_or_default(), kind, id, document)?;
                wire::PutBucketIntelligentTieringConfigurationOutput::default().reply()
            }
            wire::Request::GetBucketIntelligentTieringConfiguration(r) => {
                let (bucket, id) = (r.bucket.unwrap_or_default(), r.id.as_deref());
                let kept = s3.require_bucket_configuration(ctx, &bucket, Kind::IntelligentTiering, id)?;
                wire::GetBucketIntelligentTieringConfigurationOutput {
                    intelligent_tiering_configuration: Some(config::read_document(&kept)?),
                }
                .reply()
            }
            wire::Request::DeleteBucketIntelligentTieringConfiguration(r) => {
                let (bucket, id) = (r.bucket.unwrap_or_default(), r.id.as_deref());
                s3.delete_bucket_configuration(ctx, &bucket, Kind::IntelligentTiering, id)?;
                wire::DeleteBucketIntelligentTieringConfigurationOutput::default().reply()
            }
            wire::Request::ListBucketIntelligentTieringConfigurations(r) => {
                let bucket = r.bucket.unwrap_or_default();
                let start = r.continuation_token.as_deref();
                let page = s3.list_bucket_configurations(ctx, &bucket, Kind::IntelligentTiering, start)?;
                let page = config::listed(page)?;
                wire::ListBucketIntelligentTieringConfigurationsOutput {
                    continuation_token: r.continuation_token,
                    intelligent_tiering_configuration_list: Some(page.configurations),
                    is_truncated: Some(page.is_truncated),
                    next_continuation_token: page.next,
                }
                .reply()
            }
            wire::Request::RestoreObject(r) => {
                let (bucket, key) = (r.bucket.unwrap_or_default(), r.key.unwrap_or_default());
                let target = self.object_version(&bucket, &key, r.version_id.as_deref());
                let days = r.restore_request.and_then(|request| request.days);
                let mut reply = wire::RestoreObjectOutput::default().reply();
                if s3.restore_object(ctx, target, days)? == Restored::Started {
                    reply.status = 202;
                }
                reply
            }
            wire::Request::DeleteObjectTagging(r) => {
                let (bucket, key) = (r.bucket.unwrap_or_default(), r.key.unwrap_or_default());
                let target = self.object_version(&bucket, &key, r.version_id.as_deref());
                wire::DeleteObjectTaggingOutput {
                    version_id: s3.put_object_tagging(ctx, "s3:DeleteObjectTagging", target, Vec::new())?,
                }
                .reply()
            }
            wire::Request::ListObjects(r) => self.list_objects_v1(r)?,
            wire::Request::ListObjectsV2(r) => self.list_objects_v2(r)?,
            wire::Request::CopyObject(r) => self.copy_object(r)?,
            wire::Request::UploadPartCopy(r) => self.upload_part_copy(r)?,
            wire::Request::GetObjectAttributes(r) => self.get_object_attributes(r)?,
            wire::Request::CreateMultipartUpload(r) => self.create_multipart_upload(r)?,
            wire::Request::CompleteMultipartUpload(r) => self.complete_multipart_upload(r)?,
            wire::Request::AbortMultipartUpload(r) => {
                s3.abort_multipart_upload(
                    ctx,
                    r.bucket.as_deref().unwrap_or_default(),
                    r.key.as_deref().unwrap_or_default(),
                    r.upload_id.as_deref().unwrap_or_default(),
                )?;
                wire::AbortMultipartUploadOutput::default().reply()
            }
            wire::Request::ListParts(r) => self.list_parts(r)?,
            wire::Request::ListMultipartUploads(r) => self.list_multipart_uploads(r)?,
            wire::Request::PutObject(_)
            | wire::Request::UploadPart(_)
            | wire::Request::GetObject(_)
            | wire::Request::HeadObject(_) => {
                return Err(S3Error::Internal(
                    "a streamed operation reached the whole-body path".into(),
                ));
            }
        })
    }

    /// The object version a subresource request names, with the request's condition keys.
    fn object_version<'b>(&'b self, bucket: &'b str, key: &'b str, version_id: Option<&'b str>) -> ObjectVersion<'b> {
        ObjectVersion {
            bucket,
            key,
            version_id,
            keys: self.keys,
        }
    }

    fn list_buckets(&self, r: wire::ListBucketsRequest) -> Result<Reply, S3Error> {
        // A Region filter names a Region the model knows: us-east-1 or a location constraint.
        if let Some(region) = r.bucket_region.as_deref()
            && region != US_EAST_1
            && !wire::enums::BUCKET_LOCATION_CONSTRAINT.contains(&region)
        {
            return Err(S3Error::InvalidArgument(format!(
                "Argument value {region} is not a valid AWS Region"
            )));
        }
        let limit = r.max_buckets.map_or(10_000, |m| usize::try_from(m).unwrap_or(0));
        let token = r.continuation_token.as_deref().map(decode_token).transpose()?;
        let (buckets, next) = self.s3.list_buckets(
            self.ctx,
            r.prefix.as_deref(),
            r.bucket_region.as_deref(),
            Page {
                after: token.as_deref(),
                limit,
            },
        )?;
        Ok(wire::ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| wire::Bucket {
                        name: Some(b.name),
                        creation_date: Some(timestamp(b.created)),
                        bucket_region: Some(b.region),
                        bucket_arn: None,
                    })
                    .collect(),
            ),
            owner: Some(owner(self.ctx.account_id())),
            continuation_token: next.map(|n| encode_token(&n)),
            prefix: r.prefix,
        }
        .reply())
    }

    fn delete_objects(&self, r: wire::DeleteObjectsRequest) -> Result<Reply, S3Error> {
        let delete = r.delete.ok_or(S3Error::MalformedXml)?;
        let quiet = delete.quiet.unwrap_or(false);
        let names: Vec<(String, Option<String>)> = delete
            .objects
            .unwrap_or_default()
            .into_iter()
            .map(|o| (o.key.unwrap_or_default(), o.version_id))
            .collect();
        if names.is_empty() || names.len() > objects::MAX_KEYS {
            return Err(S3Error::MalformedXml);
        }
        let outcomes = self.s3.delete_objects(
            self.ctx,
            &r.bucket.unwrap_or_default(),
            &names,
            r.bypass_governance_retention,
            self.keys,
        )?;
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for outcome in outcomes {
            match outcome.result {
                Ok(_) if quiet => {}
                Ok(done) => deleted.push(wire::DeletedObject {
                    key: Some(outcome.key),
                    version_id: outcome.version_id.clone(),
                    delete_marker: done.delete_marker.then_some(true),
                    delete_marker_version_id: (done.delete_marker && outcome.version_id.is_none())
                        .then_some(done.version_id)
                        .flatten(),
                }),
                Err(e) => {
                    let answer = s3_error(e);
                    errors.push(wire::Error {
                        key: Some(outcome.key),
                        code: Some(answer.code.to_string()),
                        message: Some(answer.message),
                        version_id: outcome.version_id,
                    });
                }
            }
        }
        Ok(wire::DeleteObjectsOutput {
            deleted: (!deleted.is_empty()).then_some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            request_charged: None,
        }
        .reply())
    }

    fn listing(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        delimiter: Option<&str>,
        after: Option<&str>,
        max_keys: Option<i32>,
    ) -> Result<objects::Listing, S3Error> {
        let max_keys = match max_keys {
            None => objects::MAX_KEYS,
            Some(n) => usize::try_from(n).map_err(|_| {
                S3Error::InvalidArgument("Argument maxKeys must be an integer between 0 and 2147483647".into())
            })?,
        };
        self.s3.list_objects(
            self.ctx,
            ListObjects {
                bucket,
                prefix: prefix.unwrap_or_default(),
                delimiter,
                after,
                max_keys,
                keys: self.keys,
            },
        )
    }

    fn list_object_versions(&self, r: wire::ListObjectVersionsRequest) -> Result<Reply, S3Error> {
        let bucket = r.bucket.unwrap_or_default();
        if r.version_id_marker.is_some() && r.key_marker.is_none() {
            return Err(S3Error::InvalidArgument(
                "A version-id marker cannot be specified without a key marker.".into(),
            ));
        }
        let url = url_encoded(r.encoding_type.as_deref())?;
        let max_keys = match r.max_keys {
            None => objects::MAX_KEYS,
            Some(n) => usize::try_from(n).map_err(|_| {
                S3Error::InvalidArgument("Argument maxKeys must be an integer between 0 and 2147483647".into())
            })?,
        };
        let listing = self.s3.list_object_versions(
            self.ctx,
            ListVersions {
                bucket: &bucket,
                prefix: r.prefix.as_deref().unwrap_or_default(),
                delimiter: r.delimiter.as_deref(),
                key_marker: r.key_marker.as_deref(),
                version_id_marker: r.version_id_marker.as_deref(),
                max_keys,
                keys: self.keys,
            },
        )?;
        let owner = owner(self.ctx.account_id());
        let (mut versions, mut markers) = (Vec::new(), Vec::new());
        for listed in listing.versions {
            let record = listed.record;
            let version_id = Some(record.version_id.clone().unwrap_or_else(|| "null".into()));
            if record.delete_marker {
                markers.push(wire::DeleteMarkerEntry {
                    owner: Some(owner.clone()),
                    key: Some(encode_key(&listed.key, url)),
                    version_id,
                    is_latest: Some(listed.is_latest),
                    last_modified: Some(timestamp(record.last_modified)),
                });
            } else {
                versions.push(wire::ObjectVersion {
                    e_tag: Some(record.etag.clone()),
                    checksum_algorithm: record.checksum.as_ref().map(|(name, _)| vec![name.clone()]),
                    checksum_type: record.checksum_type.clone(),
                    size: Some(i64::try_from(record.size).unwrap_or(i64::MAX)),
                    storage_class: Some(record.storage_class().to_string()),
                    key: Some(encode_key(&listed.key, url)),
                    version_id,
                    is_latest: Some(listed.is_latest),
                    last_modified: Some(timestamp(record.last_modified)),
                    owner: Some(owner.clone()),
                    restore_status: None,
                });
            }
        }
        let next = listing.truncated.then_some(listing.next).flatten();
        Ok(wire::ListObjectVersionsOutput {
            is_truncated: Some(listing.truncated),
            key_marker: Some(r.key_marker.unwrap_or_default()),
            version_id_marker: Some(r.version_id_marker.unwrap_or_default()),
            next_key_marker: next.as_ref().map(|(key, _)| encode_key(key, url)),
            next_version_id_marker: next.map(|(_, version)| version).filter(|v| !v.is_empty()),
            versions: (!versions.is_empty()).then_some(versions),
            delete_markers: (!markers.is_empty()).then_some(markers),
            name: Some(bucket),
            prefix: Some(encode_key(r.prefix.as_deref().unwrap_or_default(), url)),
            delimiter: r.delimiter.map(|d| encode_key(&d, url)),
            max_keys: Some(i32::try_from(max_keys).unwrap_or(i32::MAX)),
            common_prefixes: (!listing.common_prefixes.is_empty()).then(|| {
                listing
                    .common_prefixes
                    .iter()
                    .map(|p| wire::CommonPrefix {
                        prefix: Some(encode_key(p, url)),
                    })
                    .collect()
            }),
            encoding_type: r.encoding_type,
            request_charged: None,
        }
        .reply())
    }

    fn list_objects_v1(&self, r: wire::ListObjectsRequest) -> Result<Reply, S3Error> {
        let bucket = r.bucket.unwrap_or_default();
        let url = url_encoded(r.encoding_type.as_deref())?;
        let listing = self.listing(
            &bucket,
            r.prefix.as_deref(),
            r.delimiter.as_deref(),
            r.marker.as_deref(),
            r.max_keys,
        )?;
        // S3 gives NextMarker only when a delimiter is used; clients take the last key otherwise.
        let next_marker = (listing.truncated && r.delimiter.is_some())
            .then(|| listing.last.clone())
            .flatten();
        Ok(wire::ListObjectsOutput {
            is_truncated: Some(listing.truncated),
            marker: Some(r.marker.unwrap_or_default()),
            next_marker: next_marker.map(|m| encode_key(&m, url)),
            contents: contents(&listing, url, Some(&owner(self.ctx.account_id()))),
            name: Some(bucket),
            prefix: Some(encode_key(r.prefix.as_deref().unwrap_or_default(), url)),
            delimiter: r.delimiter.map(|d| encode_key(&d, url)),
            max_keys: Some(r.max_keys.unwrap_or(objects::MAX_KEYS as i32)),
            common_prefixes: common_prefixes(&listing, url),
            encoding_type: r.encoding_type,
            request_charged: None,
        }
        .reply())
    }

    fn list_objects_v2(&self, r: wire::ListObjectsV2Request) -> Result<Reply, S3Error> {
        let bucket = r.bucket.unwrap_or_default();
        let url = url_encoded(r.encoding_type.as_deref())?;
        let token = r.continuation_token.as_deref().map(decode_token).transpose()?;
        let after = token.as_deref().or(r.start_after.as_deref());
        let listing = self.listing(&bucket, r.prefix.as_deref(), r.delimiter.as_deref(), after, r.max_keys)?;
        let key_count = listing.objects.len() + listing.common_prefixes.len();
        // A continuation token overrides StartAfter, which is then not answered.
        let start_after = r
            .start_after
            .filter(|_| r.continuation_token.is_none())
            .map(|s| encode_key(&s, url));
        let owner = r.fetch_owner.unwrap_or(false).then(|| owner(self.ctx.account_id()));
        Ok(wire::ListObjectsV2Output {
            is_truncated: Some(listing.truncated),
            contents: contents(&listing, url, owner.as_ref()),
            name: Some(bucket),
            prefix: Some(encode_key(r.prefix.as_deref().unwrap_or_default(), url)),
            delimiter: r.delimiter.map(|d| encode_key(&d, url)),
            max_keys: Some(r.max_keys.unwrap_or(objects::MAX_KEYS as i32)),
            common_prefixes: common_prefixes(&listing, url),
            encoding_type: r.encoding_type,
            key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
            continuation_token: r.continuation_token,
            next_continuation_token: listing
                .truncated
                .then(|| listing.last.as_deref().map(encode_token))
                .flatten(),
            start_after,
            request_charged: None,
        }
        .reply())
    }

    async fn put_object(&self, mut r: wire::PutObjectRequest, body: &mut RequestBody) -> Answer {
        let customer_key = customer_key!(r, r.server_side_encryption.as_deref()).map_err(s3_error)?;
        let algorithm = r.checksum_algorithm.clone();
        let declared = declared_checksum(&mut r, algorithm.as_deref(), self.parts)?;
        let tags = tags_of(r.tagging.as_deref()).map_err(s3_error)?;
        let keys = with_request_tags(self.keys, &tags);
        // ACLs are disabled: an object ACL other than the owner's full control is refused, as S3 refuses it then.
        AclWrite {
            canned: r.acl.clone(),
            grant_headers: r.grant_full_control.is_some()
                || r.grant_read.is_some()
                || r.grant_read_acp.is_some()
                || r.grant_write_acp.is_some(),
            grants: Vec::new(),
        }
        .check("")
        .map_err(s3_error)?;
        let put = PutObject {
            bucket: r.bucket.as_deref().unwrap_or_default(),
            key: r.key.as_deref().unwrap_or_default(),
            headers: object_headers!(r, tags).map_err(s3_error)?,
            server_side_encryption: r.server_side_encryption.as_deref(),
            kms: kms_request!(r),
            customer_key,
            content_md5: r.content_md5.as_deref(),
            checksum_algorithm: declared.as_ref().map(|(algorithm, _)| *algorithm),
            if_none_match: r.if_none_match.as_deref(),
            if_match: r.if_match.as_deref(),
            lock: lock_request!(r),
            keys: &keys,
        };
        let upload = tokio::task::block_in_place(|| self.s3.begin_put(self.ctx, put)).map_err(s3_error)?;
        let stored = self.receive(upload, body, declared).await?;
        let mut output = wire::PutObjectOutput {
            e_tag: Some(stored.etag.clone()),
            version_id: stored.version_id.clone(),
            ssekms_encryption_context: stored.kms.as_ref().and_then(|(_, _, c)| c.clone()).map(Into::into),
            ..Default::default()
        };
        encryption_members!(output, stored);
        set_checksum(&mut output, stored.checksum.as_ref());
        Ok(Success::Http(into_response(output.reply(), Body::empty())))
    }

    async fn upload_part(&self, mut r: wire::UploadPartRequest, body: &mut RequestBody) -> Answer {
        let customer_key = customer_key!(r, None).map_err(s3_error)?;
        let algorithm = r.checksum_algorithm.clone();
        let declared = declared_checksum(&mut r, algorithm.as_deref(), self.parts)?;
        let part = UploadPart {
            bucket: r.bucket.as_deref().unwrap_or_default(),
            key: r.key.as_deref().unwrap_or_default(),
            upload_id: r.upload_id.as_deref().unwrap_or_default(),
            part_number: r.part_number.unwrap_or_default(),
            customer_key,
            content_md5: r.content_md5.as_deref(),
            checksum_algorithm: declared.as_ref().map(|(algorithm, _)| *algorithm),
            keys: self.keys,
        };
        let upload = tokio::task::block_in_place(|| self.s3.begin_part(self.ctx, part)).map_err(s3_error)?;
        let stored = self.receive(upload, body, declared).await?;
        let mut output = wire::UploadPartOutput {
            e_tag: Some(stored.etag.clone()),
            ..Default::default()
        };
        encryption_members!(output, stored);
        set_checksum(&mut output, stored.checksum.as_ref());
        Ok(Success::Http(into_response(output.reply(), Body::empty())))
    }

    /// Streams a request body into an upload and completes it against the checksum the request declared, in a
    /// header or a trailer.
    async fn receive(
        &self,
        mut upload: Upload,
        body: &mut RequestBody,
        declared: Option<(ChecksumAlgorithm, Option<String>)>,
    ) -> Result<Stored, ApiError> {
        let RequestBody::Streamed(stream) = body else {
            return Err(ApiError::internal());
        };
        while let Some(chunk) = stream.next().await {
            upload.write(&chunk?).map_err(s3_error)?;
        }
        let expected = match declared {
            Some((_, Some(value))) => Some(value),
            Some((algorithm, None)) => stream
                .trailers()
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(algorithm.header()))
                .map(|(_, value)| value.clone()),
            None => None,
        };
        tokio::task::block_in_place(|| self.s3.finish_put(upload, expected.as_deref())).map_err(s3_error)
    }

    fn copy_object(&self, r: wire::CopyObjectRequest) -> Result<Reply, S3Error> {
        let (source_bucket, source_key, source_version) = copy_source(r.copy_source.as_deref().unwrap_or_default())?;
        let source_customer_key = source_customer_key!(r)?;
        let customer_key = customer_key!(r, r.server_side_encryption.as_deref())?;
        let replace_metadata = match r.metadata_directive.as_deref() {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => {
                return Err(S3Error::InvalidArgument("Unknown metadata directive.".into()));
            }
        };
        let checksum_algorithm = match r.checksum_algorithm.as_deref() {
            None => None,
            Some(name) => Some(
                ChecksumAlgorithm::named(&name.to_ascii_uppercase())
                    .ok_or_else(|| S3Error::InvalidRequest("Checksum algorithm provided is unsupported.".into()))?,
            ),
        };
        let tags = tags_of(r.tagging.as_deref())?;
        let keys = with_request_tags(self.keys, &tags);
        let copied = self.s3.copy_object(
            self.ctx,
            CopyObject {
                source_bucket: &source_bucket,
                source_key: &source_key,
                source_version_id: source_version.as_deref(),
                source_customer_key,
                source_conditions: Conditions {
                    if_match: r.copy_source_if_match.clone(),
                    if_none_match: r.copy_source_if_none_match.clone(),
                    if_modified_since: r.copy_source_if_modified_since.map(|t| t.0.unix_timestamp()),
                    if_unmodified_since: r.copy_source_if_unmodified_since.map(|t| t.0.unix_timestamp()),
                },
                bucket: r.bucket.as_deref().unwrap_or_default(),
                key: r.key.as_deref().unwrap_or_default(),
                replace_metadata,
                replace_tagging: match r.tagging_directive.as_deref() {
                    None | Some("COPY") => false,
                    Some("REPLACE") => true,
                    Some(_) => return Err(S3Error::InvalidArgument("Unknown tagging directive.".into())),
                },
                headers: object_headers!(r, tags.clone())?,
                server_side_encryption: r.server_side_encryption.as_deref(),
                kms: kms_request!(r),
                customer_key,
                checksum_algorithm,
                lock: lock_request!(r),
                keys: &keys,
            },
        )?;
        let stored = copied.stored;
        let mut result = wire::CopyObjectResult {
            e_tag: Some(stored.etag.clone()),
            last_modified: Some(timestamp(copied.last_modified)),
            checksum_type: stored.checksum.as_ref().map(|_| "FULL_OBJECT".to_string()),
            ..Default::default()
        };
        set_checksum(&mut result, stored.checksum.as_ref());
        let mut output = wire::CopyObjectOutput {
            copy_object_result: Some(result),
            copy_source_version_id: copied.source_version_id.or(source_version),
            version_id: stored.version_id.clone(),
            ..Default::default()
        };
        encryption_members!(output, stored);
        Ok(output.reply())
    }

    fn upload_part_copy(&self, r: wire::UploadPartCopyRequest) -> Result<Reply, S3Error> {
        let (source_bucket, source_key, source_version) = copy_source(r.copy_source.as_deref().unwrap_or_default())?;
        let source_customer_key = source_customer_key!(r)?;
        let customer_key = customer_key!(r, None)?;
        let copied = self.s3.upload_part_copy(
            self.ctx,
            GetObject {
                bucket: &source_bucket,
                key: &source_key,
                customer_key: source_customer_key,
                conditions: Conditions {
                    if_match: r.copy_source_if_match.clone(),
                    if_none_match: r.copy_source_if_none_match.clone(),
                    if_modified_since: r.copy_source_if_modified_since.map(|t| t.0.unix_timestamp()),
                    if_unmodified_since: r.copy_source_if_unmodified_since.map(|t| t.0.unix_timestamp()),
                },
                range: r.copy_source_range.as_deref(),
                version_id: source_version.as_deref(),
                part_number: None,
                keys: self.keys,
            },
            UploadPart {
                bucket: r.bucket.as_deref().unwrap_or_default(),
                key: r.key.as_deref().unwrap_or_default(),
                upload_id: r.upload_id.as_deref().unwrap_or_default(),
                part_number: r.part_number.unwrap_or_default(),
                customer_key,
                content_md5: None,
                checksum_algorithm: None,
                keys: self.keys,
            },
        )?;
        let stored = copied.stored;
        let mut result = wire::CopyPartResult {
            e_tag: Some(stored.etag.clone()),
            last_modified: Some(timestamp(copied.last_modified)),
            ..Default::default()
        };
        set_checksum(&mut result, stored.checksum.as_ref());
        let mut output = wire::UploadPartCopyOutput {
            copy_source_version_id: copied.source_version_id.or(source_version),
            copy_part_result: Some(result),
            ..Default::default()
        };
        encryption_members!(output, stored);
        Ok(output.reply())
    }

    /// GetObjectAttributes: what `x-amz-object-attributes` asks for, of the current version or `versionId`;
    /// authorised as both `s3:GetObjectAttributes` and `s3:GetObject`, as S3 requires.
    fn get_object_attributes(&self, r: wire::GetObjectAttributesRequest) -> Result<Reply, S3Error> {
        let bucket = r.bucket.clone().unwrap_or_default();
        let key = r.key.clone().unwrap_or_default();
        let wanted = r.object_attributes.clone().unwrap_or_default();
        let customer_key = customer_key!(r, None)?;
        let read = self.s3.get_object_attributes(
            self.ctx,
            GetObject {
                bucket: &bucket,
                key: &key,
                customer_key,
                conditions: Conditions::default(),
                range: None,
                version_id: r.version_id.as_deref(),
                part_number: None,
                keys: self.keys,
            },
        )?;
        let record = &read.record;
        let has = |name: &str| wanted.iter().any(|w| w == name);
        // GetObjectAttributes gives a composite checksum without its `-<parts>` suffix (AWS-verified in moto's tests);
        // ObjectParts says how many parts it covers.
        let checksum = record
            .checksum
            .as_ref()
            .filter(|_| has("Checksum"))
            .map(|(name, value)| {
                let mut checksum = wire::Checksum {
                    checksum_type: record.checksum_type.clone(),
                    ..Default::default()
                };
                let value = value.split_once('-').map_or(value.as_str(), |(sum, _)| sum);
                set_checksum(&mut checksum, Some(&(name.clone(), value.to_string())));
                checksum
            });
        Ok(wire::GetObjectAttributesOutput {
            last_modified: Some(timestamp(record.last_modified)),
            version_id: record.version_id.clone(),
            e_tag: has("ETag").then(|| record.etag.trim_matches('"').to_string()),
            checksum,
            object_parts: record.parts_count.filter(|_| has("ObjectParts")).map(|count| {
                wire::GetObjectAttributesParts {
                    total_parts_count: Some(i32::try_from(count).unwrap_or(i32::MAX)),
                    ..Default::default()
                }
            }),
            storage_class: has("StorageClass").then(|| record.storage_class().to_string()),
            object_size: has("ObjectSize").then(|| i64::try_from(record.size).unwrap_or(i64::MAX)),
            ..Default::default()
        }
        .reply())
    }

    fn create_multipart_upload(&self, r: wire::CreateMultipartUploadRequest) -> Result<Reply, S3Error> {
        let customer_key = customer_key!(r, r.server_side_encryption.as_deref())?;
        let checksum_algorithm = match r.checksum_algorithm.as_deref() {
            None => None,
            Some(name) => Some(
                ChecksumAlgorithm::named(&name.to_ascii_uppercase())
                    .ok_or_else(|| S3Error::InvalidRequest("Checksum algorithm provided is unsupported.".into()))?,
            ),
        };
        let bucket = r.bucket.clone().unwrap_or_default();
        let key = r.key.clone().unwrap_or_default();
        let tags = tags_of(r.tagging.as_deref())?;
        let keys = with_request_tags(self.keys, &tags);
        let created = self.s3.create_multipart_upload(
            self.ctx,
            CreateUpload {
                bucket: &bucket,
                key: &key,
                headers: object_headers!(r, tags.clone())?,
                server_side_encryption: r.server_side_encryption.as_deref(),
                kms: kms_request!(r),
                customer_key: customer_key.as_ref(),
                checksum_algorithm,
                checksum_type: r.checksum_type.as_deref(),
                lock: lock_request!(r),
                keys: &keys,
            },
        )?;
        Ok(wire::CreateMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(key),
            upload_id: Some(created.upload_id),
            server_side_encryption: created
                .customer_key_md5
                .is_none()
                .then_some(created.server_side_encryption),
            sse_customer_algorithm: created
                .customer_key_md5
                .as_ref()
                .map(|_| keyhaven_s3::sse_c::ALGORITHM.to_string()),
            sse_customer_key_md5: created.customer_key_md5,
            checksum_algorithm: created.checksum_algorithm,
            checksum_type: created.checksum_type,
            ..Default::default()
        }
        .reply())
    }

    fn complete_multipart_upload(&self, r: wire::CompleteMultipartUploadRequest) -> Result<Reply, S3Error> {
        let bucket = r.bucket.clone().unwrap_or_default();
        let key = r.key.clone().unwrap_or_default();
        let listed: Vec<CompletedPart> = r
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| CompletedPart {
                part_number: p.part_number.unwrap_or_default(),
                etag: p.e_tag.unwrap_or_default(),
            })
            .collect();
        let completion = Completion {
            upload_id: r.upload_id.as_deref().unwrap_or_default(),
            parts: &listed,
            conditions: WriteConditions {
                if_match: r.if_match.as_deref(),
                if_none_match: objects::if_none_match_any(r.if_none_match.as_deref())?,
            },
        };
        let (record, customer_key_md5) = self
            .s3
            .complete_multipart_upload(self.ctx, &bucket, &key, completion, self.keys)?;
        let mut output = wire::CompleteMultipartUploadOutput {
            location: Some(format!("/{bucket}/{key}")),
            bucket: Some(bucket),
            key: Some(key),
            e_tag: Some(record.etag.clone()),
            version_id: record.version_id.clone(),
            checksum_type: record.checksum_type.clone(),
            server_side_encryption: customer_key_md5
                .is_none()
                .then(|| record.server_side_encryption.clone()),
            ..Default::default()
        };
        set_checksum(&mut output, record.checksum.as_ref());
        Ok(output.reply())
    }

    fn list_parts(&self, r: wire::ListPartsRequest) -> Result<Reply, S3Error> {
        let bucket = r.bucket.clone().unwrap_or_default();
        let key = r.key.clone().unwrap_or_default();
        let upload_id = r.upload_id.clone().unwrap_or_default();
        for (name, value) in [("max-parts", r.max_parts), ("part-number-marker", r.part_number_marker)] {
            if value.is_some_and(|v| v < 0) {
                return Err(S3Error::InvalidArgument(format!(
                    "Argument {name} must be an integer between 0 and 2147483647"
                )));
            }
        }
        let max_parts = r.max_parts.unwrap_or(1000).clamp(0, 1000);
        let PartsPage {
            upload,
            parts,
            truncated,
        } = self.s3.list_parts(
            self.ctx,
            &bucket,
            &key,
            &upload_id,
            r.part_number_marker,
            usize::try_from(max_parts).unwrap_or(0),
        )?;
        let next = parts.last().map(|(n, _)| i32::try_from(*n).unwrap_or(i32::MAX));
        Ok(wire::ListPartsOutput {
            bucket: Some(bucket),
            key: Some(key),
            upload_id: Some(upload_id),
            part_number_marker: Some(r.part_number_marker.unwrap_or(0)),
            next_part_number_marker: Some(next.unwrap_or(0)),
            max_parts: Some(max_parts),
            is_truncated: Some(truncated),
            parts: Some(
                parts
                    .into_iter()
                    .map(|(number, part)| {
                        let mut listed = wire::Part {
                            part_number: Some(i32::try_from(number).unwrap_or(i32::MAX)),
                            last_modified: Some(timestamp(part.last_modified)),
                            e_tag: Some(part.etag.clone()),
                            size: Some(i64::try_from(part.size()).unwrap_or(i64::MAX)),
                            ..Default::default()
                        };
                        set_checksum(&mut listed, part.checksum.as_ref());
                        listed
                    })
                    .collect(),
            ),
            initiator: Some(initiator(self.ctx)),
            owner: Some(owner(self.ctx.account_id())),
            storage_class: Some(upload.headers.storage_class().to_string()),
            checksum_algorithm: upload.checksum_algorithm,
            checksum_type: upload.checksum_type,
            ..Default::default()
        }
        .reply())
    }

    fn list_multipart_uploads(&self, r: wire::ListMultipartUploadsRequest) -> Result<Reply, S3Error> {
        let bucket = r.bucket.clone().unwrap_or_default();
        let max_uploads = r.max_uploads.unwrap_or(1000).clamp(0, 1000);
        let (uploads, truncated) = self.s3.list_multipart_uploads(
            self.ctx,
            &bucket,
            r.prefix.as_deref().unwrap_or_default(),
            (r.key_marker.as_deref(), r.upload_id_marker.as_deref()),
            usize::try_from(max_uploads).unwrap_or(0),
        )?;
        let next = uploads
            .last()
            .filter(|_| truncated)
            .map(|u| (u.record.key.clone(), u.upload_id.clone()));
        Ok(wire::ListMultipartUploadsOutput {
            bucket: Some(bucket),
            key_marker: Some(r.key_marker.unwrap_or_default()),
            upload_id_marker: Some(r.upload_id_marker.unwrap_or_default()),
            next_key_marker: next.as_ref().map(|(key, _)| key.clone()),
            next_upload_id_marker: next.map(|(_, id)| id),
            prefix: Some(r.prefix.unwrap_or_default()),
            max_uploads: Some(max_uploads),
            is_truncated: Some(truncated),
            uploads: (!uploads.is_empty()).then(|| {
                uploads
                    .into_iter()
                    .map(|u| wire::MultipartUpload {
                        upload_id: Some(u.upload_id),
                        key: Some(u.record.key),
                        initiated: Some(timestamp(u.record.initiated)),
                        storage_class: Some(u.record.headers.storage_class().to_string()),
                        owner: Some(owner(self.ctx.account_id())),
                        initiator: Some(initiator(self.ctx)),
                        checksum_algorithm: u.record.checksum_algorithm,
                        checksum_type: u.record.checksum_type,
                    })
                    .collect()
            }),
            ..Default::default()
        }
        .reply())
    }

    fn get_object(&self, r: wire::GetObjectRequest, query: &[(String, String)]) -> Answer {
        let (read, mut output) = read_object!(self, r, wire::GetObjectOutput, true);
        // response-* query parameters override the stored headers in this answer.
        let overrides = [
            ("response-content-type", &mut output.content_type),
            ("response-content-language", &mut output.content_language),
            ("response-content-disposition", &mut output.content_disposition),
            ("response-content-encoding", &mut output.content_encoding),
            ("response-cache-control", &mut output.cache_control),
            ("response-expires", &mut output.expires),
        ];
        for (name, field) in overrides {
            if let Some((_, value)) = query.iter().find(|(k, _)| k == name) {
                *field = Some(value.clone());
            }
        }
        let mut reply = output.reply();
        if read.range.is_some() {
            reply.status = StatusCode::PARTIAL_CONTENT.as_u16();
        }
        Ok(Success::Http(into_response(reply, stream_body(read))))
    }

    fn head_object(&self, r: wire::HeadObjectRequest) -> Answer {
        let (read, output) = read_object!(self, r, wire::HeadObjectOutput, false);
        let mut reply = output.reply();
        if read.range.is_some() {
            reply.status = StatusCode::PARTIAL_CONTENT.as_u16();
        }
        Ok(Success::Http(into_response(reply, Body::empty())))
    }
}

/// Building a generated output from its default, for `object_output!`.
trait DefaultWith: Default {
    fn default_with(fill: impl FnOnce(&mut Self)) -> Self {
        let mut value = Self::default();
        fill(&mut value);
        value
    }
}

impl DefaultWith for wire::GetObjectOutput {}
impl DefaultWith for wire::HeadObjectOutput {}

/// The additional checksum members of an answer, as S3 names them.
trait ChecksumMembers {
    fn checksum_member(&mut self, algorithm: ChecksumAlgorithm) -> &mut Option<String>;
}

macro_rules! checksum_members {
    ($($output:ty),*) => {
        $(impl ChecksumMembers for $output {
            fn checksum_member(&mut self, algorithm: ChecksumAlgorithm) -> &mut Option<String> {
                match algorithm {
                    ChecksumAlgorithm::Crc32 => &mut self.checksum_crc32,
                    ChecksumAlgorithm::Crc32c => &mut self.checksum_crc32_c,
                    ChecksumAlgorithm::Crc64Nvme => &mut self.checksum_crc64_nvme,
                    ChecksumAlgorithm::Sha1 => &mut self.checksum_sha1,
                    ChecksumAlgorithm::Sha256 => &mut self.checksum_sha256,
                }
            }
        })*
    };
}

checksum_members!(
    wire::PutObjectRequest,
    wire::UploadPartRequest,
    wire::PutObjectOutput,
    wire::UploadPartOutput,
    wire::GetObjectOutput,
    wire::HeadObjectOutput,
    wire::CompleteMultipartUploadOutput,
    wire::CopyObjectResult,
    wire::CopyPartResult,
    wire::Checksum,
    wire::Part
);

fn set_checksum(output: &mut impl ChecksumMembers, checksum: Option<&(String, String)>) {
    if let Some((name, value)) = checksum
        && let Some(algorithm) = ChecksumAlgorithm::named(name)
    {
        *output.checksum_member(algorithm) = Some(value.clone());
    }
}

/// The checksum a PUT or UploadPart declares: its algorithm, and its value when a header carries it (a trailer carries
/// it otherwise). `x-amz-checksum-algorithm` alone asks S3 to compute and keep one.
fn declared_checksum(
    request: &mut impl ChecksumMembers,
    algorithm_header: Option<&str>,
    parts: &Parts,
) -> Result<Option<(ChecksumAlgorithm, Option<String>)>, ApiError> {
    let declared: Vec<(ChecksumAlgorithm, String)> = ChecksumAlgorithm::ALL
        .into_iter()
        .filter_map(|algorithm| Some((algorithm, request.checksum_member(algorithm).clone()?)))
        .collect();
    match declared.as_slice() {
        [] => {}
        [(algorithm, value)] => {
            algorithm.check_value(value).map_err(s3_error)?;
            return Ok(Some((*algorithm, Some(value.clone()))));
        }
        _ => {
            return Err(ApiError::bad_request(
                "InvalidRequest",
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            ));
        }
    }
    let trailer = parts
        .headers
        .get("x-amz-trailer")
        .and_then(|v| v.to_str().ok())
        .and_then(|name| {
            ChecksumAlgorithm::ALL
                .into_iter()
                .find(|a| name.trim().eq_ignore_ascii_case(a.header()))
        });
    if let Some(algorithm) = trailer {
        return Ok(Some((algorithm, None)));
    }
    match algorithm_header {
        None => Ok(None),
        Some(name) => ChecksumAlgorithm::named(&name.to_ascii_uppercase())
            .map(|a| Some((a, None)))
            .ok_or_else(|| ApiError::bad_request("InvalidRequest", "Checksum algorithm provided is unsupported.")),
    }
}

/// `x-amz-copy-source`: `bucket/key`, percent-encoded, optionally with a leading `/` and `?versionId=`.
fn copy_source(header: &str) -> Result<(String, String, Option<String>), S3Error> {
    let invalid = || {
        S3Error::InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey".into())
    };
    let (path, version) = match header.split_once("?versionId=") {
        Some((path, version)) => (path, Some(version.to_string())),
        None => (header, None),
    };
    let decoded = percent_encoding::percent_decode_str(path.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|_| invalid())?;
    match decoded.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok((bucket.to_string(), key.to_string(), version))
        }
        _ => Err(invalid()),
    }
}

/// The request's headers; for a SigV2 presigned request, with the `x-amz-*` and `Content-*` headers its signer moved
/// into the query string (botocore's `HmacV1QueryAuth` does), which S3 takes as headers.
fn request_headers<'p>(parts: &'p Parts, query: &[(String, String)], signature_v2: bool) -> Cow<'p, HeaderMap> {
    let presigned_v2 = signature_v2 && query.iter().any(|(name, _)| name == "Signature");
    if !presigned_v2 {
        return Cow::Borrowed(&parts.headers);
    }
    let mut headers = parts.headers.clone();
    for (name, value) in query {
        let name = name.to_ascii_lowercase();
        let moved = name.starts_with("x-amz-") || name == "content-type" || name == "content-md5";
        if let (true, Ok(name), Ok(value)) = (
            moved && !headers.contains_key(name.as_str()),
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    Cow::Owned(headers)
}

/// Condition keys a request supplies from its headers and query: `s3:<header>` for each `x-amz-*` header and
/// `s3:<parameter>` for each query parameter that names a key S3 defines (`s3:x-amz-server-side-encryption`,
/// `s3:prefix`, `s3:max-keys`), and how it was authenticated. The authoriser keeps those the action takes.
pub(crate) fn condition_keys(
    headers: &HeaderMap,
    query: &[(String, String)],
    signature_v2: bool,
) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    let mut offer = |key: String, value: String| {
        if table::is_known_key(&key) && !keys.iter().any(|(k, _)| k.eq_ignore_ascii_case(&key)) {
            keys.push((key, vec![value]));
        }
    };
    for (name, value) in headers {
        if name.as_str().starts_with("x-amz-")
            && !name.as_str().contains("customer-key")
            && let Ok(value) = value.to_str()
        {
            offer(format!("s3:{}", name.as_str()), value.to_string());
            // The Object Lock headers' keys drop the `x-amz-` (`s3:object-lock-mode`).
            if let Some(lock) = name.as_str().strip_prefix("x-amz-object-lock-") {
                offer(format!("s3:object-lock-{lock}"), value.to_string());
            }
        }
    }
    for (name, value) in query {
        offer(format!("s3:{name}"), value.clone());
    }
    // Signature Version 2 names itself `AWS`; its presigned form carries `Signature`, SigV4's `X-Amz-Signature`.
    let v2 = signature_v2;
    let presigned = query
        .iter()
        .any(|(k, _)| k == "X-Amz-Signature" || (v2 && k == "Signature"));
    offer(
        "s3:authType".into(),
        if presigned { "REST-QUERY-STRING" } else { "REST-HEADER" }.into(),
    );
    offer(
        "s3:signatureversion".into(),
        if v2 { "AWS" } else { "AWS4-HMAC-SHA256" }.into(),
    );
    keys
}

/// Reads an XML or text payload whole, within S3's limit.
async fn read_payload(body: &mut RequestBody) -> Result<Vec<u8>, ApiError> {
    let RequestBody::Streamed(stream) = body else {
        return Ok(body.whole().to_vec());
    };
    let mut payload = Vec::new();
    while let Some(chunk) = stream.next().await {
        payload.extend_from_slice(&chunk?);
        if payload.len() > MAX_PAYLOAD {
            return Err(ApiError::bad_request(
                "MaxMessageLengthExceeded",
                "Your request was too big.",
            ));
        }
    }
    Ok(payload)
}

fn decode_error(e: DecodeError) -> ApiError {
    match e {
        DecodeError::MalformedXml => s3_error(S3Error::MalformedXml),
        // S3's words for a parameter that does not parse (an integer out of range, most often).
        DecodeError::InvalidArgument { name, value } => {
            let mut error = ApiError::bad_request(
                "InvalidArgument",
                format!("Provided {name} not an integer or within integer range"),
            );
            error.fields.push(("ArgumentName", name));
            error.fields.push(("ArgumentValue", value));
            error
        }
    }
}

/// A generated reply and a body as an HTTP response.
fn into_response(reply: Reply, streamed: Body) -> Response {
    let (body, content_type) = match reply.body {
        Some((bytes, content_type)) => (Body::from(bytes), Some(content_type)),
        None => (streamed, None),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    *response.headers_mut() = reply.headers;
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

/// An object's bytes streamed to the connection: decrypted a chunk at a time on a blocking thread, at most a few
/// chunks ahead of the client, so memory stays flat whatever the object's size.
fn stream_body(read: ObjectRead) -> Body {
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let sent = read.read(|bytes| {
            sender
                .blocking_send(Ok(Bytes::copy_from_slice(bytes)))
                .map_err(|_| S3Error::Unavailable)
        });
        if let Err(e) = sent
            && !matches!(e, S3Error::Unavailable)
        {
            tracing::error!(error = %e, "object body could not be read; the response is cut short");
            let _ = sender.blocking_send(Err(std::io::Error::other("object body unreadable")));
        }
    });
    Body::new(ChannelBody(receiver))
}

/// A response body fed from a channel.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|next| next.map(|chunk| chunk.map(http_body::Frame::data)))
    }
}

fn tag_pair(tag: wire::Tag) -> (String, String) {
    (tag.key.unwrap_or_default(), tag.value.unwrap_or_default())
}

fn wire_tag((key, value): (String, String)) -> wire::Tag {
    wire::Tag {
        key: Some(key),
        value: Some(value),
    }
}

/// A lifecycle rule as put; a member S3 requires that is missing is MalformedXML.
fn lifecycle_rule(rule: wire::LifecycleRule) -> Result<lifecycle::LifecycleRule, S3Error> {
    Ok(lifecycle::LifecycleRule {
        id: rule.id,
        enabled: match rule.status.as_deref() {
            Some("Enabled") => true,
            Some("Disabled") => false,
            _ => return Err(S3Error::MalformedXml),
        },
        filter: rule.filter.map(|f| lifecycle::Filter {
            prefix: f.prefix,
            tag: f.tag.map(tag_pair),
            size_greater_than: f.object_size_greater_than,
            size_less_than: f.object_size_less_than,
            and: f.and.map(|a| lifecycle::AndFilter {
                prefix: a.prefix,
                tags: a.tags.unwrap_or_default().into_iter().map(tag_pair).collect(),
                size_greater_than: a.object_size_greater_than,
                size_less_than: a.object_size_less_than,
            }),
        }),
        prefix: rule.prefix,
        expiration: rule.expiration.map(|e| lifecycle::Expiration {
            days: e.days,
            date: e.date.as_ref().map(millis),
            expired_object_delete_marker: e.expired_object_delete_marker,
        }),
        transitions: rule
            .transitions
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                Ok(lifecycle::Transition {
                    days: t.days,
                    date: t.date.as_ref().map(millis),
                    storage_class: t.storage_class.ok_or(S3Error::MalformedXml)?,
                })
            })
            .collect::<Result<_, S3Error>>()?,
        noncurrent_expiration: rule
            .noncurrent_version_expiration
            .map(|e| {
                Ok::<_, S3Error>(lifecycle::NoncurrentExpiration {
                    noncurrent_days: e.noncurrent_days.ok_or(S3Error::MalformedXml)?,
                    newer_noncurrent_versions: e.newer_noncurrent_versions,
                })
            })
            .transpose()?,
        noncurrent_transitions: rule
            .noncurrent_version_transitions
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                Ok(lifecycle::NoncurrentTransition {
                    noncurrent_days: t.noncurrent_days.ok_or(S3Error::MalformedXml)?,
                    storage_class: t.storage_class.ok_or(S3Error::MalformedXml)?,
                    newer_noncurrent_versions: t.newer_noncurrent_versions,
                })
            })
            .collect::<Result<_, S3Error>>()?,
        abort_incomplete_upload_days: rule
            .abort_incomplete_multipart_upload
            .map(|a| a.days_after_initiation.ok_or(S3Error::MalformedXml))
            .transpose()?,
    })
}

/// A lifecycle rule as GetBucketLifecycleConfiguration answers it: in the form it was put.
fn wire_lifecycle_rule(rule: lifecycle::LifecycleRule) -> wire::LifecycleRule {
    wire::LifecycleRule {
        id: rule.id,
        status: Some(if rule.enabled { "Enabled" } else { "Disabled" }.into()),
        filter: rule.filter.map(|f| wire::LifecycleRuleFilter {
            prefix: f.prefix,
            tag: f.tag.map(wire_tag),
            object_size_greater_than: f.size_greater_than,
            object_size_less_than: f.size_less_than,
            and: f.and.map(|a| wire::LifecycleRuleAndOperator {
                prefix: a.prefix,
                tags: (!a.tags.is_empty()).then(|| a.tags.into_iter().map(wire_tag).collect()),
                object_size_greater_than: a.size_greater_than,
                object_size_less_than: a.size_less_than,
            }),
        }),
        prefix: rule.prefix,
        expiration: rule.expiration.map(|e| wire::LifecycleExpiration {
            days: e.days,
            date: e.date.map(timestamp),
            expired_object_delete_marker: e.expired_object_delete_marker,
        }),
        transitions: (!rule.transitions.is_empty()).then(|| {
            rule.transitions
                .into_iter()
                .map(|t| wire::Transition {
                    days: t.days,
                    date: t.date.map(timestamp),
                    storage_class: Some(t.storage_class),
                })
                .collect()
        }),
        noncurrent_version_expiration: rule.noncurrent_expiration.map(|e| wire::NoncurrentVersionExpiration {
            noncurrent_days: Some(e.noncurrent_days),
            newer_noncurrent_versions: e.newer_noncurrent_versions,
        }),
        noncurrent_version_transitions: (!rule.noncurrent_transitions.is_empty()).then(|| {
            rule.noncurrent_transitions
                .into_iter()
                .map(|t| wire::NoncurrentVersionTransition {
                    noncurrent_days: Some(t.noncurrent_days),
                    storage_class: Some(t.storage_class),
                    newer_noncurrent_versions: t.newer_noncurrent_versions,
                })
                .collect()
        }),
        abort_incomplete_multipart_upload: rule.abort_incomplete_upload_days.map(|days| {
            wire::AbortIncompleteMultipartUpload {
                days_after_initiation: Some(days),
            }
        }),
    }
}

/// A timestamp as Unix milliseconds.
fn millis(at: &Timestamp) -> i64 {
    i64::try_from(at.0.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn timestamp(millis: i64) -> Timestamp {
    Timestamp(
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

/// A request's condition keys with those of the tags it sets (`s3:RequestObjectTag/*`, `s3:RequestObjectTagKeys`).
pub(crate) fn with_request_tags(
    keys: &[(String, Vec<String>)],
    tags: &[(String, String)],
) -> Vec<(String, Vec<String>)> {
    let mut all = keys.to_vec();
    all.extend(request_tag_keys(tags));
    all
}

/// The tags an `x-amz-tagging` header sets.
fn tags_of(header: Option<&str>) -> Result<Vec<(String, String)>, S3Error> {
    header
        .map(parse_tagging_header)
        .transpose()
        .map(Option::unwrap_or_default)
}

fn tag_set(tags: Vec<(String, String)>) -> Vec<wire::Tag> {
    tags.into_iter()
        .map(|(key, value)| wire::Tag {
            key: Some(key),
            value: Some(value),
        })
        .collect()
}

fn initiator(ctx: &RequestContext) -> wire::Initiator {
    wire::Initiator {
        id: Some(ctx.principal.arn.clone()),
        display_name: None,
    }
}

/// The one grant of a bucket or object whose ACLs are disabled.
fn owner_full_control(account: &str) -> Vec<wire::Grant> {
    vec![wire::Grant {
        grantee: Some(wire::Grantee {
            id: Some(account.to_string()),
            type_: Some("CanonicalUser".into()),
            ..Default::default()
        }),
        permission: Some("FULL_CONTROL".into()),
    }]
}

fn owner(account: &str) -> wire::Owner {
    wire::Owner {
        display_name: None,
        id: Some(account.to_string()),
    }
}

fn location_constraint(bucket: &BucketRecord) -> String {
    if bucket.region == US_EAST_1 {
        String::new()
    } else {
        bucket.region.clone()
    }
}

/// A bucket's encryption configuration as S3 answers it; blocking nothing is `NONE`.
fn encryption_configuration(
    encryption: DefaultEncryption,
    blocked: Vec<String>,
) -> wire::ServerSideEncryptionConfiguration {
    let blocked = if blocked.is_empty() {
        vec![NO_ENCRYPTION_TYPE.to_string()]
    } else {
        blocked
    };
    wire::ServerSideEncryptionConfiguration {
        rules: Some(vec![wire::ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(wire::ServerSideEncryptionByDefault {
                sse_algorithm: Some(encryption.algorithm),
                kms_master_key_id: encryption.kms_key_id.map(Into::into),
            }),
            bucket_key_enabled: Some(encryption.bucket_key_enabled),
            blocked_encryption_types: Some(wire::BlockedEncryptionTypes {
                encryption_type: Some(blocked),
            }),
        }]),
    }
}

/// A listing's objects; ListObjects names their owner, ListObjectsV2 only with FetchOwner.
fn contents(listing: &objects::Listing, url: bool, owner: Option<&wire::Owner>) -> Option<Vec<wire::Object>> {
    let objects: Vec<wire::Object> = listing
        .objects
        .iter()
        .map(|o| wire::Object {
            key: Some(encode_key(&o.key, url)),
            last_modified: Some(timestamp(o.record.last_modified)),
            e_tag: Some(o.record.etag.clone()),
            checksum_algorithm: o.record.checksum.as_ref().map(|(name, _)| vec![name.clone()]),
            checksum_type: o.record.checksum_type.clone(),
            size: Some(i64::try_from(o.record.size).unwrap_or(i64::MAX)),
            storage_class: Some(o.record.storage_class().to_string()),
            owner: owner.cloned(),
            ..Default::default()
        })
        .collect();
    (!objects.is_empty()).then_some(objects)
}

fn common_prefixes(listing: &objects::Listing, url: bool) -> Option<Vec<wire::CommonPrefix>> {
    let prefixes: Vec<wire::CommonPrefix> = listing
        .common_prefixes
        .iter()
        .map(|p| wire::CommonPrefix {
            prefix: Some(encode_key(p, url)),
        })
        .collect();
    (!prefixes.is_empty()).then_some(prefixes)
}

/// Whether a listing asks for `encoding-type=url`; a value outside the model's enum is refused as S3 refuses it.
fn url_encoded(encoding_type: Option<&str>) -> Result<bool, S3Error> {
    match encoding_type {
        None => Ok(false),
        Some(value) if wire::enums::ENCODING_TYPE.contains(&value) => Ok(true),
        Some(_) => Err(S3Error::InvalidArgument(
            "Invalid Encoding Method specified in Request".into(),
        )),
    }
}

/// `encoding-type=url`: keys percent-encoded as S3 encodes them.
fn encode_key(key: &str, url: bool) -> String {
    if !url {
        return key.to_string();
    }
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

/// Continuation tokens are opaque to clients: the last name returned, base64-encoded.
fn encode_token(last: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(last)
}

fn decode_token(token: &str) -> Result<String, S3Error> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| S3Error::InvalidArgument("The continuation token provided is incorrect".into()))
}
