//! Imported key material (Origin EXTERNAL): GetParametersForImport hands out an RSA wrapping key and an import
//! token valid for 24 hours; ImportKeyMaterial unwraps material with it (RSA-OAEP, or RSA-OAEP of an AES key that
//! wraps the material), checks it suits the key, seals it under the root key and schedules its expiry;
//! DeleteImportedKeyMaterial and expiry delete it and leave the key PendingImport until the same material returns.
//! Material imported as NEW_KEY_MATERIAL waits for RotateKeyOnDemand to become current.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::SecretBytes;
use keyhaven_crypto::asymmetric::{Curve, Oaep, PairKind, PrivateKey, Role, RsaBits};
use keyhaven_kernel::context::RequestContext;
use keyhaven_store::Job;

use crate::key_spec::{self, Backing};
use crate::model::{
    ImportParameters, ImportedMaterial, KEY_MATERIAL_DOES_NOT_EXPIRE, KEY_MATERIAL_EXPIRES, KeyRecord, KeyState,
    Material, MaterialOrigin, ORIGIN_EXTERNAL, SYMMETRIC_DEFAULT,
};
use crate::{
    JOB_EXPIRE_MATERIAL, KeyCheck, KeyRef, Kms, KmsError, job_id, job_subject, material_label, multi_region,
    parse_key_policy, require_not_pending_deletion, resolve,
};

/// How long an import token and its wrapping key stay usable.
const PARAMETERS_LIFETIME_SECONDS: f64 = 86_400.0;
const TOKEN_LEN: usize = 48;
const MAX_VALIDITY_SECONDS: f64 = 365.0 * 86_400.0;

/// GetParametersForImport's answer.
#[derive(Debug)]
pub struct ImportParametersOut {
    pub key_arn: String,
    pub import_token: Vec<u8>,
    /// DER SubjectPublicKeyInfo of the wrapping key.
    pub public_key: Vec<u8>,
    pub valid_to: f64,
}

/// ImportKeyMaterial's request, shape-checked by the wire layer.
#[derive(Debug, Default)]
pub struct ImportRequest<'a> {
    pub import_token: &'a [u8],
    pub encrypted_key_material: &'a [u8],
    pub valid_to: Option<f64>,
    pub expiration_model: Option<&'a str>,
    pub import_type: Option<&'a str>,
    pub description: Option<&'a str>,
    pub material_id: Option<&'a str>,
}

fn wrapping_bits(spec: &str) -> Result<RsaBits, KmsError> {
    match spec {
        "RSA_2048" => Ok(RsaBits::B2048),
        "RSA_3072" => Ok(RsaBits::B3072),
        "RSA_4096" => Ok(RsaBits::B4096),
        // SM2 wrapping keys exist only in China Regions.
        _ => Err(KmsError::UnsupportedOperation(format!(
            "WrappingKeySpec {spec} is not supported in this Region"
        ))),
    }
}

/// How a wrapping algorithm wraps: the OAEP hash, and whether an AES key wrap follows. RSAES_PKCS1_V1_5 (withdrawn
/// by AWS in 2023) is refused by [`check_wrapping`]; SM2PKE is China Regions' own.
fn wrapping(algorithm: &str) -> Result<(Oaep, bool), KmsError> {
    match algorithm {
        "RSAES_OAEP_SHA_1" | "RSAES_PKCS1_V1_5" => Ok((Oaep::Sha1, false)),
        "RSAES_OAEP_SHA_256" => Ok((Oaep::Sha256, false)),
        "RSA_AES_KEY_WRAP_SHA_1" => Ok((Oaep::Sha1, true)),
        "RSA_AES_KEY_WRAP_SHA_256" => Ok((Oaep::Sha256, true)),
        other => Err(KmsError::UnsupportedOperation(format!(
            "WrappingAlgorithm {other} is not supported in this Region"
        ))),
    }
}

