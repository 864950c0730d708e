//! Log events: PutLogEvents (AWS's batch rules: chronological order, size, the 24-hour span; events too old, past
//! the retention or too far ahead are rejected and reported), each accepted batch sealed as one record — in a KMS
//! envelope under the group's key, as CloudWatch Logs itself, or else by the root key — and GetLogEvents and
//! FilterLogEvents, which open the batches they read. Events past the group's retention are never answered.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::on_behalf::KmsFailure;
use keyhaven_kernel::records;

use crate::error::{LogsError, LogsFault, fault, invalid};
use crate::groups::group_not_found;
use crate::model::{
    BatchRecord, GroupRecord, RECORD_VERSION, Sealing, StreamRecord, batch_id, batch_scope, stream_scope,
};
use crate::pattern::Pattern;
use crate::streams::stream_not_found;
use crate::{Logs, read, transact};

pub(crate) const MAX_BATCH_BYTES: usize = 1_048_576;
/// What each event adds to a batch's size beside its message.
pub(crate) const EVENT_OVERHEAD: usize = 26;
const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;
/// Events older than this are rejected (tooOldLogEventEndIndex).
const OLDEST_MS: i64 = 14 * DAY_MS;
/// Events further ahead than this are rejected (tooNewLogEventStartIndex).
const NEWEST_MS: i64 = 2 * HOUR_MS;

/// Which events of a batch were rejected, by index, as PutLogEvents reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rejected {
    pub too_new_start: Option<usize>,
    pub too_old_end: Option<usize>,
    pub expired_end: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub next_sequence_token: String,
    pub rejected: Option<Rejected>,
}

/// An event as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub stream: String,
    pub timestamp: i64,
    pub ingestion: i64,
    pub message: String,
    /// 56 digits, unique in the group.
    pub id: String,
}

/// Which of a stream's events a read needs.
#[derive(Debug, Clone, Copy)]
enum Take {
    All,
    First(usize),
    Last(usize),
}

/// A GetLogEvents page and the positions either side of it.
#[derive(Debug, Clone)]
pub struct EventsPage {
    pub events: Vec<Event>,
    pub forward: String,
    pub backward: String,
}

/// A FilterLogEvents request.
#[derive(Debug, Clone, Default)]
pub struct FilterQuery<'a> {
    pub streams: Option<Vec<String>>,
    pub stream_prefix: Option<&'a str>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub pattern: Option<&'a str>,
    pub token: Option<&'a str>,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct FilterPage {
    pub events: Vec<Event>,
    pub next_token: Option<String>,
}

/// How a KMS refusal of the group's key reads to the caller of a Logs operation.
fn key_refused(group: &GroupRecord, failure: KmsFailure) -> LogsError {
    let key = group.kms_key_arn.as_deref().unwrap_or_default();
    match failure {
        KmsFailure::Internal(detail) => LogsError::Internal(detail),
        KmsFailure::Unavailable => LogsError::Unavailable,
        KmsFailure::Disabled(_) => fault(
            LogsFault::KeyAccessDenied,
            format!(
                "The specified KMS key {key} is disabled, so CloudWatch Logs cannot use it for log group {}.",
                group.name
            ),
        ),
        _ => fault(
            LogsFault::KeyAccessDenied,
            format!(
                "The specified KMS key does not exist or is not allowed to be used with Arn '{}'",
                group.arn
            ),
        ),
    }
}

/// What a batch's seal is bound to: where it is stored.
fn batch_label(scope: &str, group: &str, stream: &str, id: &str) -> Vec<u8> {
    format!("logs-batch/{scope}/{group}/{stream}/{id}").into_bytes()
}

