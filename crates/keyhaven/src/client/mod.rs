//! The client commands. `keyhaven encrypt` and `keyhaven decrypt`: files, directory trees and pipes in the AWS
//! Encryption SDK message format, with the flags of aws-encryption-cli; `exec`, `render` and `agent` deliver
//! parameters and secrets into programs. Output goes to a temporary file renamed into place only once the
//! whole message is written or verified, so a failure never leaves a partial output file.

pub mod agent;
pub mod exec;
mod keys;
mod metadata;
mod output;
mod progress;
pub mod render;
pub mod s3;

pub use agent::AgentArgs;
pub use exec::ExecArgs;
pub use render::RenderArgs;
pub use s3::S3Command;

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Args};
use keyhaven_client::caching::{CachingLimits, CachingMaterialsManager};
use keyhaven_client::message::{DecryptOptions, EncryptOptions, prepare_decryption, prepare_encryption, read_header};
use keyhaven_client::{
    AlgorithmSuite, ClientError, CommitmentPolicy, DefaultMaterialsManager, EncryptionContext, MaterialsManager,
};

use metadata::MetadataSink;
use output::{End, Pending};
use progress::Progress;

/// A single-threaded runtime for a client command's AWS calls (the heavy work between them has threads of its own).
fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Runs a command's `future` on `runtime`.
fn block_on<T>(
    runtime: std::io::Result<tokio::runtime::Runtime>,
    future: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    runtime.map_err(|e| e.to_string())?.block_on(future)
}

/// The exit status of a client command: a failure is printed after the command's name and is status 1.
fn exit_with(command: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keyhaven {command}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A command line that cannot run (exit status 2, as argument errors have).
#[derive(Debug)]
pub struct UsageError(pub String);

/// Flags `encrypt` and `decrypt` share.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The input: a file, a directory (with -r), or `-` for standard input.
    #[arg(short = 'i', long)]
    input: String,
    /// The output: a file, an existing directory, or `-` for standard output.
    #[arg(short = 'o', long)]
    output: String,
    /// Wrapping keys, one group per flag: `key=<KMS key>` [region= profile= grant-token=], or on decrypt
    /// `discovery=true` [discovery-partition= discovery-account=]; raw keys: `provider=raw-aes namespace=N key=NAME
    /// key-file=F`, `provider=raw-rsa namespace=N key=NAME private-key-file=F|public-key-file=F padding=oaep-sha256`.
    #[arg(short = 'w', long = "wrapping-keys", num_args = 1.., action = ArgAction::Append, required = true)]
    wrapping_keys: Vec<String>,
    /// `wrapping_keys` as given, one group per `-w` (clap's derive flattens them; see [`with_key_groups`]).
    #[arg(skip)]
    wrapping_key_groups: Vec<Vec<String>>,
    /// Encryption context: `key=value` pairs; on decrypt, pairs (or bare keys) the message must have.
    #[arg(short = 'c', long = "encryption-context", num_args = 1..)]
    encryption_context: Vec<String>,
    #[arg(long, default_value = "require-encrypt-require-decrypt", value_parser = ["forbid-encrypt-allow-decrypt", "require-encrypt-allow-decrypt", "require-encrypt-require-decrypt"])]
    commitment_policy: String,
    /// Data-key caching: `capacity=N max_age=SECONDS` [max_messages_encrypted=N max_bytes_encrypted=N].
    #[arg(long, num_args = 1..)]
    caching: Vec<String>,
    /// Refuse messages (or materials) with more encrypted data keys than this.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    max_encrypted_data_keys: Option<u16>,
    /// The suffix added to output file names when the output is a directory.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    suffix: Option<String>,
    /// Base64-encode the output.
    #[arg(long)]
    encode: bool,
    /// Base64-decode the input.
    #[arg(long)]
    decode: bool,
    /// Hold the whole result in memory and write it only once it is complete (and verified).
    #[arg(short = 'b', long)]
    buffer: bool,
    /// Write no metadata (accepted for aws-encryption-cli compatibility; no metadata is the default).
    #[arg(short = 'S', long, conflicts_with = "metadata_output")]
    suppress_metadata: bool,
    /// Write a JSON metadata record per message to this file (`-` for standard output).
    #[arg(long)]
    metadata_output: Option<String>,
    /// Truncate the metadata file first instead of appending.
    #[arg(long)]
    overwrite_metadata: bool,
    /// Process directories, recursively.
    #[arg(short = 'r', short_alias = 'R', long)]
    recursive: bool,
    /// Ask before overwriting an existing output file.
    #[arg(long)]
    interactive: bool,
    /// Never overwrite an existing output file.
    #[arg(long)]
    no_overwrite: bool,
    /// More messages (repeatable).
    #[arg(short = 'v', action = ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// `keyhaven encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The algorithm suite, by its SDK name (default AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384).
    #[arg(long)]
    algorithm: Option<String>,
    /// Plaintext bytes per frame; 0 makes a non-framed message.
    #[arg(long, default_value_t = keyhaven_client::message::body::DEFAULT_FRAME_LENGTH)]
    frame_length: u32,
}

