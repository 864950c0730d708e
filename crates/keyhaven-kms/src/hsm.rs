//! The PKCS#11 side of custom key stores: HSM clusters as the server is configured with them (a module and a token
//! label under a `cluster-…` id), a logged-in session per connected store, and the few operations KMS needs: AES-256
//! keys generated inside the token (sensitive, never extractable), AES-GCM with them, their destruction, and the
//! token's random numbers. Key material never leaves the device.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use parking_lot::Mutex;

/// One configured cluster: a PKCS#11 module and the label of the token that is the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub module: PathBuf,
    pub token_label: String,
}

/// Parses `cluster-<id>=<module path>:<token label>`.
pub fn parse_cluster(text: &str) -> Result<(String, Cluster), String> {
    let (id, rest) = text
        .split_once('=')
        .ok_or_else(|| format!("HSM cluster {text:?} is not cluster-<id>=<module>:<token label>"))?;
    let valid_id = id.strip_prefix("cluster-").is_some_and(|s| {
        (11..=16).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphabetic() || ('2'..='7').contains(&c))
    });
    if !valid_id {
        return Err(format!(
            "HSM cluster id {id:?} is not cluster- and 11 to 16 of [2-7a-zA-Z], as AWS's are"
        ));
    }
    let (module, label) = rest
        .rsplit_once(':')
        .filter(|(m, l)| !m.is_empty() && !l.is_empty())
        .ok_or_else(|| format!("HSM cluster {id}: {rest:?} is not <module path>:<token label>"))?;
    Ok((
        id.to_string(),
        Cluster {
            module: PathBuf::from(module),
            token_label: label.to_string(),
        },
    ))
}

/// Why connecting failed, as AWS's ConnectionErrorCode names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    InvalidCredentials,
    ClusterNotFound,
    UserLockedOut,
    NetworkErrors,
}

impl ConnectFailure {
    pub fn code(self) -> &'static str {
        match self {
            ConnectFailure::InvalidCredentials => "INVALID_CREDENTIALS",
            ConnectFailure::ClusterNotFound => "CLUSTER_NOT_FOUND",
            ConnectFailure::UserLockedOut => "USER_LOCKED_OUT",
            ConnectFailure::NetworkErrors => "NETWORK_ERRORS",
        }
    }
}

/// A device operation failed; details go to the log only.
#[derive(Debug)]
pub struct DeviceError(pub String);

impl From<Pkcs11Error> for DeviceError {
    fn from(e: Pkcs11Error) -> Self {
        DeviceError(e.to_string())
    }
}

/// The HSM connections of this node.
#[derive(Default)]
pub(crate) struct Hsms {
    clusters: HashMap<String, Cluster>,
    /// PKCS#11 modules are initialised once per process.
    modules: Mutex<HashMap<PathBuf, Arc<Pkcs11>>>,
    /// A logged-in session per connected store (one at a time: PKCS#11 sessions are not shared across threads).
    sessions: Mutex<HashMap<String, Arc<Mutex<Session>>>>,
}

impl std::fmt::Debug for Hsms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hsms")
            .field("clusters", &self.clusters)
            .finish_non_exhaustive()
    }
}

fn key_label(label: &str) -> Attribute {
    Attribute::Label(label.as_bytes().to_vec())
}

impl Hsms {
    pub fn new(clusters: HashMap<String, Cluster>) -> Self {
        Self {
            clusters,
            ..Default::default()
        }
    }

    pub fn has_cluster(&self, cluster_id: &str) -> bool {
        self.clusters.contains_key(cluster_id)
    }

