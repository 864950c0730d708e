//! Command-line parsing for ssm-bench: seeding, the SSM operations and the by-path measurement, on top of the common
//! options.

use std::time::Duration;

use keyhaven_bench::cli::{self, ArgError, CommandLine, CommonOptions};

/// The usage text ahead of the common options.
pub const USAGE: &str = "\
usage: ssm-bench --endpoint http://IP:PORT [options]

SSM Parameter Store benchmark. Optionally seeds a parameter hierarchy
(/bench/app-AAAA/env-B/svc-C/param-DD: 10,000 parameters per app, so
/bench/app-0000 is a 10,000-parameter subtree once 10,000 are seeded) with many
requests in flight, then for each closed-loop operation runs CONCURRENCY
workers (one keep-alive connection each, every request freshly SigV4-signed)
for DURATION seconds after a warm-up. Only HTTP 200 responses count as
throughput. by-path is not a closed loop: it times GetParametersByPath on
/bench/app-0000 (first page, and full recursive walks following NextToken).

options:
  --seed-to N             seed hierarchy indices up to N (exclusive) before the phases (default 0: no seeding)
  --seed-from N           first index to seed, i.e. how many an earlier run already seeded (default 0)
  --seed-concurrency N    seeding requests in flight, one connection each (default 64)
  --parameters N          how many hierarchy parameters exist, for get-parameter and by-path (default: --seed-to)
  --operations LIST       comma-separated: put-parameter,get-parameter,get-parameter-secure,by-path
                          (default: all four), or none (seed only)
  --first-page-calls N    by-path: first-page calls to take the median of (default 50)
  --walks N               by-path: full walks to take the median of (default 5)
  --walk-budget SECS      by-path: start no further walk after this long (default 60; at least one walk)
  --run-tag TAG           put-parameter creates /bench/put/TAG/wWORKER/N (default: from the clock)
";

/// The SSM measurements ssm-bench knows how to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// PutParameter of a fresh String parameter per request.
    PutParameter,
    /// GetParameter of a random seeded String parameter.
    GetParameter,
    /// GetParameter WithDecryption of a SecureString parameter.
    GetParameterSecure,
    /// GetParametersByPath: first-page latency and full recursive walks.
    ByPath,
}

impl Operation {
    /// The name used on the command line and in the results.
    pub fn cli_name(self) -> &'static str {
        match self {
            Operation::PutParameter => "put-parameter",
            Operation::GetParameter => "get-parameter",
            Operation::GetParameterSecure => "get-parameter-secure",
            Operation::ByPath => "by-path",
        }
    }

    fn parse(name: &str) -> Result<Self, ArgError> {
        match name {
            "put-parameter" => Ok(Operation::PutParameter),
            "get-parameter" => Ok(Operation::GetParameter),
            "get-parameter-secure" => Ok(Operation::GetParameterSecure),
            "by-path" => Ok(Operation::ByPath),
            other => Err(ArgError(format!(
                "unknown operation {other:?} (expected put-parameter, get-parameter, get-parameter-secure, by-path or none)"
            ))),
        }
    }
}

/// Everything one ssm-bench run needs.
#[derive(Debug)]
pub struct Options {
    pub common: CommonOptions,
    pub seed_from: u64,
    pub seed_to: u64,
    pub seed_concurrency: usize,
    pub parameters: u64,
    pub operations: Vec<Operation>,
    pub first_page_calls: usize,
    pub walks: usize,
    pub walk_budget: Duration,
    pub run_tag: Option<String>,
}

/// ssm-bench's command line.
pub const COMMAND_LINE: CommandLine<Options> = CommandLine {
    name: "ssm-bench",
    usage: USAGE,
    parse,
    common: |options| &options.common,
};