/// `keyhaven decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Refuse messages whose frame length is larger than this.
    #[arg(long)]
    max_length: Option<u64>,
    /// Refuse signed messages.
    #[arg(long)]
    decrypt_unsigned: bool,
}

/// Fills in the `-w` groups of a parsed `encrypt` or `decrypt` command line from its matches.
pub fn with_key_groups(common: &mut CommonArgs, matches: &clap::ArgMatches) {
    common.wrapping_key_groups = matches
        .get_occurrences::<String>("wrapping_keys")
        .map(|groups| groups.map(|group| group.cloned().collect()).collect())
        .unwrap_or_default();
}

impl EncryptArgs {
    pub fn common_mut(&mut self) -> &mut CommonArgs {
        &mut self.common
    }
}

impl DecryptArgs {
    pub fn common_mut(&mut self) -> &mut CommonArgs {
        &mut self.common
    }
}

/// Runs `keyhaven encrypt`.
pub fn encrypt(args: EncryptArgs) -> ExitCode {
    report(run(
        &args.common,
        Mode::Encrypt {
            algorithm: args.algorithm.as_deref(),
            frame_length: args.frame_length,
        },
    ))
}

/// Runs `keyhaven decrypt`.
pub fn decrypt(args: DecryptArgs) -> ExitCode {
    report(run(
        &args.common,
        Mode::Decrypt {
            max_length: args.max_length,
            unsigned_only: args.decrypt_unsigned,
        },
    ))
}

fn report(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(UsageError(message))) => {
            eprintln!("keyhaven: error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("keyhaven: {message}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(UsageError),
    Failed(String),
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e)
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Failed(e)
    }
}

#[derive(Clone, Copy)]
enum Mode<'a> {
    Encrypt {
        algorithm: Option<&'a str>,
        frame_length: u32,
    },
    Decrypt {
        max_length: Option<u64>,
        unsigned_only: bool,
    },
}

impl Mode<'_> {
    fn encrypting(self) -> bool {
        matches!(self, Mode::Encrypt { .. })
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Encrypt { .. } => "encrypt",
            Mode::Decrypt {
                unsigned_only: true, ..
            } => "decrypt-unsigned",
            Mode::Decrypt { .. } => "decrypt",
        }
    }

    fn default_suffix(self) -> &'static str {
        if self.encrypting() { ".encrypted" } else { ".decrypted" }
    }
}

/// Everything a run needs besides the files.
struct Run<'a> {
    common: &'a CommonArgs,
    mode: Mode<'a>,
    runtime: tokio::runtime::Runtime,
    materials: Arc<dyn MaterialsManager>,
    policy: CommitmentPolicy,
    context: EncryptionContext,
    required_context: Vec<(String, Option<String>)>,
    metadata: MetadataSink,
}