/// Which wrapping suits which material: the AES key wrap is for private keys only, and RSA-OAEP alone cannot
/// carry an RSA or Ed25519 private key (nor a P-521 one under a 2048-bit wrapping key).
fn check_wrapping(
    record: &KeyRecord,
    algorithm: &str,
    spec: &str,
    bits: RsaBits,
    key_wrap: bool,
) -> Result<(), KmsError> {
    let backing = key_spec::of(&record.key_spec)?.backing;
    let suits = match backing {
        Backing::Symmetric | Backing::Hmac(_) => !key_wrap,
        Backing::Pair(PairKind::Rsa(_) | PairKind::Ed25519) => key_wrap,
        Backing::Pair(PairKind::Ec(Curve::P521)) => key_wrap || bits != RsaBits::B2048,
        Backing::Pair(_) => true,
    };
    if suits && algorithm != "RSAES_PKCS1_V1_5" {
        Ok(())
    } else {
        Err(KmsError::Validation(format!(
            "Wrapping algorithm {algorithm} and wrapping key spec {spec} cannot be used to import a {} key.",
            record.key_spec
        )))
    }
}

fn wrapping_label(key_id: &str) -> Vec<u8> {
    format!("kms-import-wrapping/{key_id}").into_bytes()
}

fn token_hash(token: &[u8]) -> String {
    hex::encode(keyhaven_crypto::digest::sha256(token))
}

fn require_external(record: &KeyRecord) -> Result<(), KmsError> {
    if record.origin == ORIGIN_EXTERNAL {
        Ok(())
    } else {
        Err(KmsError::UnsupportedOperation(format!(
            "{} origin is {} which is not valid for this operation.",
            record.arn(),
            record.origin
        )))
    }
}

/// The id of imported material: a domain-separated SHA-256 of the key and the material, so that importing the
/// same material again is recognised without keeping it once deleted.
fn material_id_of(key_id: &str, material: &[u8]) -> String {
    let mut digest = keyhaven_crypto::digest::Sha256::default();
    digest.update(b"keyhaven/kms/imported-material/v1\0");
    digest.update(key_id.as_bytes());
    digest.update(b"\0");
    digest.update(material);
    hex::encode(digest.finish())
}

/// Checks unwrapped material suits the key's spec; answers the public key of an asymmetric key.
fn check_material(record: &KeyRecord, material: &[u8]) -> Result<Option<Vec<u8>>, KmsError> {
    // AWS answers material that does not suit the key as it answers a wrapping it cannot open.
    let incorrect = || KmsError::InvalidCiphertext;
    match key_spec::of(&record.key_spec)?.backing {
        Backing::Symmetric => (material.len() == 32).then_some(None).ok_or_else(incorrect),
        Backing::Hmac(hash) => {
            // AWS takes HMAC material from the hash's output length up to its block size.
            let block = if hash.key_len() <= 32 { 64 } else { 128 };
            (hash.key_len()..=block)
                .contains(&material.len())
                .then_some(None)
                .ok_or_else(incorrect)
        }
        Backing::Pair(kind) => {
            let role = match (kind, record.key_usage.as_str()) {
                (PairKind::Rsa(_), crate::ENCRYPT_DECRYPT) => Role::Decrypt,
                (_, key_spec::KEY_AGREEMENT) => Role::Agree,
                _ => Role::Sign,
            };
            let private = PrivateKey::parse(kind, role, material).map_err(|_| incorrect())?;
            Ok(Some(private.public_key()?))
        }
    }
}

/// The expiry job of a key's material (each Region's member of a multi-Region key has its own).
fn expiry_job_id(record: &KeyRecord, material_id: &str) -> String {
    format!("{}/{material_id}", job_id(JOB_EXPIRE_MATERIAL, record))
}

/// The material the key encrypts with when it has all its material: the newest not waiting for a rotation.
fn current_id(record: &KeyRecord) -> Option<String> {
    record
        .materials
        .iter()
        .rev()
        .find(|m| !m.pending_rotation())
        .map(|m| m.id.clone())
}

/// Whether every material the key has used is present: only then can it be used.
fn complete(record: &KeyRecord) -> bool {
    let mut used = record.materials.iter().filter(|m| !m.pending_rotation()).peekable();
    used.peek().is_some() && used.all(|m| !m.sealed.is_empty())
}

/// Deletes imported material (expiry or DeleteImportedKeyMaterial). Material waiting for a rotation is simply
/// dropped; deleting material the key has used leaves the key PendingImport until it is imported again. Answers
/// whether anything was deleted.
fn delete_material(record: &mut KeyRecord, material_id: &str) -> bool {
    let Some(index) = record
        .materials
        .iter()
        .position(|m| m.id == material_id && !m.sealed.is_empty())
    else {
        return false;
    };
    if record.materials[index].pending_rotation() {
        record.materials.remove(index);
        return true;
    }
    record.materials[index].sealed.clear();
    if !matches!(
        record.state,
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
    ) {
        record.state = KeyState::PendingImport;
    }
    true
}

