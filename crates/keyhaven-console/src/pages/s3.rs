//! Buckets with their default encryption (algorithm, KMS key, bucket key), policy status and public access block.

use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use crate::api::ApiFailure;
use crate::layout::{Section, enc, failed_page, page, respond};
use crate::session::SignedIn;
use crate::xml::Element;

/// What a bucket-configuration GET says, with "not configured" errors as `None`.
fn configured(answer: Result<Element, ApiFailure>) -> Result<Option<Element>, ApiFailure> {
    match answer {
        Ok(found) => Ok(Some(found)),
        Err(failure) if failure.status == 404 => Ok(None),
        Err(failure) => Err(failure),
    }
}

/// ListBuckets, then per bucket (a few at a time) GetBucketEncryption, GetBucketPolicyStatus and
/// GetPublicAccessBlock.
pub async fn buckets(s: SignedIn) -> Response {
    let listed = match s.api.s3_get("/").await {
        Ok(listed) => listed,
        Err(failure) => return failed_page(&s, Section::S3, "Buckets", failure),
    };
    let names: Vec<String> = listed
        .find_all("Bucket")
        .iter()
        .map(|b| b.text_of("Name").to_string())
        .collect();
    let rows = s
        .api
        .each(names, |api, name| async move {
            let bucket = enc(&name);
            let paths = [
                format!("/{bucket}?encryption"),
                format!("/{bucket}?policyStatus"),
                format!("/{bucket}?publicAccessBlock"),
            ];
            let (encryption, policy, block) =
                futures_util::join!(api.s3_get(&paths[0]), api.s3_get(&paths[1]), api.s3_get(&paths[2]));
            (configured(encryption), configured(policy), configured(block))
        })
        .await;
    let body = html! {
        div.scroll { table.wide data-filter {
            thead { tr { th { "Bucket" } th { "Default encryption" } th { "KMS key" } th { "Bucket key" } th { "Policy" } th { "Public access block" } } }
            tbody { @for (name, (encryption, policy, block)) in &rows { tr {
                td { code { (name) } }
                @match encryption {
                    Ok(Some(found)) => {
                        td { (found.text_of("SSEAlgorithm")) }
                        td { code { (found.text_of("KMSMasterKeyID")) } }
                        td { (if found.text_of("BucketKeyEnabled") == "true" { "Enabled" } else { "Off" }) }
                    }
                    Ok(None) => { td { "None" } td {} td {} }
                    Err(failure) => { td colspan="3" .muted { (failure.code) } }
                }
                td { @match policy {
                    Ok(Some(found)) => { (if found.text_of("IsPublic") == "true" { "Public" } else { "Not public" }) }
                    Ok(None) => { "No policy" }
                    Err(failure) => { span.muted { (failure.code) } }
                } }
                td { @match block {
                    Ok(Some(found)) => {
                        @let on = ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"].iter().filter(|k| found.text_of(k) == "true").count();
                        (on) " of 4 on"
                    }
                    Ok(None) => { "Not set" }
                    Err(failure) => { span.muted { (failure.code) } }
                } }
            } } }
        } }
        @if rows.is_empty() { p.muted { "No buckets." } }
    };
    respond(StatusCode::OK, page(&s, Section::S3, "Buckets", None, body))
}
