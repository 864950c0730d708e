//! Which S3 operation a request is: the bucket and key from a path-style or virtual-hosted request, then the route
//! (`generated::s3_routes`) whose method, target, query markers and required query parameters and headers it
//! satisfies with the most constraints. Built ahead of S3's protocol, which will call it from `route`.

use axum::http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

/// What a request's path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `/`: the account's buckets.
    Service,
    Bucket,
    Object,
}

/// One operation's route, generated from the S3 model.
#[derive(Debug)]
pub struct RestRoute {
    pub operation: &'static str,
    pub method: &'static str,
    pub target: Target,
    /// Query markers of the request URI, with their value if they have one (`("list-type", Some("2"))`).
    pub markers: &'static [(&'static str, Option<&'static str>)],
    /// Query parameters the operation requires.
    pub query: &'static [&'static str],
    /// Headers the operation requires (lowercase).
    pub headers: &'static [&'static str],
}

impl RestRoute {
    fn constraints(&self) -> usize {
        self.markers.len() + self.query.len() + self.headers.len()
    }

    fn matches(&self, method: &Method, target: Target, query: &[(String, String)], headers: &HeaderMap) -> bool {
        let has = |name: &str| query.iter().any(|(k, _)| k == name);
        self.method == method.as_str()
            && self.target == target
            && self.markers.iter().all(|(name, value)| match value {
                Some(value) => query.iter().any(|(k, v)| k == name && v == value),
                None => has(name),
            })
            && self.query.iter().all(|name| has(name))
            && self.headers.iter().all(|name| headers.contains_key(*name))
    }
}

/// The bucket and key a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressed {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

impl Addressed {
    /// From the path of a path-style request (`/bucket/key`), or of a virtual-hosted one whose `Host` named
    /// `bucket` (`/key`). A trailing `/` after the bucket alone still names the bucket. `None` for a path that is not
    /// valid percent-encoded UTF-8.
    pub fn from_path(path: &str, host_bucket: Option<&str>) -> Option<Self> {
        let decode = |text: &str| percent_decode_str(text).decode_utf8().ok().map(|s| s.into_owned());
        let rest = path.strip_prefix('/').unwrap_or(path);
        let (bucket, key) = match host_bucket {
            Some(bucket) => (Some(bucket.to_string()), rest),
            None => match rest.split_once('/') {
                Some((bucket, key)) => (Some(decode(bucket)?), key),
                None if rest.is_empty() => (None, ""),
                None => (Some(decode(rest)?), ""),
            },
        };
        let key = if key.is_empty() { None } else { Some(decode(key)?) };
        Some(Self { bucket, key })
    }

    pub fn target(&self) -> Target {
        match (&self.bucket, &self.key) {
            (None, _) => Target::Service,
            (Some(_), None) => Target::Bucket,
            (Some(_), Some(_)) => Target::Object,
        }
    }
}