/// The scheduled expiry of imported material, if it is still due (not deleted, re-imported with a later date or
/// without expiry meanwhile).
pub(crate) fn expire(record: &mut KeyRecord, material_id: &str, now: f64) -> bool {
    let due = record
        .materials
        .iter()
        .find(|m| m.id == material_id)
        .and_then(|m| m.imported.as_ref())
        .is_some_and(|i| i.expiration_model == KEY_MATERIAL_EXPIRES && i.valid_to.is_some_and(|t| t <= now));
    due && delete_material(record, material_id)
}

/// RotateKeyOnDemand on an imported key: the material imported for rotation becomes current (the newest usable
/// material encrypts, so it moves to the end).
pub(crate) fn rotate_to_pending(record: &mut KeyRecord, now: f64) -> Result<(), KmsError> {
    let index = record
        .materials
        .iter()
        .position(Material::pending_rotation)
        .ok_or_else(|| {
            KmsError::InvalidState(format!(
                "No available key material pending rotation for the key: {}.",
                record.arn()
            ))
        })?;
    let mut material = record.materials.remove(index);
    if let Some(imported) = material.imported.as_mut() {
        imported.pending_rotation = false;
        imported.rotated = Some(now);
    }
    record.materials.push(material);
    Ok(())
}

impl Kms {
    pub fn get_parameters_for_import(
        &self,
        ctx: &RequestContext,
        key: &str,
        wrapping_algorithm: &str,
        wrapping_key_spec: &str,
    ) -> Result<ImportParametersOut, KmsError> {
        let key_ref = KeyRef::parse_key_only(key, ctx)?;
        let request_keys = [
            (
                "kms:WrappingAlgorithm".to_string(),
                vec![wrapping_algorithm.to_string()],
            ),
            ("kms:WrappingKeySpec".to_string(), vec![wrapping_key_spec.to_string()]),
        ];
        let now = self.now();
        self.write(|tx| {
            let mut record = resolve::resolve_in(tx, &key_ref)?;
            let check = KeyCheck {
                request_keys: &request_keys,
                ..Default::default()
            };
            self.authorize_in(
                tx,
                ctx,
                "kms:GetParametersForImport",
                &record,
                &parse_key_policy(&record)?,
                check,
            )?;
            require_external(&record)?;
            require_not_pending_deletion(&record)?;
            let bits = wrapping_bits(wrapping_key_spec)?;
            let (_, key_wrap) = wrapping(wrapping_algorithm)?;
            check_wrapping(&record, wrapping_algorithm, wrapping_key_spec, bits, key_wrap)?;
            let private = keyhaven_crypto::asymmetric::generate(PairKind::Rsa(bits))?;
            let public_key = PrivateKey::parse(PairKind::Rsa(bits), Role::Decrypt, private.expose())?.public_key()?;
            let import_token = keyhaven_crypto::random_bytes(TOKEN_LEN)?;
            let sealed = self.root.seal(&wrapping_label(&record.key_id), private.expose())?;
            record.import_parameters.retain(|p| p.valid_to > now);
            record.import_parameters.push(ImportParameters {
                token_hash: token_hash(import_token.expose()),
                wrapping_algorithm: wrapping_algorithm.to_string(),
                wrapping_key_spec: wrapping_key_spec.to_string(),
                sealed_wrapping_key: B64.encode(sealed),
                valid_to: now + PARAMETERS_LIFETIME_SECONDS,
            });
            record.revision += 1;
            resolve::save_key(tx, &record)?;
            Ok(ImportParametersOut {
                key_arn: record.arn(),
                import_token: import_token.expose().to_vec(),
                public_key,
                valid_to: now + PARAMETERS_LIFETIME_SECONDS,
            })
        })
    }

