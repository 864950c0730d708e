//! CloudTrail's event history over the audit log: the keys a management event is found by (one per lookup
//! attribute value, in its account and Region, plus one for every event there), written with each batch, and
//! `lookup`, which reads only the batches indexed under the key asked for, newest first.

use std::collections::HashSet;

use keyhaven_crypto::digest::sha256;
use keyhaven_store::Backend;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::log::batch_records;
use super::{AuditEvent, EventCategory};
use crate::context::PrincipalKind;
use crate::error::KernelError;

/// LookupEvents' attributes, by the names its `AttributeKey` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribute {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

impl Attribute {
    pub const ALL: [Attribute; 8] = [
        Attribute::EventId,
        Attribute::EventName,
        Attribute::ReadOnly,
        Attribute::Username,
        Attribute::ResourceType,
        Attribute::ResourceName,
        Attribute::EventSource,
        Attribute::AccessKeyId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attribute::EventId => "EventId",
            Attribute::EventName => "EventName",
            Attribute::ReadOnly => "ReadOnly",
            Attribute::Username => "Username",
            Attribute::ResourceType => "ResourceType",
            Attribute::ResourceName => "ResourceName",
            Attribute::EventSource => "EventSource",
            Attribute::AccessKeyId => "AccessKeyId",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// What of an event the history shows and finds it by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub account: String,
    pub region: String,
    pub management: bool,
    pub event_time: i64,
    pub event_id: String,
    pub event_name: String,
    pub read_only: bool,
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    /// (CloudTrail type, ARN) of each resource.
    pub resources: Vec<(String, String)>,
}

/// The name the event history gives a caller: an IAM user's name, a session's name (the last part of its ARN), `root`.
fn username(kind: &str, user_name: Option<&str>, arn: &str) -> Option<String> {
    match kind {
        "Root" => Some(user_name.unwrap_or("root").to_string()),
        "IAMUser" => user_name.map(str::to_string),
        "AssumedRole" | "FederatedUser" | "WebIdentityUser" => arn.rsplit('/').next().map(str::to_string),
        "SAMLUser" => user_name.map(str::to_string),
        _ => None,
    }
}

impl Found {
    /// The event as the pipeline recorded it.
    pub fn of_event(event: &AuditEvent) -> Self {
        let principal = event.principal.as_ref();
        Self {
            account: event.recipient_account_id.clone(),
            region: event.region.clone(),
            management: event.category == EventCategory::Management,
            event_time: event.event_time.unix_timestamp(),
            event_id: event.event_id.clone(),
            event_name: event.event_name.clone(),
            read_only: event.read_only,
            event_source: event.event_source.clone(),
            username: principal.and_then(|p| username(p.kind.as_str(), p.user_name.as_deref(), &p.arn)),
            access_key_id: principal
                .filter(|p| p.kind != PrincipalKind::Service)
                .map(|p| p.access_key_id.clone())
                .filter(|k| !k.is_empty()),
            resources: event
                .resources
                .iter()
                .map(|r| (r.resource_type.to_string(), r.arn.clone()))
                .collect(),
        }
    }

    /// A stored record (CloudTrail JSON).
    pub fn of_record(record: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let identity = &record["userIdentity"];
        Self {
            account: text(&record["recipientAccountId"]),
            region: text(&record["awsRegion"]),
            management: record["managementEvent"].as_bool().unwrap_or(true),
            event_time: OffsetDateTime::parse(record["eventTime"].as_str().unwrap_or_default(), &Rfc3339)
                .map_or(0, OffsetDateTime::unix_timestamp),
            event_id: text(&record["eventID"]),
            event_name: text(&record["eventName"]),
            read_only: record["readOnly"].as_bool().unwrap_or(false),
            event_source: text(&record["eventSource"]),
            username: username(
                identity["type"].as_str().unwrap_or_default(),
                identity["userName"].as_str(),
                identity["arn"].as_str().unwrap_or_default(),
            ),
            access_key_id: identity["accessKeyId"]
                .as_str()
                .filter(|k| !k.is_empty())
                .map(str::to_string),
            resources: record["resources"]
                .as_array()
                .map(|all| all.iter().map(|r| (text(&r["type"]), text(&r["ARN"]))).collect())
                .unwrap_or_default(),
        }
    }

