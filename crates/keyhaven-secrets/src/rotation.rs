//! Rotation, following the Lambda contract: RotateSecret registers an AWSPENDING placeholder
//! version, then the scheduler calls the secret's rotation function once per step (createSecret,
//! setSecret, testSecret, finishSecret). finishSecret moves AWSCURRENT; a failure leaves AWSCURRENT
//! where it was and AWSPENDING on the new version. Outcomes are CloudTrail service events.
//!
//! Which code a `RotationLambdaARN` runs is the server's business ([`RotationFunctions`]); the
//! built-in steps here ([`RotationStep`]) are what the built-in rotators build on.

use std::sync::Arc;

use keyhaven_store::{Job, Transaction};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::model::*;
use super::schedule::{Schedule, validate_duration};
use super::{Found, SERVICE_PRINCIPAL, SecretValue, Secrets, SecretsFault, Written, fault, job_id, new_token};
use crate::error::SecretsError;
use crate::error::transact;
use keyhaven_kernel::audit::{AuditLog, AuditResource, ServiceEvent};
use keyhaven_kernel::context::{Principal, RequestContext};

pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];
/// How long one rotation may run before the scheduler tries it again (a restart mid-rotation).
const LEASE_SECONDS: i64 = 900;

/// One call of a rotation function, as AWS sends it to a Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEvent {
    pub step: &'static str,
    /// The secret's ARN.
    pub secret_id: String,
    /// The version the rotation creates.
    pub client_request_token: String,
    pub rotation_token: String,
}

impl StepEvent {
    pub fn to_json(&self) -> Value {
        json!({
            "Step": self.step,
            "SecretId": self.secret_id,
            "ClientRequestToken": self.client_request_token,
            "RotationToken": self.rotation_token,
        })
    }
}