/// Parses the arguments (without the program name); `None` means help was asked for.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, ArgError> {
    let mut seed_from = 0;
    let mut seed_to = 0;
    let mut seed_concurrency = 64;
    let mut parameters = None;
    let mut operations = vec![
        Operation::PutParameter,
        Operation::GetParameter,
        Operation::GetParameterSecure,
        Operation::ByPath,
    ];
    let mut first_page_calls = 50;
    let mut walks = 5;
    let mut walk_budget = Duration::from_secs(60);
    let mut run_tag = None;
    let common = cli::parse_common(args, |flag, value| {
        match flag {
            "--seed-from" => seed_from = count(flag, &value()?)?,
            "--seed-to" => seed_to = count(flag, &value()?)?,
            "--seed-concurrency" => seed_concurrency = cli::positive(flag, &value()?)?,
            "--parameters" => parameters = Some(count(flag, &value()?)?),
            "--first-page-calls" => first_page_calls = cli::positive(flag, &value()?)?,
            "--walks" => walks = cli::positive(flag, &value()?)?,
            "--walk-budget" => walk_budget = cli::seconds(flag, &value()?)?,
            "--run-tag" => run_tag = Some(tag(&value()?)?),
            "--operations" => {
                let text = value()?;
                operations = if text.trim() == "none" {
                    Vec::new()
                } else {
                    cli::list(flag, &text, Operation::parse)?
                };
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let Some(common) = common else {
        return Ok(None);
    };
    if seed_from > seed_to && seed_to > 0 {
        return Err(ArgError(format!(
            "--seed-from {seed_from} is beyond --seed-to {seed_to}"
        )));
    }
    let parameters = parameters.unwrap_or(seed_to);
    let needs_parameters = operations
        .iter()
        .any(|op| matches!(op, Operation::GetParameter | Operation::ByPath));
    if needs_parameters && parameters == 0 {
        return Err(ArgError(
            "get-parameter and by-path read seeded parameters: give --seed-to or --parameters".into(),
        ));
    }
    Ok(Some(Options {
        common,
        seed_from,
        seed_to,
        seed_concurrency,
        parameters,
        operations,
        first_page_calls,
        walks,
        walk_budget,
        run_tag,
    }))
}

fn count(flag: &str, text: &str) -> Result<u64, ArgError> {
    text.replace('_', "")
        .parse()
        .map_err(|_| ArgError(format!("{flag}: {text:?} is not a count")))
}

/// A run tag becomes one level of a parameter name: letters, digits, `-`, `_` and `.` only.
fn tag(text: &str) -> Result<String, ArgError> {
    let valid = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(text.to_string())
    } else {
        Err(ArgError(format!("--run-tag {text:?}: use 1-64 of A-Z a-z 0-9 - _ .")))
    }
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
    fn seeding_and_operations() {
        let o = run(&[
            "--seed-to",
            "1_000_000",
            "--seed-from=20000",
            "--operations",
            "by-path,put-parameter",
        ])
        .expect("valid arguments");
        assert_eq!((o.seed_from, o.seed_to, o.parameters), (20_000, 1_000_000, 1_000_000));
        assert_eq!(o.operations, vec![Operation::ByPath, Operation::PutParameter]);
        assert_eq!((o.seed_concurrency, o.first_page_calls, o.walks), (64, 50, 5));

        let seed_only = run(&["--seed-to", "100", "--operations", "none"]).expect("valid arguments");
        assert!(seed_only.operations.is_empty());
        let puts_only = run(&["--operations", "put-parameter", "--run-tag", "r-1"]).expect("valid arguments");
        assert_eq!(puts_only.run_tag.as_deref(), Some("r-1"));
        let given = run(&["--parameters", "500"]).expect("valid arguments");
        assert_eq!((given.seed_to, given.parameters), (0, 500));
    }

    #[test]
    fn refuses_bad_input() {
        assert!(run(&[]).is_err(), "reads need a parameter count");
        assert!(run(&["--parameters", "10", "--operations", "delete-parameter"]).is_err());
        assert!(run(&["--seed-to", "10", "--seed-from", "20"]).is_err());
        assert!(run(&["--parameters", "10", "--run-tag", "a/b"]).is_err());
        assert!(run(&["--parameters", "10", "--walks", "0"]).is_err());
    }
}
