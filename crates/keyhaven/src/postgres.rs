//! What the Secrets Manager rotators ask of a PostgreSQL database: check a login, change a password.
//!
//! It goes through tokio-postgres, the driver the PostgreSQL store uses, on a thread of its own (rotation steps run
//! in blocking sections of the server's runtime). There is no TLS yet: connections are `sslmode=disable`, so the
//! database must be on a trusted network. New passwords are sent as SCRAM-SHA-256 verifiers computed here with
//! aws-lc, as `psql`'s `\password` does, so the plaintext never reaches the server or its statement log.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::digest::{hmac_sha256, pbkdf2_hmac_sha256, sha256};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use zeroize::Zeroizing;

/// Connect and statement timeout: a rotation step must fail rather than hang on a silent server.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Verifier parameters as PostgreSQL's own client computes them (`scram_iterations` default, 16-byte salt).
const VERIFIER_ITERATIONS: u32 = 4096;
const VERIFIER_SALT_LEN: usize = 16;

/// Where a database listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub database: String,
}

/// Why a PostgreSQL operation failed. No variant ever carries a password we were given.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PgError {
    #[error("cannot reach PostgreSQL: {0}")]
    Connect(String),
    #[error("PostgreSQL authentication failed: {0}")]
    Auth(String),
    #[error("PostgreSQL error {code}: {message}")]
    Server { code: String, message: String },
    #[error("PostgreSQL protocol error: {0}")]
    Protocol(String),
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db)
                if *db.code() == SqlState::INVALID_PASSWORD
                    || *db.code() == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                PgError::Auth(db.message().to_string())
            }
            Some(db) => PgError::Server {
                code: db.code().code().to_string(),
                message: db.message().to_string(),
            },
            None => PgError::Connect(e.to_string()),
        }
    }
}

/// Logs in as `user` and runs `SELECT 1`.
pub(crate) fn check_login(endpoint: &Endpoint, user: &str, password: &str) -> Result<(), PgError> {
    run(endpoint, user, password, Zeroizing::new("SELECT 1".into()))
}

/// Logs in as `user` and sets `role`'s password to `new_password` (`role` may be `user` itself).
pub(crate) fn set_password(
    endpoint: &Endpoint,
    user: &str,
    password: &str,
    role: &str,
    new_password: &str,
) -> Result<(), PgError> {
    if !new_password.is_ascii() {
        // PostgreSQL SASLpreps (RFC 4013) SCRAM passwords. ASCII passes through unchanged; anything else needs
        // Unicode normalisation tables we do not carry, so it is refused rather than hashed differently.
        return Err(PgError::Protocol(
            "the new password contains non-ASCII characters, which this client cannot SASLprep for SCRAM-SHA-256"
                .into(),
        ));
    }
    let salt = keyhaven_crypto::random_bytes(VERIFIER_SALT_LEN).map_err(|e| PgError::Protocol(e.to_string()))?;
    let verifier = scram_verifier(new_password, salt.expose(), VERIFIER_ITERATIONS);
    let statement = Zeroizing::new(format!(
        "ALTER ROLE {} PASSWORD '{}'",
        quote_identifier(role)?,
        *verifier
    ));
    run(endpoint, user, password, statement)
}

/// Logs in as `user` and runs `sql` (simple query protocol), on a thread of its own with a runtime of its own.
fn run(endpoint: &Endpoint, user: &str, password: &str, sql: Zeroizing<String>) -> Result<(), PgError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&endpoint.host)
        .port(endpoint.port)
        .dbname(&endpoint.database)
        .user(user)
        .password(password)
        .application_name("keyhaven")
        .connect_timeout(TIMEOUT);
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PgError::Protocol(format!("starting a runtime: {e}")))?;
        runtime.block_on(async {
            let timed_out = |what: &str| PgError::Connect(format!("{what} timed out after {TIMEOUT:?}"));
            let (client, connection) = tokio::time::timeout(TIMEOUT, config.connect(NoTls))
                .await
                .map_err(|_| timed_out("connecting"))??;
            let driver = tokio::spawn(connection);
            let ran = tokio::time::timeout(TIMEOUT, client.batch_execute(&sql))
                .await
                .map_err(|_| timed_out("the statement"));
            drop(client);
            let _ = driver.await;
            Ok(ran??)
        })
    });
    worker
        .join()
        .map_err(|_| PgError::Protocol("the PostgreSQL worker thread panicked".into()))?
}

