//! AWS Signature Version 2 (HMAC-SHA1), which S3 still accepts and SDKs still produce: botocore presigns S3 URLs
//! with it by default in the Regions older than SigV4 (`AWSAccessKeyId`, `Signature`, `Expires` in the query), and
//! older clients sign headers with it (`Authorization: AWS <key>:<signature>`). Only S3 takes it, as in AWS; the
//! string to sign follows "Signing and authenticating REST requests" (Amazon S3 Developer Guide, SigV2).

use axum::http::{HeaderMap, Method, Uri};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyhaven_crypto::digest::{constant_time_eq, hmac_sha1_legacy};

const HEADER_PREFIX: &str = "AWS ";
const QUERY_KEY: &str = "AWSAccessKeyId";
const QUERY_SIGNATURE: &str = "Signature";
const QUERY_EXPIRES: &str = "Expires";
const SECURITY_TOKEN: &str = "x-amz-security-token";
/// How far a header-signed request's `Date` may stray from the server's clock.
const MAX_SKEW_SECONDS: i64 = 15 * 60;
/// The query parameters that name a subresource and so enter the string to sign (the S3 Developer Guide's list, as
/// botocore's `HmacV1Auth.QSAOfInterest` keeps it).
const SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "delete",
    "inventory",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "retention",
    "select",
    "select-type",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Why a SigV2 request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV2Error {
    #[error("AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")]
    MalformedHeader,
    #[error("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")]
    IncompleteQuery,
    #[error("Request has expired")]
    Expired,
    #[error("The difference between the request time and the current time is too large.")]
    TimeTooSkewed,
    #[error("The request signature we calculated does not match the signature you provided.")]
    SignatureDoesNotMatch,
}

/// A SigV2 signature as the request carries it.
#[derive(Clone)]
pub struct ParsedV2 {
    pub access_key_id: String,
    signature: String,
    /// `Expires` of a presigned request (Unix seconds).
    expires: Option<i64>,
    /// `x-amz-security-token`, header or query parameter.
    pub security_token: Option<String>,
}

impl std::fmt::Debug for ParsedV2 {
    // By hand, so that a session token never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedV2")
            .field("access_key_id", &self.access_key_id)
            .field("presigned", &self.expires.is_some())
            .finish_non_exhaustive()
    }
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request is signed with SigV2: an `Authorization: AWS …` header or an `AWSAccessKeyId` query.
pub fn is_sigv2(uri: &Uri, headers: &HeaderMap) -> bool {
    match header(headers, "authorization") {
        Some(value) => value.starts_with(HEADER_PREFIX),
        None => query_pairs(uri).iter().any(|(k, _)| k == QUERY_KEY),
    }
}

pub fn parse(uri: &Uri, headers: &HeaderMap) -> Result<ParsedV2, SigV2Error> {
    let query = query_pairs(uri);
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let security_token = param(SECURITY_TOKEN).or_else(|| header(headers, SECURITY_TOKEN).map(str::to_string));
    if let Some(value) = header(headers, "authorization") {
        let (access_key_id, signature) = value
            .strip_prefix(HEADER_PREFIX)
            .and_then(|rest| rest.trim().rsplit_once(':'))
            .filter(|(key, signature)| !key.is_empty() && !signature.is_empty())
            .ok_or(SigV2Error::MalformedHeader)?;
        return Ok(ParsedV2 {
            access_key_id: access_key_id.to_string(),
            signature: signature.to_string(),
            expires: None,
            security_token,
        });
    }
    match (param(QUERY_KEY), param(QUERY_SIGNATURE), param(QUERY_EXPIRES)) {
        (Some(access_key_id), Some(signature), Some(expires)) => Ok(ParsedV2 {
            access_key_id,
            signature,
            expires: Some(expires.trim().parse().map_err(|_| SigV2Error::IncompleteQuery)?),
            security_token,
        }),
        _ => Err(SigV2Error::IncompleteQuery),
    }
}

/// The request as SigV2 signs it: `path` is the canonical resource's path, `/<bucket>/<key>` as sent (encoded),
/// whichever addressing the request used.
pub struct SignedRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub path: &'a str,
}

/// Checks the request's time: a presigned request's `Expires` has not passed, a header-signed one's `Date` (or
/// `x-amz-date`) is within 15 minutes of `now` (Unix seconds). Answers the Date line of the string to sign.
pub fn check_time(parsed: &ParsedV2, headers: &HeaderMap, now: i64) -> Result<String, SigV2Error> {
    match parsed.expires {
        Some(expires) if expires < now => Err(SigV2Error::Expired),
        Some(expires) => Ok(expires.to_string()),
        // With `x-amz-date`, the Date line is empty and `x-amz-date` signs as an amz header.
        None => {
            let amz_date = header(headers, "x-amz-date");
            let date = amz_date.or_else(|| header(headers, "date")).unwrap_or_default();
            let at = time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc2822)
                .map_err(|_| SigV2Error::TimeTooSkewed)?
                .unix_timestamp();
            if (at - now).abs() > MAX_SKEW_SECONDS {
                return Err(SigV2Error::TimeTooSkewed);
            }
            Ok(match amz_date {
                Some(_) => String::new(),
                None => date.trim().to_string(),
            })
        }
    }
}