    /// Unwraps material with the parameters `token` names.
    fn unwrap_material(
        &self,
        record: &KeyRecord,
        token: &[u8],
        wrapped: &[u8],
        now: f64,
    ) -> Result<SecretBytes, KmsError> {
        let hash = token_hash(token);
        let parameters = record
            .import_parameters
            .iter()
            .find(|p| keyhaven_crypto::digest::constant_time_eq(p.token_hash.as_bytes(), hash.as_bytes()))
            .ok_or_else(|| KmsError::InvalidImportToken(String::new()))?;
        if parameters.valid_to <= now {
            return Err(KmsError::ExpiredImportToken(String::new()));
        }
        let sealed = B64
            .decode(&parameters.sealed_wrapping_key)
            .map_err(|_| KmsError::Internal("sealed wrapping key is not base64".into()))?;
        let pkcs8 = self.root.open(&wrapping_label(&record.key_id), &sealed)?;
        let bits = wrapping_bits(&parameters.wrapping_key_spec)?;
        let wrapping_key = PrivateKey::parse(PairKind::Rsa(bits), Role::Decrypt, pkcs8.expose())?;
        let (oaep, key_wrap) = wrapping(&parameters.wrapping_algorithm)?;
        let unwrapped = if key_wrap {
            wrapping_key.unwrap_rsa_aes(oaep, wrapped)
        } else {
            wrapping_key.decrypt(oaep, wrapped)
        };
        Ok(unwrapped?)
    }

    /// ImportKeyMaterial: answers the key's ARN and the material's id.
    pub fn import_key_material(
        &self,
        ctx: &RequestContext,
        key: &str,
        request: ImportRequest<'_>,
    ) -> Result<(String, Option<String>), KmsError> {
        let key_ref = KeyRef::parse_key_only(key, ctx)?;
        let expiration_model = request.expiration_model.unwrap_or(KEY_MATERIAL_EXPIRES);
        let mut request_keys = vec![("kms:ExpirationModel".to_string(), vec![expiration_model.to_string()])];
        if let Some(valid_to) = request.valid_to {
            request_keys.push(("kms:ValidTo".to_string(), vec![format!("{}", valid_to as i64)]));
        }
        let now = self.now();
        let done = self.write(|tx| {
            let mut record = resolve::resolve_in(tx, &key_ref)?;
            let check = KeyCheck {
                request_keys: &request_keys,
                ..Default::default()
            };
            self.authorize_in(tx, ctx, "kms:ImportKeyMaterial", &record, &parse_key_policy(&record)?, check)?;
            require_external(&record)?;
            require_not_pending_deletion(&record)?;
            let valid_to = match (expiration_model, request.valid_to) {
                (KEY_MATERIAL_EXPIRES, None) => {
                    return Err(KmsError::Validation(
                        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES".into(),
                    ));
                }
                (KEY_MATERIAL_DOES_NOT_EXPIRE, Some(_)) => {
                    return Err(KmsError::Validation(
                        "A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE".into(),
                    ));
                }
                (_, Some(valid_to)) if valid_to <= now => {
                    return Err(KmsError::Validation("ValidTo must be in the future".into()));
                }
                (_, Some(valid_to)) if valid_to > now + MAX_VALIDITY_SECONDS => {
                    return Err(KmsError::Validation("ValidTo must be less than 365 days in the future".into()));
                }
                // AWS keeps whole seconds.
                (_, valid_to) => valid_to.map(f64::trunc),
            };
            let symmetric = record.key_spec == SYMMETRIC_DEFAULT;
            for (parameter, given) in [
                ("importType", request.import_type.is_some()),
                ("keyMaterialId", request.material_id.is_some()),
                ("keyMaterialDescription", request.description.is_some()),
            ] {
                if given && !symmetric {
                    return Err(KmsError::Validation(format!(
                        "Input parameter {parameter} cannot be used with {} imported keys.",
                        record.key_spec
                    )));
                }
            }
            if record.is_replica() {
                if request.description.is_some() {
                    return Err(KmsError::Validation(
                        "Key material description can only be specified on primary Multi-Region keys".into(),
                    ));
                }
                if request.import_type == Some("NEW_KEY_MATERIAL") {
                    return Err(KmsError::Validation(
                        "Input parameter ImportType NEW_KEY_MATERIAL cannot be used on replica Multi-Region keys".into(),
                    ));
                }
            }
            // The first import brings new material, later ones the same unless they say NEW_KEY_MATERIAL.
            let new_material = match request.import_type {
                Some(kind) => kind == "NEW_KEY_MATERIAL",
                None => record.materials.is_empty(),
            };
            if new_material && request.material_id.is_some() {
                return Err(KmsError::Validation(
                    "Input parameter keyMaterialId cannot be used with NEW_KEY_MATERIAL importType.".into(),
                ));
            }
            let material = self.unwrap_material(&record, request.import_token, request.encrypted_key_material, now)?;
            let public_key = check_material(&record, material.expose())?;
            let material_id = material_id_of(&record.key_id, material.expose());
            let known = record.materials.iter().position(|m| m.id == material_id);
            let rotating = new_material && !record.materials.is_empty();
            if rotating {
                if let Some(pending) =
                    record.materials.iter().find(|m| m.pending_rotation())
                {
                    return Err(KmsError::InvalidState(format!(
                        "New key material (id: {material_id}) cannot be imported into KMS key {}, because another key material (id: {}) is pending rotation.",
                        record.key_id, pending.id
                    )));
                }
                if known.is_some() {
                    return Err(KmsError::IncorrectKeyMaterial(format!(
                        "Key material (id: {material_id}) being imported as NEW_KEY_MATERIAL is already associated with KMS key {}.",
                        record.arn()
                    )));
                }
            } else if !new_material {
                let expected = request.material_id.map(str::to_string).or_else(|| current_id(&record)).unwrap_or_default();
                if material_id != expected || known.is_none() {
                    return Err(KmsError::IncorrectKeyMaterial(format!(
                        "Imported key material does not have the expected identifier ({expected})."
                    )));
                }
            }
            let sealed = B64.encode(self.root.seal(&material_label(&record.key_id, &material_id), material.expose())?);
            let settings = ImportedMaterial {
                expiration_model: expiration_model.to_string(),
                valid_to,
                description: request.description.map(str::to_string),
                pending_rotation: rotating,
                rotated: None,
            };
            match known {
                Some(index) => {
                    let existing = &mut record.materials[index];
                    existing.sealed = sealed;
                    let rotated = existing.imported.as_ref().and_then(|i| i.rotated);
                    let pending = existing.pending_rotation();
                    existing.imported = Some(ImportedMaterial {
                        rotated,
                        pending_rotation: pending,
                        description: settings.description.clone().or_else(|| existing.imported.as_ref().and_then(|i| i.description.clone())),
                        ..settings
                    });
                }
                None => record.materials.push(Material {
                    id: material_id.clone(),
                    sealed,
                    created: now,
                    origin: MaterialOrigin::Imported,
                    public_key: public_key.map(|k| B64.encode(k)),
                    imported: Some(settings),
                    in_hsm: false,
                }),
            }
            // Importing the current material again enables a disabled key too, as in AWS.
            if !matches!(record.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) && complete(&record) {
                record.state = KeyState::Enabled;
            }
            let job_id = expiry_job_id(&record, &material_id);
            tx.cancel(&job_id)?;
            if let Some(valid_to) = valid_to {
                tx.schedule(&Job {
                    id: job_id,
                    due_at: valid_to.ceil() as i64,
                    kind: JOB_EXPIRE_MATERIAL.into(),
                    payload: job_subject(&record).into_bytes(),
                })?;
            }
            record.revision += 1;
            resolve::save_key(tx, &record)?;
            multi_region::sync(tx, &record)?;
            // AWS names the material of symmetric keys only.
            Ok((record.arn(), symmetric.then_some(material_id)))
        })?;
        Ok(done)
    }

