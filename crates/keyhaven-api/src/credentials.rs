//! Who may sign requests: the root credentials, and in dev mode any unknown access key.

use keyhaven_crypto::SecretBytes;
use keyhaven_kernel::context::Principal;

/// A long-term credential this server verifies signatures with.
#[derive(Debug, Clone)]
pub struct RootCredential {
    pub access_key_id: String,
    pub secret_access_key: SecretBytes,
    pub account_id: String,
}

/// What an access key id resolves to.
#[derive(Debug)]
pub enum Identity<'a> {
    /// Verify the signature with this secret; the caller is this principal.
    Verified {
        secret: &'a SecretBytes,
        principal: Principal,
    },
    /// Dev mode: an unknown key is taken as the root of an account without a signature check.
    Trusted(Principal),
    Unknown,
}

/// The credentials a server accepts.
#[derive(Debug)]
pub struct CredentialRegistry {
    root: RootCredential,
    dev: bool,
    default_account: String,
}

impl CredentialRegistry {
    pub fn new(root: RootCredential, dev: bool, default_account: String) -> Self {
        Self {
            root,
            dev,
            default_account,
        }
    }

    pub fn identify(&self, access_key_id: &str) -> Identity<'_> {
        if access_key_id == self.root.access_key_id {
            return Identity::Verified {
                secret: &self.root.secret_access_key,
                principal: Principal::root(&self.root.account_id, access_key_id),
            };
        }
        if self.dev {
            let account = if access_key_id.len() == 12 && access_key_id.chars().all(|c| c.is_ascii_digit()) {
                access_key_id
            } else {
                &self.default_account
            };
            return Identity::Trusted(Principal::root(account, access_key_id));
        }
        Identity::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(dev: bool) -> CredentialRegistry {
        let root = RootCredential {
            access_key_id: "AKIAROOT".into(),
            secret_access_key: SecretBytes::from_slice(b"secret"),
            account_id: "111122223333".into(),
        };
        CredentialRegistry::new(root, dev, "000000000000".into())
    }

    #[test]
    fn identification_table() {
        let cases = [
            (false, "AKIAROOT", Some("111122223333"), true),
            (false, "test", None, false),
            (true, "AKIAROOT", Some("111122223333"), true),
            (true, "test", Some("000000000000"), false),
            (true, "123456789012", Some("123456789012"), false),
        ];
        for (dev, key, account, verified) in cases {
            let registry = registry(dev);
            let got = match registry.identify(key) {
                Identity::Verified { principal, .. } => Some((principal.account_id, true)),
                Identity::Trusted(principal) => Some((principal.account_id, false)),
                Identity::Unknown => None,
            };
            assert_eq!(got, account.map(|a| (a.to_string(), verified)), "dev={dev} key={key}");
        }
    }
}