fn run(common: &CommonArgs, mode: Mode<'_>) -> Result<(), Failure> {
    let encrypting = mode.encrypting();
    let policy = CommitmentPolicy::from_name(&common.commitment_policy)
        .ok_or_else(|| UsageError(format!("invalid commitment policy {}", common.commitment_policy)))?;
    let (context, required_context) = parse_context(&common.encryption_context, encrypting)?;
    if let Mode::Encrypt {
        algorithm: Some(name), ..
    } = mode
        && AlgorithmSuite::from_name(name).is_none()
    {
        let names: Vec<_> = AlgorithmSuite::ALL.iter().map(|s| s.name()).collect();
        return Err(UsageError(format!("invalid algorithm {name} (choose from {})", names.join(", "))).into());
    }
    let keyring = keys::combined(keys::keyrings(&common.wrapping_key_groups, encrypting)?, encrypting)?;
    let mut materials: Arc<dyn MaterialsManager> = Arc::new(DefaultMaterialsManager::new(keyring));
    if !common.caching.is_empty() {
        materials = Arc::new(CachingMaterialsManager::new(materials, parse_caching(&common.caching)?));
    }
    let metadata = MetadataSink::new(common.metadata_output.as_deref(), common.overwrite_metadata)?;
    if common.output == "-" && matches!(metadata, MetadataSink::Stdout) {
        return Err(Failure::Failed(
            "Metadata output cannot be stdout when output is stdout".into(),
        ));
    }
    let jobs = plan(common, mode)?;
    if let Some(path) = metadata.path() {
        let clash = jobs.iter().flat_map(|(i, o)| [i, o]).any(|end| same_file(end, path));
        if clash {
            return Err(Failure::Failed(
                "Metadata output file cannot be the input or output".into(),
            ));
        }
    }
    let runtime = current_thread().map_err(|e| e.to_string())?;
    let mut run = Run {
        common,
        mode,
        runtime,
        materials,
        policy,
        context,
        required_context,
        metadata,
    };
    for (source, destination) in jobs {
        run.one(&source, &destination)?;
    }
    Ok(())
}

fn same_file(end: &End, path: &Path) -> bool {
    match end {
        End::File(p) => match (p.canonicalize(), path.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => p == path,
        },
        End::Std => false,
    }
}

/// The encryption context to encrypt under, or the pairs and keys a decrypted message must have.
#[allow(clippy::type_complexity)]
fn parse_context(
    tokens: &[String],
    encrypting: bool,
) -> Result<(EncryptionContext, Vec<(String, Option<String>)>), UsageError> {
    let mut context = EncryptionContext::new();
    let mut required = Vec::new();
    for token in tokens {
        match token.split_once('=') {
            Some((key, value)) if !key.is_empty() && !value.is_empty() => {
                if encrypting {
                    if context.get(key).is_none() {
                        context.insert(key, value);
                    }
                } else {
                    required.push((key.to_string(), Some(value.to_string())));
                }
            }
            None if !encrypting && !token.is_empty() => required.push((token.clone(), None)),
            _ => {
                return Err(UsageError(
                    r#"Argument parameter must follow the format "key=value""#.into(),
                ));
            }
        }
    }
    Ok((context, required))
}

fn parse_caching(tokens: &[String]) -> Result<CachingLimits, UsageError> {
    let (mut capacity, mut max_age, mut max_messages, mut max_bytes) = (None, None, None, None);
    for token in tokens {
        let Some((name, value)) = token.split_once('=') else {
            return Err(UsageError(
                r#"Argument parameter must follow the format "key=value""#.into(),
            ));
        };
        let number = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| UsageError(format!("caching {what} must be a whole number: {value}")))
        };
        match name {
            "capacity" => capacity = Some(number("capacity")?),
            "max_age" => {
                let seconds: f64 = value
                    .parse()
                    .map_err(|_| UsageError(format!("caching max_age must be a number of seconds: {value}")))?;
                if !(seconds > 0.0 && seconds.is_finite()) {
                    return Err(UsageError("max_age cannot be less than or equal to 0".into()));
                }
                max_age = Some(Duration::from_secs_f64(seconds));
            }
            "max_messages_encrypted" => max_messages = Some(number("max_messages_encrypted")?),
            "max_bytes_encrypted" => max_bytes = Some(number("max_bytes_encrypted")?),
            other => return Err(UsageError(format!("Invalid caching configuration key: \"{other}\""))),
        }
    }
    let (Some(capacity), Some(max_age)) = (capacity, max_age) else {
        return Err(UsageError(
            r#"If enabling caching, both "capacity" and "max_age" are required"#.into(),
        ));
    };
    let mut limits = CachingLimits::new(usize::try_from(capacity).unwrap_or(usize::MAX).max(1), max_age);
    if let Some(n) = max_messages {
        limits.max_messages = n;
    }
    if let Some(n) = max_bytes {
        limits.max_bytes = n;
    }
    Ok(limits)
}

