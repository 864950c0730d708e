//! A bucket's static website configuration: the index and error documents, a redirect of every request, or routing
//! rules, checked as S3 checks them when put (PutBucketWebsite).

use serde::{Deserialize, Serialize};

use keyhaven_kernel::context::RequestContext;

use crate::S3;
use crate::error::S3Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WebsiteConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_all: Option<RedirectAll>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routing_rules: Vec<RoutingRule>,
}

/// Every request redirected to another host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectAll {
    pub host_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    pub redirect: Redirect,
}

/// When a routing rule applies; S3 requires at least one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_error_code_returned_equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix_equals: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Redirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_redirect_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_key_prefix_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_key_with: Option<String>,
}

impl WebsiteConfiguration {
    /// S3's checks, in the order S3 applies them (each message as S3 words it).
    pub fn validate(&self) -> Result<(), S3Error> {
        let argument = |message: &str| Err(S3Error::InvalidArgument(message.into()));
        let request = |message: &str| Err(S3Error::InvalidRequest(message.into()));
        if let Some(suffix) = &self.index_suffix
            && (suffix.is_empty() || suffix.contains('/'))
        {
            return argument("The IndexDocument Suffix is not well formed");
        }
        match &self.redirect_all {
            Some(_) if self.index_suffix.is_some() || self.error_key.is_some() || !self.routing_rules.is_empty() => {
                return argument("RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.");
            }
            None if self.index_suffix.is_none() => {
                return argument("A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty");
            }
            _ => {}
        }
        let protocols = self
            .redirect_all
            .iter()
            .filter_map(|r| r.protocol.as_deref())
            .chain(self.routing_rules.iter().filter_map(|r| r.redirect.protocol.as_deref()));
        for protocol in protocols {
            if protocol != "http" && protocol != "https" {
                return request(
                    "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically.",
                );
            }
        }
        for rule in &self.routing_rules {
            if rule.redirect.replace_key_prefix_with.is_some() && rule.redirect.replace_key_with.is_some() {
                return request("You can only define ReplaceKeyPrefix or ReplaceKey but not both.");
            }
            if rule.condition.as_ref() == Some(&Condition::default()) {
                return request(
                    "Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't be present.",
                );
            }
        }
        Ok(())
    }
}

impl S3 {
    pub fn put_bucket_website(
        &self,
        ctx: &RequestContext,
        name: &str,
        website: WebsiteConfiguration,
    ) -> Result<(), S3Error> {
        website.validate()?;
        self.update_bucket(ctx, "s3:PutBucketWebsite", name, |bucket| {
            bucket.website = Some(website.clone());
            Ok(())
        })
    }

    pub fn get_bucket_website(&self, ctx: &RequestContext, name: &str) -> Result<WebsiteConfiguration, S3Error> {
        self.authorized_bucket(ctx, "s3:GetBucketWebsite", name)?
            .website
            .ok_or_else(|| S3Error::NoSuchWebsiteConfiguration { bucket: name.into() })
    }

    /// Deleting a configuration that is not there succeeds, as in S3.
    pub fn delete_bucket_website(&self, ctx: &RequestContext, name: &str) -> Result<(), S3Error> {
        self.update_bucket(ctx, "s3:DeleteBucketWebsite", name, |bucket| {
            bucket.website = None;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(suffix: &str) -> WebsiteConfiguration {
        WebsiteConfiguration {
            index_suffix: Some(suffix.into()),
            ..Default::default()
        }
    }

    fn rule(condition: Option<Condition>, redirect: Redirect) -> RoutingRule {
        RoutingRule { condition, redirect }
    }

    #[test]
    fn configurations_are_checked_as_s3_checks_them() {
        let redirect_all = Some(RedirectAll {
            host_name: "example.com".into(),
            protocol: None,
        });
        let cases: Vec<(WebsiteConfiguration, Option<(&str, &str)>)> = vec![
            (index("index.html"), None),
            (
                index("/index.html"),
                Some(("InvalidArgument", "The IndexDocument Suffix is not well formed")),
            ),
            (
                index(""),
                Some(("InvalidArgument", "The IndexDocument Suffix is not well formed")),
            ),
            (
                WebsiteConfiguration {
                    redirect_all: redirect_all.clone(),
                    ..Default::default()
                },
                None,
            ),
            (
                WebsiteConfiguration {
                    redirect_all: redirect_all.clone(),
                    ..index("index.html")
                },
                Some((
                    "InvalidArgument",
                    "RedirectAllRequestsTo cannot be provided in conjunction",
                )),
            ),
            (
                WebsiteConfiguration {
                    error_key: Some("error.html".into()),
                    ..Default::default()
                },
                Some(("InvalidArgument", "A value for IndexDocument Suffix must be provided")),
            ),
            (
                WebsiteConfiguration {
                    redirect_all: Some(RedirectAll {
                        host_name: "example.com".into(),
                        protocol: Some("ftp".into()),
                    }),
                    ..Default::default()
                },
                Some(("InvalidRequest", "Invalid protocol, protocol can be http or https.")),
            ),
            (
                WebsiteConfiguration {
                    routing_rules: vec![rule(
                        None,
                        Redirect {
                            replace_key_prefix_with: Some("a/".into()),
                            replace_key_with: Some("b".into()),
                            ..Default::default()
                        },
                    )],
                    ..index("index.html")
                },
                Some((
                    "InvalidRequest",
                    "You can only define ReplaceKeyPrefix or ReplaceKey but not both.",
                )),
            ),
            (
                WebsiteConfiguration {
                    routing_rules: vec![rule(Some(Condition::default()), Redirect::default())],
                    ..index("index.html")
                },
                Some(("InvalidRequest", "Condition cannot be empty.")),
            ),
            (
                WebsiteConfiguration {
                    routing_rules: vec![rule(
                        Some(Condition {
                            key_prefix_equals: Some("docs/".into()),
                            ..Default::default()
                        }),
                        Redirect {
                            replace_key_prefix_with: Some("documents/".into()),
                            ..Default::default()
                        },
                    )],
                    ..index("index.html")
                },
                None,
            ),
        ];
        for (configuration, expected) in cases {
            let answer = configuration.validate().map_err(|e| {
                let code = match &e {
                    S3Error::InvalidArgument(_) => "InvalidArgument",
                    S3Error::InvalidRequest(_) => "InvalidRequest",
                    other => panic!("unexpected {other:?}"),
                };
                (code, e.to_string())
            });
            match (answer, expected) {
                (Ok(()), None) => {}
                (Err((code, message)), Some((want_code, want_message))) => {
                    assert_eq!(code, want_code, "{configuration:?}");
                    assert!(message.starts_with(want_message), "{configuration:?}: {message}");
                }
                (answer, expected) => panic!("{configuration:?}: {answer:?}, expected {expected:?}"),
            }
        }
    }
}