/// Checks the request's time (`check_time`) and its signature under `secret`.
pub fn verify(parsed: &ParsedV2, request: &SignedRequest<'_>, secret: &[u8], now: i64) -> Result<(), SigV2Error> {
    let date_line = check_time(parsed, request.headers, now)?;
    let expected = STANDARD.encode(hmac_sha1_legacy(
        secret,
        string_to_sign(request, &date_line, parsed.expires.is_some()).as_bytes(),
    ));
    if constant_time_eq(expected.as_bytes(), parsed.signature.as_bytes()) {
        Ok(())
    } else {
        Err(SigV2Error::SignatureDoesNotMatch)
    }
}

/// `Method \n Content-MD5 \n Content-Type \n Date-or-Expires \n CanonicalizedAmzHeaders CanonicalizedResource`.
fn string_to_sign(request: &SignedRequest<'_>, date_line: &str, presigned: bool) -> String {
    let standard = |name: &str| header(request.headers, name).unwrap_or_default().trim().to_string();
    let query = query_pairs(request.uri);
    // `x-amz-*` headers, and for a presigned request the `x-amz-*` parameters its signer moved into the query.
    let mut amz: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for (name, value) in request.headers {
        if name.as_str().starts_with("x-amz-") {
            let value = String::from_utf8_lossy(value.as_bytes());
            amz.entry(name.as_str().to_string())
                .or_default()
                .push(value.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    if presigned {
        for (name, value) in &query {
            let name = name.to_ascii_lowercase();
            if name.starts_with("x-amz-") && !amz.contains_key(&name) {
                amz.insert(name, vec![value.clone()]);
            }
        }
    }
    let amz_headers: String = amz
        .iter()
        .map(|(name, values)| format!("{name}:{}\n", values.join(",")))
        .collect();
    let mut subresources: Vec<&(String, String)> = query
        .iter()
        .filter(|(name, _)| SUBRESOURCES.contains(&name.as_str()))
        .collect();
    subresources.sort_by(|a, b| a.0.cmp(&b.0));
    let mut resource = request.path.to_string();
    for (index, (name, value)) in subresources.into_iter().enumerate() {
        resource.push(if index == 0 { '?' } else { '&' });
        resource.push_str(name);
        if !value.is_empty() {
            resource.push('=');
            resource.push_str(value);
        }
    }
    format!(
        "{}\n{}\n{}\n{date_line}\n{amz_headers}{resource}",
        request.method.as_str(),
        standard("content-md5"),
        standard("content-type"),
    )
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    /// The Object GET example of AWS's SigV2 documentation ("Signing and authenticating REST requests", Amazon S3
    /// Developer Guide): its credentials, string to sign and signature (also computed with Python's `hmac`).
    const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn the_documented_get_example_signs_as_documented() {
        let uri: Uri = "/johnsmith/photos/puppy.jpg".parse().expect("uri");
        let headers = headers(&[("date", "Tue, 27 Mar 2007 19:36:42 +0000")]);
        let request = SignedRequest {
            method: &Method::GET,
            uri: &uri,
            headers: &headers,
            path: "/johnsmith/photos/puppy.jpg",
        };
        let text = string_to_sign(&request, "Tue, 27 Mar 2007 19:36:42 +0000", false);
        assert_eq!(
            text,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg"
        );
        assert_eq!(
            STANDARD.encode(hmac_sha1_legacy(SECRET, text.as_bytes())),
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU="
        );
    }

    #[test]
    fn amz_headers_and_subresources_enter_the_string_to_sign_in_order() {
        let uri: Uri = "/bucket/key?versionId=v1&uploads&other=x&acl".parse().expect("uri");
        let headers = headers(&[
            ("content-type", "text/plain"),
            ("x-amz-meta-b", "two"),
            ("x-amz-meta-a", "one  spaced"),
            ("x-amz-meta-a", "again"),
        ]);
        let request = SignedRequest {
            method: &Method::PUT,
            uri: &uri,
            headers: &headers,
            path: "/bucket/key",
        };
        assert_eq!(
            string_to_sign(&request, "1700000000", true),
            "PUT\n\ntext/plain\n1700000000\nx-amz-meta-a:one spaced,again\nx-amz-meta-b:two\n/bucket/key?acl&uploads&versionId=v1"
        );
    }

    #[test]
    fn presigned_requests_expire_and_wrong_signatures_are_refused() {
        let uri: Uri = "/b/k?AWSAccessKeyId=AKID&Signature=c2ln&Expires=100"
            .parse()
            .expect("uri");
        let empty = HeaderMap::new();
        let parsed = parse(&uri, &empty).expect("parsed");
        let request = SignedRequest {
            method: &Method::GET,
            uri: &uri,
            headers: &empty,
            path: "/b/k",
        };
        assert_eq!(verify(&parsed, &request, SECRET, 101), Err(SigV2Error::Expired));
        assert_eq!(
            verify(&parsed, &request, SECRET, 99),
            Err(SigV2Error::SignatureDoesNotMatch)
        );
        let no_expiry: Uri = "/b/k?AWSAccessKeyId=AKID&Signature=c2ln".parse().expect("uri");
        assert_eq!(parse(&no_expiry, &empty).err(), Some(SigV2Error::IncompleteQuery));
        let bad = headers(&[("authorization", "AWS no-colon")]);
        assert_eq!(
            parse(&"/b".parse().expect("uri"), &bad).err(),
            Some(SigV2Error::MalformedHeader)
        );
    }
}
