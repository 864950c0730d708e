//! Command-line parsing for secrets-bench: seeding and the Secrets Manager operations, on top of the common options.

use keyhaven_bench::cli::{self, ArgError, CommandLine, CommonOptions};

/// The usage text ahead of the common options.
pub const USAGE: &str = "\
usage: secrets-bench --endpoint http://IP:PORT [options]

Secrets Manager benchmark. Seeds SECRETS secrets (bench/secret_NNNNNN, each a
JSON SecretString of about 100 bytes; ones already there are left as they are)
with many requests in flight, then for each operation runs CONCURRENCY workers
(one keep-alive connection each, every request freshly SigV4-signed) in a closed
loop for DURATION seconds after a warm-up. Only HTTP 200 responses count as
throughput; anything else is an error.

options:
  --secrets N             how many secrets to seed and pick from (default 1000)
  --seed-concurrency N    seeding requests in flight, one connection each (default 64)
  --operations LIST       comma-separated: get-secret-value,put-secret-value (default: both)
";

/// The Secrets Manager operations secrets-bench knows how to drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// GetSecretValue (AWSCURRENT) of a random seeded secret.
    GetSecretValue,
    /// PutSecretValue of a new value, under a fresh ClientRequestToken, to a random seeded secret.
    PutSecretValue,
}

impl Operation {
    /// The name used on the command line and in the results.
    pub fn cli_name(self) -> &'static str {
        match self {
            Operation::GetSecretValue => "get-secret-value",
            Operation::PutSecretValue => "put-secret-value",
        }
    }

    /// The awsJson operation name that goes after `secretsmanager.` in `X-Amz-Target`.
    pub fn wire_name(self) -> &'static str {
        match self {
            Operation::GetSecretValue => "GetSecretValue",
            Operation::PutSecretValue => "PutSecretValue",
        }
    }

    fn parse(name: &str) -> Result<Self, ArgError> {
        match name {
            "get-secret-value" => Ok(Operation::GetSecretValue),
            "put-secret-value" => Ok(Operation::PutSecretValue),
            other => Err(ArgError(format!(
                "unknown operation {other:?} (expected get-secret-value or put-secret-value)"
            ))),
        }
    }
}

/// Everything one secrets-bench run needs.
#[derive(Debug)]
pub struct Options {
    pub common: CommonOptions,
    pub secrets: u64,
    pub seed_concurrency: usize,
    pub operations: Vec<Operation>,
}

/// secrets-bench's command line.
pub const COMMAND_LINE: CommandLine<Options> = CommandLine {
    name: "secrets-bench",
    usage: USAGE,
    parse,
    common: |options| &options.common,
};

/// Parses the arguments (without the program name); `None` means help was asked for.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, ArgError> {
    let mut secrets = 1000;
    let mut seed_concurrency = 64;
    let mut operations = vec![Operation::GetSecretValue, Operation::PutSecretValue];
    let common = cli::parse_common(args, |flag, value| {
        match flag {
            "--secrets" => secrets = cli::positive(flag, &value()?)? as u64,
            "--seed-concurrency" => seed_concurrency = cli::positive(flag, &value()?)?,
            "--operations" => operations = cli::list(flag, &value()?, Operation::parse)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(common.map(|common| Options {
        common,
        secrets,
        seed_concurrency,
        operations,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, ArgError> {
        let mut all = vec!["--endpoint".to_string(), "http://127.0.0.1:4566".to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        parse(all)?.ok_or_else(|| ArgError("help".into()))
    }

    #[test]
    fn defaults_and_flags() {
        let defaults = run(&[]).expect("valid arguments");
        assert_eq!((defaults.secrets, defaults.seed_concurrency), (1000, 64));
        assert_eq!(
            defaults.operations,
            vec![Operation::GetSecretValue, Operation::PutSecretValue]
        );
        let o = run(&[
            "--secrets=50",
            "--seed-concurrency",
            "8",
            "--operations",
            "put-secret-value",
        ])
        .expect("valid arguments");
        assert_eq!((o.secrets, o.seed_concurrency), (50, 8));
        assert_eq!(o.operations, vec![Operation::PutSecretValue]);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(run(&["--secrets", "0"]).is_err());
        assert!(run(&["--operations", "delete-secret"]).is_err());
        assert!(run(&["--operations", ","]).is_err());
        assert!(run(&["--seed-concurrency", "0"]).is_err());
    }
}
