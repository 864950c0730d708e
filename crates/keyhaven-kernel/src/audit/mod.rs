//! The audit trail: CloudTrail-format records of API calls and of work services do on their own;
//! `log` persists them (compressed batches, a keyed chain with a sealed head) and verifies them.

mod log;

pub use log::{AuditLog, AuditSettings, ChainCheck, DeliveredThrough, Retention, read_records, verify_chain};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::context::{Principal, PrincipalKind};

/// CloudTrail's current record format version.
pub const EVENT_VERSION: &str = "1.11";

/// A resource a request touched, as CloudTrail lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditResource {
    pub arn: String,
    pub resource_type: &'static str,
    pub account_id: String,
}

/// One API call, as the pipeline saw it. Parameters and responses must already be redacted.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub event_time: OffsetDateTime,
    pub event_source: String,
    pub event_name: String,
    pub region: String,
    pub source_ip: String,
    pub user_agent: String,
    /// `None` for requests that never authenticated.
    pub principal: Option<Principal>,
    /// The account the request was made to, even when the caller is unknown.
    pub recipient_account_id: String,
    pub request_parameters: Value,
    pub response_elements: Value,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: String,
    pub event_id: String,
    pub read_only: bool,
    pub resources: Vec<AuditResource>,
    pub tls: bool,
    /// The service that made this call on the caller's behalf (`userIdentity.invokedBy`).
    pub invoked_by: Option<String>,
}

impl AuditEvent {
    /// The CloudTrail record for this event.
    pub fn to_record(&self) -> Value {
        serde_json::to_value(self.record()).unwrap_or(Value::Null)
    }

    /// The record as a borrowed, typed value: serialised straight to bytes on the request path.
    pub(crate) fn record(&self) -> Record<'_> {
        Record {
            event_version: EVENT_VERSION,
            user_identity: match &self.principal {
                Some(p) => user_identity(p, self.invoked_by.as_deref()),
                None => json!({ "type": "Unknown", "accountId": self.recipient_account_id }),
            },
            event_time: self
                .event_time
                .replace_nanosecond(0)
                .unwrap_or(self.event_time)
                .format(&Rfc3339)
                .unwrap_or_default(),
            event_source: &self.event_source,
            event_name: &self.event_name,
            aws_region: &self.region,
            source_ip_address: &self.source_ip,
            user_agent: &self.user_agent,
            request_parameters: &self.request_parameters,
            response_elements: &self.response_elements,
            request_id: &self.request_id,
            event_id: &self.event_id,
            read_only: self.read_only,
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: &self.recipient_account_id,
            event_category: "Management",
            error_code: self.error_code.as_deref(),
            error_message: self
                .error_code
                .as_ref()
                .map(|_| self.error_message.as_deref().unwrap_or_default()),
            resources: self
                .resources
                .iter()
                .map(|r| ResourceRecord {
                    account_id: &r.account_id,
                    resource_type: r.resource_type,
                    arn: &r.arn,
                })
                .collect(),
            tls_details: self
                .tls
                .then(|| json!({ "tlsVersion": "TLSv1.3", "clientProvidedHostHeader": Value::Null })),
        }
    }
}

/// Something a service did on its own (a scheduled rotation's outcome): CloudTrail's
/// `AwsServiceEvent` records, which have no caller.
#[derive(Debug, Clone)]
pub struct ServiceEvent {
    pub event_time: OffsetDateTime,
    /// The service principal, such as `secretsmanager.amazonaws.com`.
    pub event_source: String,
    pub event_name: String,
    pub region: String,
    pub account_id: String,
    pub additional_event_data: Value,
    pub service_event_details: Value,
    pub resources: Vec<AuditResource>,
    pub event_id: String,
}

impl ServiceEvent {
    /// What the service `event_source` (`kms.amazonaws.com`) did on its own to one resource.
    pub fn about(
        event_source: &str,
        event_name: &str,
        event_time: OffsetDateTime,
        resource: AuditResource,
        additional_event_data: Value,
    ) -> Result<Self, crate::KernelError> {
        let region = resource.arn.split(':').nth(3).unwrap_or_default().to_string();
        Ok(Self {
            event_time,
            event_source: event_source.into(),
            event_name: event_name.into(),
            region,
            account_id: resource.account_id.clone(),
            additional_event_data,
            service_event_details: Value::Null,
            resources: vec![resource],
            event_id: crate::ids::new_uuid()?,
        })
    }