    /// DeleteImportedKeyMaterial: the current material, or the one named. Deleting what is already gone succeeds.
    pub fn delete_imported_key_material(
        &self,
        ctx: &RequestContext,
        key: &str,
        material_id: Option<&str>,
    ) -> Result<(String, Option<String>), KmsError> {
        self.update_key(
            ctx,
            key,
            "kms:DeleteImportedKeyMaterial",
            KeyCheck::default(),
            |record, tx| {
                require_external(record)?;
                let target = match material_id {
                    Some(id) if record.materials.iter().any(|m| m.id == id) => Some(id.to_string()),
                    Some(id) => {
                        return Err(KmsError::Validation(format!(
                            "Key material (id: {id}) has never been imported into KMS key {}.",
                            record.arn()
                        )));
                    }
                    None => current_id(record),
                };
                if let Some(target) = &target {
                    delete_material(record, target);
                    tx.cancel(&expiry_job_id(record, target))?;
                }
                let symmetric = record.key_spec == SYMMETRIC_DEFAULT;
                Ok((record.arn(), target.filter(|_| symmetric)))
            },
        )
    }

    /// What DescribeKey says of an imported key's current material: its expiration model and date.
    pub fn import_settings(record: &KeyRecord) -> Option<(String, Option<f64>)> {
        if record.origin != ORIGIN_EXTERNAL {
            return None;
        }
        let imported = record.current_material()?.imported.as_ref()?;
        Some((imported.expiration_model.clone(), imported.valid_to))
    }
}