    /// What the event is found by, taking its text: nothing for data events, which the event history does not show.
    /// An event id that carries its time (a version-7 UUID, as the pipeline makes them) needs no key of its own: the
    /// lookup reads the batches of that moment.
    pub(crate) fn into_keys(self) -> EventKeys {
        if !self.management {
            return EventKeys::default();
        }
        let mut values = Vec::with_capacity(8 + 4 * self.resources.len());
        if crate::ids::uuid_v7_millis(&self.event_id).is_none() {
            values.push((Attribute::EventId, self.event_id));
        }
        values.push((Attribute::ReadOnly, self.read_only.to_string()));
        for (kind, arn) in self.resources {
            values.extend(resource_names(&arn).into_iter().map(|n| (Attribute::ResourceName, n)));
            values.push((Attribute::ResourceType, kind));
        }
        values.extend(self.username.map(|u| (Attribute::Username, u)));
        values.extend(self.access_key_id.map(|k| (Attribute::AccessKeyId, k)));
        values.push((Attribute::EventName, self.event_name));
        values.push((Attribute::EventSource, self.event_source));
        EventKeys {
            account: self.account,
            region: self.region,
            values,
            indexed: true,
        }
    }

    fn matches(&self, query: &Query<'_>) -> bool {
        self.management
            && self.account == query.account
            && self.region == query.region
            && (query.from..=query.to).contains(&self.event_time)
            && query.attribute.is_none_or(|(attribute, value)| match attribute {
                Attribute::EventId => self.event_id == value,
                _ => self
                    .clone()
                    .into_keys()
                    .values
                    .iter()
                    .any(|(a, v)| *a == attribute && v == value),
            })
    }
}

/// The names a resource is found by: its ARN, the resource after its type (`/bench/logs` of
/// `…:log-group:/bench/logs`, `path/alice` of `…:user/path/alice`, the bucket of an S3 bucket ARN), and the last part
/// of that (`alice`, a key's id).
fn resource_names(arn: &str) -> Vec<String> {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    let typed = match arn.split(':').nth(2) {
        Some("s3") => resource,
        _ => resource.split_once(['/', ':']).map_or(resource, |(_, name)| name),
    };
    let last = typed.rsplit('/').next().unwrap_or(typed);
    vec![arn.to_string(), typed.to_string(), last.to_string()]
}

/// Values longer than this are indexed by their SHA-256, so that index keys stay short.
const LONGEST_INDEXED_VALUE: usize = 256;

/// The index key of an account and Region's events, or of those with one attribute's value.
fn key(account: &str, region: &str, attribute: Option<(Attribute, &str)>) -> String {
    match attribute {
        None => format!("{account}\n{region}"),
        Some((attribute, value)) if value.len() > LONGEST_INDEXED_VALUE => {
            format!(
                "{account}\n{region}\n{}\n#{}",
                attribute.name(),
                hex::encode(sha256(value.as_bytes()))
            )
        }
        Some((attribute, value)) => format!("{account}\n{region}\n{}\n{value}", attribute.name()),
    }
}

/// What one event is found by: its account and Region, and its attributes' values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EventKeys {
    account: String,
    region: String,
    values: Vec<(Attribute, String)>,
    /// False for events the history does not show.
    indexed: bool,
}

impl EventKeys {
    /// The index keys of this event alone, one per value, and one for every event of the account and Region.
    #[cfg(test)]
    fn strings(&self) -> Vec<String> {
        batch_keys([self].into_iter())
            .into_iter()
            .filter(|k| k != BATCH_MARKER)
            .collect()
    }
}

/// An index key before its text is made: account, Region, and the attribute's value (none: every event there).
type KeyParts<'a> = (&'a str, &'a str, Option<(Attribute, &'a str)>);

/// The key every batch is indexed under, whatever its events: the index's newest batch is the log's newest, so the
/// backfill at start reads nothing already indexed (a batch of data events alone would otherwise leave no row).
const BATCH_MARKER: &str = "batch";

