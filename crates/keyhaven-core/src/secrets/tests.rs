//! Secrets Manager unit tests against a frozen clock and a temporary store.
