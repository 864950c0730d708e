//! POST Object: browser-based uploads, a `multipart/form-data` form whose fields (key, policy, signature, headers)
//! come before the file. The form signs its policy, with SigV4 (`x-amz-signature`, the credential scope's signing
//! key over the base64 policy) or SigV2 (`signature`, HMAC-SHA1); the policy bounds the other fields and the file's
//! size (`keyhaven_s3::post_policy`); the upload is then a PutObject made as the signer. A form without any signature
//! is anonymous, for buckets whose policy lets everyone write.

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::stream;
use keyhaven_crypto::digest::{constant_time_eq, hmac_sha1_legacy, hmac_sha256};
use keyhaven_kernel::context::{Principal, RequestContext};
use keyhaven_s3::objects::{ObjectHeaders, PutObject};
use keyhaven_s3::post_policy::PostPolicy;
use keyhaven_s3::sse_kms::KmsRequest;
use keyhaven_s3::{S3Error, storage_class};

use crate::error::ApiError;
use crate::generated::s3 as wire;
use crate::pipeline::{Origin, Outcome, request_context, signer};
use crate::protocol::{Answer, RequestBody, Success};
use crate::query::XmlWriter;
use crate::rest_route::Addressed;
use crate::server::AppState;
use crate::sigv4::derive_signing_key;

/// The operation name of a browser upload (`POST /<bucket>` with a form), which the model has no operation for.
pub const POST_OBJECT: &str = "PostObject";
/// The most the fields before the file may hold together.
const MAX_FIELD_BYTES: usize = 64 * 1024;
const SIGV4_ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Whether `parts` is a browser upload: a form POSTed to a bucket.
pub fn is_post_object(parts: &Parts, address: &Addressed) -> bool {
    parts.method == axum::http::Method::POST
        && address.key.is_none()
        && parts.uri.query().is_none_or(str::is_empty)
        && parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("multipart/form-data"))
}

fn s3(e: S3Error) -> ApiError {
    crate::error::s3_error(e)
}

fn malformed() -> ApiError {
    ApiError::bad_request(
        "MalformedPOSTRequest",
        "The body of your POST request is not well-formed multipart/form-data.",
    )
}

fn missing_field(name: &str) -> ApiError {
    ApiError::bad_request(
        "InvalidArgument",
        format!(
            "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
        ),
    )
}

/// The form's fields, lowercased names in order, the file's excluded.
struct Form(Vec<(String, String)>);

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Who signed the form: the principal and the Region its signature names; `None` for a form without any of the
/// signature's fields (anonymous). A signature missing some of its fields names the first one missing.
fn form_signer(state: &AppState, form: &Form) -> Result<Option<(Principal, String)>, ApiError> {
    let required = |names: &[&'static str]| {
        names
            .iter()
            .map(|name| form.get(&name.to_ascii_lowercase()).ok_or_else(|| missing_field(name)))
            .collect::<Result<Vec<&str>, ApiError>>()
    };
    let v4 = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Signature",
        "Policy",
    ];
    let v2 = ["AWSAccessKeyId", "Signature", "Policy"];
    if v4[..4]
        .iter()
        .any(|name| form.get(&name.to_ascii_lowercase()).is_some())
    {
        let [algorithm, credential_field, _, signature, policy] = required(&v4)?[..] else {
            return Err(ApiError::internal());
        };
        if algorithm != SIGV4_ALGORITHM {
            return Err(ApiError::bad_request(
                "InvalidArgument",
                format!("Invalid algorithm: {algorithm}"),
            ));
        }
        let scope: Vec<&str> = credential_field.split('/').collect();
        let [key_id, date, region, "s3", "aws4_request"] = scope.as_slice() else {
            return Err(ApiError::bad_request(
                "InvalidArgument",
                format!("Invalid credential: {credential_field}"),
            ));
        };
        let principal = signer(
            state,
            (key_id, form.get("x-amz-security-token")),
            ("s3", region),
            |secret| {
                secret.map_or(Ok(()), |secret| {
                    let key = derive_signing_key(secret, date, region, "s3");
                    let expected = hex::encode(hmac_sha256(key.as_ref(), policy.as_bytes()));
                    matches(&expected, &signature.to_ascii_lowercase())
                })
            },
        )?;
        return Ok(Some((principal, region.to_string())));
    }
    if v2[..2]
        .iter()
        .any(|name| form.get(&name.to_ascii_lowercase()).is_some())
    {
        let [key_id, signature, policy] = required(&v2)?[..] else {
            return Err(ApiError::internal());
        };
        let region = crate::protocol::rest_xml::DEFAULT_REGION;
        let principal = signer(
            state,
            (key_id, form.get("x-amz-security-token")),
            ("s3", region),
            |secret| {
                secret.map_or(Ok(()), |secret| {
                    matches(&STANDARD.encode(hmac_sha1_legacy(secret, policy.as_bytes())), signature)
                })
            },
        )?;
        return Ok(Some((principal, region.to_string())));
    }
    Ok(None)
}

