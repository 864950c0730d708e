//! A small blocking PostgreSQL client for the Secrets Manager rotators: check a login, change a password.
//!
//! It speaks the v3 frontend/backend protocol (startup, simple query, terminate) over a plain `TcpStream`.
//! There is no TLS yet: connections are `sslmode=disable`, so the database must be on a trusted network.
//! Authentication is SCRAM-SHA-256 (RFC 5802/7677, the server's signature verified), cleartext password, or
//! none (trust); MD5 is refused because MD5 is not in our crypto stack. New passwords are sent as SCRAM
//! verifiers computed here, as `psql`'s `\password` does, so the plaintext never reaches the server or its
//! statement log.

use std::io::{BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::digest::{constant_time_eq, hmac_sha256, pbkdf2_hmac_sha256, sha256};
use zeroize::Zeroizing;

/// Connect, read and write timeout: a rotation step must fail rather than hang on a silent server.
const TIMEOUT: Duration = Duration::from_secs(10);
const PROTOCOL_VERSION_3_0: i32 = 3 << 16;
/// Nothing we ask for comes back larger; refusing bigger messages bounds what a bad peer makes us allocate.
const MAX_MESSAGE_LEN: usize = 1 << 20;
/// Verifier parameters as PostgreSQL's own client computes them (`scram_iterations` default, 16-byte salt).
const VERIFIER_ITERATIONS: u32 = 4096;
const VERIFIER_SALT_LEN: usize = 16;
/// A server asking for more PBKDF2 iterations than this could pin a rotation thread for minutes.
const MAX_SERVER_ITERATIONS: u32 = 10_000_000;
/// Random bytes in our SCRAM nonce, as libpq uses.
const CLIENT_NONCE_LEN: usize = 18;
/// SCRAM GS2 header: no channel binding (without TLS there is no channel to bind to), no authzid.
const GS2_HEADER: &str = "n,,";
const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

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

/// Logs in as `user` and runs `SELECT 1`.
pub(crate) fn check_login(endpoint: &Endpoint, user: &str, password: &str) -> Result<(), PgError> {
    Connection::open(endpoint, user, password)?.simple_query("SELECT 1")
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
        return Err(PgError::Protocol(non_ascii("the new password")));
    }
    let salt = keyhaven_crypto::random_bytes(VERIFIER_SALT_LEN).map_err(|e| PgError::Protocol(e.to_string()))?;
    let verifier = scram_verifier(new_password, salt.expose(), VERIFIER_ITERATIONS);
    let statement = Zeroizing::new(format!(
        "ALTER ROLE {} PASSWORD '{}'",
        quote_identifier(role)?,
        *verifier
    ));
    Connection::open(endpoint, user, password)?.simple_query(&statement)
}

/// PostgreSQL SASLpreps (RFC 4013) SCRAM passwords. ASCII passes through unchanged; anything else needs
/// Unicode normalisation tables we do not carry, so it is refused rather than hashed differently.
fn non_ascii(what: &str) -> String {
    format!("{what} contains non-ASCII characters, which this client cannot SASLprep for SCRAM-SHA-256")
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
    let salted = salted_password(password, salt, iterations);
    let client_key = Zeroizing::new(hmac_sha256(&*salted, b"Client Key"));
    let server_key = Zeroizing::new(hmac_sha256(&*salted, b"Server Key"));
    Zeroizing::new(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        B64.encode(salt),
        B64.encode(sha256(&*client_key)),
        B64.encode(*server_key)
    ))
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2_hmac_sha256(password.as_bytes(), salt, iterations, &mut *out);
    out
}

/// The client side of one SCRAM-SHA-256 exchange.
struct Scram {
    client_nonce: String,
    client_first_bare: String,
}

impl Scram {
    /// PostgreSQL takes the user from the startup message, so like libpq we pass an empty `name`.
    fn new(name: &str, client_nonce: String) -> Self {
        let client_first_bare = format!("n={name},r={client_nonce}");
        Self {
            client_nonce,
            client_first_bare,
        }
    }

    fn client_first(&self) -> String {
        format!("{GS2_HEADER}{}", self.client_first_bare)
    }

