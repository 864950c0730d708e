//! Fetches parameters and secrets with the AWS SDK (the caller's credentials, Region and endpoint, as every AWS
//! tool resolves them). Values are held as [`Zeroizing`] strings and never written anywhere by this module.

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::Parameter;
use zeroize::Zeroizing;

use super::reference::{Reference, json_key};
use crate::ClientError;

/// Parameter Store and Secrets Manager clients.
#[derive(Debug, Clone)]
pub struct Resolver {
    ssm: aws_sdk_ssm::Client,
    secrets: aws_sdk_secretsmanager::Client,
}

/// A failed call as the service answered it.
pub(crate) fn fetch_error<E, R>(
    reference: String,
    error: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> ClientError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let status = error.raw_response().map(HttpStatus::status).unwrap_or(500);
    let (code, message) = match (error.code(), error.message()) {
        (Some(code), message) => (code.to_string(), message.unwrap_or_default().to_string()),
        (None, _) => (
            "ConnectionError".to_string(),
            aws_sdk_ssm::error::DisplayErrorContext(&error).to_string(),
        ),
    };
    ClientError::Fetch {
        reference,
        code,
        message,
        status,
    }
}

/// The HTTP status of a raw response.
pub trait HttpStatus {
    fn status(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

impl Resolver {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            ssm: aws_sdk_ssm::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
        }
    }

    /// Clients from the SDK's configuration chain, with an optional named profile.
    pub async fn from_environment(profile: Option<&str>) -> Self {
        Self::new(&crate::sdk_config(profile).await)
    }

    /// GetParameter; `selector` is a version or label.
    pub async fn parameter(&self, name: &str, selector: Option<&str>, decrypt: bool) -> Result<Parameter, ClientError> {
        let full = match selector {
            Some(selector) => format!("{name}:{selector}"),
            None => name.to_string(),
        };
        let output = self
            .ssm
            .get_parameter()
            .name(&full)
            .with_decryption(decrypt)
            .send()
            .await
            .map_err(|e| fetch_error(format!("ssm:{full}"), e))?;
        output.parameter.ok_or_else(|| ClientError::Fetch {
            reference: format!("ssm:{full}"),
            code: "ParameterNotFound".into(),
            message: String::new(),
            status: 400,
        })
    }

    /// GetSecretValue.
    pub async fn secret(
        &self,
        id: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<GetSecretValueOutput, ClientError> {
        self.secrets
            .get_secret_value()
            .secret_id(id)
            .set_version_stage(version_stage.map(str::to_string))
            .set_version_id(version_id.map(str::to_string))
            .send()
            .await
            .map_err(|e| fetch_error(format!("secretsmanager:{id}"), e))
    }

    /// The value a reference names.
    pub async fn value(&self, reference: &Reference) -> Result<Zeroizing<String>, ClientError> {
        match reference {
            Reference::Parameter {
                name,
                selector,
                decrypt,
            } => {
                let parameter = self.parameter(name, selector.as_deref(), *decrypt).await?;
                Ok(Zeroizing::new(parameter.value.unwrap_or_default()))
            }
            Reference::Secret {
                id,
                json_key: key,
                version_stage,
                version_id,
            } => {
                let output = self.secret(id, version_stage.as_deref(), version_id.as_deref()).await?;
                let Some(string) = output.secret_string.map(Zeroizing::new) else {
                    return Err(ClientError::Config(format!(
                        "{}: the secret holds SecretBinary, not SecretString",
                        reference.describe()
                    )));
                };
                match key {
                    Some(key) => json_key(&string, key).map(Zeroizing::new),
                    None => Ok(string),
                }
            }
        }
    }

    /// Every parameter under `path` (recursively, decrypted), as (name, value).
    pub async fn parameters_under(&self, path: &str) -> Result<Vec<(String, Zeroizing<String>)>, ClientError> {
        let mut found = Vec::new();
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(path)
            .recursive(true)
            .with_decryption(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fetch_error(format!("ssm:{path}"), e))?;
            for parameter in page.parameters.unwrap_or_default() {
                if let Some(name) = parameter.name {
                    found.push((name, Zeroizing::new(parameter.value.unwrap_or_default())));
                }
            }
        }
        Ok(found)
    }
}
