//! Command-line parsing for kms-bench: the KMS operations and options on top of the common ones.

use keyhaven_bench::cli::{self, ArgError, CommandLine, CommonOptions};

/// The usage text ahead of the common options.
pub const USAGE: &str = "\
usage: kms-bench --endpoint http://IP:PORT [options]

Creates the KMS key each operation needs, then for each operation runs a closed loop of
CONCURRENCY workers (one keep-alive connection each, every request freshly
SigV4-signed) for DURATION seconds after a warm-up, and reports throughput and
latency. Only HTTP 200 responses count as throughput; anything else is an error.

options:
  --operations LIST       comma-separated: encrypt, decrypt, generate-data-key (the default),
                          sign-rsa, verify-rsa (RSA_2048, RSASSA_PKCS1_V1_5_SHA_256), sign-ecc,
                          verify-ecc (ECC_NIST_P256), sign-ed25519, sign-ml-dsa, verify-ml-dsa
                          (ML_DSA_65), generate-mac (HMAC_256), decrypt-rsa (RSA_2048 OAEP SHA-256)
  --plaintext-bytes N     Encrypt plaintext size in bytes (default 32)
";

/// The KMS operations the benchmark knows how to drive, each with the key it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Encrypt,
    Decrypt,
    GenerateDataKey,
    SignRsa,
    VerifyRsa,
    SignEcc,
    VerifyEcc,
    SignEd25519,
    SignMlDsa,
    VerifyMlDsa,
    GenerateMac,
    DecryptRsa,
}

/// (operation, command-line name, awsJson operation).
const OPERATIONS: &[(Operation, &str, &str)] = &[
    (Operation::Encrypt, "encrypt", "Encrypt"),
    (Operation::Decrypt, "decrypt", "Decrypt"),
    (Operation::GenerateDataKey, "generate-data-key", "GenerateDataKey"),
    (Operation::SignRsa, "sign-rsa", "Sign"),
    (Operation::VerifyRsa, "verify-rsa", "Verify"),
    (Operation::SignEcc, "sign-ecc", "Sign"),
    (Operation::VerifyEcc, "verify-ecc", "Verify"),
    (Operation::SignEd25519, "sign-ed25519", "Sign"),
    (Operation::SignMlDsa, "sign-ml-dsa", "Sign"),
    (Operation::VerifyMlDsa, "verify-ml-dsa", "Verify"),
    (Operation::GenerateMac, "generate-mac", "GenerateMac"),
    (Operation::DecryptRsa, "decrypt-rsa", "Decrypt"),
];

impl Operation {
    fn entry(self) -> &'static (Operation, &'static str, &'static str) {
        OPERATIONS
            .iter()
            .find(|(op, _, _)| *op == self)
            .unwrap_or(&OPERATIONS[0])
    }

    /// The name used on the command line and in the results.
    pub fn cli_name(self) -> &'static str {
        self.entry().1
    }

    /// The awsJson operation name that goes after `TrentService.` in `X-Amz-Target`.
    pub fn wire_name(self) -> &'static str {
        self.entry().2
    }

    fn parse(name: &str) -> Result<Self, ArgError> {
        OPERATIONS
            .iter()
            .find(|(_, cli_name, _)| *cli_name == name.trim())
            .map(|(op, _, _)| *op)
            .ok_or_else(|| {
                let known: Vec<&str> = OPERATIONS.iter().map(|(_, n, _)| *n).collect();
                ArgError(format!(
                    "unknown operation {name:?} (expected one of {})",
                    known.join(", ")
                ))
            })
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
        let ml_dsa = run(&["--endpoint", "http://127.0.0.1:1", "--operations", "sign-ml-dsa"]).expect("valid");
        assert_eq!(ml_dsa.operations, vec![Operation::SignMlDsa]);
        assert!(run(&["--endpoint", "http://127.0.0.1:1", "--operations", ","]).is_err());
        assert!(run(&["--endpoint", "http://127.0.0.1:1", "--plaintext-bytes", "0"]).is_err());
        assert!(run(&["--endpoint", "http://127.0.0.1:1", "--bogus"]).is_err());
    }
}