/// The keys of a batch: every key of any of its events, once (alike events share them: they are told apart before
/// any key text is made).
pub(crate) fn batch_keys<'a>(events: impl Iterator<Item = &'a EventKeys>) -> Vec<String> {
    let mut distinct: HashSet<KeyParts<'_>> = HashSet::new();
    for event in events.filter(|e| e.indexed) {
        distinct.insert((&event.account, &event.region, None));
        for (attribute, value) in &event.values {
            distinct.insert((&event.account, &event.region, Some((*attribute, value))));
        }
    }
    distinct
        .into_iter()
        .map(|(account, region, attribute)| key(account, region, attribute))
        .chain([BATCH_MARKER.to_string()])
        .collect()
}

/// Where a lookup goes on: before record `index` of the batch starting at `batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub batch: u64,
    pub index: usize,
}

/// One LookupEvents request, already checked.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub attribute: Option<(Attribute, &'a str)>,
    /// Event times, inclusive, in unix seconds.
    pub from: i64,
    pub to: i64,
    pub limit: usize,
    pub after: Option<Position>,
}

/// An event found: what the history shows of it and its whole record.
#[derive(Debug, Clone)]
pub struct FoundEvent {
    pub found: Found,
    pub record: Value,
}

/// How many indexed batches one step of a lookup reads the index for.
const BATCHES_PER_STEP: usize = 16;

/// The events matching `query`, newest first, and where to go on when there may be more.
pub fn lookup(store: &dyn Backend, query: &Query<'_>) -> Result<(Vec<FoundEvent>, Option<Position>), KernelError> {
    // An event id that carries its time is found among the events of that second (the record's time is the same
    // instant, to the second).
    let id_time = match query.attribute {
        Some((Attribute::EventId, id)) => crate::ids::uuid_v7_millis(id).map(|millis| millis / 1000),
        _ => None,
    };
    let index_key = match (query.attribute, id_time) {
        (Some((attribute, value)), None) => key(query.account, query.region, Some((attribute, value))),
        _ => key(query.account, query.region, None),
    };
    let narrowed;
    let query = match id_time {
        Some(second) => {
            narrowed = Query {
                from: query.from.max(second),
                to: query.to.min(second),
                ..*query
            };
            &narrowed
        }
        None => query,
    };
    // A value JSON writes as it is (no quote, backslash or control character to escape) is in the text of every
    // record that has it.
    let needle = query
        .attribute
        .map(|(_, value)| value)
        .filter(|v| {
            !v.is_empty()
                && !v
                    .chars()
                    .any(|c| c == '"' || c == '\\' || c.is_control() || !c.is_ascii())
        })
        .map(|v| memchr::memmem::Finder::new(v.as_bytes()).into_owned());
    let mut events = Vec::new();
    let mut before = query.after.map_or(u64::MAX, |p| p.batch.saturating_add(1));
    loop {
        let batches = store.lookup_audit(&index_key, before, query.from, query.to, BATCHES_PER_STEP)?;
        let Some(&oldest) = batches.last() else {
            return Ok((events, None));
        };
        for first_sequence in batches {
            let Some(batch) = store.audit_batch(first_sequence)? else {
                continue; // Pruned since the index was read.
            };
            let records = batch_records(&batch)?;
            let end = match query.after {
                Some(p) if p.batch == first_sequence => p.index.min(records.len()),
                _ => records.len(),
            };
            for index in (0..end).rev() {
                // Most records of a batch the index named lack the value: look for its text before parsing.
                if needle.as_ref().is_some_and(|n| n.find(&records[index]).is_none()) {
                    continue;
                }
                let Ok(record) = serde_json::from_slice::<Value>(&records[index]) else {
                    continue;
                };
                let found = Found::of_record(&record);
                if !found.matches(query) {
                    continue;
                }
                if events.len() == query.limit {
                    let next = Position {
                        batch: first_sequence,
                        index: index + 1,
                    };
                    return Ok((events, Some(next)));
                }
                events.push(FoundEvent { found, record });
            }
        }
        before = oldest;
    }
}