    /// Answers the server-first-message: the client-final-message, and the signature the server must send back.
    fn client_final(&self, password: &str, server_first: &str) -> Result<(String, [u8; 32]), PgError> {
        let (nonce, salt, iterations) = parse_server_first(server_first, &self.client_nonce)?;
        let salted = salted_password(password, &salt, iterations);
        let client_key = Zeroizing::new(hmac_sha256(&*salted, b"Client Key"));
        let server_key = Zeroizing::new(hmac_sha256(&*salted, b"Server Key"));
        let without_proof = format!("c={},r={nonce}", B64.encode(GS2_HEADER));
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hmac_sha256(&sha256(&*client_key), auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(client_signature).map(|(k, s)| k ^ s).collect();
        let server_signature = hmac_sha256(&*server_key, auth_message.as_bytes());
        Ok((format!("{without_proof},p={}", B64.encode(proof)), server_signature))
    }
}

/// `r=<nonce>,s=<salt>,i=<iterations>[,extensions]` → (nonce, salt, iterations).
fn parse_server_first<'a>(message: &'a str, client_nonce: &str) -> Result<(&'a str, Vec<u8>, u32), PgError> {
    let malformed = |what: &str| PgError::Protocol(format!("SCRAM server-first-message: {what}"));
    let mut attributes = message.split(',');
    let mut next = |name: &str| attributes.next().and_then(|a| a.strip_prefix(name));
    let nonce = next("r=").ok_or_else(|| malformed("no nonce (or an unsupported mandatory extension)"))?;
    let salt = next("s=").ok_or_else(|| malformed("no salt"))?;
    let iterations = next("i=").ok_or_else(|| malformed("no iteration count"))?;
    // The server must extend our nonce, or this answers some other exchange.
    if !nonce.starts_with(client_nonce) || nonce.len() == client_nonce.len() {
        return Err(malformed("the nonce does not extend ours"));
    }
    let salt = B64.decode(salt).map_err(|_| malformed("the salt is not base64"))?;
    let iterations = iterations
        .parse::<u32>()
        .ok()
        .filter(|i| (1..=MAX_SERVER_ITERATIONS).contains(i))
        .ok_or_else(|| malformed("unusable iteration count"))?;
    Ok((nonce, salt, iterations))
}

/// Checks the server-final-message `v=<signature>` in constant time: the server proves it knows the password.
fn verify_server_final(message: &str, expected: &[u8; 32]) -> Result<(), PgError> {
    if let Some(error) = message.strip_prefix("e=") {
        return Err(PgError::Auth(format!("the server ended the SCRAM exchange: {error}")));
    }
    let signature = message
        .strip_prefix("v=")
        .and_then(|v| v.split(',').next())
        .and_then(|v| B64.decode(v).ok())
        .ok_or_else(|| PgError::Protocol("malformed SCRAM server-final-message".into()))?;
    if !constant_time_eq(&signature, expected) {
        return Err(PgError::Auth(
            "the server's SCRAM signature is wrong: it does not know the password".into(),
        ));
    }
    Ok(())
}

/// Where a SCRAM exchange stands; AuthenticationOk is only believed before one starts or after it completes.
enum Sasl {
    Idle,
    Started(Scram),
    Proved([u8; 32]),
    Verified,
}

/// One backend message: its type byte and body.
struct Message {
    tag: u8,
    body: Vec<u8>,
}

