//! The S3 bucket configurations kept as documents (replication, logging, inventory, metrics, analytics,
//! Intelligent-Tiering) and the website configuration: their requests read into what the service keeps, and back.

use keyhaven_s3::S3Error;
use keyhaven_s3::configurations::ConfigurationPage;
use keyhaven_s3::website::{Condition, Redirect, RedirectAll, RoutingRule, WebsiteConfiguration};

use crate::generated::s3 as wire;
use crate::query::XmlWriter;
use crate::rest_xml::{FromXml, ToXml};

/// A configuration's canonical document: the shape as the request was read, written as an answer writes it.
pub fn document<T: ToXml>(root: &str, value: &T) -> String {
    let mut xml = XmlWriter::in_namespace(wire::XML_NAMESPACE);
    value.write_xml(root, &mut xml);
    xml.finish()
}

/// A kept document read back into its shape.
pub fn read_document<T: FromXml>(text: &str) -> Result<T, S3Error> {
    let document = roxmltree::Document::parse(text).map_err(|e| S3Error::Internal(format!("kept document: {e}")))?;
    T::from_xml(document.root_element()).map_err(|e| S3Error::Internal(format!("kept document: {e:?}")))
}

/// The configuration of a Put request kept by `Id`, and that `Id`; refused when its `Id` is not the request's.
pub fn identified<T>(
    configuration: Option<T>,
    id: Option<&str>,
    id_of: impl Fn(&T) -> Option<&str>,
) -> Result<(T, &str), S3Error> {
    let configuration = configuration.ok_or(S3Error::MissingRequestBody)?;
    match id {
        Some(id) if id_of(&configuration) == Some(id) => Ok((configuration, id)),
        _ => Err(S3Error::IdMismatch),
    }
}

/// A page of kept documents, read back, with where the next page starts.
pub struct ListedPage<T> {
    pub configurations: Vec<T>,
    pub is_truncated: bool,
    pub next: Option<String>,
}

pub fn listed<T: FromXml>(page: ConfigurationPage) -> Result<ListedPage<T>, S3Error> {
    Ok(ListedPage {
        configurations: page
            .documents
            .iter()
            .map(|d| read_document(d))
            .collect::<Result<_, _>>()?,
        is_truncated: page.next.is_some(),
        next: page.next,
    })
}

/// An inventory's destination must name its bucket by ARN.
pub fn check_inventory_destination(configuration: &wire::InventoryConfiguration) -> Result<(), S3Error> {
    let bucket = configuration
        .destination
        .as_ref()
        .and_then(|d| d.s3_bucket_destination.as_ref())
        .and_then(|d| d.bucket.as_deref())
        .unwrap_or_default();
    if !bucket.starts_with("arn:aws:s3:::") {
        return Err(S3Error::InvalidS3DestinationBucket("Invalid bucket ARN.".into()));
    }
    Ok(())
}

/// The destination buckets a replication configuration names (by ARN).
pub fn replication_destinations(configuration: &wire::ReplicationConfiguration) -> Vec<String> {
    configuration
        .rules
        .iter()
        .flatten()
        .filter_map(|rule| rule.destination.as_ref()?.bucket.clone())
        .collect()
}

/// A website configuration as the service keeps it (the elements the model requires were checked when read).
pub fn website(configuration: wire::WebsiteConfiguration) -> WebsiteConfiguration {
    WebsiteConfiguration {
        index_suffix: configuration.index_document.and_then(|d| d.suffix),
        error_key: configuration.error_document.and_then(|d| d.key),
        redirect_all: configuration.redirect_all_requests_to.map(|r| RedirectAll {
            host_name: r.host_name.unwrap_or_default(),
            protocol: r.protocol,
        }),
        routing_rules: configuration
            .routing_rules
            .unwrap_or_default()
            .into_iter()
            .map(|rule| RoutingRule {
                condition: rule.condition.map(|c| Condition {
                    http_error_code_returned_equals: c.http_error_code_returned_equals,
                    key_prefix_equals: c.key_prefix_equals,
                }),
                redirect: rule.redirect.map_or_else(Redirect::default, |r| Redirect {
                    host_name: r.host_name,
                    http_redirect_code: r.http_redirect_code,
                    protocol: r.protocol,
                    replace_key_prefix_with: r.replace_key_prefix_with,
                    replace_key_with: r.replace_key_with,
                }),
            })
            .collect(),
    }
}

/// GetBucketWebsite's answer: the configuration in the form it was put.
pub fn website_output(website: WebsiteConfiguration) -> wire::GetBucketWebsiteOutput {
    wire::GetBucketWebsiteOutput {
        index_document: website
            .index_suffix
            .map(|suffix| wire::IndexDocument { suffix: Some(suffix) }),
        error_document: website.error_key.map(|key| wire::ErrorDocument { key: Some(key) }),
        redirect_all_requests_to: website.redirect_all.map(|r| wire::RedirectAllRequestsTo {
            host_name: Some(r.host_name),
            protocol: r.protocol,
        }),
        routing_rules: (!website.routing_rules.is_empty()).then(|| {
            website
                .routing_rules
                .into_iter()
                .map(|rule| wire::RoutingRule {
                    condition: rule.condition.map(|c| wire::Condition {
                        http_error_code_returned_equals: c.http_error_code_returned_equals,
                        key_prefix_equals: c.key_prefix_equals,
                    }),
                    redirect: Some(wire::Redirect {
                        host_name: rule.redirect.host_name,
                        http_redirect_code: rule.redirect.http_redirect_code,
                        protocol: rule.redirect.protocol,
                        replace_key_prefix_with: rule.redirect.replace_key_prefix_with,
                        replace_key_with: rule.redirect.replace_key_with,
                    }),
                })
                .collect()
        }),
    }
}
