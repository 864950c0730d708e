//! The rotation functions `[[rotation-functions]]` registers, behind keyhaven-core's
//! `RotationFunctions`: the built-in rotators, signed webhooks and local commands.
//!
//! Steps run on the scheduler's blocking thread; webhooks and commands are driven on the server's
//! runtime through its handle. What a function prints is never logged: it may hold secrets.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Weak};
use std::time::Duration;

use keyhaven_core::Core;
use keyhaven_iam::sts::AssumeRoleInput;
use keyhaven_kernel::context::ServiceCall;
use keyhaven_secrets::rotation::{RotationStep, with_password};
use keyhaven_secrets::{RotationFunctions, SERVICE_PRINCIPAL, SecretValue};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use zeroize::Zeroizing;

use crate::config::{BuiltinRotator, RotationFunctionConfig, RotationTarget};
use crate::postgres::{self, Endpoint};
use crate::webhooks::{Timing, Webhook};

const COMMAND_SESSION_SECONDS: i32 = 900;
const POSTGRES_DEFAULT_PORT: u16 = 5432;
/// Characters AWS's database rotation templates keep out of generated passwords.
const PASSWORD_EXCLUDED: &str = "/@\"'\\";

enum Function {
    Builtin(BuiltinRotator),
    Webhook(Box<Webhook>),
    Command { argv: Vec<String>, role_arn: String },
}

/// The server's rotation functions.
pub struct Registry {
    functions: HashMap<String, (Function, Duration)>,
    core: Weak<Core>,
    runtime: tokio::runtime::Handle,
    /// Where commands reach this server (`AWS_ENDPOINT_URL`).
    endpoint_url: String,
}

impl Registry {
    pub fn new(
        configs: &[RotationFunctionConfig],
        core: Weak<Core>,
        runtime: tokio::runtime::Handle,
        endpoint_url: String,
    ) -> Result<Self, String> {
        let mut functions = HashMap::new();
        for config in configs {
            let function = match &config.target {
                RotationTarget::Builtin(builtin) => Function::Builtin(*builtin),
                RotationTarget::Webhook(webhook) => {
                    let timing = Timing {
                        request_timeout: config.timeout,
                        ..Timing::default()
                    };
                    Function::Webhook(Box::new(
                        Webhook::new(webhook, timing).map_err(|e| format!("rotation function {}: {e}", config.arn))?,
                    ))
                }
                RotationTarget::Command { argv, role_arn } => Function::Command {
                    argv: argv.clone(),
                    role_arn: role_arn.clone(),
                },
            };
            functions.insert(config.arn.clone(), (function, config.timeout));
        }
        Ok(Self {
            functions,
            core,
            runtime,
            endpoint_url,
        })
    }

    /// Runs a command function with temporary credentials of its role, assumed by Secrets Manager
    /// for the secret's account (recorded with the rotation's other service calls).
    fn run_command(
        &self,
        step: &RotationStep<'_>,
        argv: &[String],
        role_arn: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let core = self.core.upgrade().ok_or("the server is stopping")?;
        let ctx = step.context();
        let region = ctx.region.clone();
        let event = &step.event;
        let assumed = core.identity.assume_role(
            ctx,
            AssumeRoleInput {
                role_arn: role_arn.to_string(),
                session_name: "keyhaven-rotation".into(),
                duration_seconds: Some(COMMAND_SESSION_SECONDS),
                ..Default::default()
            },
        );
        ctx.service_calls.push(ServiceCall {
            invoked_by: SERVICE_PRINCIPAL.into(),
            service: "sts",
            operation: "AssumeRole",
            request_parameters: serde_json::json!({ "roleArn": role_arn, "roleSessionName": "keyhaven-rotation" }),
            resource_arn: Some(role_arn.to_string()),
            resource_type: "AWS::IAM::Role",
            error: assumed.as_ref().err().map(|e| Arc::new(e.clone()) as _),
        });
        let credentials = assumed.map_err(|e| format!("cannot assume the rotation role {role_arn}: {e}"))?;
        let secret_key = Zeroizing::new(String::from_utf8_lossy(credentials.secret_access_key.expose()).into_owned());
        let session_token = Zeroizing::new(String::from_utf8_lossy(credentials.session_token.expose()).into_owned());
        let input = serde_json::to_vec(&event.to_json()).map_err(|e| e.to_string())?;
        let mut command = tokio::process::Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env_remove("AWS_PROFILE")
            .env("AWS_ACCESS_KEY_ID", &credentials.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", secret_key.as_str())
            .env("AWS_SESSION_TOKEN", session_token.as_str())
            .env("AWS_REGION", &region)
            .env("AWS_DEFAULT_REGION", &region)
            .env("AWS_ENDPOINT_URL", &self.endpoint_url)
            .env("SECRETS_MANAGER_ENDPOINT", &self.endpoint_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        self.runtime.block_on(async {
            let mut child = command.spawn().map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(&input).await.map_err(|e| e.to_string())?;
            }
            let status = tokio::time::timeout(timeout, child.wait())
                .await
                .map_err(|_| format!("did not finish within {} s", timeout.as_secs()))?
                .map_err(|e| e.to_string())?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("exited with {status}"))
            }
        })
    }
}

