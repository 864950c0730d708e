//! The audit pipeline: CloudTrail-format records, persisted by a group-commit writer, hash-chained.
//!
//! The request path builds a record and enqueues it; one writer thread drains the queue in batches,
//! extends the chain (`hash_n = SHA-256(hash_{n-1} || n || record_n)`) and appends each batch in one
//! durable transaction. If a batch cannot be persisted the log turns unhealthy and the server stops
//! serving requests (audit fails closed). In strict mode a request waits until its record is durable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use keyhaven_crypto::digest::Sha256;
use keyhaven_store::{AuditEntry, Backend};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::context::{Principal, PrincipalKind};
use crate::error::CoreError;

/// CloudTrail's current record format version.
pub const EVENT_VERSION: &str = "1.11";
const QUEUE_CAPACITY: usize = 65_536;
const MAX_BATCH: usize = 4_096;

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
    fn record(&self) -> Record<'_> {
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
struct Record<'a> {
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

struct Queued {
    event_time: i64,
    record: Vec<u8>,
    durable: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Handle to the audit writer. Cloning shares the same writer.
#[derive(Clone)]
pub struct AuditLog {
    sender: Arc<Mutex<Option<SyncSender<Queued>>>>,
    healthy: Arc<AtomicBool>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
    strict: bool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("healthy", &self.is_healthy())
            .field("strict", &self.strict)
            .finish()
    }
}