/// The form's signature against the one its policy should carry, compared in constant time.
fn matches(expected: &str, presented: &str) -> Result<(), ApiError> {
    match constant_time_eq(expected.as_bytes(), presented.as_bytes()) {
        true => Ok(()),
        false => Err(signature_mismatch()),
    }
}

fn signature_mismatch() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
}

/// The form's fields as the headers a PutObject would carry (`Content-Type`, `x-amz-meta-*`, `x-amz-server-side-*`).
fn as_headers(form: &Form) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in &form.0 {
        let header_like = name.starts_with("x-amz-")
            || [
                "content-type",
                "cache-control",
                "content-disposition",
                "content-encoding",
                "expires",
            ]
            .contains(&name.as_str());
        if let (true, Ok(name), Ok(value)) = (
            header_like,
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    headers
}

/// The tags of the form's `tagging` field: S3's `<Tagging>` document.
fn form_tags(form: &Form) -> Result<Vec<(String, String)>, ApiError> {
    let Some(text) = form.get("tagging") else {
        return Ok(Vec::new());
    };
    let document = roxmltree::Document::parse(text).map_err(|_| s3(S3Error::MalformedXml))?;
    let tags: Vec<(String, String)> = document
        .descendants()
        .filter(|n| n.has_tag_name("Tag"))
        .map(|tag| {
            let child = |name: &str| {
                tag.children()
                    .find(|c| c.has_tag_name(name))
                    .and_then(|c| c.text())
                    .unwrap_or_default()
                    .to_string()
            };
            (child("Key"), child("Value"))
        })
        .collect();
    keyhaven_s3::subresources::check_object_tags(&tags).map_err(s3)?;
    Ok(tags)
}

/// Serves a browser upload.
pub async fn post_object(
    state: &AppState,
    parts: &Parts,
    address: &Addressed,
    body: &mut RequestBody,
    origin: &Origin,
    outcome: &mut Outcome,
) -> Answer {
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| malformed())?;
    let RequestBody::Streamed(streamed) = body else {
        return Err(ApiError::internal());
    };
    let chunks = stream::unfold(streamed, |streamed| async move {
        let next = streamed.next().await?;
        Some((next.map_err(|e| std::io::Error::other(e.message)), streamed))
    });
    let mut multipart = multer::Multipart::new(chunks, boundary);
    // The fields, up to the file: S3 ignores what follows it.
    let mut fields = Vec::new();
    let mut size = 0;
    let (file_name, mut file) = loop {
        let field = multipart.next_field().await.map_err(|_| malformed())?;
        let Some(field) = field else {
            return Err(ApiError::bad_request(
                "InvalidArgument",
                "POST requires exactly one file upload per request.",
            ));
        };
        let name = field.name().unwrap_or_default().to_ascii_lowercase();
        if name == "file" {
            break (field.file_name().unwrap_or_default().to_string(), field);
        }
        let value = field.text().await.map_err(|_| malformed())?;
        size += name.len() + value.len();
        if size > MAX_FIELD_BYTES {
            return Err(ApiError::bad_request(
                "MaxPostPreDataLengthExceededError",
                "Your POST request fields preceding the upload file were too large.",
            ));
        }
        fields.push((name, value));
    };
    let form = Form(fields);
    let (principal, region) = match form_signer(state, &form)? {
        Some(signer) => signer,
        None => (
            Principal::anonymous(),
            crate::protocol::rest_xml::DEFAULT_REGION.to_string(),
        ),
    };
    outcome.region.clone_from(&region);
    outcome.principal = Some(principal.clone());
    let signature_v2 = form.get("awsaccesskeyid").is_some();
    let ctx = request_context(principal, &region, origin, signature_v2);
    let answer = store_upload(state, address, &form, (&file_name, &mut file), &ctx, outcome).await;
    // KMS calls made on the signer's behalf (SSE-KMS), each audited as KMS's own.
    outcome.service_calls = ctx.service_calls.drain();
    answer
}