/// `"name"` with inner double quotes doubled: an SQL identifier whatever its characters.
fn quote_identifier(name: &str) -> Result<String, PgError> {
    if name.contains('\0') {
        return Err(PgError::Protocol("the role name contains a NUL character".into()));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, the form PostgreSQL stores in `rolpassword`.
fn scram_verifier(password: &str, salt: &[u8], iterations: u32) -> Zeroizing<String> {
    let mut salted = Zeroizing::new([0u8; 32]);
    pbkdf2_hmac_sha256(password.as_bytes(), salt, iterations, &mut *salted);
    let client_key = Zeroizing::new(hmac_sha256(&*salted, b"Client Key"));
    let server_key = Zeroizing::new(hmac_sha256(&*salted, b"Server Key"));
    Zeroizing::new(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        B64.encode(salt),
        B64.encode(sha256(&*client_key)),
        B64.encode(*server_key)
    ))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use keyhaven_tests::postgres::{ADMIN_USER, Cluster};

    use super::*;

    /// StoredKey and ServerKey for the RFC 7677 password and salt, computed independently with Python's
    /// hashlib and hmac modules.
    #[test]
    fn verifier_has_the_form_postgresql_stores() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        assert_eq!(
            *scram_verifier("pencil", &salt, 4096),
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:\
             wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
    }

    #[test]
    fn role_names_are_quoted_as_identifiers() {
        assert_eq!(quote_identifier("app").expect("quote"), "\"app\"");
        assert_eq!(quote_identifier("we\"ird; DROP").expect("quote"), "\"we\"\"ird; DROP\"");
    }

    #[test]
    fn an_unreachable_port_is_a_connect_error() {
        // Bound and released at once: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("address")
            .port();
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port,
            database: "postgres".into(),
        };
        let error = check_login(&endpoint, "app", "s3cret").expect_err("nothing listens");
        assert!(matches!(error, PgError::Connect(_)), "{error}");
    }

    #[test]
    fn a_role_rotates_its_own_password_on_a_real_cluster() {
        let cluster = Cluster::start();
        cluster.admin_sql("CREATE ROLE app LOGIN PASSWORD 'first-Secret-1'");
        // Every statement app runs is logged, so the log shows whether a plaintext password reached the server.
        cluster.admin_sql("ALTER ROLE app SET log_statement = 'all'");
        let endpoint = Endpoint {
            host: cluster.host().into(),
            port: cluster.port,
            database: "postgres".into(),
        };

        check_login(&endpoint, "app", "first-Secret-1").expect("initial password");
        let wrong = check_login(&endpoint, "app", "not-the-password").expect_err("wrong password");
        assert!(
            matches!(&wrong, PgError::Auth(m) if m.contains("password authentication failed")),
            "{wrong}"
        );
        assert!(!format!("{wrong} {wrong:?}").contains("not-the-password"));

        set_password(&endpoint, "app", "first-Secret-1", "app", "second-Secret-2").expect("rotate");
        let old = check_login(&endpoint, "app", "first-Secret-1").expect_err("old password");
        assert!(matches!(old, PgError::Auth(_)), "{old}");
        check_login(&endpoint, "app", "second-Secret-2").expect("new password");

        let stored = cluster.admin_sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'");
        assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
        let log = cluster.log();
        assert!(
            log.contains("ALTER ROLE \"app\" PASSWORD 'SCRAM-SHA-256$4096:"),
            "the rotation was not logged"
        );
        assert!(!log.contains("second-Secret-2"), "the new password reached the server");

        let denied = set_password(&endpoint, "app", "second-Secret-2", ADMIN_USER, "x").expect_err("not permitted");
        assert!(
            matches!(&denied, PgError::Server { code, .. } if code == "42501"),
            "{denied}"
        );
    }
}
