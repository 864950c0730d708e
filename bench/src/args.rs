//! Command-line parsing for kms-bench (hand-rolled: a handful of flags does not justify another dependency).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub const USAGE: &str = "\
usage: kms-bench --endpoint http://IP:PORT [options]

Creates one symmetric KMS key, then for each operation runs a closed loop of
CONCURRENCY workers (one keep-alive connection each, every request freshly
SigV4-signed) for DURATION seconds after a warm-up, and reports throughput and
latency. Only HTTP 200 responses count as throughput; anything else is an error.

options:
  --endpoint URL          http://IP:PORT of the KMS endpoint (required; plain http only)
  --duration SECS         measured seconds per operation (default 10)
  --warmup SECS           unmeasured warm-up seconds before each operation (default 1)
  --concurrency N         workers, i.e. connections and requests in flight (default 32)
  --operations LIST       comma-separated: encrypt,decrypt,generate-data-key (default: all three)
  --plaintext-bytes N     Encrypt plaintext size in bytes (default 32)
  --threads N             load-generator runtime threads (default: one per core)
  --region REGION         SigV4 scope region (default us-east-1)
  --access-key KEY        access key id (default test)
  --secret-key SECRET     secret access key (default test)
  --json                  print machine-readable results on stdout
  -h, --help              this text
";

/// The KMS operations the benchmark knows how to drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Encrypt,
    Decrypt,
    GenerateDataKey,
}

impl Operation {
    /// The name used on the command line and in the results.
    pub fn cli_name(self) -> &'static str {
        match self {
            Operation::Encrypt => "encrypt",
            Operation::Decrypt => "decrypt",
            Operation::GenerateDataKey => "generate-data-key",
        }
    }

    /// The awsJson operation name that goes after `TrentService.` in `X-Amz-Target`.
    pub fn wire_name(self) -> &'static str {
        match self {
            Operation::Encrypt => "Encrypt",
            Operation::Decrypt => "Decrypt",
            Operation::GenerateDataKey => "GenerateDataKey",
        }
    }

    fn parse(name: &str) -> Result<Self, ArgError> {
        match name.trim() {
            "encrypt" => Ok(Operation::Encrypt),
            "decrypt" => Ok(Operation::Decrypt),
            "generate-data-key" => Ok(Operation::GenerateDataKey),
            other => Err(ArgError(format!(
                "unknown operation {other:?} (expected encrypt, decrypt or generate-data-key)"
            ))),
        }
    }
}

/// Everything one benchmark run needs.
#[derive(Debug)]
pub struct Options {
    /// Where to connect; an IP literal so that no name resolution happens.
    pub addr: SocketAddr,
    /// The endpoint as given, for the report.
    pub endpoint: String,
    pub duration: Duration,
    pub warmup: Duration,
    pub concurrency: usize,
    pub operations: Vec<Operation>,
    pub plaintext_bytes: usize,
    pub threads: Option<usize>,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub json: bool,
}

/// What the command line asks for (boxed: the options dwarf the data-less help variant).
#[derive(Debug)]
pub enum Command {
    Run(Box<Options>),
    Help,
}

/// A command-line mistake, reported together with the usage text.
#[derive(Debug)]
pub struct ArgError(String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// Parses the arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, ArgError> {
    let mut endpoint = None;
    let mut duration = Duration::from_secs(10);
    let mut warmup = Duration::from_secs(1);
    let mut concurrency = 32;
    let mut operations = vec![Operation::Encrypt, Operation::Decrypt, Operation::GenerateDataKey];
    let mut plaintext_bytes = 32;
    let mut threads = None;
    let mut region = "us-east-1".to_string();
    let mut access_key = "test".to_string();
    let mut secret_key = "test".to_string();
    let mut json = false;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, ArgError> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => args.next().ok_or_else(|| ArgError(format!("{flag} needs a value"))),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--json" => json = true,
            "--endpoint" => endpoint = Some(value()?),
            "--duration" => duration = seconds("--duration", &value()?)?,
            "--warmup" => warmup = seconds("--warmup", &value()?)?,
            "--concurrency" => concurrency = positive("--concurrency", &value()?)?,
            "--plaintext-bytes" => plaintext_bytes = positive("--plaintext-bytes", &value()?)?,
            "--threads" => threads = Some(positive("--threads", &value()?)?),
            "--region" => region = value()?,
            "--access-key" => access_key = value()?,
            "--secret-key" => secret_key = value()?,
            "--operations" => {
                operations = value()?
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(Operation::parse)
                    .collect::<Result<_, _>>()?;
                if operations.is_empty() {
                    return Err(ArgError("--operations needs at least one operation".into()));
                }
            }
            other => return Err(ArgError(format!("unknown argument {other:?}"))),
        }
    }

    let endpoint = endpoint.ok_or_else(|| ArgError("--endpoint is required".into()))?;
    let addr = parse_endpoint(&endpoint)?;
    if duration.is_zero() {
        return Err(ArgError("--duration must be more than 0".into()));
    }
    Ok(Command::Run(Box::new(Options {
        addr,
        endpoint,
        duration,
        warmup,
        concurrency,
        operations,
        plaintext_bytes,
        threads,
        region,
        access_key,
        secret_key,
        json,
    })))
}

/// `http://IP:PORT[/]` to a socket address; anything else (https, host names, paths) is refused rather than guessed.
fn parse_endpoint(endpoint: &str) -> Result<SocketAddr, ArgError> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| ArgError(format!("--endpoint {endpoint:?}: only http://IP:PORT is supported")))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    authority
        .parse()
        .map_err(|_| ArgError(format!("--endpoint {endpoint:?}: expected http://IP:PORT")))
}

fn seconds(flag: &str, text: &str) -> Result<Duration, ArgError> {
    let secs: f64 = text
        .parse()
        .map_err(|_| ArgError(format!("{flag}: {text:?} is not a number of seconds")))?;
    Duration::try_from_secs_f64(secs).map_err(|_| ArgError(format!("{flag}: {text:?} is not a usable duration")))
}

fn positive(flag: &str, text: &str) -> Result<usize, ArgError> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ArgError(format!("{flag}: {text:?} is not a positive integer"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, ArgError> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(options) => Ok(*options),
            Command::Help => Err(ArgError("help".into())),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let o = run(&[
            "--endpoint",
            "http://127.0.0.1:4566",
            "--duration=2.5",
            "--operations",
            "decrypt,encrypt",
            "--json",
        ])
        .expect("valid arguments");
        assert_eq!(o.addr, "127.0.0.1:4566".parse().expect("literal address"));
        assert_eq!(o.duration, Duration::from_millis(2500));
        assert_eq!(o.warmup, Duration::from_secs(1));
        assert_eq!(o.concurrency, 32);
        assert_eq!(o.operations, vec![Operation::Decrypt, Operation::Encrypt]);
        assert!(o.json);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(run(&[]).is_err());
        assert!(run(&["--endpoint", "https://127.0.0.1:1"]).is_err());
        assert!(run(&["--endpoint", "http://localhost:1"]).is_err());
        assert!(run(&["--endpoint", "http://127.0.0.1:1", "--concurrency", "0"]).is_err());
        assert!(run(&["--endpoint", "http://127.0.0.1:1", "--operations", "sign"]).is_err());
        assert!(run(&["--endpoint", "http://127.0.0.1:1", "--duration"]).is_err());
    }
}