/// Frames a message: the type byte (none for the startup message), then a length that counts itself.
fn frame(tag: Option<u8>, body: &[u8]) -> Result<Vec<u8>, PgError> {
    let len = i32::try_from(body.len() + 4).map_err(|_| PgError::Protocol("message too long".into()))?;
    let mut out = Vec::with_capacity(body.len() + 5);
    out.extend(tag);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

fn put_cstr(out: &mut Vec<u8>, what: &str, value: &str) -> Result<(), PgError> {
    if value.contains('\0') {
        return Err(PgError::Protocol(format!("{what} contains a NUL character")));
    }
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    Ok(())
}

fn startup_message(user: &str, database: &str) -> Result<Vec<u8>, PgError> {
    let mut body = PROTOCOL_VERSION_3_0.to_be_bytes().to_vec();
    for (name, value) in [
        ("user", user),
        ("database", database),
        ("client_encoding", "UTF8"),
        ("application_name", "keyhaven"),
    ] {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        put_cstr(&mut body, name, value)?;
    }
    body.push(0);
    frame(None, &body)
}

/// SASLInitialResponse: the mechanism, then the client's first message with its own length.
fn sasl_initial_response(mechanism: &str, data: &str) -> Result<Vec<u8>, PgError> {
    let mut body = Vec::with_capacity(mechanism.len() + data.len() + 5);
    put_cstr(&mut body, "the mechanism", mechanism)?;
    let len = i32::try_from(data.len()).map_err(|_| PgError::Protocol("SASL data too long".into()))?;
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(data.as_bytes());
    frame(Some(b'p'), &body)
}

/// Reads the fields of a backend message body.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn i32(&mut self) -> Result<i32, PgError> {
        let (head, rest) = self.0.split_first_chunk::<4>().ok_or_else(truncated)?;
        self.0 = rest;
        Ok(i32::from_be_bytes(*head))
    }

    fn u8(&mut self) -> Result<u8, PgError> {
        let (head, rest) = self.0.split_first().ok_or_else(truncated)?;
        self.0 = rest;
        Ok(*head)
    }

    fn cstr(&mut self) -> Result<&'a [u8], PgError> {
        let end = self.0.iter().position(|&b| b == 0).ok_or_else(truncated)?;
        let value = &self.0[..end];
        self.0 = &self.0[end + 1..];
        Ok(value)
    }

    fn rest_str(self) -> Result<&'a str, PgError> {
        std::str::from_utf8(self.0).map_err(|_| PgError::Protocol("SASL data is not UTF-8".into()))
    }
}

fn truncated() -> PgError {
    PgError::Protocol("truncated message".into())
}

/// ErrorResponse → (SQLSTATE, message).
fn parse_error_response(body: &[u8]) -> Result<(String, String), PgError> {
    let mut fields = Fields(body);
    let (mut code, mut message) = (String::new(), String::new());
    loop {
        match fields.u8()? {
            0 => return Ok((code, message)),
            b'C' => code = String::from_utf8_lossy(fields.cstr()?).into_owned(),
            b'M' => message = String::from_utf8_lossy(fields.cstr()?).into_owned(),
            _ => {
                fields.cstr()?;
            }
        }
    }
}

/// Errors before ReadyForQuery: class 28 (invalid authorization: wrong password, no pg_hba.conf entry, login
/// not permitted) is an authentication failure; anything else (say, a missing database) is the server's.
fn startup_error(body: &[u8]) -> PgError {
    match parse_error_response(body) {
        Ok((code, message)) if code.starts_with("28") => PgError::Auth(message),
        Ok((code, message)) => PgError::Server { code, message },
        Err(e) => e,
    }
}

fn unexpected(tag: u8, phase: &str) -> PgError {
    PgError::Protocol(format!("unexpected message {:?} {phase}", char::from(tag)))
}

/// An authenticated session, ready for a query. Dropping it says goodbye to the server.
struct Connection {
    stream: BufReader<TcpStream>,
    peer: String,
}

impl Connection {
    fn open(endpoint: &Endpoint, user: &str, password: &str) -> Result<Self, PgError> {
        let startup = startup_message(user, &endpoint.database)?;
        let mut connection = Self {
            stream: BufReader::new(connect(endpoint)?),
            peer: format!("{}:{}", endpoint.host, endpoint.port),
        };
        connection.send(&startup)?;
        connection.authenticate(password)?;
        connection.wait_until_ready()?;
        Ok(connection)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), PgError> {
        let stream = self.stream.get_mut();
        stream
            .write_all(bytes)
            .and_then(|()| stream.flush())
            .map_err(|e| self.lost(&e))
    }