/// The (source, destination) pairs of a run, as aws-encryption-cli resolves `-i` and `-o`.
fn plan(common: &CommonArgs, mode: Mode<'_>) -> Result<Vec<(End, End)>, Failure> {
    let output = PathBuf::from(&common.output);
    let output_is_dir = common.output != "-" && output.is_dir();
    let suffix = common.suffix.as_deref().unwrap_or(mode.default_suffix());
    if common.input == "-" {
        if output_is_dir {
            return Err(Failure::Failed(
                "Destination may not be a directory when source is stdin".into(),
            ));
        }
        return Ok(vec![(End::Std, file_destination(&common.output)?)]);
    }
    let input = PathBuf::from(&common.input);
    if !input.exists() {
        return Err(Failure::Failed(
            "Invalid source.  Must be a valid pathname pattern or stdin (-)".into(),
        ));
    }
    if input.is_dir() {
        if !common.recursive {
            if !common.quiet {
                eprintln!(
                    "keyhaven: skipping {} because it is a directory and -r/-R/--recursive is not set",
                    input.display()
                );
            }
            return Ok(Vec::new());
        }
        if !output_is_dir {
            return Err(Failure::Failed(
                "If operating on a source directory, destination must be an existing directory".into(),
            ));
        }
        let mut files = Vec::new();
        walk(&input, &mut files).map_err(|e| format!("{}: {e}", input.display()))?;
        files.sort();
        return Ok(files
            .into_iter()
            .map(|file| {
                let relative = file.strip_prefix(&input).unwrap_or(&file).to_path_buf();
                let destination = output.join(with_suffix(&relative, suffix));
                (End::File(file), End::File(destination))
            })
            .collect());
    }
    let destination = if output_is_dir {
        let name = input.file_name().map(PathBuf::from).unwrap_or_default();
        End::File(output.join(with_suffix(&name, suffix)))
    } else {
        file_destination(&common.output)?
    };
    if let End::File(d) = &destination
        && same_file(&End::File(input.clone()), d)
    {
        return Err(Failure::Failed("Destination and source cannot be the same".into()));
    }
    Ok(vec![(End::File(input), destination)])
}

fn file_destination(output: &str) -> Result<End, Failure> {
    let End::File(path) = End::of(output) else {
        return Ok(End::Std);
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Failure::Failed(
            "If destination is a file, the immediate parent directory must already exist.".into(),
        ));
    }
    Ok(End::File(path))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Standard input, or a file, base64-decoded when asked.
fn open_input(source: &End, decode: bool) -> Result<(Box<dyn Read + Send>, Option<u64>), String> {
    let (reader, length): (Box<dyn Read + Send>, Option<u64>) = match source {
        End::Std => (Box::new(std::io::stdin()), None),
        End::File(path) => {
            let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let length = file.metadata().ok().map(|m| m.len());
            (Box::new(file), length)
        }
    };
    if decode {
        let decoder = base64::read::DecoderReader::new(
            WithoutWhitespace(std::io::BufReader::new(reader)),
            &base64::engine::general_purpose::STANDARD,
        );
        return Ok((Box::new(decoder), length.map(|l| l / 4 * 3)));
    }
    Ok((reader, length))
}

/// Base64 input with its line breaks and spaces dropped.
struct WithoutWhitespace<R>(R);

impl<R: BufRead> Read for WithoutWhitespace<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let available = self.0.fill_buf()?;
            if available.is_empty() {
                return Ok(0);
            }
            let mut n = 0;
            let mut used = 0;
            for &byte in available {
                if n == buf.len() {
                    break;
                }
                used += 1;
                if !byte.is_ascii_whitespace() {
                    buf[n] = byte;
                    n += 1;
                }
            }
            self.0.consume(used);
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

/// Runs `body` writing through an optional base64 encoder.
fn with_encoding<T>(
    writer: Box<dyn Write + Send + '_>,
    encode: bool,
    body: impl FnOnce(&mut (dyn Write + Send)) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    if encode {
        let mut encoder = base64::write::EncoderWriter::new(writer, &base64::engine::general_purpose::STANDARD);
        let result = body(&mut encoder)?;
        encoder.finish()?.flush()?;
        Ok(result)
    } else {
        let mut writer = writer;
        let result = body(&mut writer)?;
        writer.flush()?;
        Ok(result)
    }
}

