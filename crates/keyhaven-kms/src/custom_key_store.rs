//! Custom key stores: keyhaven's own kind of AWS's AWS_CLOUDHSM type, backed by any PKCS#11 token the server is
//! configured with as a `cluster-…` (see `hsm.rs`). The store's password is the token's user PIN, kept sealed by the
//! root key so that every node (and a restarted one) can log in again while the store is CONNECTED. Keys created in
//! a store are AES-256 keys generated in the token; their Encrypt, Decrypt and GenerateDataKey run in it (AES-GCM,
//! blob version 2), and a store that is not connected makes its keys Unavailable.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::blob::{HsmBlob, MATERIAL_ID_LEN};
use keyhaven_crypto::{EncryptionContext, SecretBytes};
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::paging::{self, Page};
use keyhaven_kernel::records;

use crate::error::{read, transact};
use crate::model::{ClusterClaim, CustomKeyStoreRecord, KeyRecord, Material, MaterialOrigin, RECORD_VERSION};
use crate::{Encrypted, Kms, KmsError, current_header, unavailable};

const CONNECTED: &str = "CONNECTED";
const DISCONNECTED: &str = "DISCONNECTED";
const FAILED: &str = "FAILED";

fn password_label(store_id: &str) -> Vec<u8> {
    format!("kms-custom-key-store/{store_id}").into_bytes()
}

/// The token object that holds a key's material.
fn object_label(key_id: &str, material_id: &str) -> String {
    format!("keyhaven:{key_id}:{material_id}")
}

fn not_found(id: &str) -> KmsError {
    KmsError::CustomKeyStoreNotFound(format!("Custom key store {id} does not exist."))
}

fn invalid_state(store: &CustomKeyStoreRecord, wanted: &str) -> KmsError {
    KmsError::CustomKeyStoreInvalidState(format!(
        "Custom key store {} is {} and must be {wanted} for this operation.",
        store.id,
        store.connection_state.to_ascii_lowercase()
    ))
}

/// Claims an HSM cluster for a store: one store per cluster, whatever the account (a token's login is shared by every
/// session on it, so two stores on one token would log each other out).
fn claim_cluster(
    tx: &mut dyn keyhaven_store::Transaction,
    cluster_id: &str,
    scope: &str,
    store_id: &str,
) -> Result<(), KmsError> {
    let owner = format!("{scope}|{store_id}");
    if let Some(ClusterClaim(other)) = records::get::<ClusterClaim>(tx, "", cluster_id)?
        && other != owner
    {
        return Err(KmsError::CloudHsmClusterInUse(format!(
            "Cluster {cluster_id} is already associated with another custom key store."
        )));
    }
    Ok(records::put(tx, "", cluster_id, &ClusterClaim(owner))?)
}

fn device_failure(e: crate::hsm::DeviceError) -> KmsError {
    KmsError::Internal(format!("HSM: {}", e.0))
}

/// CreateCustomKeyStore's request.
#[derive(Debug, Default)]
pub struct NewCustomKeyStore {
    pub name: String,
    pub store_type: Option<String>,
    pub cluster_id: Option<String>,
    pub trust_anchor_certificate: Option<String>,
    pub password: Option<SecretBytes>,
}

/// UpdateCustomKeyStore's request.
#[derive(Debug, Default)]
pub struct CustomKeyStoreUpdate {
    pub new_name: Option<String>,
    pub password: Option<SecretBytes>,
    pub cluster_id: Option<String>,
}

impl Kms {
    fn stores(&self, ctx: &RequestContext) -> Result<Vec<CustomKeyStoreRecord>, KmsError> {
        let scope = ctx.regional_scope();
        read(&*self.store, |tx| {
            Ok(records::all::<CustomKeyStoreRecord>(tx, &scope)?
                .into_iter()
                .map(|(_, s)| s)
                .collect())
        })
    }

    fn store_record(&self, scope: &str, id: &str) -> Result<CustomKeyStoreRecord, KmsError> {
        read(&*self.store, |tx| {
            Ok(records::get::<CustomKeyStoreRecord>(tx, scope, id)?)
        })?
        .ok_or_else(|| not_found(id))
    }

    fn seal_password(&self, store_id: &str, password: &SecretBytes) -> Result<String, KmsError> {
        Ok(B64.encode(self.root.seal(&password_label(store_id), password.expose())?))
    }

