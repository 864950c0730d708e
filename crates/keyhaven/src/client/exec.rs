//! `keyhaven exec`: runs a program with parameters and secrets in its environment, resolved with the caller's
//! credentials. Values go from the service's answer into the new program's environment and nowhere else.

use std::process::ExitCode;

use clap::Args;
use keyhaven_client::secrets::reference::env_name;
use keyhaven_client::secrets::{Reference, Resolver};
use zeroize::Zeroizing;

use super::{block_on, current_thread, exit_with};

/// `keyhaven exec` options.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// `NAME=ssm:/parameter[:version|:label]` or `NAME=secretsmanager:secret-id[#json-key]` (repeatable).
    #[arg(long = "env", value_name = "NAME=REFERENCE")]
    env: Vec<String>,
    /// Load every parameter under this path (recursively, decrypted) as a variable named after the rest of its
    /// name: `/app/prod/db/password` under `/app/prod` becomes `DB_PASSWORD` (repeatable; `--env` wins).
    #[arg(long)]
    path: Vec<String>,
    /// The named profile of the AWS configuration files to take credentials and Region from.
    #[arg(long)]
    profile: Option<String>,
    /// The program and its arguments (after `--`).
    #[arg(required = true, num_args = 1.., last = true)]
    command: Vec<String>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0']) && !name.starts_with(|c: char| c.is_ascii_digit())
}

async fn environment(args: &ExecArgs) -> Result<Vec<(String, Zeroizing<String>)>, String> {
    let mut wanted = Vec::new();
    for pair in &args.env {
        let (name, spec) = pair
            .split_once('=')
            .filter(|(name, _)| valid_name(name))
            .ok_or_else(|| format!("--env {pair}: expected NAME=REFERENCE"))?;
        wanted.push((name.to_string(), Reference::parse_env(spec).map_err(|e| e.to_string())?));
    }
    let resolver = Resolver::from_environment(args.profile.as_deref()).await;
    let mut variables = Vec::new();
    for path in &args.path {
        for (parameter, value) in resolver.parameters_under(path).await.map_err(|e| e.to_string())? {
            let name = env_name(path, &parameter);
            if !valid_name(&name) {
                return Err(format!(
                    "{parameter} under {path} makes no usable variable name ({name:?})"
                ));
            }
            variables.push((name, value));
        }
    }
    for (name, reference) in wanted {
        let value = resolver.value(&reference).await.map_err(|e| e.to_string())?;
        variables.push((name, value));
    }
    Ok(variables)
}

/// Resolves everything first (any failure runs nothing), then replaces this process with the program.
pub fn run(args: ExecArgs) -> ExitCode {
    let variables = match block_on(current_thread(), environment(&args)) {
        Ok(variables) => variables,
        Err(error) => return exit_with("exec", Err(error)),
    };
    let mut command = std::process::Command::new(&args.command[0]);
    command.args(&args.command[1..]);
    for (name, value) in &variables {
        command.env(name, value.as_str());
    }
    drop(variables);
    exec(command, &args.command[0])
}

#[cfg(unix)]
fn exec(mut command: std::process::Command, program: &str) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let error = command.exec();
    exit_with("exec", Err(format!("{program}: {error}")))
}

#[cfg(not(unix))]
fn exec(mut command: std::process::Command, program: &str) -> ExitCode {
    match command.status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1) as u8),
        Err(error) => exit_with("exec", Err(format!("{program}: {error}"))),
    }
}
