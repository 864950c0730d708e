//! Fuzzes SigV4 parsing and verification, header and presigned-query forms: arbitrary methods, paths, queries, headers and bodies.
#![no_main]

use keyhaven_api::sigv4::{self, RequestParts, SigningKeyCache, UriEncoding};
use keyhaven_crypto::digest::sha256;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Layout: mode, then method \0 path \0 query \0 credential-or-authorization \0 signed headers \0 signature \0
    // date \0 body. Mode bits 0-1: 0 the authorization field as the raw header, 1 a header-form skeleton around the
    // fields, 2 a presigned-query skeleton, 3 both (ambiguous); in a skeleton an empty field takes a well-formed
    // default, so that most inputs reach the canonical request. Bit 2: Date instead of X-Amz-Date (header form) or
    // X-Amz-Expires = the signed headers' length (presigned); 3: the body's x-amz-content-sha256; 4: a session token;
    // 5: the fuzzed method instead of POST.
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut fields = rest.splitn(8, |b| *b == 0);
    let mut next = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let (method, path, query, mut credential, mut signed, mut signature, mut date) =
        (next(), next(), next(), next(), next(), next(), next());
    let body = rest.splitn(8, |b| *b == 0).nth(7).unwrap_or_default();

    let header_form = matches!(mode & 3, 1 | 3);
    let presigned = mode & 2 != 0;
    let http_date = header_form && mode & 4 != 0;
    if header_form || presigned {
        for (field, default) in [
            (&mut credential, "AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request"),
            (&mut signed, if presigned { "host" } else { "host;x-amz-date" }),
            (
                &mut signature,
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                &mut date,
                if http_date {
                    "Sun, 30 Aug 2015 12:36:00 GMT"
                } else {
                    "20150830T123600Z"
                },
            ),
        ] {
            if field.is_empty() {
                *field = default.to_owned();
            }
        }
    }
    let authorization = if header_form {
        format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}")
    } else {
        credential.clone()
    };
    let query = if presigned {
        let expires = if mode & 4 != 0 {
            format!("&X-Amz-Expires={}", signed.len())
        } else {
            String::new()
        };
        format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-SignedHeaders={signed}\
             &X-Amz-Signature={signature}&X-Amz-Date={date}{expires}&{query}"
        )
    } else {
        query
    };

    let mut headers = http::HeaderMap::new();
    headers.insert("host", http::HeaderValue::from_static("localhost"));
    if (mode & 3 != 2)
        && let Ok(value) = http::HeaderValue::from_str(&authorization)
    {
        headers.insert("authorization", value);
    }
    if let Ok(value) = http::HeaderValue::from_str(&date) {
        headers.insert(
            if header_form && mode & 4 != 0 {
                "date"
            } else {
                "x-amz-date"
            },
            value,
        );
    }
    if mode & 8 != 0 {
        let hash = sha256(body).iter().map(|b| format!("{b:02x}")).collect::<String>();
        headers.insert("x-amz-content-sha256", http::HeaderValue::from_str(&hash).expect("hex"));
    }
    if mode & 16 != 0 {
        headers.insert("x-amz-security-token", http::HeaderValue::from_static("token"));
    }
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let uri: http::Uri = [format!("{path}?{query}"), format!("/?{query}")]
        .iter()
        .find_map(|text| text.parse().ok())
        .unwrap_or_else(|| http::Uri::from_static("/"));
    let method = match mode & 32 {
        0 => http::Method::POST,
        _ => http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::GET),
    };
    let request = RequestParts {
        method: &method,
        uri: &uri,
        headers: &headers,
        payload: sigv4::Payload::Whole(body),
    };

    let auth = match sigv4::parse(&request) {
        Ok(auth) => auth,
        Err(error) => {
            // Messages are built from input; they must stay printable and never panic.
            let _ = (error.aws_code(), error.to_string());
            return;
        }
    };
    assert_eq!(
        auth.presigned,
        !headers.contains_key("authorization"),
        "exactly one form is accepted"
    );
    let cache = SigningKeyCache::new(4);
    // At a fixed time for KMS (the scope and clock checks), then at the request's own time for the service it
    // names, so that any well-scoped request reaches the canonical request and the signature comparison.
    let fixed = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    for (service, now) in [("kms", fixed), (auth.service.as_str(), auth.amz_date)] {
        for encoding in [UriEncoding::Double, UriEncoding::Single] {
            let verified = sigv4::verify(&auth, &request, b"secret", service, now, encoding, &cache);
            // Nobody can compute the HMAC without the secret: a forged signature never verifies.
            assert!(verified.is_err(), "forged signature accepted: {auth:?}");
            let _ = verified.map_err(|error| error.to_string());
        }
    }
});
