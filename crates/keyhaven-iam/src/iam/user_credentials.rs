//! A user's credentials for other services: SSH public keys (CodeCommit), X.509 signing
//! certificates, and service-specific credentials (CodeCommit HTTPS Git, Amazon Keyspaces).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::SecretBytes;
use keyhaven_kernel::context::RequestContext;

use super::certificates::parse_pem_certificate;
use super::{
    Entity, EntityKind, Iam, ServiceCredential, SigningCertificate, SshPublicKey, require_entity, save_entity,
    unique_id,
};
use crate::error::{IamError, read};
use x509_parser::prelude::FromDer;

/// IAM's quotas per user.
const MAX_SSH_KEYS: usize = 5;
const MAX_SIGNING_CERTIFICATES: usize = 2;
const MAX_CREDENTIALS_PER_SERVICE: usize = 2;
/// The services IAM issues service-specific credentials for.
const CREDENTIAL_SERVICES: &[&str] = &["codecommit.amazonaws.com", "cassandra.amazonaws.com"];
const SERVICE_PASSWORD_BYTES: usize = 32;

/// A credential a user holds several of, each with an id and an Active/Inactive status.
trait HeldCredential {
    fn id(&self) -> &str;
    fn set_active(&mut self, active: bool);
}

macro_rules! held_credential {
    ($($credential:ty),*) => {$(
        impl HeldCredential for $credential {
            fn id(&self) -> &str {
                &self.id
            }
            fn set_active(&mut self, active: bool) {
                self.active = active;
            }
        }
    )*};
}

held_credential!(SshPublicKey, SigningCertificate, ServiceCredential);

/// Update*: the credential's status (the wire layer has checked it is Active or Inactive).
fn set_status<T: HeldCredential>(
    held: &mut [T],
    id: &str,
    status: &str,
    missing: fn(&str) -> IamError,
) -> Result<(), IamError> {
    let credential = held.iter_mut().find(|c| c.id() == id).ok_or_else(|| missing(id))?;
    credential.set_active(status == "Active");
    Ok(())
}

/// Upload*: the credential added, unless it is a `duplicate` or the user has the quota's number.
fn add<T: HeldCredential + Clone>(
    held: &mut Vec<T>,
    new: &T,
    duplicate: Option<IamError>,
    max: usize,
    quota: &str,
) -> Result<(), IamError> {
    if let Some(duplicate) = duplicate {
        return Err(duplicate);
    }
    if held.len() >= max {
        return Err(IamError::LimitExceeded(format!(
            "Cannot exceed quota for {quota}: {max}"
        )));
    }
    held.push(new.clone());
    Ok(())
}

/// Delete*: the credential, or `missing` when the user has none with that id.
fn remove<T: HeldCredential>(held: &mut Vec<T>, id: &str, missing: fn(&str) -> IamError) -> Result<(), IamError> {
    let before = held.len();
    held.retain(|c| c.id() != id);
    if held.len() == before {
        return Err(missing(id));
    }
    Ok(())
}

/// An OpenSSH `ssh-rsa` key or a PEM public key, as IAM takes them: its SSH wire form (for the
/// MD5 fingerprint) and its PEM form (GetSSHPublicKey with Encoding=PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKeyForms {
    pub ssh: String,
    pub pem: String,
    pub fingerprint: String,
}

fn unrecognized() -> IamError {
    IamError::UnrecognizedPublicKeyEncoding("The public key encoding format is unknown or unsupported.".into())
}

fn read_ssh_string<'a>(blob: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = blob.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let (value, rest) = (rest.get(..len)?, rest.get(len..)?);
    *blob = rest;
    Some(value)
}

