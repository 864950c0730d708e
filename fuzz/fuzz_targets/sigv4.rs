//! Fuzzes SigV4 parsing and verification with arbitrary Authorization headers, query strings and bodies.
#![no_main]

use keyhaven_api::sigv4::{self, RequestParts, SigningKeyCache, UriEncoding};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Layout: authorization header \0 query string \0 x-amz-date \0 body.
    let mut parts = data.splitn(4, |b| *b == 0);
    let authorization = parts.next().unwrap_or_default();
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).to_string();
    let date = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let mut headers = http::HeaderMap::new();
    headers.insert("host", http::HeaderValue::from_static("localhost"));
    if let Ok(value) = http::HeaderValue::from_bytes(authorization) {
        headers.insert("authorization", value);
    }
    if let Ok(value) = http::HeaderValue::from_bytes(date) {
        headers.insert("x-amz-date", value);
    }
    let uri: http::Uri = match format!("/?{query}").parse() {
        Ok(uri) => uri,
        Err(_) => "/".parse().expect("static uri"),
    };
    let method = http::Method::POST;
    let request = RequestParts { method: &method, uri: &uri, headers: &headers, body };
    if let Ok(auth) = sigv4::parse(&request) {
        let cache = SigningKeyCache::new(4);
        let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(16_000);
        for encoding in [UriEncoding::Double, UriEncoding::Single] {
            let _ = sigv4::verify(&auth, &request, b"secret", "kms", now, encoding, &cache);
        }
    }
});
