//! Cross-origin resource sharing: a bucket's CORS rules (Put/Get/DeleteBucketCors), the answer to a browser's
//! preflight `OPTIONS` request, and the `Access-Control-*` headers of an actual cross-origin request. Preflights are
//! not signed and not authorised, as in S3: the rules themselves decide.

use keyhaven_kernel::context::RequestContext;
use serde::{Deserialize, Serialize};

use crate::{S3, S3Error};

/// S3's most rules per configuration.
const MAX_RULES: usize = 100;
/// The methods a rule may allow.
const METHODS: &[&str] = &["GET", "PUT", "HEAD", "POST", "DELETE"];
const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<i32>,
}

/// The `Access-Control-*` headers a matching rule gives, name and value.
pub type CorsHeaders = Vec<(&'static str, String)>;

/// `pattern` (with at most one `*`, matching any run of characters) against `text`, ignoring case when `fold`.
fn wildcard_match(pattern: &str, text: &str, fold: bool) -> bool {
    let (pattern, text) = match fold {
        true => (pattern.to_ascii_lowercase(), text.to_ascii_lowercase()),
        false => (pattern.to_string(), text.to_string()),
    };
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => text.len() >= head.len() + tail.len() && text.starts_with(head) && text.ends_with(tail),
    }
}

fn check_rules(rules: &[CorsRule]) -> Result<(), S3Error> {
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(S3Error::MalformedXml);
    }
    for rule in rules {
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err(S3Error::MalformedXml);
        }
        if let Some(method) = rule.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(S3Error::InvalidRequest(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )));
        }
        let wildcards = |values: &[String]| values.iter().any(|v| v.matches('*').count() > 1);
        if wildcards(&rule.allowed_origins) {
            return Err(S3Error::InvalidRequest(
                "AllowedOrigin can not have more than one wildcard.".into(),
            ));
        }
        if wildcards(&rule.allowed_headers) {
            return Err(S3Error::InvalidRequest(
                "AllowedHeader can not have more than one wildcard.".into(),
            ));
        }
    }
    Ok(())
}

impl CorsRule {
    /// Whether the rule lets `origin` use `method` with `headers` (the preflight's `Access-Control-Request-Headers`).
    fn allows(&self, origin: &str, method: &str, headers: &[&str]) -> bool {
        self.allowed_origins.iter().any(|o| wildcard_match(o, origin, false))
            && self.allowed_methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| self.allowed_headers.iter().any(|a| wildcard_match(a, h, true)))
    }

    /// The headers answering `origin` under this rule; `preflight` adds what a preflight answers.
    fn headers(&self, origin: &str, preflight: Option<&str>) -> CorsHeaders {
        let wildcard = self.allowed_origins.iter().any(|o| o == "*");
        let mut out: CorsHeaders = vec![(
            "access-control-allow-origin",
            if wildcard { "*".into() } else { origin.into() },
        )];
        out.push(("access-control-allow-methods", self.allowed_methods.join(", ")));
        if let Some(requested) = preflight.filter(|h| !h.is_empty()) {
            out.push(("access-control-allow-headers", requested.to_string()));
        }
        if !self.expose_headers.is_empty() {
            out.push(("access-control-expose-headers", self.expose_headers.join(", ")));
        }
        if let Some(age) = self.max_age_seconds {
            out.push(("access-control-max-age", age.to_string()));
        }
        if !wildcard {
            out.push(("access-control-allow-credentials", "true".into()));
        }
        out.push((
            "vary",
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".into(),
        ));
        out
    }
}

impl S3 {
    pub fn put_bucket_cors(&self, ctx: &RequestContext, name: &str, rules: Vec<CorsRule>) -> Result<(), S3Error> {
        check_rules(&rules)?;
        self.update_bucket(ctx, "s3:PutBucketCORS", name, |bucket| {
            bucket.cors = Some(rules.clone());
            Ok(())
        })
    }

    pub fn get_bucket_cors(&self, ctx: &RequestContext, name: &str) -> Result<Vec<CorsRule>, S3Error> {
        self.authorized_bucket(ctx, "s3:GetBucketCORS", name)?
            .cors
            .ok_or_else(|| S3Error::NoSuchCorsConfiguration { bucket: name.into() })
    }

