//! The audit trail: CloudTrail-format records of API calls and of work services do on their own;
//! `log` persists them (compressed batches, a keyed chain with a sealed head) and verifies them.

mod log;
pub mod lookup;

pub use log::{
    AuditLog, AuditSettings, ChainCheck, DeliveredThrough, DeliveryMark, Retention, batch_records, read_records,
    scan_records, verify_chain,
};

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

/// CloudTrail's event categories of API calls: management events (configuration, and every call of the services here
/// but S3's object-level ones) and data events (operations on S3 objects), which trails log only when selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventCategory {
    #[default]
    Management,
    Data,
}

impl EventCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            EventCategory::Management => "Management",
            EventCategory::Data => "Data",
        }
    }
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
    pub category: EventCategory,
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
                None => UserIdentity::Unknown {
                    kind: "Unknown",
                    account_id: &self.recipient_account_id,
                },
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
            management_event: self.category == EventCategory::Management,
            recipient_account_id: &self.recipient_account_id,
            event_category: self.category.as_str(),
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
    user_identity: UserIdentity<'a>,
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
/// CloudTrail's `userIdentity`, borrowed from the principal (built for every record, so no
/// `Value` tree is allocated for it).
#[derive(serde::Serialize)]
#[serde(untagged)]
enum UserIdentity<'a> {
    Known(Box<KnownIdentity<'a>>),
    /// An AWS service acting on its own (CloudTrail delivering a trail's files).
    Service {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(rename = "invokedBy")]
        invoked_by: &'a str,
    },
    /// A request that failed before its caller was known.
    Unknown {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(rename = "accountId")]
        account_id: &'a str,
    },
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct KnownIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: &'a str,
    arn: &'a str,
    account_id: &'a str,
    access_key_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_context: Option<SessionContext<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoked_by: Option<&'a str>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    attributes: SessionAttributes,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_issuer: Option<SessionIssuer<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_identity: Option<&'a str>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes {
    mfa_authenticated: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_date: Option<String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    arn: &'a str,
    account_id: &'a str,
    user_name: &'a str,
}

fn user_identity<'a>(p: &'a Principal, invoked_by: Option<&'a str>) -> UserIdentity<'a> {
    if p.kind == PrincipalKind::Service {
        return UserIdentity::Service {
            kind: p.kind.as_str(),
            invoked_by: &p.arn,
        };
    }
    let session = p.session.as_ref();
    let role_issuer = p.role.as_ref().map(|role| SessionIssuer {
        kind: "Role",
        principal_id: Some(&role.role_id),
        arn: &role.role_arn,
        account_id: &p.account_id,
        user_name: &role.role_name,
    });
    let federation_issuer = session
        .and_then(|s| s.federated_by.as_deref())
        .map(|user_arn| SessionIssuer {
            kind: "IAMUser",
            principal_id: None,
            arn: user_arn,
            account_id: &p.account_id,
            user_name: user_arn.rsplit('/').next().unwrap_or_default(),
        });
    let session_context = (session.is_some() || p.kind == PrincipalKind::Root).then(|| SessionContext {
        attributes: SessionAttributes {
            mfa_authenticated: if p.mfa_authenticated() { "true" } else { "false" },
            creation_date: session.map(|s| {
                OffsetDateTime::from_unix_timestamp(s.issued_at)
                    .ok()
                    .and_then(|t| t.format(&Rfc3339).ok())
                    .unwrap_or_default()
            }),
        },
        session_issuer: federation_issuer.or(role_issuer),
        source_identity: session.and_then(|s| s.source_identity.as_deref()),
    });
    UserIdentity::Known(Box::new(KnownIdentity {
        kind: p.kind.as_str(),
        principal_id: &p.principal_id,
        arn: &p.arn,
        account_id: &p.account_id,
        access_key_id: &p.access_key_id,
        user_name: p.user_name.as_deref(),
        session_context,
        invoked_by,
    }))
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
            category: EventCategory::Management,
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
