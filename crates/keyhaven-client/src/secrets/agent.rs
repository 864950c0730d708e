//! The caching agent behind `keyhaven agent`: answers what AWS's Parameters and Secrets Lambda extension answers
//! (GetParameter and GetSecretValue results as JSON, with `ResultMetadata`), from a cache with a time to live per
//! service and a size limit, as that extension's settings define them. HTTP is the binary's business.
//!
//! Source: "Using Parameter Store parameters in AWS Lambda functions" and "Use AWS Secrets Manager secrets in AWS
//! Lambda functions" (AWS Systems Manager and Secrets Manager user guides).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_sdk_ssm::primitives::{DateTime, DateTimeFormat};
use aws_sdk_ssm::types::Parameter;
use base64::Engine;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::Resolver;
use crate::ClientError;

/// The extension's settings (its environment variables, with their defaults and limits).
#[derive(Debug, Clone, Copy)]
pub struct AgentSettings {
    pub cache_enabled: bool,
    /// Entries kept, parameters and secrets together (0..=1000; 0 turns the cache off).
    pub cache_size: usize,
    /// How long a parameter is served from the cache (0..=300 s; 0 turns caching of parameters off).
    pub parameter_ttl: Duration,
    /// How long a secret is served from the cache (0..=300 s).
    pub secret_ttl: Duration,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            cache_enabled: true,
            cache_size: 1000,
            parameter_ttl: Duration::from_secs(300),
            secret_ttl: Duration::from_secs(300),
        }
    }
}

/// A GetParameter request as the extension takes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParameterRequest {
    pub name: String,
    /// A version number or label.
    pub selector: Option<String>,
    pub decrypt: bool,
}

/// A GetSecretValue request as the extension takes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRequest {
    pub id: String,
    pub version_id: Option<String>,
    pub version_stage: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Parameter(ParameterRequest),
    Secret(SecretRequest),
}

/// A JSON answer; it may hold a secret value, so its memory is cleared when the last holder drops it.
pub type Answer = Arc<Zeroizing<Vec<u8>>>;

#[derive(Default)]
struct Cache {
    entries: HashMap<Key, (Instant, Answer)>,
    /// Insertion order: when full, the oldest entry goes.
    order: VecDeque<Key>,
}

/// The agent: a resolver and its cache.
pub struct Agent {
    resolver: Resolver,
    settings: AgentSettings,
    cache: parking_lot::Mutex<Cache>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Agent({:?})", self.settings)
    }
}

fn date(value: Option<&DateTime>) -> Value {
    value
        .and_then(|d| d.fmt(DateTimeFormat::DateTime).ok())
        .map(Value::from)
        .unwrap_or(Value::Null)
}

fn parameter_json(parameter: &Parameter) -> Value {
    json!({
        "Parameter": {
            "ARN": parameter.arn(),
            "DataType": parameter.data_type(),
            "LastModifiedDate": date(parameter.last_modified_date()),
            "Name": parameter.name(),
            "Selector": parameter.selector(),
            "SourceResult": parameter.source_result(),
            "Type": parameter.r#type().map(|t| t.as_str()),
            "Value": parameter.value(),
            "Version": parameter.version(),
        },
        "ResultMetadata": {},
    })
}

fn secret_json(secret: &GetSecretValueOutput) -> Value {
    json!({
        "ARN": secret.arn(),
        "CreatedDate": date(secret.created_date()),
        "Name": secret.name(),
        "SecretBinary": secret.secret_binary().map(|b| base64::engine::general_purpose::STANDARD.encode(b.as_ref())),
        "SecretString": secret.secret_string(),
        "VersionId": secret.version_id(),
        "VersionStages": secret.version_stages.as_ref(),
        "ResultMetadata": {},
    })
}

fn answer(value: Value) -> Answer {
    Arc::new(Zeroizing::new(value.to_string().into_bytes()))
}

impl Agent {
    pub fn new(resolver: Resolver, settings: AgentSettings) -> Self {
        Self {
            resolver,
            settings,
            cache: Default::default(),
        }
    }

    fn ttl(&self, key: &Key) -> Duration {
        if !self.settings.cache_enabled || self.settings.cache_size == 0 {
            return Duration::ZERO;
        }
        match key {
            Key::Parameter(_) => self.settings.parameter_ttl,
            Key::Secret(_) => self.settings.secret_ttl,
        }
    }

    fn cached(&self, key: &Key, now: Instant) -> Option<Answer> {
        let ttl = self.ttl(key);
        let cache = self.cache.lock();
        let (stored, answer) = cache.entries.get(key)?;
        (now.saturating_duration_since(*stored) < ttl).then(|| answer.clone())
    }

    fn remember(&self, key: Key, answer: Answer, now: Instant) {
        if self.ttl(&key).is_zero() {
            return;
        }
        let mut cache = self.cache.lock();
        if cache.entries.insert(key.clone(), (now, answer)).is_none() {
            cache.order.push_back(key);
        }
        while cache.entries.len() > self.settings.cache_size {
            let Some(oldest) = cache.order.pop_front() else { break };
            cache.entries.remove(&oldest);
        }
    }

    /// A parameter, from the cache while it is fresh.
    pub async fn parameter(&self, request: ParameterRequest, now: Instant) -> Result<Answer, ClientError> {
        let key = Key::Parameter(request.clone());
        if let Some(answer) = self.cached(&key, now) {
            return Ok(answer);
        }
        let parameter = self
            .resolver
            .parameter(&request.name, request.selector.as_deref(), request.decrypt)
            .await?;
        let fresh = answer(parameter_json(&parameter));
        self.remember(key, fresh.clone(), now);
        Ok(fresh)
    }

    /// A secret, from the cache while it is fresh unless `refresh` asks for the service's answer.
    pub async fn secret(&self, request: SecretRequest, refresh: bool, now: Instant) -> Result<Answer, ClientError> {
        let key = Key::Secret(request.clone());
        if !refresh && let Some(answer) = self.cached(&key, now) {
            return Ok(answer);
        }
        let secret = self
            .resolver
            .secret(
                &request.id,
                request.version_stage.as_deref(),
                request.version_id.as_deref(),
            )
            .await?;
        let fresh = answer(secret_json(&secret));
        self.remember(key, fresh.clone(), now);
        Ok(fresh)
    }
}