    pub fn to_record(&self) -> Value {
        json!({
            "eventVersion": EVENT_VERSION,
            "userIdentity": { "accountId": self.account_id, "invokedBy": self.event_source },
            "eventTime": self.event_time.replace_nanosecond(0).unwrap_or(self.event_time).format(&Rfc3339).unwrap_or_default(),
            "eventSource": self.event_source,
            "eventName": self.event_name,
            "awsRegion": self.region,
            "sourceIPAddress": self.event_source,
            "userAgent": self.event_source,
            "requestParameters": Value::Null,
            "responseElements": Value::Null,
            "additionalEventData": self.additional_event_data,
            "requestID": self.event_id,
            "eventID": self.event_id,
            "readOnly": false,
            "resources": self.resources.iter().map(|r| json!({"accountId": r.account_id, "type": r.resource_type, "ARN": r.arn})).collect::<Vec<_>>(),
            "eventType": "AwsServiceEvent",
            "managementEvent": true,
            "recipientAccountId": self.account_id,
            "serviceEventDetails": self.service_event_details,
            "eventCategory": "Management",
        })
    }
}

/// A CloudTrail record, in CloudTrail's member names.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record<'a> {
    event_version: &'static str,
    user_identity: Value,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    request_parameters: &'a Value,
    response_elements: &'a Value,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<ResourceRecord<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_details: Option<Value>,
}

#[derive(serde::Serialize)]
struct ResourceRecord<'a> {
    #[serde(rename = "accountId")]
    account_id: &'a str,
    #[serde(rename = "type")]
    resource_type: &'a str,
    #[serde(rename = "ARN")]
    arn: &'a str,
}

/// CloudTrail's `userIdentity` for an authenticated principal.
fn user_identity(p: &Principal, invoked_by: Option<&str>) -> Value {
    let mut identity = json!({
        "type": p.kind.as_str(),
        "principalId": p.principal_id,
        "arn": p.arn,
        "accountId": p.account_id,
        "accessKeyId": p.access_key_id,
    });
    if let Some(name) = &p.user_name {
        identity["userName"] = json!(name);
    }
    let creation = p.session.as_ref().map(|s| {
        OffsetDateTime::from_unix_timestamp(s.issued_at)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    });
    let mut attributes = json!({ "mfaAuthenticated": if p.mfa_authenticated() { "true" } else { "false" } });
    if let Some(created) = creation {
        attributes["creationDate"] = json!(created);
    }
    let mut context = json!({ "attributes": attributes });
    if let Some(role) = &p.role {
        context["sessionIssuer"] = json!({
            "type": "Role",
            "principalId": role.role_id,
            "arn": role.role_arn,
            "accountId": p.account_id,
            "userName": role.role_name,
        });
    }
    if let Some(user_arn) = p.session.as_ref().and_then(|s| s.federated_by.as_ref()) {
        context["sessionIssuer"] = json!({
            "type": "IAMUser",
            "arn": user_arn,
            "accountId": p.account_id,
            "userName": user_arn.rsplit('/').next().unwrap_or_default(),
        });
    }
    if let Some(source) = p.session.as_ref().and_then(|s| s.source_identity.as_ref()) {
        context["sourceIdentity"] = json!(source);
    }
    if let Some(service) = invoked_by {
        identity["invokedBy"] = json!(service);
    }
    if p.session.is_some() || p.kind == PrincipalKind::Root {
        identity["sessionContext"] = context;
    }
    identity
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn event(name: &str) -> AuditEvent {
        AuditEvent {
            event_time: OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time"),
            event_source: "kms.amazonaws.com".into(),
            event_name: name.into(),
            region: "us-east-1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            principal: Some(Principal::root("111122223333", "AKIAEXAMPLE")),
            recipient_account_id: "111122223333".into(),
            request_parameters: json!({"keyId": "alias/x"}),
            response_elements: Value::Null,
            error_code: None,
            error_message: None,
            request_id: "r".into(),
            event_id: "e".into(),
            read_only: false,
            resources: vec![],
            tls: false,
            invoked_by: None,
        }
    }

    #[test]
    fn record_has_cloudtrail_fields_and_error_details() {
        let mut e = event("Decrypt");
        e.error_code = Some("InvalidCiphertextException".into());
        e.error_message = Some(String::new());
        let r = e.to_record();
        assert_eq!(r["eventVersion"], EVENT_VERSION);
        assert_eq!(r["userIdentity"]["type"], "Root");
        assert_eq!(r["userIdentity"]["arn"], "arn:aws:iam::111122223333:root");
        assert_eq!(r["eventTime"], "2023-11-14T22:13:20Z");
        assert_eq!(r["errorCode"], "InvalidCiphertextException");
        assert_eq!(r["eventType"], "AwsApiCall");
        assert_eq!(r["recipientAccountId"], "111122223333");
    }
}
