//! What every load generator's command line shares: the flag walker, the common options and the `main` driver.
//!
//! Hand-rolled: a handful of flags does not justify another dependency.

use std::fmt;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{BoxError, Service, Signer};

/// The options text every program's usage ends with.
pub const COMMON_USAGE: &str = "  --endpoint URL          http://IP:PORT of the endpoint (required; plain http only)
  --duration SECS         measured seconds per operation (default 10)
  --warmup SECS           unmeasured warm-up seconds before each operation (default 1)
  --concurrency N         workers, i.e. connections and requests in flight (default 32)
  --threads N             load-generator runtime threads (default: one per core)
  --region REGION         SigV4 scope region (default us-east-1)
  --access-key KEY        access key id (default test)
  --secret-key SECRET     secret access key (default test)
  --json                  print machine-readable results on stdout
  -h, --help              this text
";

/// The settings every closed-loop benchmark takes.
#[derive(Debug)]
pub struct CommonOptions {
    /// Where to connect; an IP literal so that no name resolution happens.
    pub addr: SocketAddr,
    /// The endpoint as given, for the report.
    pub endpoint: String,
    pub duration: Duration,
    pub warmup: Duration,
    pub concurrency: usize,
    pub threads: Option<usize>,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub json: bool,
}

impl CommonOptions {
    /// The request signer for `service` at this endpoint with these credentials, shared by all workers.
    pub fn signer(&self, service: Service) -> Result<Arc<Signer>, BoxError> {
        Ok(Arc::new(Signer::new(
            service,
            self.addr,
            &self.region,
            &self.access_key,
            &self.secret_key,
        )?))
    }
}

/// A command-line mistake, reported together with the usage text.
#[derive(Debug)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// Hands a flag's value over on demand, so that boolean flags take none.
pub type Value<'a> = dyn FnMut() -> Result<String, ArgError> + 'a;

/// Walks `--flag value` and `--flag=value` arguments (without the program name). The common flags are handled here;
/// every other flag goes to `extra`, which answers whether it knew it. `None` means help was asked for.
pub fn parse_common(
    args: impl IntoIterator<Item = String>,
    mut extra: impl FnMut(&str, &mut Value<'_>) -> Result<bool, ArgError>,
) -> Result<Option<CommonOptions>, ArgError> {
    let mut endpoint = None;
    let mut duration = Duration::from_secs(10);
    let mut warmup = Duration::from_secs(1);
    let mut concurrency = 32;
    let mut threads = None;
    let mut region = "us-east-1".to_string();
    let mut access_key = "test".to_string();
    let mut secret_key = "test".to_string();
    let mut json = false;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
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
            "-h" | "--help" => return Ok(None),
            "--json" => json = true,
            "--endpoint" => endpoint = Some(value()?),
            "--duration" => duration = seconds("--duration", &value()?)?,
            "--warmup" => warmup = seconds("--warmup", &value()?)?,
            "--concurrency" => concurrency = positive("--concurrency", &value()?)?,
            "--threads" => threads = Some(positive("--threads", &value()?)?),
            "--region" => region = value()?,
            "--access-key" => access_key = value()?,
            "--secret-key" => secret_key = value()?,
            other => {
                if !extra(other, &mut value)? {
                    return Err(ArgError(format!("unknown argument {other:?}")));
                }
            }
        }
    }

    let endpoint = endpoint.ok_or_else(|| ArgError("--endpoint is required".into()))?;
    let addr = parse_endpoint(&endpoint)?;
    if duration.is_zero() {
        return Err(ArgError("--duration must be more than 0".into()));
    }
    Ok(Some(CommonOptions {
        addr,
        endpoint,
        duration,
        warmup,
        concurrency,
        threads,
        region,
        access_key,
        secret_key,
        json,
    }))
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