impl RotationFunctions for Registry {
    fn has(&self, function_arn: &str) -> bool {
        self.functions.contains_key(function_arn)
    }

    fn invoke(&self, step: &RotationStep<'_>, function_arn: &str) -> Result<(), String> {
        let event = &step.event;
        let (function, timeout) = self
            .functions
            .get(function_arn)
            .ok_or_else(|| format!("no rotation function answers to {function_arn}"))?;
        match function {
            Function::Builtin(BuiltinRotator::RandomPassword) => step.random_password().map_err(|e| e.to_string()),
            Function::Builtin(BuiltinRotator::PostgresqlSingleUser) => postgresql_single_user(step),
            Function::Webhook(webhook) => {
                let body = serde_json::to_vec(&event.to_json()).map_err(|e| e.to_string())?;
                let id = keyhaven_kernel::ids::new_uuid().map_err(|e| e.to_string())?;
                self.runtime
                    .block_on(webhook.post(body, &id))
                    .map_err(|e| format!("the webhook {e}"))
            }
            Function::Command { argv, role_arn } => self.run_command(step, argv, role_arn, *timeout),
        }
    }
}

/// A PostgreSQL login as a secret holds it: engine, host, port, username, password, dbname.
struct Login {
    endpoint: Endpoint,
    username: String,
    password: Zeroizing<String>,
}

fn login_of(value: &SecretValue) -> Result<Login, String> {
    let SecretValue::String(text) = value else {
        return Err("a PostgreSQL secret is a JSON string, not binary".into());
    };
    let object: serde_json::Map<String, Value> =
        serde_json::from_str(text).map_err(|_| "the secret is not a JSON object".to_string())?;
    let field = |name: &str| -> Result<String, String> {
        object
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("the secret has no string field {name:?}"))
    };
    let port = match object.get("port") {
        None => POSTGRES_DEFAULT_PORT,
        Some(Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()).ok_or("bad port")?,
        Some(Value::String(s)) => s.parse().map_err(|_| "bad port".to_string())?,
        Some(_) => return Err("bad port".into()),
    };
    Ok(Login {
        endpoint: Endpoint {
            host: field("host")?,
            port,
            database: field("dbname").unwrap_or_else(|_| "postgres".into()),
        },
        username: field("username")?,
        password: Zeroizing::new(field("password")?),
    })
}

/// The built-in "PostgreSQL single user" rotator: the role changes its own password, as AWS's
/// `SecretsManagerRDSPostgreSQLRotationSingleUser` template does.
fn postgresql_single_user(step: &RotationStep<'_>) -> Result<(), String> {
    let text = |e: keyhaven_secrets::SecretsError| e.to_string();
    match step.event.step {
        "createSecret" => {
            if step.pending().map_err(text)?.is_some() {
                return Ok(());
            }
            let current = step.current().map_err(text)?;
            login_of(&current)?;
            let password = keyhaven_secrets::password::generate(&keyhaven_secrets::password::PasswordOptions {
                exclude_characters: Some(PASSWORD_EXCLUDED.into()),
                ..Default::default()
            })
            .map_err(text)?;
            step.put_pending(&with_password(&current, &password).map_err(text)?)
                .map_err(text)
        }
        "setSecret" => {
            let pending = login_of(&step.pending().map_err(text)?.ok_or("createSecret stored no value")?)?;
            if postgres::check_login(&pending.endpoint, &pending.username, &pending.password).is_ok() {
                return Ok(());
            }
            let current = login_of(&step.current().map_err(text)?)?;
            postgres::set_password(
                &current.endpoint,
                &current.username,
                &current.password,
                &pending.username,
                &pending.password,
            )
            .map_err(|e| e.to_string())
        }
        "testSecret" => {
            let pending = login_of(&step.pending().map_err(text)?.ok_or("createSecret stored no value")?)?;
            postgres::check_login(&pending.endpoint, &pending.username, &pending.password).map_err(|e| e.to_string())
        }
        "finishSecret" => step.finish().map_err(text),
        other => Err(format!("unknown step {other}")),
    }
}
