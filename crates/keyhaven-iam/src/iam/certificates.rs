//! X.509 certificates IAM holds: server certificates (with their private keys, sealed by the root
//! key) and the PEM parsing they share with users' signing certificates and SAML metadata.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};
use x509_parser::pem::Pem;
use zeroize::Zeroizing;

use super::{Iam, RECORD_VERSION, Tag, all_of, unique_id, validate_tags};
use crate::error::{IamError, read};

keyhaven_kernel::versioned_record!(ServerCertificate, "iam-server-certificate", RECORD_VERSION);

/// A certificate as IAM needs it: its DER, public key and validity.
#[derive(Debug, Clone)]
pub struct ParsedCertificate {
    pub der: Vec<u8>,
    /// DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
}

/// Parses one DER certificate.
pub fn parse_der_certificate(der: &[u8]) -> Option<ParsedCertificate> {
    let (rest, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    Some(ParsedCertificate {
        der: der.to_vec(),
        public_key: certificate.public_key().raw.to_vec(),
        not_before: certificate.validity().not_before.timestamp(),
        not_after: certificate.validity().not_after.timestamp(),
    })
}

/// The PEM blocks of `text` with their labels, or none when it is not PEM.
fn pem_blocks(text: &str) -> Option<Vec<Pem>> {
    let blocks: Result<Vec<Pem>, _> = Pem::iter_from_buffer(text.trim().as_bytes()).collect();
    blocks.ok().filter(|b| !b.is_empty())
}

/// The one certificate of a PEM body.
pub fn parse_pem_certificate(body: &str) -> Option<ParsedCertificate> {
    match pem_blocks(body)?.as_slice() {
        [block] if block.label == "CERTIFICATE" => parse_der_certificate(&block.contents),
        _ => None,
    }
}

/// Checks that a PEM chain holds only certificates.
fn check_chain(chain: &str) -> Result<(), IamError> {
    let malformed = || {
        IamError::MalformedCertificate(
            "Unable to validate certificate chain. The certificate chain must start with the immediate signing \
             certificate, followed by any intermediaries in order. The index within the chain of the invalid \
             certificate is: -1"
                .into(),
        )
    };
    let blocks = pem_blocks(chain).ok_or_else(malformed)?;
    for block in blocks {
        if block.label != "CERTIFICATE" || parse_der_certificate(&block.contents).is_none() {
            return Err(malformed());
        }
    }
    Ok(())
}

/// The public key of a PEM private key (PKCS #1 RSA or PKCS #8), which must match the certificate's.
fn private_key_matches(private_key: &str, certificate: &ParsedCertificate) -> Result<(), IamError> {
    let malformed = || IamError::MalformedCertificate("Private key is malformed.".into());
    let blocks = pem_blocks(private_key).ok_or_else(malformed)?;
    let [block] = blocks.as_slice() else {
        return Err(malformed());
    };
    let der = Zeroizing::new(block.contents.clone());
    let public_key = keyhaven_crypto::envelope::public_key_of(&der).map_err(|_| malformed())?;
    if public_key != certificate.public_key {
        return Err(IamError::KeyPairMismatch(
            "Unable to validate certificate with the private key provided.".into(),
        ));
    }
    Ok(())
}

/// A server certificate. The private key is sealed by the root key and never returned.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerCertificate {
    pub v: u32,
    pub account_id: String,
    pub name: String,
    pub id: String,
    pub path: String,
    pub body: String,
    pub chain: Option<String>,
    pub sealed_private_key: String,
    pub upload_date: f64,
    pub expiration: f64,
    pub tags: Vec<Tag>,
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("path", &self.path)
            .field("sealed_private_key", &"<redacted>")
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl ServerCertificate {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:server-certificate{}{}",
            self.account_id, self.path, self.name
        )
    }
}

/// What UploadServerCertificate takes. The private key is zeroized when dropped.
#[derive(Debug)]
pub struct NewServerCertificate<'a> {
    pub name: &'a str,
    pub path: Option<&'a str>,
    pub body: &'a str,
    pub chain: Option<&'a str>,
    pub private_key: Zeroizing<String>,
    pub tags: Vec<Tag>,
}