/// The operation a request is, or `None` when no route matches or two match equally.
pub fn route(
    routes: &'static [RestRoute],
    method: &Method,
    target: Target,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Option<&'static RestRoute> {
    let mut best: Option<&'static RestRoute> = None;
    let mut tied = false;
    for candidate in routes.iter().filter(|r| r.matches(method, target, query, headers)) {
        match best {
            Some(b) if b.constraints() > candidate.constraints() => {}
            Some(b) if b.constraints() == candidate.constraints() => tied = true,
            _ => {
                best = Some(candidate);
                tied = false;
            }
        }
    }
    best.filter(|_| !tied)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::generated::s3_routes::ROUTES;

    fn operation(method: &str, path: &str, query: &str, headers: &[&'static str]) -> Option<&'static str> {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let mut map = HeaderMap::new();
        for name in headers {
            map.insert(*name, HeaderValue::from_static("x"));
        }
        let addressed = Addressed::from_path(path, None).expect("path");
        route(ROUTES, &method, addressed.target(), &query, &map).map(|r| r.operation)
    }

    /// A request (method, path, query, headers present) and the operation it should reach.
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
        Option<&'static str>,
    );

    /// Requests as the AWS CLI and the SDKs send them, path-style.
    #[test]
    fn requests_reach_their_operations() {
        let cases: &[Case] = &[
            ("GET", "/", "", &[], Some("ListBuckets")),
            ("PUT", "/bucket", "", &[], Some("CreateBucket")),
            ("HEAD", "/bucket", "", &[], Some("HeadBucket")),
            ("DELETE", "/bucket", "", &[], Some("DeleteBucket")),
            ("GET", "/bucket", "", &[], Some("ListObjects")),
            ("GET", "/bucket/", "list-type=2&prefix=a", &[], Some("ListObjectsV2")),
            ("GET", "/bucket", "versions", &[], Some("ListObjectVersions")),
            ("GET", "/bucket", "location", &[], Some("GetBucketLocation")),
            ("PUT", "/bucket", "versioning", &[], Some("PutBucketVersioning")),
            ("GET", "/bucket", "encryption", &[], Some("GetBucketEncryption")),
            ("PUT", "/bucket", "policy", &[], Some("PutBucketPolicy")),
            ("GET", "/bucket", "policyStatus", &[], Some("GetBucketPolicyStatus")),
            (
                "GET",
                "/bucket",
                "analytics",
                &[],
                Some("ListBucketAnalyticsConfigurations"),
            ),
            (
                "GET",
                "/bucket",
                "analytics&id=a",
                &[],
                Some("GetBucketAnalyticsConfiguration"),
            ),
            (
                "GET",
                "/bucket",
                "lifecycle",
                &[],
                Some("GetBucketLifecycleConfiguration"),
            ),
            ("POST", "/bucket", "delete", &[], Some("DeleteObjects")),
            ("GET", "/bucket", "uploads", &[], Some("ListMultipartUploads")),
            ("PUT", "/bucket/a/b%20c.txt", "", &[], Some("PutObject")),
            ("PUT", "/bucket/key", "", &["x-amz-copy-source"], Some("CopyObject")),
            ("PUT", "/bucket/key", "partNumber=1&uploadId=u", &[], Some("UploadPart")),
            (
                "PUT",
                "/bucket/key",
                "partNumber=1&uploadId=u",
                &["x-amz-copy-source"],
                Some("UploadPartCopy"),
            ),
            ("GET", "/bucket/key", "", &[], Some("GetObject")),
            ("GET", "/bucket/key", "versionId=v", &[], Some("GetObject")),
            ("GET", "/bucket/key", "uploadId=u", &[], Some("ListParts")),
            ("HEAD", "/bucket/key", "", &[], Some("HeadObject")),
            ("DELETE", "/bucket/key", "", &[], Some("DeleteObject")),
            ("DELETE", "/bucket/key", "uploadId=u", &[], Some("AbortMultipartUpload")),
            ("POST", "/bucket/key", "uploads", &[], Some("CreateMultipartUpload")),
            (
                "POST",
                "/bucket/key",
                "uploadId=u",
                &[],
                Some("CompleteMultipartUpload"),
            ),
            ("GET", "/bucket/key", "tagging", &[], Some("GetObjectTagging")),
            (
                "GET",
                "/bucket/key",
                "attributes",
                &["x-amz-object-attributes"],
                Some("GetObjectAttributes"),
            ),
            // Two markers of equal weight: no single operation.
            ("GET", "/bucket", "acl&versioning", &[], None),
            ("PATCH", "/bucket", "", &[], None),
            ("POST", "/bucket/key", "", &[], None),
        ];
        for (method, path, query, headers, expected) in cases {
            assert_eq!(
                operation(method, path, query, headers),
                *expected,
                "{method} {path}?{query} {headers:?}"
            );
        }
    }

    #[test]
    fn paths_name_buckets_and_keys_in_both_addressing_styles() {
        let named = |bucket: Option<&str>, key: Option<&str>| {
            Some(Addressed {
                bucket: bucket.map(str::to_string),
                key: key.map(str::to_string),
            })
        };
        let cases: &[(&str, Option<&str>, Option<Addressed>)] = &[
            ("/", None, named(None, None)),
            ("/bucket", None, named(Some("bucket"), None)),
            ("/bucket/", None, named(Some("bucket"), None)),
            (
                "/bucket/dir/file%20name.txt",
                None,
                named(Some("bucket"), Some("dir/file name.txt")),
            ),
            ("/bucket/dir/", None, named(Some("bucket"), Some("dir/"))),
            ("/", Some("bucket"), named(Some("bucket"), None)),
            ("/key%2Bplus", Some("bucket"), named(Some("bucket"), Some("key+plus"))),
            ("/bucket/%FF", None, None),
        ];
        for (path, host_bucket, expected) in cases {
            assert_eq!(
                Addressed::from_path(path, *host_bucket),
                *expected,
                "{path} {host_bucket:?}"
            );
        }
    }
}