    /// A session on this node for a CONNECTED store (a restarted node, or another node, logs in again).
    fn ensure_session(&self, store: &CustomKeyStoreRecord) -> Result<(), KmsError> {
        if store.connection_state != CONNECTED {
            return Err(invalid_state(store, "connected"));
        }
        if self.hsms().connected(&store.id) {
            return Ok(());
        }
        let sealed = B64
            .decode(&store.sealed_password)
            .map_err(|_| KmsError::Internal("sealed key store password is not base64".into()))?;
        let password = self.root.open(&password_label(&store.id), &sealed)?;
        let pin =
            std::str::from_utf8(password.expose()).map_err(|_| KmsError::Internal("key store password".into()))?;
        self.hsms()
            .connect(&store.id, &store.cluster_id, pin)
            .map_err(|failure| KmsError::Internal(format!("HSM login failed: {}", failure.code())))
    }

    pub fn create_custom_key_store(
        &self,
        ctx: &RequestContext,
        request: NewCustomKeyStore,
    ) -> Result<String, KmsError> {
        self.authorize_account(ctx, "kms:CreateCustomKeyStore")?;
        if request.store_type.as_deref().is_some_and(|t| t != "AWS_CLOUDHSM") {
            return Err(KmsError::UnsupportedOperation(
                "External key stores (EXTERNAL_KEY_STORE) are not supported by this server; its custom key stores are AWS_CLOUDHSM stores backed by PKCS#11 tokens.".into(),
            ));
        }
        let missing = |member: &str| {
            KmsError::Validation(format!(
                "{member} is required for a custom key store of type AWS_CLOUDHSM."
            ))
        };
        let cluster_id = request.cluster_id.ok_or_else(|| missing("CloudHsmClusterId"))?;
        let trust_anchor = request
            .trust_anchor_certificate
            .ok_or_else(|| missing("TrustAnchorCertificate"))?;
        let password = request.password.ok_or_else(|| missing("KeyStorePassword"))?;
        if !self.hsms().has_cluster(&cluster_id) {
            return Err(KmsError::CloudHsmClusterNotFound(format!(
                "Cluster {cluster_id} is not found."
            )));
        }
        let id = format!("cks-{}", &hex::encode(keyhaven_crypto::random_array::<9>()?)[..17]);
        let scope = ctx.regional_scope();
        let record = CustomKeyStoreRecord {
            v: RECORD_VERSION,
            id: id.clone(),
            name: request.name.clone(),
            cluster_id: cluster_id.clone(),
            trust_anchor_certificate: trust_anchor,
            sealed_password: self.seal_password(&id, &password)?,
            connection_state: DISCONNECTED.into(),
            connection_error_code: None,
            creation_date: self.now(),
        };
        transact(&*self.store, |tx| {
            let stores = records::all::<CustomKeyStoreRecord>(tx, &scope)?;
            if stores.iter().any(|(_, other)| other.name == record.name) {
                return Err(KmsError::CustomKeyStoreNameInUse(format!(
                    "Custom key store name {} is already in use.",
                    record.name
                )));
            }
            claim_cluster(tx, &cluster_id, &scope, &id)?;
            records::put(tx, &scope, &id, &record)?;
            Ok(())
        })?;
        Ok(id)
    }

    /// ConnectCustomKeyStore: logs in to the token; a failure leaves the store FAILED with its error code, as AWS
    /// reports it (the call itself succeeds).
    pub fn connect_custom_key_store(&self, ctx: &RequestContext, id: &str) -> Result<(), KmsError> {
        self.authorize_account(ctx, "kms:ConnectCustomKeyStore")?;
        let scope = ctx.regional_scope();
        let mut store = self.store_record(&scope, id)?;
        if store.connection_state == CONNECTED {
            return Ok(());
        }
        store.connection_state = CONNECTED.into();
        store.connection_error_code = None;
        self.hsms().disconnect(id);
        if let Err(failure) = self.ensure_session(&store) {
            let code = match failure {
                KmsError::Internal(detail) if detail.contains("INVALID_CREDENTIALS") => "INVALID_CREDENTIALS",
                KmsError::Internal(detail) if detail.contains("USER_LOCKED_OUT") => "USER_LOCKED_OUT",
                KmsError::Internal(detail) if detail.contains("CLUSTER_NOT_FOUND") => "CLUSTER_NOT_FOUND",
                _ => "NETWORK_ERRORS",
            };
            store.connection_state = FAILED.into();
            store.connection_error_code = Some(code.into());
        }
        self.save_store(&scope, &store)
    }