fn not_found(name: &str) -> IamError {
    IamError::NotFound(format!("The Server Certificate with name {name} cannot be found."))
}

fn already_exists(name: &str) -> IamError {
    IamError::AlreadyExists(format!("The Server Certificate with name {name} already exists."))
}

fn private_key_label(account: &str, id: &str) -> Vec<u8> {
    format!("iam-server-certificate/{account}/{id}").into_bytes()
}

pub(super) fn require_server_certificate(
    tx: &mut dyn Transaction,
    account: &str,
    name: &str,
) -> Result<ServerCertificate, IamError> {
    records::get(tx, account, &name.to_ascii_lowercase())?.ok_or_else(|| not_found(name))
}

pub(super) fn save_server_certificate(
    tx: &mut dyn Transaction,
    certificate: &ServerCertificate,
) -> Result<(), IamError> {
    Ok(records::put(
        tx,
        &certificate.account_id,
        &certificate.name.to_ascii_lowercase(),
        certificate,
    )?)
}

impl Iam {
    pub fn upload_server_certificate(
        &self,
        ctx: &RequestContext,
        new: NewServerCertificate<'_>,
    ) -> Result<ServerCertificate, IamError> {
        validate_tags(&new.tags)?;
        let parsed = parse_pem_certificate(new.body).ok_or_else(|| {
            IamError::MalformedCertificate(
                "Unable to parse certificate. Please ensure the certificate is in PEM format.".into(),
            )
        })?;
        if let Some(chain) = new.chain {
            check_chain(chain)?;
        }
        private_key_matches(&new.private_key, &parsed)?;
        let account = ctx.account_id().to_string();
        let id = unique_id("ASCA", 17)?;
        let sealed = self
            .root
            .seal(&private_key_label(&account, &id), new.private_key.as_bytes())?;
        let certificate = ServerCertificate {
            v: RECORD_VERSION,
            account_id: account.clone(),
            name: new.name.to_string(),
            id,
            path: new.path.unwrap_or("/").to_string(),
            body: new.body.trim().to_string(),
            chain: new.chain.map(|c| c.trim().to_string()),
            sealed_private_key: B64.encode(sealed),
            upload_date: self.now(),
            expiration: parsed.not_after as f64,
            tags: new.tags,
        };
        self.write(|tx| {
            if records::get::<ServerCertificate>(tx, &account, &new.name.to_ascii_lowercase())?.is_some() {
                return Err(already_exists(new.name));
            }
            save_server_certificate(tx, &certificate)
        })?;
        Ok(certificate)
    }

    pub fn server_certificate(&self, ctx: &RequestContext, name: &str) -> Result<ServerCertificate, IamError> {
        read(&*self.store, |tx| {
            require_server_certificate(tx, ctx.account_id(), name)
        })
    }

    pub fn server_certificates(
        &self,
        ctx: &RequestContext,
        path_prefix: Option<&str>,
    ) -> Result<Vec<ServerCertificate>, IamError> {
        let mut all: Vec<ServerCertificate> = read(&*self.store, |tx| all_of(tx, ctx.account_id()))?;
        if let Some(prefix) = path_prefix {
            all.retain(|c| c.path.starts_with(prefix));
        }
        Ok(all)
    }

    /// UpdateServerCertificate: a new name and/or path.
    pub fn update_server_certificate(
        &self,
        ctx: &RequestContext,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut certificate = require_server_certificate(tx, &account, name)?;
            if let Some(path) = new_path {
                certificate.path = path.to_string();
            }
            if let Some(new_name) = new_name {
                if !new_name.eq_ignore_ascii_case(name)
                    && records::get::<ServerCertificate>(tx, &account, &new_name.to_ascii_lowercase())?.is_some()
                {
                    return Err(already_exists(new_name));
                }
                records::delete::<ServerCertificate>(tx, &account, &name.to_ascii_lowercase())?;
                certificate.name = new_name.to_string();
            }
            save_server_certificate(tx, &certificate)
        })
    }

    pub fn delete_server_certificate(&self, ctx: &RequestContext, name: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            if records::delete::<ServerCertificate>(tx, &account, &name.to_ascii_lowercase())? {
                Ok(())
            } else {
                Err(not_found(name))
            }
        })
    }
}