/// Indexes the batches stored after the index's newest (those written before it existed, or moved from another
/// store): run once at start.
pub(crate) fn backfill(store: &dyn Backend) -> Result<u64, KernelError> {
    let mut after = store.audit_indexed_through()?.unwrap_or(0);
    let mut indexed = 0;
    loop {
        let page = store.audit_after(after, 64)?;
        let Some(last) = page.last() else {
            return Ok(indexed);
        };
        after = last.first_sequence;
        for batch in &page {
            let keys: Vec<EventKeys> = batch_records(batch)?
                .into_iter()
                .filter_map(|r| serde_json::from_slice::<Value>(&r).ok())
                .map(|r| Found::of_record(&r).into_keys())
                .collect();
            store.index_audit(batch, &batch_keys(keys.iter()))?;
            indexed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tests::event;

    #[test]
    fn an_event_and_its_record_are_found_by_the_same_keys() {
        let mut e = event("Decrypt");
        e.resources = vec![crate::audit::AuditResource {
            arn: "arn:aws:kms:us-east-1:111122223333:key/k1".into(),
            resource_type: "AWS::KMS::Key",
            account_id: "111122223333".into(),
        }];
        let from_event = Found::of_event(&e);
        let from_record = Found::of_record(&e.to_record());
        assert_eq!(from_event, from_record);
        let keys = from_event.into_keys().strings();
        for expected in [
            "111122223333\nus-east-1",
            "111122223333\nus-east-1\nEventName\nDecrypt",
            "111122223333\nus-east-1\nUsername\nroot",
            "111122223333\nus-east-1\nAccessKeyId\nAKIAEXAMPLE",
            "111122223333\nus-east-1\nResourceName\narn:aws:kms:us-east-1:111122223333:key/k1",
            "111122223333\nus-east-1\nResourceName\nk1",
            "111122223333\nus-east-1\nResourceType\nAWS::KMS::Key",
            "111122223333\nus-east-1\nReadOnly\nfalse",
            "111122223333\nus-east-1\nEventSource\nkms.amazonaws.com",
        ] {
            assert!(keys.iter().any(|k| k == expected), "{expected:?} in {keys:?}");
        }
    }

    #[test]
    fn resources_are_found_by_arn_and_by_name() {
        let cases: &[(&str, &[&str])] = &[
            (
                "arn:aws:logs:us-east-1:111122223333:log-group:/bench/logs",
                &["/bench/logs", "logs"],
            ),
            ("arn:aws:kms:us-east-1:111122223333:key/1234abcd", &["1234abcd"]),
            ("arn:aws:iam::111122223333:user/team/alice", &["team/alice", "alice"]),
            ("arn:aws:s3:::my-bucket", &["my-bucket"]),
            ("arn:aws:cloudtrail:us-east-1:111122223333:trail/audit", &["audit"]),
        ];
        for (arn, names) in cases {
            let found = resource_names(arn);
            assert!(found.contains(&arn.to_string()), "{arn}");
            for name in *names {
                assert!(found.contains(&name.to_string()), "{name} of {arn}: {found:?}");
            }
        }
    }

    #[test]
    fn an_event_id_that_carries_its_time_needs_no_key() {
        let mut e = event("Encrypt");
        e.event_id = crate::ids::uuid_v7(e.event_time).expect("id");
        assert_eq!(
            crate::ids::uuid_v7_millis(&e.event_id),
            Some(e.event_time.unix_timestamp() * 1000)
        );
        assert!(
            !Found::of_event(&e)
                .into_keys()
                .strings()
                .iter()
                .any(|k| k.contains("\nEventId\n"))
        );
        e.event_id = crate::ids::new_uuid().expect("id");
        assert_eq!(crate::ids::uuid_v7_millis(&e.event_id), None);
        assert!(
            Found::of_event(&e)
                .into_keys()
                .strings()
                .iter()
                .any(|k| k.contains("\nEventId\n"))
        );
    }

    #[test]
    fn data_events_are_not_indexed_and_long_values_are_hashed() {
        let mut e = event("GetObject");
        e.category = EventCategory::Data;
        let keys = Found::of_event(&e).into_keys();
        assert!(keys.strings().is_empty());
        assert_eq!(
            batch_keys([&keys].into_iter()),
            [BATCH_MARKER],
            "a batch is indexed whatever its events"
        );
        let long = "x".repeat(LONGEST_INDEXED_VALUE + 1);
        let k = key("a", "r", Some((Attribute::ResourceName, &long)));
        assert!(
            k.len() < 100 && k.ends_with(&hex::encode(sha256(long.as_bytes()))),
            "{k}"
        );
    }
}