    /// DeleteBucketCors (authorised as `s3:PutBucketCORS`, as S3 does).
    pub fn delete_bucket_cors(&self, ctx: &RequestContext, name: &str) -> Result<(), S3Error> {
        self.update_bucket(ctx, "s3:PutBucketCORS", name, |bucket| {
            bucket.cors = None;
            Ok(())
        })
    }

    /// A browser's preflight: the headers of the first rule that allows `origin` to use `method` with the
    /// comma-separated `requested_headers`, or S3's 403.
    pub fn preflight(
        &self,
        bucket: &str,
        origin: Option<&str>,
        method: Option<&str>,
        requested_headers: Option<&str>,
    ) -> Result<CorsHeaders, S3Error> {
        let Some(origin) = origin else {
            return Err(S3Error::BadRequest(
                "Insufficient information. Origin request header needed.".into(),
            ));
        };
        let Some(record) = self.bucket(bucket)? else {
            return Err(S3Error::CorsForbidden("CORSResponse: Bucket not found".into()));
        };
        let Some(rules) = record.cors else {
            return Err(S3Error::CorsForbidden(
                "CORSResponse: CORS is not enabled for this bucket.".into(),
            ));
        };
        let headers: Vec<&str> = requested_headers
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        // Without a method to ask about, no rule allows the request.
        let method = method.unwrap_or_default();
        rules
            .iter()
            .find(|rule| rule.allows(origin, method, &headers))
            .map(|rule| rule.headers(origin, Some(requested_headers.unwrap_or_default())))
            .ok_or_else(|| S3Error::CorsForbidden(NOT_ALLOWED.into()))
    }

    /// The `Access-Control-*` headers of an actual cross-origin `method` request from `origin` to `bucket`, when a
    /// rule allows it.
    pub fn cors_headers(&self, bucket: &str, origin: &str, method: &str) -> Result<CorsHeaders, S3Error> {
        let rules = self.bucket(bucket)?.and_then(|b| b.cors).unwrap_or_default();
        Ok(rules
            .iter()
            .find(|rule| rule.allows(origin, method, &[]))
            .map(|rule| rule.headers(origin, None))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let strings = |values: &[&str]| values.iter().map(|v| v.to_string()).collect();
        CorsRule {
            allowed_origins: strings(origins),
            allowed_methods: strings(methods),
            allowed_headers: strings(headers),
            ..Default::default()
        }
    }

    #[test]
    fn rules_allow_origins_methods_and_headers_by_their_patterns() {
        let site = rule(
            &["https://*.example.com"],
            &["GET", "PUT"],
            &["x-amz-*", "Content-Type"],
        );
        let cases = [
            (
                "https://app.example.com",
                "PUT",
                vec!["content-type", "x-amz-date"],
                true,
            ),
            ("https://app.example.com", "DELETE", vec![], false),
            ("https://example.org", "GET", vec![], false),
            ("https://app.example.com", "GET", vec!["authorization"], false),
        ];
        for (origin, method, headers, allowed) in cases {
            assert_eq!(
                site.allows(origin, method, &headers),
                allowed,
                "{origin} {method} {headers:?}"
            );
        }
        assert!(rule(&["*"], &["GET"], &[]).allows("null", "GET", &[]));
    }

    #[test]
    fn configurations_are_checked_as_s3_checks_them() {
        let cases = [
            (vec![], Some(S3Error::MalformedXml)),
            (vec![rule(&["*"], &["GET"], &[]); 101], Some(S3Error::MalformedXml)),
            (vec![rule(&["*"], &[], &[])], Some(S3Error::MalformedXml)),
            (
                vec![rule(&["*"], &["NOTREAL"], &[])],
                Some(S3Error::InvalidRequest(
                    "Found unsupported HTTP method in CORS config. Unsupported method is NOTREAL".into(),
                )),
            ),
            (
                vec![rule(&["https://*.*.com"], &["GET"], &[])],
                Some(S3Error::InvalidRequest(
                    "AllowedOrigin can not have more than one wildcard.".into(),
                )),
            ),
            (vec![rule(&["*"], &["GET"], &["*"])], None),
        ];
        for (rules, expected) in cases {
            assert_eq!(check_rules(&rules).err(), expected, "{rules:?}");
        }
    }
}