/// Checks a batch as PutLogEvents does and sorts out the events it rejects: answers the accepted range.
fn admit(
    events: &[(i64, String)],
    now: i64,
    retention_days: Option<i32>,
) -> Result<(usize, usize, Option<Rejected>), LogsError> {
    if events.windows(2).any(|w| w[1].0 < w[0].0) {
        return Err(invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    let size: usize = events.iter().map(|(_, m)| m.len() + EVENT_OVERHEAD).sum();
    if size > MAX_BATCH_BYTES {
        return Err(invalid(format!(
            "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    if let (Some(first), Some(last)) = (events.first(), events.last())
        && last.0 - first.0 > DAY_MS
    {
        return Err(invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    let expired_before = retention_days.map(|days| now - i64::from(days) * DAY_MS);
    let too_old = events.iter().take_while(|(t, _)| *t < now - OLDEST_MS).count();
    let expired = events
        .iter()
        .take_while(|(t, _)| expired_before.is_some_and(|cutoff| *t < cutoff))
        .count();
    let too_new = events.iter().position(|(t, _)| *t > now + NEWEST_MS);
    let start = too_old.max(expired);
    let end = too_new.unwrap_or(events.len()).max(start);
    // The end indexes are exclusive, as AWS answers them (one too-old event: `tooOldLogEventEndIndex` 1).
    let rejected = Rejected {
        too_new_start: too_new,
        too_old_end: (too_old > 0).then_some(too_old),
        expired_end: (expired > 0).then_some(expired),
    };
    let any = rejected != Rejected::default();
    Ok((start, end, any.then_some(rejected)))
}

impl Logs {
    fn stream(&self, ctx: &RequestContext, group: &str, stream: &str) -> Result<StreamRecord, LogsError> {
        let scope = stream_scope(&ctx.regional_scope(), group);
        read(&*self.store, |tx| Ok(records::get::<StreamRecord>(tx, &scope, stream)?))?.ok_or_else(stream_not_found)
    }

    pub fn put_log_events(
        &self,
        ctx: &RequestContext,
        group_name: &str,
        stream_name: &str,
        events: Vec<(i64, String)>,
    ) -> Result<Accepted, LogsError> {
        let group = self.group(ctx, group_name, "logs:PutLogEvents", Some(stream_name))?;
        let stream = self.stream(ctx, group_name, stream_name)?;
        let now = self.now_ms();
        let (start, end, rejected) = admit(&events, now, group.retention_days)?;
        let accepted = &events[start..end];
        let scope = ctx.regional_scope();
        let number = stream.batches;
        if let (Some(first), Some(last)) = (accepted.first(), accepted.last()) {
            // Fixed before sealing (the seal is bound to it), unique however many writers put to the stream at once.
            let id = batch_id(first.0, u64::from_be_bytes(keyhaven_crypto::random_array::<8>()?));
            let label = batch_label(&scope, group_name, stream_name, &id);
            let text = serde_json::to_vec(accepted)?;
            let (sealing, sealed) = match &group.kms_key_arn {
                Some(key) => {
                    let service = self.as_service(ctx);
                    let sealed = self
                        .on_behalf(&service)
                        .seal(key, &Self::key_context(&group.arn), &label, &text)
                        .map_err(|e| key_refused(&group, e))?;
                    (Sealing::Kms(key.clone()), sealed)
                }
                None => (Sealing::Service, self.root.seal(&label, &text)?),
            };
            let batch = BatchRecord {
                v: RECORD_VERSION,
                first: first.0,
                last: last.0,
                count: accepted.len(),
                ingestion: now,
                sealing,
                sealed: STANDARD.encode(sealed),
            };
            let (first, last) = (first.0, last.0);
            transact(&*self.store, |tx| {
                let streams = stream_scope(&scope, group_name);
                let mut current =
                    records::get::<StreamRecord>(tx, &streams, stream_name)?.ok_or_else(stream_not_found)?;
                if records::get::<GroupRecord>(tx, &scope, group_name)?.is_none() {
                    return Err(group_not_found());
                }
                records::put(tx, &batch_scope(&scope, group_name, stream_name), &id, &batch)?;
                current.batches += 1;
                current.first_event = Some(current.first_event.map_or(first, |f| f.min(first)));
                current.last_event = Some(current.last_event.map_or(last, |l| l.max(last)));
                current.last_ingestion = Some(now);
                records::put(tx, &streams, stream_name, &current)?;
                Ok(())
            })?;
        }
        Ok(Accepted {
            next_sequence_token: format!("{:056}", number + 1),
            rejected,
        })
    }

    /// The events of a stream still within the group's retention, with timestamps in `from..=to`, that `keep`
    /// keeps, in order (event ids sort as events do: time, then batch, then place). `Take::All` opens every batch
    /// that can hold such events; `Take::First(n)` and `Take::Last(n)` open batches from that end only until no
    /// unopened batch can hold one of the first (last) `n`, and answer just those.
    fn stream_events(
        &self,
        ctx: &RequestContext,
        group: &GroupRecord,
        stream: &str,
        (from, to): (i64, i64),
        keep: &dyn Fn(&Event) -> bool,
        take: Take,
    ) -> Result<Vec<Event>, LogsError> {
        let scope = ctx.regional_scope();
        let batches_scope = batch_scope(&scope, &group.name, stream);
        let cutoff = group
            .retention_days
            .map_or(i64::MIN, |days| self.now_ms() - i64::from(days) * DAY_MS);
        let from = from.max(cutoff);
        let mut batches: Vec<(String, BatchRecord)> =
            read(&*self.store, |tx| Ok(records::all::<BatchRecord>(tx, &batches_scope)?))?
                .into_iter()
                .filter(|(_, b)| b.last >= from && b.first <= to)
                .collect();
        match take {
            Take::Last(_) => batches.sort_by_key(|(_, b)| std::cmp::Reverse(b.last)),
            Take::First(_) | Take::All => batches.sort_by_key(|(_, b)| b.first),
        }
        let service = self.as_service(ctx);
        let mut events: Vec<Event> = Vec::new();
        for (position, (id, batch)) in batches.iter().enumerate() {
            let sealed = STANDARD
                .decode(&batch.sealed)
                .map_err(|_| LogsError::Internal("a sealed batch is not base64".into()))?;
            let label = batch_label(&scope, &group.name, stream, id);
            let text = match &batch.sealing {
                Sealing::Service => self.root.open(&label, &sealed)?,
                Sealing::Kms(_) => self
                    .on_behalf(&service)
                    .open(&sealed, &Self::key_context(&group.arn), &label)
                    .map_err(|e| key_refused(group, e))?,
            };
            let decoded: Vec<(i64, String)> = serde_json::from_slice(text.expose())?;
            let unique = id.rsplit('.').next().unwrap_or_default();
            events.extend(
                decoded
                    .into_iter()
                    .enumerate()
                    .filter(|(_, (timestamp, _))| (from..=to).contains(timestamp))
                    .map(|(index, (timestamp, message))| Event {
                        stream: stream.to_string(),
                        timestamp,
                        ingestion: batch.ingestion,
                        message,
                        id: format!("{timestamp:020}{unique}{index:016}"),
                    })
                    .filter(|e| keep(e)),
            );
            events.sort_by(|a, b| a.id.cmp(&b.id));
            let next = batches.get(position + 1).map(|(_, b)| b);
            let enough = match (take, next) {
                (Take::All, _) => false,
                (_, None) => true,
                (Take::First(n), Some(next)) => events
                    .get(n.saturating_sub(1))
                    .is_some_and(|e| e.timestamp < next.first),
                (Take::Last(n), Some(next)) => events
                    .len()
                    .checked_sub(n)
                    .and_then(|i| events.get(i))
                    .is_some_and(|e| e.timestamp > next.last),
            };
            if enough {
                break;
            }
        }
        match take {
            Take::All => {}
            Take::First(n) => events.truncate(n),
            Take::Last(n) => {
                events.drain(..events.len().saturating_sub(n));
            }
        }
        Ok(events)
    }

    /// GetLogEvents. Tokens name the event a page ended (`f/<id>`: go on after it) or began at (`b/<id>`: go back
    /// before it); at either end the token passed in comes back.
    #[allow(clippy::too_many_arguments)]
    pub fn get_log_events(
        &self,
        ctx: &RequestContext,
        group_name: &str,
        stream_name: &str,
        start: Option<i64>,
        end: Option<i64>,
        token: Option<&str>,
        limit: usize,
        from_head: bool,
    ) -> Result<EventsPage, LogsError> {
        let group = self.group(ctx, group_name, "logs:GetLogEvents", Some(stream_name))?;
        self.stream(ctx, group_name, stream_name)?;
        let bad_token = || invalid("The specified nextToken is invalid.");
        let limit = limit.max(1);
        let range = (start.unwrap_or(i64::MIN), end.map_or(i64::MAX, |e| e.saturating_sub(1)));
        let (forward, after) = match token {
            Some(token) => {
                let (direction, id) = token.split_once('/').ok_or_else(bad_token)?;
                if id.len() != 56 || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad_token());
                }
                match direction {
                    "f" => (true, Some(id.to_string())),
                    "b" => (false, Some(id.to_string())),
                    _ => return Err(bad_token()),
                }
            }
            None => (from_head, None),
        };
        // An event id begins with its time: batches wholly before (after) the token hold nothing to read.
        let token_time = after.as_ref().and_then(|id| id[..20].parse::<i64>().ok());
        let range = match token_time {
            Some(time) if forward => (range.0.max(time), range.1),
            Some(time) => (range.0, range.1.min(time)),
            None => range,
        };
        let keep = |e: &Event| match &after {
            Some(id) if forward => e.id.as_str() > id.as_str(),
            Some(id) => e.id.as_str() < id.as_str(),
            None => true,
        };
        let take = if forward { Take::First(limit) } else { Take::Last(limit) };
        let events = self.stream_events(ctx, &group, stream_name, range, &keep, take)?;
        let unchanged = || format!("{:056}", 0);
        let first = events
            .first()
            .map_or_else(|| after.clone().unwrap_or_else(unchanged), |e| e.id.clone());
        let last = events
            .last()
            .map_or_else(|| after.clone().unwrap_or_else(unchanged), |e| e.id.clone());
        Ok(EventsPage {
            events,
            forward: format!("f/{last}"),
            backward: format!("b/{first}"),
        })
    }

    pub fn filter_log_events(
        &self,
        ctx: &RequestContext,
        group_name: &str,
        query: &FilterQuery<'_>,
    ) -> Result<FilterPage, LogsError> {
        let group = self.group(ctx, group_name, "logs:FilterLogEvents", None)?;
        if query.streams.is_some() && query.stream_prefix.is_some() {
            return Err(invalid(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
            ));
        }
        let text = query.pattern.unwrap_or_default();
        let pattern = Pattern::parse(text).map_err(|_| {
            if text.trim_start().starts_with('{') && !text.trim_end().ends_with('}') {
                invalid("If a filter pattern starts with '{' it must end with '}'")
            } else {
                invalid("Invalid filter pattern")
            }
        })?;
        let scope = stream_scope(&ctx.regional_scope(), group_name);
        let streams: Vec<String> = read(&*self.store, |tx| Ok(records::all::<StreamRecord>(tx, &scope)?))?
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| query.streams.as_ref().is_none_or(|wanted| wanted.contains(name)))
            .filter(|name| query.stream_prefix.is_none_or(|p| name.starts_with(p)))
            .collect();
        let mut events = Vec::new();
        let range = (query.start.unwrap_or(i64::MIN), query.end.unwrap_or(i64::MAX));
        for stream in &streams {
            let matching = |e: &Event| pattern.matches(&e.message);
            events.extend(self.stream_events(ctx, &group, stream, range, &matching, Take::All)?);
        }
        events.sort_by(|a, b| (a.timestamp, &a.stream, &a.id).cmp(&(b.timestamp, &b.stream, &b.id)));
        let page = keyhaven_kernel::paging::by_offset(&events, query.limit, query.token)
            .map_err(|_| invalid("The specified nextToken is invalid."))?;
        Ok(FilterPage {
            events: page.items,
            next_token: page.next_marker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(times: &[i64]) -> Vec<(i64, String)> {
        times.iter().map(|t| (*t, "m".to_string())).collect()
    }

    #[test]
    fn batches_are_admitted_as_put_log_events_admits_them() {
        let now = 100 * DAY_MS;
        assert_eq!(admit(&events(&[now - 1, now]), now, None).expect("ok"), (0, 2, None));
        assert!(admit(&events(&[now, now - 1]), now, None).is_err(), "out of order");
        assert!(
            admit(&events(&[now - DAY_MS - 1, now]), now, None).is_err(),
            "more than 24 hours"
        );
        let big = vec![(now, "x".repeat(MAX_BATCH_BYTES))];
        assert!(admit(&big, now, None).is_err(), "too large");
        let old = now - OLDEST_MS;
        let (start, end, rejected) = admit(&events(&[old - 1, old + 1, old + 2]), now, None).expect("ok");
        assert_eq!((start, end), (1, 3));
        assert_eq!(
            rejected,
            Some(Rejected {
                too_new_start: None,
                too_old_end: Some(1),
                expired_end: None
            })
        );
        let (start, end, rejected) = admit(&events(&[now, now + NEWEST_MS + 1]), now, None).expect("ok");
        assert_eq!((start, end), (0, 1));
        assert_eq!(rejected.and_then(|r| r.too_new_start), Some(1));
        let (start, _, rejected) = admit(&events(&[now - DAY_MS - 10, now - DAY_MS + 10]), now, Some(1)).expect("ok");
        assert_eq!(start, 1);
        assert_eq!(rejected.and_then(|r| r.expired_end), Some(1));
    }
}