    fn save_store(&self, scope: &str, store: &CustomKeyStoreRecord) -> Result<(), KmsError> {
        // Keys' availability follows the store: a key change as far as caches go.
        self.write(|tx| Ok(records::put(tx, scope, &store.id, store)?))
    }

    pub fn disconnect_custom_key_store(&self, ctx: &RequestContext, id: &str) -> Result<(), KmsError> {
        self.authorize_account(ctx, "kms:DisconnectCustomKeyStore")?;
        let scope = ctx.regional_scope();
        let mut store = self.store_record(&scope, id)?;
        if store.connection_state == DISCONNECTED {
            return Err(invalid_state(&store, "connected"));
        }
        store.connection_state = DISCONNECTED.into();
        store.connection_error_code = None;
        self.hsms().disconnect(id);
        self.save_store(&scope, &store)
    }

    pub fn update_custom_key_store(
        &self,
        ctx: &RequestContext,
        id: &str,
        update: CustomKeyStoreUpdate,
    ) -> Result<(), KmsError> {
        self.authorize_account(ctx, "kms:UpdateCustomKeyStore")?;
        let scope = ctx.regional_scope();
        let mut store = self.store_record(&scope, id)?;
        if (update.password.is_some() || update.cluster_id.is_some()) && store.connection_state != DISCONNECTED {
            return Err(invalid_state(&store, "disconnected"));
        }
        let previous_cluster = store.cluster_id.clone();
        if let Some(cluster_id) = &update.cluster_id {
            if !self.hsms().has_cluster(cluster_id) {
                return Err(KmsError::CloudHsmClusterNotFound(format!(
                    "Cluster {cluster_id} is not found."
                )));
            }
            store.cluster_id = cluster_id.clone();
        }
        if let Some(password) = &update.password {
            store.sealed_password = self.seal_password(id, password)?;
        }
        if let Some(name) = &update.new_name {
            if self
                .stores(ctx)?
                .iter()
                .any(|other| other.name == *name && other.id != store.id)
            {
                return Err(KmsError::CustomKeyStoreNameInUse(format!(
                    "Custom key store name {name} is already in use."
                )));
            }
            store.name = name.clone();
        }
        self.write(|tx| {
            if store.cluster_id != previous_cluster {
                claim_cluster(tx, &store.cluster_id, &scope, id)?;
                records::delete::<ClusterClaim>(tx, "", &previous_cluster)?;
            }
            Ok(records::put(tx, &scope, &store.id, &store)?)
        })
    }

    pub fn delete_custom_key_store(&self, ctx: &RequestContext, id: &str) -> Result<(), KmsError> {
        self.authorize_account(ctx, "kms:DeleteCustomKeyStore")?;
        let scope = ctx.regional_scope();
        let store = self.store_record(&scope, id)?;
        if store.connection_state != DISCONNECTED {
            return Err(invalid_state(&store, "disconnected"));
        }
        self.write(|tx| {
            let keys = records::all::<KeyRecord>(tx, &scope)?;
            if keys
                .iter()
                .any(|(_, key)| key.custom_key_store.as_ref().is_some_and(|(s, _)| s == id))
            {
                return Err(KmsError::CustomKeyStoreHasCmks(format!(
                    "Custom key store {id} has KMS keys; schedule their deletion first."
                )));
            }
            records::delete::<CustomKeyStoreRecord>(tx, &scope, id)?;
            records::delete::<ClusterClaim>(tx, "", &store.cluster_id)?;
            Ok(())
        })
    }