    fn module(&self, path: &PathBuf) -> Result<Arc<Pkcs11>, ConnectFailure> {
        let mut modules = self.modules.lock();
        if let Some(module) = modules.get(path) {
            return Ok(module.clone());
        }
        let module = Pkcs11::new(path).map_err(|_| ConnectFailure::NetworkErrors)?;
        match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(_) => return Err(ConnectFailure::NetworkErrors),
        }
        let module = Arc::new(module);
        modules.insert(path.clone(), module.clone());
        Ok(module)
    }

    /// Opens a session on the store's cluster and logs in as its crypto user with `pin`.
    pub fn connect(&self, store_id: &str, cluster_id: &str, pin: &str) -> Result<(), ConnectFailure> {
        let cluster = self.clusters.get(cluster_id).ok_or(ConnectFailure::ClusterNotFound)?;
        let module = self.module(&cluster.module)?;
        let slot = module
            .get_slots_with_token()
            .map_err(|_| ConnectFailure::NetworkErrors)?
            .into_iter()
            .find(|slot| {
                module
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label() == cluster.token_label)
            })
            .ok_or(ConnectFailure::ClusterNotFound)?;
        let session = module
            .open_rw_session(slot)
            .map_err(|_| ConnectFailure::NetworkErrors)?;
        // One store per cluster: a login left from an earlier connection is replaced, so the PIN is checked.
        let _ = session.logout();
        session
            .login(UserType::User, Some(&AuthPin::new(pin.into())))
            .map_err(|e| match e {
                Pkcs11Error::Pkcs11(RvError::PinLocked, _) => ConnectFailure::UserLockedOut,
                Pkcs11Error::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _) => {
                    ConnectFailure::InvalidCredentials
                }
                _ => ConnectFailure::NetworkErrors,
            })?;
        self.sessions
            .lock()
            .insert(store_id.to_string(), Arc::new(Mutex::new(session)));
        Ok(())
    }

    pub fn disconnect(&self, store_id: &str) {
        if let Some(session) = self.sessions.lock().remove(store_id) {
            let _ = session.lock().logout();
        }
    }

    pub fn connected(&self, store_id: &str) -> bool {
        self.sessions.lock().contains_key(store_id)
    }

    fn session(&self, store_id: &str) -> Result<Arc<Mutex<Session>>, DeviceError> {
        self.sessions
            .lock()
            .get(store_id)
            .cloned()
            .ok_or_else(|| DeviceError(format!("custom key store {store_id} has no session on this node")))
    }

    fn find(session: &Session, label: &str) -> Result<ObjectHandle, DeviceError> {
        session
            .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), key_label(label)])?
            .into_iter()
            .next()
            .ok_or_else(|| DeviceError(format!("no key labelled {label} in the token")))
    }

    /// A new AES-256 key in the token, labelled `label`, that never leaves it.
    pub fn generate_key(&self, store_id: &str, label: &str) -> Result<(), DeviceError> {
        let session = self.session(store_id)?;
        let session = session.lock();
        session.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                key_label(label),
            ],
        )?;
        Ok(())
    }

    /// AES-GCM (128-bit tag) with the key labelled `label`: sealing answers ciphertext and tag; opening takes them,
    /// and any failure (a wrong tag among them) is a device error.
    pub fn gcm(
        &self,
        seal: bool,
        store_id: &str,
        label: &str,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
    ) -> Result<Vec<u8>, DeviceError> {
        let session = self.session(store_id)?;
        let session = session.lock();
        let key = Self::find(&session, label)?;
        let mut iv = *iv;
        let mechanism = Mechanism::AesGcm(GcmParams::new(&mut iv, aad, 128.into())?);
        Ok(if seal {
            session.encrypt(&mechanism, key, input)?
        } else {
            session.decrypt(&mechanism, key, input)?
        })
    }

    /// Destroys the key labelled `label`.
    pub fn destroy(&self, store_id: &str, label: &str) -> Result<(), DeviceError> {
        let session = self.session(store_id)?;
        let session = session.lock();
        let key = Self::find(&session, label)?;
        Ok(session.destroy_object(key)?)
    }

    /// `len` random bytes from the token.
    pub fn random(&self, store_id: &str, len: usize) -> Result<Vec<u8>, DeviceError> {
        let session = self.session(store_id)?;
        let len = u32::try_from(len).map_err(|_| DeviceError("too many random bytes".into()))?;
        Ok(session.lock().generate_random_vec(len)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_settings() {
        let (id, cluster) = parse_cluster("cluster-abcdefghijk=/usr/lib/softhsm/libsofthsm2.so:keys").expect("parses");
        assert_eq!(id, "cluster-abcdefghijk");
        assert_eq!(cluster.module, PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
        assert_eq!(cluster.token_label, "keys");
        for bad in [
            "cluster-abc=/lib.so:keys",
            "cluster-abcdefghijk=/lib.so",
            "cluster-abcdefghij1=/lib.so:keys",
            "abcdefghijk=/lib.so:keys",
        ] {
            assert!(parse_cluster(bad).is_err(), "{bad}");
        }
    }
}
