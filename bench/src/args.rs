//! Command-line parsing for kms-bench: the KMS operations and options on top of the common ones.

use keyhaven_bench::cli::{self, ArgError, CommandLine, CommonOptions};

/// The usage text ahead of the common options.
pub const USAGE: &str = "\
usage: kms-bench --endpoint http://IP:PORT [options]

Creates one symmetric KMS key, then for each operation runs a closed loop of
CONCURRENCY workers (one keep-alive connection each, every request freshly
SigV4-signed) for DURATION seconds after a warm-up, and reports throughput and
latency. Only HTTP 200 responses count as throughput; anything else is an error.

options:
  --operations LIST       comma-separated: encrypt,decrypt,generate-data-key (default: all three)
  --plaintext-bytes N     Encrypt plaintext size in bytes (default 32)
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

/// Everything one kms-bench run needs.
#[derive(Debug)]
pub struct Options {
    pub common: CommonOptions,
    pub operations: Vec<Operation>,
    pub plaintext_bytes: usize,
}

/// kms-bench's command line.
pub const COMMAND_LINE: CommandLine<Options> = CommandLine {
    name: "kms-bench",
    usage: USAGE,
    parse,
    common: |options| &options.common,
};

/// Parses the arguments (without the program name); `None` means help was asked for.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, ArgError> {
    let mut operations = vec![Operation::Encrypt, Operation::Decrypt, Operation::GenerateDataKey];
    let mut plaintext_bytes = 32;
    let common = cli::parse_common(args, |flag, value| {
        match flag {
            "--plaintext-bytes" => plaintext_bytes = cli::positive(flag, &value()?)?,
            "--operations" => operations = cli::list(flag, &value()?, Operation::parse)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(common.map(|common| Options {
        common,
        operations,
        plaintext_bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, ArgError> {
        parse(args.iter().map(|s| s.to_string()))?.ok_or_else(|| ArgError("help".into()))
    }

    #[test]
    fn operations_and_common_flags() {
        let o = run(&[
            "--endpoint",
            "http://127.0.0.1:4566",
            "--operations",
            "decrypt,encrypt",
            "--plaintext-bytes=64",
            "--json",
        ])
        .expect("valid arguments");
        assert_eq!(o.common.addr, "127.0.0.1:4566".parse().expect("literal address"));
        assert_eq!(o.operations, vec![Operation::Decrypt, Operation::Encrypt]);
        assert_eq!(o.plaintext_bytes, 64);
        assert!(o.common.json);
        let defaults = run(&["--endpoint", "http://127.0.0.1:4566"]).expect("valid arguments");
        assert_eq!(defaults.operations.len(), 3);
        assert_eq!(defaults.plaintext_bytes, 32);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(run(&["--endpoint", "http://127.0.0.1:1", "--operations", "sign"]).is_err());
        assert!(run(&["--endpoint", "http://127.0.0.1:1", "--operations", ","]).is_err());
        assert!(run(&["--endpoint", "http://127.0.0.1:1", "--plaintext-bytes", "0"]).is_err());
        assert!(run(&["--endpoint", "http://127.0.0.1:1", "--bogus"]).is_err());
    }
}