    pub fn describe_custom_key_stores(
        &self,
        ctx: &RequestContext,
        id: Option<&str>,
        name: Option<&str>,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<CustomKeyStoreRecord>, KmsError> {
        self.authorize_account(ctx, "kms:DescribeCustomKeyStores")?;
        let mut stores = self.stores(ctx)?;
        stores.retain(|s| id.is_none_or(|id| s.id == id) && name.is_none_or(|name| s.name == name));
        if stores.is_empty()
            && let Some(wanted) = id.or(name)
        {
            return Err(not_found(wanted));
        }
        Ok(paging::by_offset(&stores, limit, marker)?)
    }

    /// The store a new key is created in: connected; answers its id and cluster.
    pub(crate) fn store_for_new_key(&self, ctx: &RequestContext, id: &str) -> Result<CustomKeyStoreRecord, KmsError> {
        let store = self.store_record(&ctx.regional_scope(), id)?;
        self.ensure_session(&store)?;
        Ok(store)
    }

    /// Key material generated in the store's token.
    pub(crate) fn hsm_material(&self, store: &CustomKeyStoreRecord, key_id: &str) -> Result<Material, KmsError> {
        let material_id = hex::encode(keyhaven_crypto::random_array::<MATERIAL_ID_LEN>()?);
        self.hsms()
            .generate_key(&store.id, &object_label(key_id, &material_id))
            .map_err(device_failure)?;
        Ok(Material {
            id: material_id,
            sealed: String::new(),
            created: self.now(),
            origin: MaterialOrigin::Original,
            public_key: None,
            imported: None,
            in_hsm: true,
        })
    }

    /// The connected store of a key in a custom key store, or KMSInvalidStateException: the key is unavailable.
    fn connected_store(&self, record: &KeyRecord) -> Result<CustomKeyStoreRecord, KmsError> {
        let (store_id, _) = record
            .custom_key_store
            .as_ref()
            .ok_or_else(|| KmsError::Internal("not a custom key store key".into()))?;
        let store = self.store_record(&crate::resolve::scope_of(record), store_id)?;
        self.ensure_session(&store).map_err(|_| unavailable(record))?;
        Ok(store)
    }

    /// Whether a key in a custom key store can be used now (DescribeKey says Unavailable otherwise).
    pub fn available(&self, record: &KeyRecord) -> bool {
        record.custom_key_store.is_none() || self.connected_store(record).is_ok()
    }

    /// Encrypts in the token with the key's current material.
    pub(crate) fn hsm_seal(
        &self,
        record: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Encrypted, KmsError> {
        let store = self.connected_store(record)?;
        let (material, header) = current_header(record)?;
        let blob = HsmBlob::new(&header, context)?;
        let label = object_label(&record.key_id, &material.id);
        let sealed = self
            .hsms()
            .gcm(true, &store.id, &label, &blob.iv, &blob.aad, plaintext)
            .map_err(device_failure)?;
        Ok(Encrypted {
            ciphertext: blob.finish(&sealed),
            key_arn: record.arn(),
            material_id: material.id.clone(),
        })
    }

    /// Decrypts a version 2 blob in the token; any device failure is an invalid ciphertext.
    pub(crate) fn hsm_open(
        &self,
        record: &KeyRecord,
        material_id: &[u8; MATERIAL_ID_LEN],
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<SecretBytes, KmsError> {
        let store = self.connected_store(record)?;
        let (blob, sealed) = HsmBlob::parse(ciphertext, context)?;
        let label = object_label(&record.key_id, &hex::encode(material_id));
        let plaintext = self
            .hsms()
            .gcm(false, &store.id, &label, &blob.iv, &blob.aad, sealed)
            .map_err(|_| KmsError::InvalidCiphertext)?;
        Ok(SecretBytes::new(plaintext))
    }

    /// Destroys a deleted key's material in its token, if the store is connected (otherwise it stays there).
    pub(crate) fn hsm_destroy(&self, record: &KeyRecord) {
        let Ok(store) = self.connected_store(record) else {
            tracing::warn!(key = %record.arn(), "custom key store not connected: the key's HSM material is left in the token");
            return;
        };
        for material in record.materials.iter().filter(|m| m.in_hsm) {
            if let Err(e) = self
                .hsms()
                .destroy(&store.id, &object_label(&record.key_id, &material.id))
            {
                tracing::warn!(key = %record.arn(), error = %e.0, "destroying HSM key material failed");
            }
        }
    }

    /// GenerateRandom from a custom key store's token.
    pub fn hsm_random(&self, ctx: &RequestContext, store_id: &str, len: usize) -> Result<SecretBytes, KmsError> {
        let store = self.store_record(&ctx.regional_scope(), store_id)?;
        self.ensure_session(&store)?;
        Ok(SecretBytes::new(
            self.hsms().random(&store.id, len).map_err(device_failure)?,
        ))
    }
}