/// The rotation functions the server knows, by the `RotationLambdaARN` they answer to.
pub trait RotationFunctions: Send + Sync {
    fn has(&self, function_arn: &str) -> bool;
    /// Runs one step (`step.event`); the error says why it failed and never contains secret values.
    fn invoke(&self, step: &RotationStep<'_>, function_arn: &str) -> Result<(), String>;
}

/// RotateSecret's input.
#[derive(Debug, Default)]
pub struct RotationInput {
    pub secret_id: String,
    pub token: Option<String>,
    pub lambda_arn: Option<String>,
    pub rules: Option<RotationRules>,
    pub rotate_immediately: Option<bool>,
}

fn schedule_of(rules: &RotationRules) -> Result<Schedule, SecretsError> {
    Schedule::parse(rules.automatically_after_days, rules.schedule_expression.as_deref())
}

fn validate_rules(rules: &RotationRules) -> Result<(), SecretsError> {
    if let Some(days) = rules.automatically_after_days
        && !(1..=1000).contains(&days)
    {
        return Err(fault(
            SecretsFault::InvalidParameter,
            "RotationRules.AutomaticallyAfterDays must be within 1-1000.",
        ));
    }
    let schedule = schedule_of(rules)?;
    if let Some(duration) = &rules.duration {
        validate_duration(duration, &schedule)?;
    }
    Ok(())
}

fn rotation_job(scope: &str, record: &SecretRecord, due_at: i64) -> Result<Job, SecretsError> {
    Ok(Job {
        id: job_id(super::JOB_ROTATE, scope, &record.name),
        due_at,
        kind: super::JOB_ROTATE.into(),
        payload: serde_json::to_vec(&json!({ "scope": scope, "name": record.name, "arn": record.arn }))?,
    })
}

/// Registers a new rotation of `record`: the token becomes an AWSPENDING version with no value.
fn begin(record: &mut SecretRecord, token: &str, now: f64) -> Result<(), SecretsError> {
    if let Some(pending) = record.version_with(AWSPENDING)
        && record.version_with(AWSCURRENT) != Some(pending)
        && pending != token
    {
        return Err(fault(
            SecretsFault::InvalidRequest,
            "A previous rotation isn't complete. That rotation will be reattempted.",
        ));
    }
    record.versions.entry(token.to_string()).or_insert(VersionMeta {
        created: now,
        stages: Vec::new(),
        has_value: false,
        last_accessed: None,
    });
    record.move_stage(AWSPENDING, token);
    record.rotation = Some(RotationRun {
        version_id: token.to_string(),
        rotation_token: new_token()?,
    });
    Ok(())
}

impl Secrets {
    pub fn rotate_secret(&self, ctx: &RequestContext, input: RotationInput) -> Result<Written, SecretsError> {
        let token = match &input.token {
            Some(token) => token.clone(),
            None => new_token()?,
        };
        super::validate_token(&token)?;
        let rotate_now = input.rotate_immediately.unwrap_or(true);
        let mut keys = vec![("secretsmanager:RotateImmediately".into(), vec![rotate_now.to_string()])];
        if let Some(arn) = &input.lambda_arn {
            keys.push(("secretsmanager:RotationLambdaARN".into(), vec![arn.clone()]));
        }
        if input.rules.is_some() {
            keys.push(("secretsmanager:ModifyRotationRules".into(), vec!["true".into()]));
        }
        let found = self.find_writable(ctx, &input.secret_id, "secretsmanager:RotateSecret", keys)?;
        let lambda = input
            .lambda_arn
            .clone()
            .or_else(|| found.record.rotation_lambda_arn.clone())
            .ok_or_else(|| {
                fault(
                    SecretsFault::InvalidRequest,
                    "No Lambda rotation function ARN is associated with this secret.",
                )
            })?;
        if !self.functions.get().is_some_and(|f| f.has(&lambda)) {
            return Err(SecretsError::AccessDenied(
                "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.".into(),
            ));
        }
        let rules = input.rules.clone().or_else(|| found.record.rotation_rules.clone());
        if let Some(rules) = &rules {
            validate_rules(rules)?;
        }
        let now = self.now();
        let (_, record) = self.update(&found, |tx, record| {
            record.rotation_enabled = true;
            record.rotation_lambda_arn = Some(lambda.clone());
            record.rotation_rules = rules.clone();
            if rotate_now {
                if record.version_with(AWSCURRENT).is_none() {
                    return Err(fault(
                        SecretsFault::InvalidRequest,
                        "You can't rotate a secret that has no value. Add a value with PutSecretValue first.",
                    ));
                }
                begin(record, &token, now)?;
                tx.schedule(&rotation_job(&found.scope, record, now as i64)?)?;
            } else {
                let last = record.last_rotated.unwrap_or(now);
                record.next_rotation = match &record.rotation_rules {
                    Some(rules) => schedule_of(rules)?.next_after(last.max(now) as i64).map(|t| t as f64),
                    None => None,
                };
                if let Some(next) = record.next_rotation {
                    tx.schedule(&rotation_job(&found.scope, record, next as i64)?)?;
                }
            }
            Ok(())
        })?;
        Ok(Written {
            arn: record.arn.clone(),
            name: record.name.clone(),
            version_id: rotate_now.then_some(token),
            stages: Vec::new(),
            replication: Vec::new(),
        })
    }

    pub fn cancel_rotate_secret(&self, ctx: &RequestContext, secret_id: &str) -> Result<Written, SecretsError> {
        let found = self.find_writable(ctx, secret_id, "secretsmanager:CancelRotateSecret", Vec::new())?;
        if found.record.rotation_lambda_arn.is_none() {
            return Err(fault(
                SecretsFault::InvalidRequest,
                "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN configured and you didn't include such an ARN as a parameter in this call.",
            ));
        }
        let (pending, record) = self.update(&found, |tx, record| {
            record.rotation_enabled = false;
            record.next_rotation = None;
            record.rotation = None;
            tx.cancel(&job_id(super::JOB_ROTATE, &found.scope, &record.name))?;
            Ok(record.version_with(AWSPENDING).map(str::to_string))
        })?;
        Ok(Written {
            arn: record.arn.clone(),
            name: record.name.clone(),
            version_id: pending,
            stages: Vec::new(),
            replication: Vec::new(),
        })
    }