fn write_ssh_string(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

/// A positive integer as an SSH `mpint`: big-endian, a leading zero when the high bit is set.
fn mpint(value: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = {
        let start = value.iter().position(|b| *b != 0).unwrap_or(value.len());
        &value[start..]
    };
    let mut out = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
    out
}

fn pem_of(spki: &[u8]) -> String {
    let encoded = B64.encode(spki);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----");
    pem
}

fn md5_fingerprint(blob: &[u8]) -> String {
    let mut md5 = keyhaven_crypto::digest::Md5::default();
    md5.update(blob);
    md5.finish()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses an uploaded SSH public key body (RSA only, as IAM requires, at least 2048 bits).
pub fn parse_ssh_public_key(body: &str) -> Result<SshKeyForms, IamError> {
    let body = body.trim();
    let (n, e) = if body.starts_with("-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(body.as_bytes()).map_err(|_| unrecognized())?;
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&pem.contents).map_err(|_| unrecognized())?;
        match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => (rsa.modulus.to_vec(), rsa.exponent.to_vec()),
            _ => return Err(unrecognized()),
        }
    } else {
        let mut fields = body.split_whitespace();
        let (Some("ssh-rsa"), Some(encoded)) = (fields.next(), fields.next()) else {
            return Err(unrecognized());
        };
        let blob = B64.decode(encoded).map_err(|_| unrecognized())?;
        let mut rest = blob.as_slice();
        let kind = read_ssh_string(&mut rest).ok_or_else(unrecognized)?;
        let e = read_ssh_string(&mut rest).ok_or_else(unrecognized)?;
        let n = read_ssh_string(&mut rest).ok_or_else(unrecognized)?;
        if kind != b"ssh-rsa" || !rest.is_empty() {
            return Err(unrecognized());
        }
        (n.to_vec(), e.to_vec())
    };
    let modulus_bits = n.iter().skip_while(|b| **b == 0).count() * 8;
    if modulus_bits < 2048 {
        return Err(IamError::InvalidPublicKey(
            "The SSH public key is too short: RSA keys must be at least 2048 bits.".into(),
        ));
    }
    let spki = keyhaven_crypto::envelope::rsa_public_key_der(&n, &e).map_err(|_| unrecognized())?;
    let mut blob = Vec::new();
    write_ssh_string(&mut blob, b"ssh-rsa");
    write_ssh_string(&mut blob, &mpint(&e));
    write_ssh_string(&mut blob, &mpint(&n));
    Ok(SshKeyForms {
        ssh: format!("ssh-rsa {}", B64.encode(&blob)),
        pem: pem_of(&spki),
        fingerprint: md5_fingerprint(&blob),
    })
}

fn ssh_key_not_found(id: &str) -> IamError {
    IamError::NotFound(format!("The Public Key with id {id} cannot be found."))
}

fn certificate_not_found(id: &str) -> IamError {
    IamError::NotFound(format!("The Certificate with id {id} cannot be found."))
}

fn credential_not_found(id: &str) -> IamError {
    IamError::NotFound(format!("No such credential {id} exists"))
}

fn unsupported_service(service: &str) -> IamError {
    IamError::NotFound(format!(
        "No such service {service} is supported for Service Specific Credentials"
    ))
}

fn service_password_label(account: &str, id: &str) -> Vec<u8> {
    format!("iam-service-credential/{account}/{id}").into_bytes()
}

/// A service-specific credential with its password, shown this once.
#[derive(Debug)]
pub struct NewServiceCredential {
    pub user_name: String,
    pub credential: ServiceCredential,
    pub password: SecretBytes,
}