    fn receive(&mut self) -> Result<Message, PgError> {
        let mut header = [0u8; 5];
        self.stream.read_exact(&mut header).map_err(|e| self.lost(&e))?;
        let [tag, len @ ..] = header;
        let len = usize::try_from(i32::from_be_bytes(len))
            .ok()
            .and_then(|len| len.checked_sub(4))
            .filter(|len| *len <= MAX_MESSAGE_LEN)
            .ok_or_else(|| {
                PgError::Protocol(format!(
                    "bad length in message {:?}; is this PostgreSQL?",
                    char::from(tag)
                ))
            })?;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).map_err(|e| self.lost(&e))?;
        Ok(Message { tag, body })
    }

    fn lost(&self, error: &std::io::Error) -> PgError {
        PgError::Connect(format!("connection to {} failed: {error}", self.peer))
    }

    fn authenticate(&mut self, password: &str) -> Result<(), PgError> {
        let mut sasl = Sasl::Idle;
        loop {
            let message = self.receive()?;
            match message.tag {
                b'R' => {}
                b'E' => return Err(startup_error(&message.body)),
                b'N' => continue,
                tag => return Err(unexpected(tag, "during authentication")),
            }
            let mut fields = Fields(&message.body);
            sasl = match (fields.i32()?, sasl) {
                (0, Sasl::Idle | Sasl::Verified) => return Ok(()),
                (0, _) => {
                    return Err(PgError::Auth(
                        "the server accepted the login before proving it knows the password".into(),
                    ));
                }
                (3, Sasl::Idle) => {
                    let mut body = Zeroizing::new(Vec::with_capacity(password.len() + 1));
                    put_cstr(&mut body, "the password", password)?;
                    self.send(&Zeroizing::new(frame(Some(b'p'), &body)?))?;
                    Sasl::Idle
                }
                (5, _) => {
                    return Err(PgError::Auth(
                        "the server asks for MD5 password authentication, which keyhaven does not support; \
                         use scram-sha-256 in pg_hba.conf and password_encryption"
                            .into(),
                    ));
                }
                (10, Sasl::Idle) => {
                    let mut offered = false;
                    loop {
                        match fields.cstr()? {
                            [] => break,
                            mechanism => offered |= mechanism == SCRAM_SHA_256.as_bytes(),
                        }
                    }
                    if !offered {
                        return Err(PgError::Auth(
                            "the server offers no SASL mechanism this client supports (SCRAM-SHA-256; \
                             SCRAM-SHA-256-PLUS needs TLS)"
                                .into(),
                        ));
                    }
                    if !password.is_ascii() {
                        return Err(PgError::Auth(non_ascii("the password")));
                    }
                    let nonce = keyhaven_crypto::random_bytes(CLIENT_NONCE_LEN)
                        .map_err(|e| PgError::Protocol(e.to_string()))?;
                    let scram = Scram::new("", B64.encode(nonce.expose()));
                    self.send(&sasl_initial_response(SCRAM_SHA_256, &scram.client_first())?)?;
                    Sasl::Started(scram)
                }
                (11, Sasl::Started(scram)) => {
                    let (client_final, server_signature) = scram.client_final(password, fields.rest_str()?)?;
                    self.send(&frame(Some(b'p'), client_final.as_bytes())?)?;
                    Sasl::Proved(server_signature)
                }
                (12, Sasl::Proved(expected)) => {
                    verify_server_final(fields.rest_str()?, &expected)?;
                    Sasl::Verified
                }
                (code @ (3 | 10 | 11 | 12), _) => {
                    return Err(PgError::Protocol(format!("authentication request {code} out of order")));
                }
                (code, _) => {
                    return Err(PgError::Auth(format!(
                        "the server asks for an unsupported authentication method (request {code})"
                    )));
                }
            };
        }
    }

    /// After AuthenticationOk the server reports its parameters, then ReadyForQuery (or a startup error).
    fn wait_until_ready(&mut self) -> Result<(), PgError> {
        loop {
            let message = self.receive()?;
            match message.tag {
                b'Z' => return Ok(()),
                b'S' | b'K' | b'N' => {}
                b'E' => return Err(startup_error(&message.body)),
                tag => return Err(unexpected(tag, "before ReadyForQuery")),
            }
        }
    }

    /// Runs `sql` with the simple query protocol and discards any rows; the first error is the result.
    fn simple_query(&mut self, sql: &str) -> Result<(), PgError> {
        let mut body = Zeroizing::new(Vec::with_capacity(sql.len() + 1));
        put_cstr(&mut body, "the statement", sql)?;
        self.send(&Zeroizing::new(frame(Some(b'Q'), &body)?))?;
        let mut failure = None;
        loop {
            let message = match self.receive() {
                Ok(message) => message,
                // A FATAL error is followed by the server closing the connection: report the error, not the close.
                Err(e) => return Err(failure.unwrap_or(e)),
            };
            match message.tag {
                b'Z' => return failure.map_or(Ok(()), Err),
                b'E' if failure.is_none() => {
                    let (code, message) = parse_error_response(&message.body)?;
                    failure = Some(PgError::Server { code, message });
                }
                b'E' | b'T' | b'D' | b'C' | b'I' | b'N' | b'S' | b'A' => {}
                tag => return Err(unexpected(tag, "in a query response")),
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Terminate, so the server logs a clean disconnect; the connection is over whether or not it arrives.
        let _ = self.stream.get_mut().write_all(&[b'X', 0, 0, 0, 4]);
    }
}

fn connect(endpoint: &Endpoint) -> Result<TcpStream, PgError> {
    let addresses = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| PgError::Connect(format!("cannot resolve {}: {e}", endpoint.host)))?;
    let mut last_error = format!("{} resolves to no address", endpoint.host);
    for address in addresses {
        match TcpStream::connect_timeout(&address, TIMEOUT) {
            Ok(stream) => {
                let configured = stream
                    .set_read_timeout(Some(TIMEOUT))
                    .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
                    .and_then(|()| stream.set_nodelay(true));
                return configured
                    .map(|()| stream)
                    .map_err(|e| PgError::Connect(format!("{address}: {e}")));
            }
            Err(e) => last_error = format!("{address}: {e}"),
        }
    }
    Err(PgError::Connect(last_error))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use keyhaven_tests::postgres::{ADMIN_USER, Cluster};

    use super::*;

    // The SCRAM-SHA-256 exchange of RFC 7677 section 3 (user "user", password "pencil").
    const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str =
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    #[test]
    fn scram_client_reproduces_the_rfc7677_exchange() {
        let scram = Scram::new("user", CLIENT_NONCE.into());
        assert_eq!(scram.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let (client_final, expected) = scram.client_final("pencil", SERVER_FIRST).expect("client-final");
        assert_eq!(client_final, CLIENT_FINAL);
        verify_server_final(SERVER_FINAL, &expected).expect("the RFC's server signature verifies");
    }

    #[test]
    fn a_server_that_does_not_know_the_password_is_refused() {
        let scram = Scram::new("user", CLIENT_NONCE.into());
        let (_, expected) = scram.client_final("not pencil", SERVER_FIRST).expect("client-final");
        let error = verify_server_final(SERVER_FINAL, &expected).expect_err("signature for another password");
        assert!(matches!(error, PgError::Auth(_)), "{error}");

        let error = verify_server_final("e=invalid-proof", &expected).expect_err("server error");
        assert!(
            matches!(&error, PgError::Auth(m) if m.contains("invalid-proof")),
            "{error}"
        );
        let error = verify_server_final("x=nonsense", &expected).expect_err("malformed");
        assert!(matches!(error, PgError::Protocol(_)), "{error}");
    }

    #[test]
    fn server_first_messages_that_do_not_answer_our_exchange_are_refused() {
        for message in [
            "m=ext,r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=someone-else%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqO%hv,s=not base64!,i=4096",
            "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
            "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4000000000",
            "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==",
        ] {
            let result = parse_server_first(message, CLIENT_NONCE);
            assert!(matches!(result, Err(PgError::Protocol(_))), "{message} was accepted");
        }
        let (nonce, _, iterations) = parse_server_first(SERVER_FIRST, CLIENT_NONCE).expect("the RFC's message");
        assert_eq!(
            (nonce, iterations),
            ("rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", 4096)
        );
    }

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
    fn startup_query_and_sasl_messages_are_framed_as_the_protocol_says() {
        let body: &[u8] = b"\0\x03\0\0user\0app\0database\0db\0client_encoding\0UTF8\0application_name\0keyhaven\0\0";
        let mut expected = u32::try_from(body.len() + 4).expect("len").to_be_bytes().to_vec();
        expected.extend_from_slice(body);
        assert_eq!(startup_message("app", "db").expect("startup"), expected);

        assert_eq!(
            frame(Some(b'Q'), b"SELECT 1\0").expect("query"),
            b"Q\0\0\0\x0dSELECT 1\0"
        );
        assert_eq!(
            sasl_initial_response("SCRAM-SHA-256", "n,,n=,r=abc").expect("sasl"),
            b"p\0\0\0\x21SCRAM-SHA-256\0\0\0\0\x0bn,,n=,r=abc"
        );
    }

    #[test]
    fn nul_characters_are_refused_without_echoing_the_value() {
        let error = startup_message("a\0secret", "db").expect_err("NUL in user");
        assert!(
            matches!(&error, PgError::Protocol(m) if m == "user contains a NUL character"),
            "{error}"
        );
        assert!(quote_identifier("a\0b").is_err());
    }

    #[test]
    fn role_names_are_quoted_as_identifiers() {
        assert_eq!(quote_identifier("app").expect("quote"), "\"app\"");
        assert_eq!(quote_identifier("we\"ird; DROP").expect("quote"), "\"we\"\"ird; DROP\"");
    }

    #[test]
    fn error_responses_become_sqlstate_and_message() {
        let denied = b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"app\"\0Fauth.c\0\0";
        assert_eq!(
            parse_error_response(denied).expect("parse"),
            ("28P01".into(), "password authentication failed for user \"app\"".into())
        );
        assert!(matches!(startup_error(denied), PgError::Auth(m) if m.contains("authentication failed")));
        let missing = b"SFATAL\0C3D000\0Mdatabase \"nope\" does not exist\0\0";
        assert!(matches!(startup_error(missing), PgError::Server { code, .. } if code == "3D000"));
        assert!(matches!(
            parse_error_response(b"C28P01\0Mno terminator"),
            Err(PgError::Protocol(_))
        ));
    }

    /// Serves one scripted connection: `script` runs on the socket once the startup message is read.
    fn fake_server(script: impl FnOnce(&mut TcpStream) + Send + 'static) -> (Endpoint, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("accept");
            let mut len = [0u8; 4];
            socket.read_exact(&mut len).expect("startup length");
            let mut startup = vec![0u8; usize::try_from(i32::from_be_bytes(len) - 4).expect("length")];
            socket.read_exact(&mut startup).expect("startup message");
            script(&mut socket);
        });
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port,
            database: "db".into(),
        };
        (endpoint, server)
    }

    fn reply(socket: &mut TcpStream, tag: u8, body: &[u8]) {
        socket
            .write_all(&frame(Some(tag), body).expect("frame"))
            .expect("write");
    }

    fn authentication(code: i32, data: &[u8]) -> Vec<u8> {
        [&code.to_be_bytes(), data].concat()
    }

    fn read_frontend(socket: &mut TcpStream) -> (u8, Vec<u8>) {
        let mut header = [0u8; 5];
        socket.read_exact(&mut header).expect("message header");
        let [tag, len @ ..] = header;
        let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(len) - 4).expect("length")];
        socket.read_exact(&mut body).expect("message body");
        (tag, body)
    }

    #[test]
    fn cleartext_login_runs_select_1_and_terminates() {
        let (endpoint, server) = fake_server(|socket| {
            reply(socket, b'R', &authentication(3, b""));
            assert_eq!(read_frontend(socket), (b'p', b"s3cret\0".to_vec()));
            reply(socket, b'R', &authentication(0, b""));
            reply(socket, b'S', b"server_version\x0015.0\0");
            reply(socket, b'K', &[0; 8]);
            reply(socket, b'Z', b"I");
            assert_eq!(read_frontend(socket), (b'Q', b"SELECT 1\0".to_vec()));
            reply(
                socket,
                b'T',
                b"\0\x01?column?\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0",
            );
            reply(socket, b'D', b"\0\x01\0\0\0\x011");
            reply(socket, b'C', b"SELECT 1\0");
            reply(socket, b'Z', b"I");
            assert_eq!(read_frontend(socket), (b'X', Vec::new()));
        });
        check_login(&endpoint, "app", "s3cret").expect("login");
        server.join().expect("server script");
    }

    #[test]
    fn md5_authentication_is_refused() {
        let (endpoint, server) = fake_server(|socket| {
            reply(socket, b'R', &authentication(5, b"salt"));
            assert_eq!(read_frontend(socket).0, b'X');
        });
        let error = check_login(&endpoint, "app", "s3cret").expect_err("MD5");
        assert!(matches!(&error, PgError::Auth(m) if m.contains("MD5")), "{error}");
        server.join().expect("server script");
    }

    #[test]
    fn authentication_ok_before_the_server_proved_itself_is_refused() {
        let (endpoint, server) = fake_server(|socket| {
            reply(socket, b'R', &authentication(10, b"SCRAM-SHA-256\0\0"));
            let (tag, body) = read_frontend(socket);
            assert_eq!(tag, b'p');
            assert!(body.starts_with(b"SCRAM-SHA-256\0"));
            reply(socket, b'R', &authentication(0, b""));
            assert_eq!(read_frontend(socket).0, b'X');
        });
        let error = check_login(&endpoint, "app", "s3cret").expect_err("unproven server");
        assert!(
            matches!(&error, PgError::Auth(m) if m.contains("before proving")),
            "{error}"
        );
        server.join().expect("server script");
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