impl AuditLog {
    /// Starts the writer thread, continuing the chain from the last persisted entry.
    pub fn start(store: Arc<dyn Backend>, strict: bool) -> Result<Self, CoreError> {
        let (sequence, hash) = match store.last_audit()? {
            Some(last) => (last.sequence, last.chain_hash),
            None => (0, [0u8; 32]),
        };
        let (sender, receiver) = sync_channel(QUEUE_CAPACITY);
        let healthy = Arc::new(AtomicBool::new(true));
        let writer_health = healthy.clone();
        let writer = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(store, receiver, sequence, hash, writer_health))
            .map_err(|e| CoreError::Internal(format!("cannot start audit writer: {e}")))?;
        Ok(Self {
            sender: Arc::new(Mutex::new(Some(sender))),
            healthy,
            writer: Arc::new(Mutex::new(Some(writer))),
            strict,
        })
    }

    /// False once a batch could not be persisted: the server must stop serving.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Enqueues the event; in strict mode waits until it is durable.
    pub async fn record(&self, event: &AuditEvent) -> Result<(), CoreError> {
        let record = serde_json::to_vec(&event.record())?;
        let (durable, done) = if self.strict {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        self.enqueue(Queued {
            event_time: event.event_time.unix_timestamp(),
            record,
            durable,
        })?;
        if let Some(done) = done {
            done.await
                .map_err(|_| CoreError::Internal("audit record was not persisted".into()))?;
        }
        Ok(())
    }

    /// Enqueues a service event (not on a request's path, so never waits for durability).
    pub fn record_service_event(&self, event: &ServiceEvent) -> Result<(), CoreError> {
        self.enqueue(Queued {
            event_time: event.event_time.unix_timestamp(),
            record: serde_json::to_vec(&event.to_record())?,
            durable: None,
        })
    }

    fn enqueue(&self, mut item: Queued) -> Result<(), CoreError> {
        if !self.is_healthy() {
            return Err(CoreError::Internal("audit log is not accepting records".into()));
        }
        let guard = self
            .sender
            .lock()
            .map_err(|_| CoreError::Internal("audit queue poisoned".into()))?;
        let sender = guard
            .as_ref()
            .ok_or_else(|| CoreError::Internal("audit log is shut down".into()))?;
        loop {
            match sender.try_send(item) {
                Ok(()) => return Ok(()),
                // A full queue means the disk is behind: wait briefly rather than drop a record.
                Err(TrySendError::Full(back)) => {
                    item = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Disconnected(_)) => return Err(CoreError::Internal("audit writer stopped".into())),
            }
        }
    }

    /// Stops accepting records and waits until every queued record is persisted.
    pub fn shutdown(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

fn write_loop(
    store: Arc<dyn Backend>,
    receiver: Receiver<Queued>,
    mut sequence: u64,
    mut hash: [u8; 32],
    healthy: Arc<AtomicBool>,
) {
    loop {
        let first = match receiver.recv_timeout(Duration::from_secs(1)) {
            Ok(item) => item,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let (mut next_sequence, mut next_hash) = (sequence, hash);
        let entries: Vec<AuditEntry> = batch
            .iter()
            .map(|item| {
                next_sequence += 1;
                next_hash = chain_hash(&next_hash, next_sequence, &item.record);
                AuditEntry {
                    sequence: next_sequence,
                    event_time: item.event_time,
                    record: item.record.clone(),
                    chain_hash: next_hash,
                }
            })
            .collect();
        if persist_with_retry(&*store, &entries) {
            sequence = next_sequence;
            hash = next_hash;
            for item in batch {
                if let Some(done) = item.durable {
                    let _ = done.send(());
                }
            }
        } else {
            tracing::error!("audit records could not be persisted; refusing further requests");
            healthy.store(false, Ordering::SeqCst);
            return;
        }
    }
}

fn persist_with_retry(store: &dyn Backend, entries: &[AuditEntry]) -> bool {
    for attempt in 0..5 {
        match store.append_audit(entries) {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(attempt, error = %e, "audit append failed");
                std::thread::sleep(Duration::from_millis(50 << attempt));
            }
        }
    }
    false
}

/// The chain hash of entry `sequence` given the hash before it.
pub fn chain_hash(previous: &[u8; 32], sequence: u64, record: &[u8]) -> [u8; 32] {
    let mut h = Sha256::default();
    h.update(previous);
    h.update(&sequence.to_be_bytes());
    h.update(record);
    h.finish()
}

/// Result of checking the persisted audit chain.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainCheck {
    Intact {
        records: u64,
    },
    /// The first entry whose hash or sequence does not follow from the ones before it.
    BrokenAt {
        sequence: u64,
    },
}

/// Recomputes the whole chain from the store.
pub fn verify_chain(store: &dyn Backend) -> Result<ChainCheck, CoreError> {
    let (mut sequence, mut hash) = (0u64, [0u8; 32]);
    loop {
        let page = store.audit_after(sequence, 1_000)?;
        if page.is_empty() {
            return Ok(ChainCheck::Intact { records: sequence });
        }
        for entry in page {
            let expected = chain_hash(&hash, sequence + 1, &entry.record);
            if entry.sequence != sequence + 1
                || !keyhaven_crypto::digest::constant_time_eq(&expected, &entry.chain_hash)
            {
                return Ok(ChainCheck::BrokenAt {
                    sequence: entry.sequence,
                });
            }
            sequence = entry.sequence;
            hash = entry.chain_hash;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhaven_store::testing::temp_store;

    fn event(name: &str) -> AuditEvent {
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

    #[tokio::test]
    async fn records_are_persisted_in_order_with_an_intact_chain() {
        let (_dir, store) = temp_store();
        let log = AuditLog::start(store.clone(), true).expect("start");
        for name in ["CreateKey", "Encrypt", "Decrypt"] {
            log.record(&event(name)).await.expect("record");
        }
        log.shutdown();
        let entries = store.audit_after(0, 10).expect("read");
        let names: Vec<String> = entries
            .iter()
            .map(|e| {
                serde_json::from_slice::<Value>(&e.record).expect("json")["eventName"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["CreateKey", "Encrypt", "Decrypt"]);
        assert_eq!(
            verify_chain(&*store).expect("verify"),
            ChainCheck::Intact { records: 3 }
        );
    }

    #[tokio::test]
    async fn chain_continues_across_restarts_and_detects_tampering() {
        let (_dir, store) = temp_store();
        for _ in 0..2 {
            let log = AuditLog::start(store.clone(), false).expect("start");
            log.record(&event("Encrypt")).await.expect("record");
            log.shutdown();
        }
        assert_eq!(
            verify_chain(&*store).expect("verify"),
            ChainCheck::Intact { records: 2 }
        );
        let mut forged = store.audit_after(0, 10).expect("read");
        forged[0].sequence = 3;
        forged[0].record = b"{\"eventName\":\"Forged\"}".to_vec();
        store.append_audit(&forged[..1]).expect("append");
        assert_eq!(
            verify_chain(&*store).expect("verify"),
            ChainCheck::BrokenAt { sequence: 3 }
        );
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