impl Iam {
    /// Reads, changes and saves one user's credentials in a transaction.
    fn update_user_credentials<T>(
        &self,
        ctx: &RequestContext,
        user: &str,
        mut change: impl FnMut(&mut Entity) -> Result<T, IamError>,
    ) -> Result<T, IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut entity = require_entity(tx, &account, EntityKind::User, user)?;
            let out = change(&mut entity)?;
            save_entity(tx, &entity)?;
            Ok(out)
        })
    }

    /// The user (its name as created and its credentials).
    pub fn user_credentials(&self, ctx: &RequestContext, user: &str) -> Result<Entity, IamError> {
        read(&*self.store, |tx| {
            require_entity(tx, ctx.account_id(), EntityKind::User, user)
        })
    }

    pub fn upload_ssh_public_key(
        &self,
        ctx: &RequestContext,
        user: &str,
        body: &str,
    ) -> Result<(String, SshPublicKey), IamError> {
        let forms = parse_ssh_public_key(body)?;
        let key = SshPublicKey {
            id: unique_id("APKA", 17)?,
            body: body.trim().to_string(),
            fingerprint: forms.fingerprint,
            active: true,
            upload_date: self.now(),
        };
        self.update_user_credentials(ctx, user, |entity| {
            let keys = &mut entity.credentials.ssh_public_keys;
            let duplicate = keys
                .iter()
                .any(|k| k.fingerprint == key.fingerprint)
                .then(|| IamError::DuplicateSshPublicKey("The public key is already associated with the user.".into()));
            add(keys, &key, duplicate, MAX_SSH_KEYS, "PublicKeysPerUser")?;
            Ok((entity.name.clone(), key.clone()))
        })
    }

    pub fn update_ssh_public_key(
        &self,
        ctx: &RequestContext,
        user: &str,
        id: &str,
        status: &str,
    ) -> Result<(), IamError> {
        self.update_user_credentials(ctx, user, |entity| {
            set_status(&mut entity.credentials.ssh_public_keys, id, status, ssh_key_not_found)
        })
    }

    pub fn delete_ssh_public_key(&self, ctx: &RequestContext, user: &str, id: &str) -> Result<(), IamError> {
        self.update_user_credentials(ctx, user, |entity| {
            remove(&mut entity.credentials.ssh_public_keys, id, ssh_key_not_found)
        })
    }

    /// One SSH key of the user (NoSuchEntity for another user's key).
    pub fn ssh_public_key(
        &self,
        ctx: &RequestContext,
        user: &str,
        id: &str,
    ) -> Result<(String, SshPublicKey), IamError> {
        let entity = self.user_credentials(ctx, user)?;
        let key = entity
            .credentials
            .ssh_public_keys
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| ssh_key_not_found(id))?;
        Ok((entity.name, key))
    }

    pub fn upload_signing_certificate(
        &self,
        ctx: &RequestContext,
        user: &str,
        body: &str,
    ) -> Result<(String, SigningCertificate), IamError> {
        let parsed = parse_pem_certificate(body)
            .ok_or_else(|| IamError::MalformedCertificate(format!("Certificate {body} is malformed.")))?;
        let certificate = SigningCertificate {
            id: unique_id("", 24)?,
            body: body.trim().to_string(),
            active: true,
            upload_date: self.now(),
        };
        self.update_user_credentials(ctx, user, |entity| {
            let certificates = &mut entity.credentials.signing_certificates;
            let duplicate = certificates
                .iter()
                .any(|c| parse_pem_certificate(&c.body).is_some_and(|p| p.der == parsed.der))
                .then(|| IamError::DuplicateCertificate("The certificate already exists for this user.".into()));
            add(
                certificates,
                &certificate,
                duplicate,
                MAX_SIGNING_CERTIFICATES,
                "CertificatesPerUser",
            )?;
            Ok((entity.name.clone(), certificate.clone()))
        })
    }

    pub fn update_signing_certificate(
        &self,
        ctx: &RequestContext,
        user: &str,
        id: &str,
        status: &str,
    ) -> Result<(), IamError> {
        self.update_user_credentials(ctx, user, |entity| {
            set_status(
                &mut entity.credentials.signing_certificates,
                id,
                status,
                certificate_not_found,
            )
        })
    }

    pub fn delete_signing_certificate(&self, ctx: &RequestContext, user: &str, id: &str) -> Result<(), IamError> {
        self.update_user_credentials(ctx, user, |entity| {
            remove(&mut entity.credentials.signing_certificates, id, certificate_not_found)
        })
    }

    pub fn create_service_credential(
        &self,
        ctx: &RequestContext,
        user: &str,
        service: &str,
    ) -> Result<NewServiceCredential, IamError> {
        if !CREDENTIAL_SERVICES.contains(&service) {
            // The user is looked up first: an unknown user is NoSuchEntity for the user.
            self.user_credentials(ctx, user)?;
            return Err(unsupported_service(service));
        }
        let account = ctx.account_id().to_string();
        let id = unique_id("ACCA", 17)?;
        let (password, sealed) = self.new_service_password(&account, &id)?;
        let now = self.now();
        let (user_name, credential) = self.update_user_credentials(ctx, user, |entity| {
            let credentials = &mut entity.credentials.service_credentials;
            if credentials.iter().filter(|c| c.service_name == service).count() >= MAX_CREDENTIALS_PER_SERVICE {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: {MAX_CREDENTIALS_PER_SERVICE}"
                )));
            }
            let credential = ServiceCredential {
                id: id.clone(),
                service_name: service.to_string(),
                service_user_name: format!("{}-at-{account}", entity.name),
                sealed_password: sealed.clone(),
                active: true,
                create_date: now,
            };
            credentials.push(credential.clone());
            Ok((entity.name.clone(), credential))
        })?;
        Ok(NewServiceCredential {
            user_name,
            credential,
            password,
        })
    }

    /// The user's service-specific credentials, of one service when named.
    pub fn service_credentials(
        &self,
        ctx: &RequestContext,
        user: &str,
        service: Option<&str>,
    ) -> Result<(String, Vec<ServiceCredential>), IamError> {
        let entity = self.user_credentials(ctx, user)?;
        if let Some(service) = service
            && !CREDENTIAL_SERVICES.contains(&service)
        {
            return Err(unsupported_service(service));
        }
        let mut credentials = entity.credentials.service_credentials;
        credentials.retain(|c| service.is_none_or(|s| c.service_name == s));
        Ok((entity.name, credentials))
    }

    pub fn update_service_credential(
        &self,
        ctx: &RequestContext,
        user: &str,
        id: &str,
        status: &str,
    ) -> Result<(), IamError> {
        self.update_user_credentials(ctx, user, |entity| {
            set_status(
                &mut entity.credentials.service_credentials,
                id,
                status,
                credential_not_found,
            )
        })
    }

    /// ResetServiceSpecificCredential: a new password, shown this once.
    pub fn reset_service_credential(
        &self,
        ctx: &RequestContext,
        user: &str,
        id: &str,
    ) -> Result<NewServiceCredential, IamError> {
        let account = ctx.account_id().to_string();
        let (password, sealed) = self.new_service_password(&account, id)?;
        let (user_name, credential) = self.update_user_credentials(ctx, user, |entity| {
            let credential = entity
                .credentials
                .service_credentials
                .iter_mut()
                .find(|c| c.id == id)
                .ok_or_else(|| credential_not_found(id))?;
            credential.sealed_password = sealed.clone();
            Ok((entity.name.clone(), credential.clone()))
        })?;
        Ok(NewServiceCredential {
            user_name,
            credential,
            password,
        })
    }

    /// A fresh service-specific password and its root-sealed, base64 form for storage.
    fn new_service_password(&self, account: &str, id: &str) -> Result<(SecretBytes, String), IamError> {
        let password = SecretBytes::new(
            B64.encode(keyhaven_crypto::random_bytes(SERVICE_PASSWORD_BYTES)?.expose())
                .into_bytes(),
        );
        let sealed = B64.encode(
            self.root
                .seal(&service_password_label(account, id), password.expose())?,
        );
        Ok((password, sealed))
    }

    pub fn delete_service_credential(&self, ctx: &RequestContext, user: &str, id: &str) -> Result<(), IamError> {
        self.update_user_credentials(ctx, user, |entity| {
            remove(&mut entity.credentials.service_credentials, id, credential_not_found)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key and fingerprint from the IAM API Reference's UploadSSHPublicKey example are not
    /// published whole, so this checks the forms against each other and ssh-keygen's layout.
    #[test]
    fn ssh_keys_parse_in_both_encodings_to_the_same_key() {
        let spki = keyhaven_crypto::envelope::public_key_of(
            keyhaven_crypto::asymmetric::generate(keyhaven_crypto::asymmetric::PairKind::Rsa(
                keyhaven_crypto::asymmetric::RsaBits::B2048,
            ))
            .expect("key")
            .expose(),
        )
        .expect("public key");
        let from_pem = parse_ssh_public_key(&pem_of(&spki)).expect("pem");
        let from_ssh = parse_ssh_public_key(&format!("{} user@host", from_pem.ssh)).expect("ssh");
        assert_eq!(from_pem, from_ssh);
        assert_eq!(from_pem.fingerprint.len(), 47);
        for bad in [
            "",
            "ssh-ed25519 AAAA",
            "ssh-rsa !!!",
            "-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----",
        ] {
            assert!(
                matches!(
                    parse_ssh_public_key(bad),
                    Err(IamError::UnrecognizedPublicKeyEncoding(_))
                ),
                "{bad}"
            );
        }
    }
}