impl Run<'_> {
    fn warn(&self, message: &str) {
        if !self.common.quiet {
            eprintln!("keyhaven: {message}");
        }
    }

    /// Whether to write `destination`, which may exist.
    fn may_write(&self, destination: &End) -> Result<bool, String> {
        let End::File(path) = destination else { return Ok(true) };
        if !path.exists() {
            return Ok(true);
        }
        if self.common.no_overwrite {
            self.warn(&format!(
                "skipping existing output file because of \"no overwrite\" option: {}",
                path.display()
            ));
            return Ok(false);
        }
        if self.common.interactive {
            eprint!(
                "Overwrite existing output file \"{}\" with new contents? [y/N]: ",
                path.display()
            );
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer).map_err(|e| e.to_string())?;
            return Ok(answer.trim_start().starts_with(['y', 'Y']));
        }
        if self.common.verbose > 0 {
            self.warn(&format!("overwriting existing output file: {}", path.display()));
        }
        Ok(true)
    }

    fn one(&mut self, source: &End, destination: &End) -> Result<(), String> {
        if !self.may_write(destination)? {
            return Ok(());
        }
        let (input, length) = open_input(source, self.common.decode)?;
        let mut pending = Pending::open(destination, self.common.buffer, !self.mode.encrypting())?;
        let progress = Progress::new(length, self.common.quiet);
        let result = match self.mode {
            Mode::Encrypt {
                algorithm,
                frame_length,
            } => self.encrypt_one(
                input,
                &mut pending,
                length,
                algorithm,
                frame_length,
                &progress,
                source,
                destination,
            ),
            Mode::Decrypt {
                max_length,
                unsigned_only,
            } => self.decrypt_one(
                input,
                &mut pending,
                max_length,
                unsigned_only,
                &progress,
                source,
                destination,
            ),
        };
        progress.finish();
        match result {
            Ok(()) => pending.commit(),
            Err(error) => {
                pending.abandon();
                let name = match source {
                    End::File(path) => format!("{}: ", path.display()),
                    End::Std => String::new(),
                };
                Err(format!("{name}{error}"))
            }
        }
    }

    /// Writes a message's output (base64-encoded when asked) and then its metadata record.
    fn write_and_record(
        &mut self,
        pending: &mut Pending,
        source: &End,
        destination: &End,
        decrypting: bool,
        body: impl FnOnce(&mut (dyn Write + Send)) -> Result<keyhaven_client::MessageInfo, ClientError>,
    ) -> Result<(), String> {
        let info = with_encoding(pending.writer(), self.common.encode, body).map_err(|e| e.to_string())?;
        let record = metadata::record(
            self.mode.name(),
            &source.label("<stdin>"),
            &destination.label("<stdout>"),
            &info,
            decrypting,
        );
        self.metadata.write(&record)
    }

    #[allow(clippy::too_many_arguments)]
    fn encrypt_one(
        &mut self,
        input: Box<dyn Read + Send>,
        pending: &mut Pending,
        length: Option<u64>,
        algorithm: Option<&str>,
        frame_length: u32,
        progress: &Progress,
        source: &End,
        destination: &End,
    ) -> Result<(), String> {
        let options = EncryptOptions {
            context: self.context.clone(),
            suite: algorithm.and_then(AlgorithmSuite::from_name),
            frame_length,
            commitment_policy: self.policy,
            max_data_keys: self.common.max_encrypted_data_keys.map(usize::from),
            plaintext_length: if self.common.decode { None } else { length },
            ..EncryptOptions::default()
        };
        let prepared = self
            .runtime
            .block_on(prepare_encryption(&*self.materials, &options))
            .map_err(|e| e.to_string())?;
        self.write_and_record(pending, source, destination, false, |out| {
            prepared.write(input, out, &|n| progress.update(n))
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn decrypt_one(
        &mut self,
        mut input: Box<dyn Read + Send>,
        pending: &mut Pending,
        max_length: Option<u64>,
        unsigned_only: bool,
        progress: &Progress,
        source: &End,
        destination: &End,
    ) -> Result<(), String> {
        let options = DecryptOptions {
            commitment_policy: self.policy,
            max_data_keys: self.common.max_encrypted_data_keys.map(usize::from),
            required_context: self.required_context.clone(),
            unsigned_only,
            ..DecryptOptions::default()
        };
        let parsed = read_header(&mut input, options.max_data_keys).map_err(|e| e.to_string())?;
        if let Some(max) = max_length
            && u64::from(parsed.header.frame_length) > max
        {
            return Err(format!(
                "Frame Size in header found larger than custom value: {} > {max}",
                parsed.header.frame_length
            ));
        }
        let prepared = self
            .runtime
            .block_on(prepare_decryption(&*self.materials, &options, parsed))
            .map_err(|e| e.to_string())?;
        self.write_and_record(pending, source, destination, true, |out| {
            prepared.read_body(input, out, &|n| progress.update(n))
        })
    }
}