    /// A context for acting on a secret as Secrets Manager itself does during rotation: the
    /// owning account, through the service.
    fn service_context(&self, account: &str, region: &str) -> RequestContext {
        RequestContext {
            request_id: new_token().unwrap_or_default(),
            principal: Principal::root(account, SERVICE_PRINCIPAL),
            region: region.to_string(),
            source_ip: None,
            user_agent: SERVICE_PRINCIPAL.to_string(),
            secure_transport: true,
            via_service: Some(SERVICE_PRINCIPAL.to_string()),
            signature_v2: false,
            service_calls: Default::default(),
        }
    }

    fn rotation_event(&self, record: &SecretRecord, name: &str, details: Value) -> ServiceEvent {
        ServiceEvent {
            event_id: new_token().unwrap_or_default(),
            event_time: self.clock.now(),
            event_source: SERVICE_PRINCIPAL.into(),
            event_name: name.into(),
            region: super::names::region_of(&record.arn).into(),
            account_id: super::names::account_of(&record.arn).into(),
            additional_event_data: json!({ "SecretId": record.arn }),
            service_event_details: details,
            resources: vec![AuditResource {
                arn: record.arn.clone(),
                resource_type: "AWS::SecretsManager::Secret",
                account_id: super::names::account_of(&record.arn).into(),
            }],
        }
    }
}

/// The scheduled rotation of one secret: starts a run if none is in progress, calls the four
/// steps, and records the outcome.
pub fn run_job(secrets: &Secrets, job: &Job, audit: &AuditLog) -> Result<(), SecretsError> {
    let payload: Value = serde_json::from_slice(&job.payload)?;
    let (Some(scope), Some(name), Some(arn)) = (
        payload["scope"].as_str(),
        payload["name"].as_str(),
        payload["arn"].as_str(),
    ) else {
        return Err(SecretsError::Internal("bad rotation job payload".into()));
    };
    let now = secrets.now();
    // Start (or resume) the run, leasing the job so a restart mid-rotation tries again.
    let started = transact(&*secrets.store, |tx| {
        let Some(mut record) = load_secret(tx, scope, name)?.filter(|r| r.arn == arn) else {
            tx.cancel(&job.id)?;
            return Ok(None);
        };
        if !record.rotation_enabled || record.deleted.is_some() || record.primary_region.is_some() {
            tx.cancel(&job.id)?;
            return Ok(None);
        }
        if record.rotation.is_none() {
            if record.next_rotation.is_some_and(|next| next > now) {
                tx.schedule(&rotation_job(
                    scope,
                    &record,
                    record.next_rotation.unwrap_or(now) as i64,
                )?)?;
                return Ok(None);
            }
            if let Err(e) = begin(&mut record, &new_token()?, now) {
                record.next_rotation = next_rotation(&record, now);
                reschedule(tx, scope, &record, job)?;
                save_secret(tx, scope, &record)?;
                super::replication::mirror(tx, &record)?;
                return Ok(Some((record, Some(e.to_string()))));
            }
        }
        tx.schedule(&rotation_job(scope, &record, now as i64 + LEASE_SECONDS)?)?;
        save_secret(tx, scope, &record)?;
        super::replication::mirror(tx, &record)?;
        Ok(Some((record, None)))
    })?;
    let Some((record, refused)) = started else {
        return Ok(());
    };
    if let Some(reason) = refused {
        return Ok(audit.record_service_event(&secrets.rotation_event(
            &record,
            "RotationFailed",
            json!({ "reason": reason }),
        ))?);
    }
    let (Some(run), Some(lambda)) = (record.rotation.clone(), record.rotation_lambda_arn.clone()) else {
        return Ok(());
    };
    audit.record_service_event(&secrets.rotation_event(&record, "RotationStarted", Value::Null))?;
    let ctx = secrets.service_context(
        super::names::account_of(&record.arn),
        super::names::region_of(&record.arn),
    );
    let outcome = run_steps(secrets, &ctx, &record, &run, &lambda);
    let finished_at = secrets.now();
    let record = transact(&*secrets.store, |tx| {
        let Some(mut record) = load_secret(tx, scope, name)?.filter(|r| r.arn == arn) else {
            tx.cancel(&job.id)?;
            return Ok(None);
        };
        record.rotation = None;
        if outcome.is_ok() {
            record.last_rotated = Some(finished_at);
        }
        record.next_rotation = next_rotation(&record, finished_at);
        reschedule(tx, scope, &record, job)?;
        save_secret(tx, scope, &record)?;
        super::replication::mirror(tx, &record)?;
        Ok(Some(record))
    })?;
    let Some(record) = record else {
        return Ok(());
    };
    let calls = service_calls(&ctx);
    let event = match outcome {
        Ok(()) => secrets.rotation_event(&record, "RotationSucceeded", json!({ "serviceCalls": calls })),
        Err(reason) => {
            tracing::warn!(secret = %record.arn, %reason, "secret rotation failed");
            secrets.rotation_event(
                &record,
                "RotationFailed",
                json!({ "reason": reason, "serviceCalls": calls }),
            )
        }
    };
    Ok(audit.record_service_event(&event)?)
}

fn next_rotation(record: &SecretRecord, after: f64) -> Option<f64> {
    let rules = record.rotation_rules.as_ref()?;
    let schedule = schedule_of(rules).ok()?;
    record
        .rotation_enabled
        .then(|| schedule.next_after(after as i64))
        .flatten()
        .map(|t| t as f64)
}

fn reschedule(tx: &mut dyn Transaction, scope: &str, record: &SecretRecord, job: &Job) -> Result<(), SecretsError> {
    match record.next_rotation {
        Some(next) => Ok(tx.schedule(&rotation_job(scope, record, next as i64)?)?),
        None => Ok(tx.cancel(&job.id)?),
    }
}

/// Calls the four steps in order, then checks finishSecret really moved AWSCURRENT. Every step
/// shares `ctx`, so the calls built-in rotators make to KMS (and STS, for command functions) are
/// collected for the audit record.
fn run_steps(
    secrets: &Secrets,
    ctx: &RequestContext,
    record: &SecretRecord,
    run: &RotationRun,
    lambda: &str,
) -> Result<(), String> {
    let functions: Arc<dyn RotationFunctions> = secrets
        .functions
        .get()
        .cloned()
        .ok_or_else(|| "no rotation functions are configured".to_string())?;
    let step_of = |step: &'static str| RotationStep {
        secrets,
        ctx: ctx.clone(),
        event: StepEvent {
            step,
            secret_id: record.arn.clone(),
            client_request_token: run.version_id.clone(),
            rotation_token: run.rotation_token.clone(),
        },
    };
    for step in STEPS {
        functions
            .invoke(&step_of(step), lambda)
            .map_err(|e| format!("{step} failed: {e}"))?;
    }
    let after = step_of("finishSecret").found().map_err(|e| e.to_string())?;
    if after.record.version_with(AWSCURRENT) != Some(run.version_id.as_str()) {
        return Err("finishSecret did not move AWSCURRENT to the new version".into());
    }
    Ok(())
}