/// Checks the form against its policy and stores its file as a PutObject made as `ctx`'s caller.
async fn store_upload(
    state: &AppState,
    address: &Addressed,
    form: &Form,
    (file_name, file): (&str, &mut multer::Field<'_>),
    ctx: &RequestContext,
    outcome: &mut Outcome,
) -> Answer {
    let now = time::OffsetDateTime::now_utc();
    let policy = match form.get("policy") {
        Some(policy) => Some(PostPolicy::parse(policy).map_err(s3)?),
        None => None,
    };
    let bucket = address.bucket.clone().unwrap_or_default();
    if let Some(policy) = &policy {
        // A `bucket` condition is on the bucket the form is posted to.
        let mut checked = form.0.clone();
        checked.retain(|(name, _)| name != "bucket");
        checked.push(("bucket".into(), bucket.clone()));
        policy.check(&checked, now.unix_timestamp()).map_err(s3)?;
    }
    let key = form
        .get("key")
        .ok_or_else(|| missing_field("key"))?
        .replace("${filename}", file_name);
    outcome.request_parameters = serde_json::json!({"bucketName": bucket, "key": key});
    let headers = as_headers(form);
    let query = Vec::new();
    let keys = crate::s3::condition_keys(&headers, &query, ctx.signature_v2);
    let tags = form_tags(form)?;
    let keys = crate::s3::with_request_tags(&keys, &tags);
    let customer_key = None;
    let put = PutObject {
        bucket: &bucket,
        key: &key,
        headers: ObjectHeaders {
            content_type: form.get("content-type").map(str::to_string),
            content_encoding: form.get("content-encoding").map(str::to_string),
            content_disposition: form.get("content-disposition").map(str::to_string),
            cache_control: form.get("cache-control").map(str::to_string),
            expires: form.get("expires").map(str::to_string),
            metadata: form
                .0
                .iter()
                .filter_map(|(n, v)| n.strip_prefix("x-amz-meta-").map(|m| (m.to_string(), v.clone())))
                .collect(),
            tags,
            storage_class: storage_class::requested(form.get("x-amz-storage-class"), wire::enums::STORAGE_CLASS)
                .map_err(s3)?,
            website_redirect_location: form.get("x-amz-website-redirect-location").map(str::to_string),
            ..Default::default()
        },
        server_side_encryption: form.get("x-amz-server-side-encryption"),
        kms: KmsRequest {
            key_id: form
                .get("x-amz-server-side-encryption-aws-kms-key-id")
                .map(str::to_string),
            context: form.get("x-amz-server-side-encryption-context").map(str::to_string),
            bucket_key: form
                .get("x-amz-server-side-encryption-bucket-key-enabled")
                .map(|v| v.eq_ignore_ascii_case("true")),
        },
        customer_key,
        keys: &keys,
        ..Default::default()
    };
    let mut upload = tokio::task::block_in_place(|| state.core.s3.begin_put(ctx, put)).map_err(s3)?;
    let range = policy.as_ref().and_then(PostPolicy::length_range);
    let mut received: u64 = 0;
    while let Some(chunk) = file.chunk().await.map_err(|_| malformed())? {
        received += chunk.len() as u64;
        if range.is_some_and(|(_, max)| received > max) {
            return Err(s3(S3Error::EntityTooLarge));
        }
        upload.write(&chunk).map_err(s3)?;
    }
    if range.is_some_and(|(min, _)| received < min) {
        return Err(s3(S3Error::EntityTooSmall));
    }
    let stored = tokio::task::block_in_place(|| state.core.s3.finish_put(upload, None)).map_err(s3)?;
    // What the form asks the answer to be: a redirect, a 200 or 201 (with its XML), or by default a 204.
    let location = format!("/{bucket}/{key}");
    if let Some(redirect) = form.get("success_action_redirect").or_else(|| form.get("redirect")) {
        let target = format!(
            "{redirect}{}{}",
            if redirect.contains('?') { '&' } else { '?' },
            form_urlencoded::Serializer::new(String::new())
                .append_pair("bucket", &bucket)
                .append_pair("key", &key)
                .append_pair("etag", &stored.etag)
                .finish()
        );
        return Ok(Success::Http(answer(
            StatusCode::SEE_OTHER,
            &target,
            &stored.etag,
            Body::empty(),
        )));
    }
    let (status, body) = match form.get("success_action_status") {
        Some("200") => (StatusCode::OK, Body::empty()),
        Some("201") => {
            let mut xml = XmlWriter::in_namespace(wire::XML_NAMESPACE);
            xml.open("PostResponse");
            for (name, value) in [
                ("Location", &location),
                ("Bucket", &bucket),
                ("Key", &key),
                ("ETag", &stored.etag),
            ] {
                xml.text(name, value);
            }
            xml.close("PostResponse");
            (StatusCode::CREATED, Body::from(Bytes::from(xml.finish())))
        }
        _ => (StatusCode::NO_CONTENT, Body::empty()),
    };
    Ok(Success::Http(answer(status, &location, &stored.etag, body)))
}

fn answer(status: StatusCode, location: &str, etag: &str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in [(header::LOCATION, location), (header::ETAG, etag)] {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
