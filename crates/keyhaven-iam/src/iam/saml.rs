//! IAM SAML identity providers: the IdP's metadata document, from which come the issuer
//! (`entityID`), the certificates its assertions are signed with, and when it stops being valid.

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::ids::new_uuid;
use keyhaven_kernel::records;
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};

use super::certificates::{ParsedCertificate, parse_der_certificate};
use super::{Iam, RECORD_VERSION, Tag, all_of, validate_tags};
use crate::error::{IamError, read};

keyhaven_kernel::versioned_record!(SamlProvider, "iam-saml-provider", RECORD_VERSION);

const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamlProvider {
    pub v: u32,
    pub account_id: String,
    pub name: String,
    pub uuid: String,
    pub metadata: String,
    pub create_date: f64,
    pub valid_until: f64,
    pub tags: Vec<Tag>,
}

impl SamlProvider {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:saml-provider/{}", self.account_id, self.name)
    }
}

/// What a provider's metadata says about its IdP.
#[derive(Debug, Clone)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub signing_certificates: Vec<ParsedCertificate>,
    pub valid_until: Option<f64>,
}

fn invalid_metadata() -> IamError {
    IamError::InvalidInput("Could not parse metadata.".into())
}

/// Parses a SAML 2.0 metadata document: an `EntityDescriptor` (alone or the first in an
/// `EntitiesDescriptor`) with an `IDPSSODescriptor` holding at least one signing certificate.
pub fn parse_metadata(document: &str) -> Result<IdpMetadata, IamError> {
    let xml = roxmltree::Document::parse(document).map_err(|_| invalid_metadata())?;
    let entity = xml
        .descendants()
        .find(|n| n.has_tag_name((METADATA_NS, "EntityDescriptor")))
        .ok_or_else(invalid_metadata)?;
    let entity_id = entity.attribute("entityID").ok_or_else(invalid_metadata)?.to_string();
    let idp = entity
        .children()
        .find(|n| n.has_tag_name((METADATA_NS, "IDPSSODescriptor")))
        .ok_or_else(invalid_metadata)?;
    let mut signing_certificates = Vec::new();
    for key in idp
        .children()
        .filter(|n| n.has_tag_name((METADATA_NS, "KeyDescriptor")))
    {
        if key.attribute("use").is_some_and(|u| u != "signing") {
            continue;
        }
        for certificate in key
            .descendants()
            .filter(|n| n.has_tag_name((DSIG_NS, "X509Certificate")))
        {
            let text: String = certificate.text().unwrap_or_default().split_whitespace().collect();
            let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text)
                .map_err(|_| invalid_metadata())?;
            signing_certificates.push(parse_der_certificate(&der).ok_or_else(invalid_metadata)?);
        }
    }
    if signing_certificates.is_empty() {
        return Err(invalid_metadata());
    }
    let valid_until = match entity.attribute("validUntil") {
        Some(text) => Some(parse_datetime(text).ok_or_else(invalid_metadata)?),
        None => None,
    };
    Ok(IdpMetadata {
        entity_id,
        signing_certificates,
        valid_until,
    })
}

/// An `xs:dateTime` in UTC as Unix seconds.
pub fn parse_datetime(text: &str) -> Option<f64> {
    let parsed = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    Some(parsed.unix_timestamp_nanos() as f64 / 1e9)
}

/// Recorded from AWS (GetSAMLProvider and DeleteSAMLProvider of a missing provider).
fn not_found(arn: &str) -> IamError {
    IamError::NotFound(format!("Manifest not found for arn {arn}"))
}

/// When a provider stops being valid: the metadata's `validUntil`, or (AWS documents no rule; its
/// examples show decades) a century after creation.
fn valid_until(metadata: &IdpMetadata, created: f64) -> f64 {
    const CENTURY_SECONDS: f64 = 100.0 * 365.25 * 86_400.0;
    metadata.valid_until.unwrap_or(created + CENTURY_SECONDS)
}

fn name_in_arn<'a>(arn: &'a str, account: &str) -> Option<&'a str> {
    arn.strip_prefix(&format!("arn:aws:iam::{account}:saml-provider/"))
}

pub(super) fn require_provider(tx: &mut dyn Transaction, account: &str, arn: &str) -> Result<SamlProvider, IamError> {
    let name = name_in_arn(arn, account).ok_or_else(|| not_found(arn))?;
    records::get(tx, account, name)?.ok_or_else(|| not_found(arn))
}

pub(super) fn save_provider(tx: &mut dyn Transaction, provider: &SamlProvider) -> Result<(), IamError> {
    Ok(records::put(tx, &provider.account_id, &provider.name, provider)?)
}

impl Iam {
    pub fn create_saml_provider(
        &self,
        ctx: &RequestContext,
        name: &str,
        metadata: &str,
        tags: Vec<Tag>,
    ) -> Result<SamlProvider, IamError> {
        validate_tags(&tags)?;
        let parsed = parse_metadata(metadata)?;
        let now = self.now();
        let provider = SamlProvider {
            v: RECORD_VERSION,
            account_id: ctx.account_id().to_string(),
            name: name.to_string(),
            uuid: new_uuid()?,
            metadata: metadata.to_string(),
            create_date: now,
            valid_until: valid_until(&parsed, now),
            tags,
        };
        self.write(|tx| {
            if records::get::<SamlProvider>(tx, &provider.account_id, name)?.is_some() {
                return Err(IamError::AlreadyExists(format!("SAMLProvider {name} already exists")));
            }
            save_provider(tx, &provider)
        })?;
        Ok(provider)
    }

    pub fn saml_provider(&self, ctx: &RequestContext, arn: &str) -> Result<SamlProvider, IamError> {
        read(&*self.store, |tx| require_provider(tx, ctx.account_id(), arn))
    }

    /// A provider of any account by ARN (AssumeRoleWithSAML names the role's account's provider).
    pub fn saml_provider_in(&self, account: &str, arn: &str) -> Result<SamlProvider, IamError> {
        read(&*self.store, |tx| require_provider(tx, account, arn))
    }

    pub fn saml_providers(&self, ctx: &RequestContext) -> Result<Vec<SamlProvider>, IamError> {
        read(&*self.store, |tx| all_of(tx, ctx.account_id()))
    }

    pub fn update_saml_provider(
        &self,
        ctx: &RequestContext,
        arn: &str,
        metadata: &str,
    ) -> Result<SamlProvider, IamError> {
        let parsed = parse_metadata(metadata)?;
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut provider = require_provider(tx, &account, arn)?;
            provider.metadata = metadata.to_string();
            provider.valid_until = valid_until(&parsed, provider.create_date);
            save_provider(tx, &provider)?;
            Ok(provider)
        })
    }

    pub fn delete_saml_provider(&self, ctx: &RequestContext, arn: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let provider = require_provider(tx, &account, arn)?;
            records::delete::<SamlProvider>(tx, &account, &provider.name)?;
            Ok(())
        })
    }
}