/// The calls to other services (KMS, STS) made during a rotation, as its service event lists them.
fn service_calls(ctx: &RequestContext) -> Value {
    Value::Array(
        ctx.service_calls
            .drain()
            .into_iter()
            .map(|call| {
                json!({
                    "eventSource": format!("{}.amazonaws.com", call.service),
                    "eventName": call.operation,
                    "resourceArn": call.resource_arn,
                    "errorMessage": call.error.map(|e| e.to_string()),
                })
            })
            .collect(),
    )
}

/// What a built-in rotator does in one step, acting as Secrets Manager on the secret.
pub struct RotationStep<'a> {
    secrets: &'a Secrets,
    ctx: RequestContext,
    pub event: StepEvent,
}

impl RotationStep<'_> {
    /// Secrets Manager's own context on the secret: its account, through the service. Command
    /// functions assume their role with it.
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    fn found(&self) -> Result<Found, SecretsError> {
        let (lookup, record) = self.secrets.lookup(&self.ctx, &self.event.secret_id)?;
        Ok(Found {
            scope: keyhaven_kernel::context::regional_scope(&lookup.account, &lookup.region),
            record: record.ok_or_else(super::not_found)?,
        })
    }

    /// The AWSCURRENT value.
    pub fn current(&self) -> Result<SecretValue, SecretsError> {
        let found = self.found()?;
        Ok(self.secrets.read_value(&self.ctx, &found, None, None)?.value)
    }

    /// The value createSecret stored for this rotation, if it has one yet.
    pub fn pending(&self) -> Result<Option<SecretValue>, SecretsError> {
        let found = self.found()?;
        match self.secrets.read_value(
            &self.ctx,
            &found,
            Some(&self.event.client_request_token),
            Some(AWSPENDING),
        ) {
            Ok(view) => Ok(Some(view.value)),
            Err(SecretsError::Fault(SecretsFault::ResourceNotFound, _)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// createSecret: stores the new value as the AWSPENDING version.
    pub fn put_pending(&self, value: &SecretValue) -> Result<(), SecretsError> {
        let found = self.found()?;
        self.secrets
            .add_version(
                &self.ctx,
                &found,
                &self.event.client_request_token,
                value,
                &[AWSPENDING.to_string()],
            )
            .map(|_| ())
    }

    /// finishSecret: AWSCURRENT to the new version (AWSPREVIOUS follows), AWSPENDING off it.
    pub fn finish(&self) -> Result<(), SecretsError> {
        let found = self.found()?;
        let token = self.event.client_request_token.clone();
        self.secrets.update(&found, |_, record| {
            if !record.versions.get(&token).is_some_and(|m| m.has_value) {
                return Err(fault(
                    SecretsFault::ResourceNotFound,
                    "The new version has no value: createSecret did not store one.",
                ));
            }
            record.move_stage(AWSCURRENT, &token);
            record.remove_stage(AWSPENDING, &token);
            Ok(())
        })?;
        Ok(())
    }

    /// The built-in "random password" rotator: a fresh password replaces the `password` field
    /// of a JSON secret, or the whole string.
    pub fn random_password(&self) -> Result<(), SecretsError> {
        match self.event.step {
            "createSecret" => {
                if self.pending()?.is_some() {
                    return Ok(());
                }
                let password = super::password::generate(&super::password::PasswordOptions {
                    exclude_characters: Some("/@\"'\\".into()),
                    ..Default::default()
                })?;
                let current = self.current()?;
                let next = with_password(&current, &password)?;
                self.put_pending(&next)
            }
            "finishSecret" => self.finish(),
            _ => Ok(()),
        }
    }
}

/// `current` with its password replaced: the `password` member of a JSON object, else the whole
/// string. Binary secrets have no password to replace.
pub fn with_password(current: &SecretValue, password: &str) -> Result<SecretValue, SecretsError> {
    let SecretValue::String(text) = current else {
        return Err(fault(
            SecretsFault::InvalidRequest,
            "The rotator replaces passwords in string secrets only.",
        ));
    };
    let parsed: Option<serde_json::Map<String, Value>> = serde_json::from_str(text).ok();
    let next = match parsed {
        Some(mut object) if object.contains_key("password") => {
            object.insert("password".into(), Value::String(password.to_string()));
            serde_json::to_string(&object)?
        }
        _ => password.to_string(),
    };
    Ok(SecretValue::String(Zeroizing::new(next)))
}