/// A number of seconds, fractions allowed.
pub fn seconds(flag: &str, text: &str) -> Result<Duration, ArgError> {
    let secs: f64 = text
        .parse()
        .map_err(|_| ArgError(format!("{flag}: {text:?} is not a number of seconds")))?;
    Duration::try_from_secs_f64(secs).map_err(|_| ArgError(format!("{flag}: {text:?} is not a usable duration")))
}

/// An integer of at least 1.
pub fn positive(flag: &str, text: &str) -> Result<usize, ArgError> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ArgError(format!("{flag}: {text:?} is not a positive integer"))),
    }
}

/// A comma-separated list of names, each parsed by `one`; at least one is required.
pub fn list<T>(flag: &str, text: &str, one: impl Fn(&str) -> Result<T, ArgError>) -> Result<Vec<T>, ArgError> {
    let items = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(one)
        .collect::<Result<Vec<_>, _>>()?;
    if items.is_empty() {
        return Err(ArgError(format!("{flag} needs at least one operation")));
    }
    Ok(items)
}

/// How one load generator reads its command line, for [`main`].
pub struct CommandLine<O> {
    /// The program's name, for messages.
    pub name: &'static str,
    /// The usage text printed for `--help` and after a command-line mistake, ahead of [`COMMON_USAGE`].
    pub usage: &'static str,
    /// Parses the arguments (without the program name); `None` means help was asked for.
    pub parse: fn(Vec<String>) -> Result<Option<O>, ArgError>,
    /// The common options within the program's own.
    pub common: fn(&O) -> &CommonOptions,
}

/// Parses the command line, builds the runtime and runs the program: the whole of a load generator's `main`.
pub fn main<O>(command_line: &CommandLine<O>, run: impl AsyncFnOnce(&O) -> Result<(), BoxError>) -> ExitCode {
    let options = match (command_line.parse)(std::env::args().skip(1).collect()) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{}{COMMON_USAGE}", command_line.usage);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}: {e}\n\n{}{COMMON_USAGE}", command_line.name, command_line.usage);
            return ExitCode::from(2);
        }
    };

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = (command_line.common)(&options).threads {
        builder.worker_threads(threads);
    }
    let outcome = builder
        .build()
        .map_err(BoxError::from)
        .and_then(|runtime| runtime.block_on(run(&options)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e}", command_line.name);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(args: &[&str]) -> Result<Option<CommonOptions>, ArgError> {
        parse_common(args.iter().map(|s| s.to_string()), |_, _| Ok(false))
    }

    #[test]
    fn defaults_and_flags() {
        let o = common(&["--endpoint", "http://127.0.0.1:4566", "--duration=2.5", "--json"])
            .expect("valid arguments")
            .expect("not help");
        assert_eq!(o.addr, "127.0.0.1:4566".parse().expect("literal address"));
        assert_eq!(o.duration, Duration::from_millis(2500));
        assert_eq!(o.warmup, Duration::from_secs(1));
        assert_eq!(o.concurrency, 32);
        assert!(o.json);
        assert!(common(&["--help"]).expect("help").is_none());
    }

    #[test]
    fn refuses_bad_input() {
        assert!(common(&[]).is_err());
        assert!(common(&["--endpoint", "https://127.0.0.1:1"]).is_err());
        assert!(common(&["--endpoint", "http://localhost:1"]).is_err());
        assert!(common(&["--endpoint", "http://127.0.0.1:1", "--concurrency", "0"]).is_err());
        assert!(common(&["--endpoint", "http://127.0.0.1:1", "--duration"]).is_err());
        assert!(common(&["--endpoint", "http://127.0.0.1:1", "--operations", "x"]).is_err());
    }

    #[test]
    fn lists() {
        let parsed = list("--x", "a, b,,c", |s| Ok(s.to_string())).expect("three names");
        assert_eq!(parsed, ["a", "b", "c"]);
        assert!(list("--x", " , ", |s| Ok(s.to_string())).is_err());
    }
}
