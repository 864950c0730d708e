//! The kernel's error, and the conversions every service error shares (`service_error!`).

use keyhaven_store::StoreError;

/// A failure of the shared machinery: the authoriser's denial, the store, the audit log.
/// The message is what the caller sees; it never contains secrets or key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KernelError {
    #[error("{0}")]
    AccessDenied(String),
    /// Details go to the log, never to the caller.
    #[error("internal error")]
    Internal(String),
    /// Nothing was changed and the same request may succeed later (the disk is full).
    #[error("the service is unavailable")]
    Unavailable,
}

impl From<StoreError> for KernelError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Full | StoreError::Conflict => KernelError::Unavailable,
            StoreError::Unavailable(reason) => {
                tracing::error!(%reason, "the store is unavailable");
                KernelError::Unavailable
            }
            other => KernelError::Internal(other.to_string()),
        }
    }
}

impl From<keyhaven_crypto::CryptoError> for KernelError {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        KernelError::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for KernelError {
    fn from(e: serde_json::Error) -> Self {
        KernelError::Internal(format!("stored record does not decode: {e}"))
    }
}

/// The conversions a service's error enum needs from the layers below it, and `transact`/`read`
/// typed to it. The enum must have `AccessDenied(String)`, `Internal(String)` and `Unavailable`
/// variants; the kernel's failures keep their meaning, and the store's and serde's become
/// internal errors (`Unavailable` when the disk is full).
#[macro_export]
macro_rules! service_error {
    ($error:ident) => {
        /// Runs `work` in one store transaction ([`keyhaven_kernel::transact`]).
        pub fn transact<T>(
            store: &dyn keyhaven_store::Backend,
            work: impl FnMut(&mut dyn keyhaven_store::Transaction) -> Result<T, $error>,
        ) -> Result<T, $error> {
            $crate::transact(store, work)
        }

        /// Runs read-only `work` on a snapshot ([`keyhaven_kernel::read`]).
        pub fn read<T>(
            store: &dyn keyhaven_store::Backend,
            work: impl FnMut(&mut dyn keyhaven_store::Transaction) -> Result<T, $error>,
        ) -> Result<T, $error> {
            $crate::read(store, work)
        }

        impl From<$crate::error::KernelError> for $error {
            fn from(e: $crate::error::KernelError) -> Self {
                match e {
                    $crate::error::KernelError::AccessDenied(message) => $error::AccessDenied(message),
                    $crate::error::KernelError::Internal(detail) => $error::Internal(detail),
                    $crate::error::KernelError::Unavailable => $error::Unavailable,
                }
            }
        }

        impl From<keyhaven_store::StoreError> for $error {
            fn from(e: keyhaven_store::StoreError) -> Self {
                $crate::error::KernelError::from(e).into()
            }
        }

        impl From<serde_json::Error> for $error {
            fn from(e: serde_json::Error) -> Self {
                $crate::error::KernelError::from(e).into()
            }
        }
    };
}
