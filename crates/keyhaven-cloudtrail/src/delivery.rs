//! Delivery: a logging trail's job reads the audit log after where the trail's delivery stands, keeps the records
//! its selectors choose, and writes them per Region as a gzipped `{"Records": [...]}` log file into the trail's bucket
//! (SSE-KMS under the trail's key, if it has one). With log file validation, each Region's delivered files are listed
//! hourly in a digest file, signed SHA256withRSA with the Region's key and chained to the previous digest. Where
//! delivery stands moves on only after the files are written, so records are delivered at least once, across
//! restarts and crashes; audit retention never prunes what a trail has yet to deliver.

use std::collections::BTreeMap;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use keyhaven_crypto::digest::sha256;
use keyhaven_kernel::KernelError;
use keyhaven_kernel::audit::{AuditLog, batch_records};
use keyhaven_kernel::on_behalf::{DeliveryFailure, ObjectFailure, ServiceObject};
use keyhaven_kernel::records;
use keyhaven_kernel::scheduler::{JobHandler, job_failed};
use keyhaven_store::Job;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::model::{DigestChain, LogFile, PreviousDigest, TRAIL_SCOPE, TrailRecord};
use crate::trails::{all_trails, cloud_watch_stream};
use crate::{CloudTrail, CloudTrailError, read, transact};

const JOB_KIND: &str = "cloudtrail.deliver";
/// How many audit batches one delivery reads at most; a longer backlog goes on at the next run.
const MAX_BATCHES_PER_RUN: usize = 1024;
const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
const HASH_ALGORITHM: &str = "SHA-256";
/// Services whose events are global: delivered to trails that include global service events, whatever their Region.
const GLOBAL_SOURCES: [&str; 1] = ["iam.amazonaws.com"];

#[derive(Serialize, Deserialize)]
struct Payload {
    id: String,
    arn: String,
}

fn iso(time: i64) -> String {
    OffsetDateTime::from_unix_timestamp(time)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn formatted(time: i64, format: &[time::format_description::FormatItem<'_>]) -> String {
    OffsetDateTime::from_unix_timestamp(time)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, CloudTrailError> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 8 + 64), Compression::default());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| CloudTrailError::Internal(format!("compressing a log file: {e}")))
}

/// Records bound for one Region's log file: their text as stored, and their event times.
#[derive(Default)]
struct RegionRecords {
    texts: Vec<Vec<u8>>,
    newest: i64,
    oldest: i64,
}

/// A digest file's JSON, in CloudTrail's member order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Digest<'a> {
    aws_account_id: &'a str,
    digest_start_time: String,
    digest_end_time: String,
    #[serde(rename = "digestS3Bucket")]
    digest_s3_bucket: &'a str,
    #[serde(rename = "digestS3Object")]
    digest_s3_object: &'a str,
    digest_public_key_fingerprint: &'a str,
    digest_signature_algorithm: &'static str,
    newest_event_time: Option<String>,
    oldest_event_time: Option<String>,
    #[serde(rename = "previousDigestS3Bucket")]
    previous_digest_s3_bucket: Option<&'a str>,
    #[serde(rename = "previousDigestS3Object")]
    previous_digest_s3_object: Option<&'a str>,
    previous_digest_hash_value: Option<&'a str>,
    previous_digest_hash_algorithm: Option<&'static str>,
    previous_digest_signature: Option<&'a str>,
    log_files: Vec<DigestLogFile<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DigestLogFile<'a> {
    #[serde(rename = "s3Bucket")]
    s3_bucket: &'a str,
    #[serde(rename = "s3Object")]
    s3_object: &'a str,
    hash_value: &'a str,
    hash_algorithm: &'static str,
    newest_event_time: String,
    oldest_event_time: String,
}

/// The S3 error code a failed write shows in the trail's status.
fn failure_code(failure: &ObjectFailure) -> String {
    match failure {
        ObjectFailure::Internal(_) => "InternalError".to_string(),
        ObjectFailure::Unavailable => "ServiceUnavailable".to_string(),
        other => other.to_string(),
    }
}

impl CloudTrail {
    /// The trail's delivery job, due at `due`.
    pub(crate) fn delivery_job(&self, trail: &TrailRecord, due: i64) -> Job {
        let id = trail.id();
        let payload = Payload {
            id: id.clone(),
            arn: trail.arn.clone(),
        };
        Job {
            id: format!("{JOB_KIND}/{id}"),
            due_at: due,
            kind: JOB_KIND.to_string(),
            payload: serde_json::to_vec(&payload).unwrap_or_default(),
        }
    }

    /// The last record every trail has delivered, for audit retention: what trails that log (or have records to
    /// flush) have delivered, everything without them.
    pub(crate) fn delivered_mark(store: &dyn keyhaven_store::Backend) -> Result<u64, KernelError> {
        let trails = read(store, |tx| all_trails(tx, None)).map_err(|e| KernelError::Internal(format!("{e:?}")))?;
        Ok(trails
            .iter()
            .filter(|t| t.delivering())
            .map(TrailRecord::delivered_through)
            .min()
            .unwrap_or(u64::MAX))
    }

    /// Whether `trail` delivers `record`: the trail's account, a Region it covers, no later than logging stopped,
    /// chosen by its selectors.
    fn delivers(trail: &TrailRecord, record: &Value, stopped: Option<i64>) -> bool {
        let region = record["awsRegion"].as_str().unwrap_or_default();
        let source = record["eventSource"].as_str().unwrap_or_default();
        let covered = trail.multi_region
            || region == trail.home_region
            || (trail.include_global_service_events && GLOBAL_SOURCES.contains(&source));
        let in_time = stopped.is_none_or(|stop| {
            record["eventTime"]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .is_none_or(|t| t.unix_timestamp() <= stop)
        });
        record["recipientAccountId"].as_str() == Some(trail.account.as_str())
            && covered
            && in_time
            && trail.selectors.select(record)
    }

    /// Writes one Region's log file; answers what the digest lists of it.
    fn write_log_file(
        &self,
        trail: &TrailRecord,
        region: &str,
        records: &RegionRecords,
        now: i64,
    ) -> Result<Result<LogFile, ObjectFailure>, CloudTrailError> {
        let mut text = b"{\"Records\":[".to_vec();
        for (index, record) in records.texts.iter().enumerate() {
            if index > 0 {
                text.push(b',');
            }
            text.extend_from_slice(record);
        }
        text.extend_from_slice(b"]}");
        let date = formatted(now, format_description!("[year]/[month]/[day]"));
        let stamp = formatted(now, format_description!("[year][month][day]T[hour][minute]Z"));
        let unique = keyhaven_kernel::ids::unique_id("", 16)?;
        let key = format!(
            "{}CloudTrail/{region}/{date}/{}_CloudTrail_{region}_{stamp}_{unique}.json.gz",
            trail.logs_prefix(),
            trail.account
        );
        let body = gzip(&text)?;
        let context = [("aws:cloudtrail:arn", trail.arn.as_str())];
        let object = ServiceObject {
            bucket: &trail.s3_bucket,
            key: &key,
            body: &body,
            content_type: "application/json",
            metadata: &[],
            kms: trail.kms_key_arn.as_deref().map(|k| (k, &context[..])),
        };
        let ctx = self.as_service(&trail.account, &trail.home_region);
        let written = self
            .objects
            .put_service_object(&ctx, &object, &Self::delivery_keys(&trail.arn, &trail.account));
        Ok(written.map(|()| LogFile {
            bucket: trail.s3_bucket.clone(),
            key,
            hash: hex::encode(sha256(&text)),
            newest_event_time: records.newest,
            oldest_event_time: records.oldest,
        }))
    }

    /// Writes the Region's digest of `chain` ending at `end`; answers the chain the next digest continues.
    fn write_digest(
        &self,
        trail: &TrailRecord,
        region: &str,
        chain: &DigestChain,
        end: i64,
    ) -> Result<Result<DigestChain, ObjectFailure>, CloudTrailError> {
        let signing = self.signing_key(&trail.home_region, end)?;
        let date = formatted(end, format_description!("[year]/[month]/[day]"));
        let stamp = formatted(end, format_description!("[year][month][day]T[hour][minute][second]Z"));
        let key = format!(
            "{}CloudTrail-Digest/{region}/{date}/{}_CloudTrail-Digest_{region}_{}_{}_{stamp}.json.gz",
            trail.logs_prefix(),
            trail.account,
            trail.name,
            trail.home_region
        );
        let previous = chain.previous.as_ref();
        let digest = Digest {
            aws_account_id: &trail.account,
            digest_start_time: iso(chain.start),
            digest_end_time: iso(end),
            digest_s3_bucket: &trail.s3_bucket,
            digest_s3_object: &key,
            digest_public_key_fingerprint: &signing.fingerprint,
            digest_signature_algorithm: SIGNATURE_ALGORITHM,
            newest_event_time: chain.logs.iter().map(|l| l.newest_event_time).max().map(iso),
            oldest_event_time: chain.logs.iter().map(|l| l.oldest_event_time).min().map(iso),
            previous_digest_s3_bucket: previous.map(|p| p.bucket.as_str()),
            previous_digest_s3_object: previous.map(|p| p.key.as_str()),
            previous_digest_hash_value: previous.map(|p| p.hash.as_str()),
            previous_digest_hash_algorithm: previous.map(|_| HASH_ALGORITHM),
            previous_digest_signature: previous.map(|p| p.signature.as_str()),
            log_files: chain
                .logs
                .iter()
                .map(|l| DigestLogFile {
                    s3_bucket: &l.bucket,
                    s3_object: &l.key,
                    hash_value: &l.hash,
                    hash_algorithm: HASH_ALGORITHM,
                    newest_event_time: iso(l.newest_event_time),
                    oldest_event_time: iso(l.oldest_event_time),
                })
                .collect(),
        };
        let text = serde_json::to_vec(&digest)?;
        let hash = hex::encode(sha256(&text));
        // What `aws cloudtrail validate-logs` verifies: the end time, where the digest is, its hash and the
        // previous signature (`null` for the first of a chain).
        let signed = format!(
            "{}\n{}/{key}\n{hash}\n{}",
            iso(end),
            trail.s3_bucket,
            previous.map_or("null", |p| p.signature.as_str())
        );
        let signature = signing.sign(signed.as_bytes())?;
        let body = gzip(&text)?;
        let metadata = [
            ("signature", signature.as_str()),
            ("signature-algorithm", SIGNATURE_ALGORITHM),
        ];
        // Digest files are always SSE-S3, whatever the trail's key.
        let object = ServiceObject {
            bucket: &trail.s3_bucket,
            key: &key,
            body: &body,
            content_type: "application/json",
            metadata: &metadata,
            kms: None,
        };
        let ctx = self.as_service(&trail.account, &trail.home_region);
        let written = self
            .objects
            .put_service_object(&ctx, &object, &Self::delivery_keys(&trail.arn, &trail.account));
        Ok(written.map(|()| DigestChain {
            start: end,
            previous: Some(PreviousDigest {
                bucket: trail.s3_bucket.clone(),
                key,
                hash,
                signature,
            }),
            logs: Vec::new(),
        }))
    }

    /// Puts each Region's records into the trail's log group through its role; answers the error, if any (the
    /// records are tried again at the next run).
    fn deliver_to_cloud_watch(
        &self,
        trail: &TrailRecord,
        events: BTreeMap<String, Vec<(i64, String)>>,
    ) -> Option<String> {
        let destination = trail.cloud_watch.as_ref()?;
        if events.is_empty() {
            return None;
        }
        let delivered = self.as_role(trail, &destination.role_arn).and_then(|ctx| {
            events.into_iter().try_for_each(|(region, events)| {
                let stream = cloud_watch_stream(&trail.account, &region);
                self.logs.deliver(&ctx, &destination.group_arn, &stream, events)
            })
        });
        delivered.err().map(|failure| {
            tracing::warn!(trail = %trail.arn, error = %failure, "trail delivery to CloudWatch Logs failed");
            match failure {
                DeliveryFailure::NotFound(_) => "LogGroupNotFound".to_string(),
                DeliveryFailure::AccessDenied(_) => "AccessDenied".to_string(),
                DeliveryFailure::Refused(message) => message,
                DeliveryFailure::Internal(_) | DeliveryFailure::Unavailable => "InternalFailure".to_string(),
            }
        })
    }

    /// One delivery run of the trail the job names.
    fn deliver(&self, job: &Job) -> Result<(), CloudTrailError> {
        let payload: Payload = serde_json::from_slice(&job.payload)?;
        let now = self.now();
        let trail = read(&*self.store, |tx| {
            Ok(records::get::<TrailRecord>(tx, TRAIL_SCOPE, &payload.id)?)
        })?
        .filter(|t| t.arn == payload.arn);
        let Some(trail) = trail else {
            transact(&*self.store, |tx| Ok(tx.cancel(&job.id)?))?;
            return Ok(());
        };
        let stopped = (!trail.logging).then(|| trail.stop_logging_time.unwrap_or(now));
        // Each destination has its own position: read from the older one.
        let mut through = trail.delivered_through();
        let mut regions: BTreeMap<String, RegionRecords> = BTreeMap::new();
        let mut cloud_watch_events: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
        let mut read_batches = 0;
        let mut backlog = false;
        loop {
            let page = self.store.audit_after(through, 64)?;
            if page.is_empty() {
                break;
            }
            for batch in &page {
                for (index, text) in batch_records(batch)?.into_iter().enumerate() {
                    let sequence = batch.first_sequence + index as u64;
                    let Ok(record) = serde_json::from_slice::<Value>(&text) else {
                        continue;
                    };
                    if !Self::delivers(&trail, &record, stopped) {
                        continue;
                    }
                    let time = record["eventTime"]
                        .as_str()
                        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                        .map_or(now, OffsetDateTime::unix_timestamp);
                    let region = record["awsRegion"].as_str().unwrap_or(&trail.home_region).to_string();
                    if trail.cloud_watch.is_some() && sequence > trail.delivery.cloud_watch_through {
                        cloud_watch_events
                            .entry(region.clone())
                            .or_default()
                            .push((time * 1000, String::from_utf8_lossy(&text).into_owned()));
                    }
                    if sequence <= trail.delivery.through {
                        continue;
                    }
                    let entry = regions.entry(region).or_insert_with(|| RegionRecords {
                        newest: time,
                        oldest: time,
                        ..Default::default()
                    });
                    entry.newest = entry.newest.max(time);
                    entry.oldest = entry.oldest.min(time);
                    entry.texts.push(text);
                }
                through = batch.last_sequence;
            }
            read_batches += page.len();
            if read_batches >= MAX_BATCHES_PER_RUN {
                backlog = true;
                break;
            }
        }
        let cloud_watch_error = self.deliver_to_cloud_watch(&trail, cloud_watch_events);
        let mut chains = trail.delivery.chains.clone();
        let new_chain = || DigestChain {
            start: trail
                .start_logging_time
                .filter(|_| trail.delivery.chains.is_empty())
                .unwrap_or(now),
            ..Default::default()
        };
        if trail.log_file_validation && (trail.logging || !chains.is_empty()) {
            chains.entry(trail.home_region.clone()).or_insert_with(new_chain);
        }
        let mut delivery_error = None;
        let mut delivered_any = false;
        for (region, records) in &regions {
            match self.write_log_file(&trail, region, records, now)? {
                Ok(file) => {
                    delivered_any = true;
                    if trail.log_file_validation {
                        chains.entry(region.clone()).or_insert_with(new_chain).logs.push(file);
                    }
                }
                Err(failure) => {
                    tracing::warn!(trail = %trail.arn, error = %failure, "trail delivery failed");
                    delivery_error = Some(failure_code(&failure));
                    break;
                }
            }
        }
        // Stopped and caught up: the last digests close the chains.
        let finished = stopped.is_some() && !backlog && delivery_error.is_none();
        let mut digest_error = None;
        let mut digest_written = false;
        if trail.log_file_validation {
            for (region, chain) in chains.iter_mut() {
                let due = now - chain.start >= self.settings.digest_seconds;
                if !(due || finished) || now <= chain.start {
                    continue;
                }
                match self.write_digest(&trail, region, chain, now)? {
                    Ok(next) => {
                        *chain = next;
                        digest_written = true;
                    }
                    Err(failure) => {
                        tracing::warn!(trail = %trail.arn, error = %failure, "digest delivery failed");
                        digest_error = Some(failure_code(&failure));
                    }
                }
            }
        }
        if finished {
            chains.clear();
        }
        let next_run = now + self.settings.interval_seconds;
        transact(&*self.store, |tx| {
            let Some(mut current) = records::get::<TrailRecord>(tx, TRAIL_SCOPE, &payload.id)? else {
                tx.cancel(&job.id)?;
                return Ok(());
            };
            let delivery = &mut current.delivery;
            if !regions.is_empty() || delivery_error.is_some() {
                delivery.latest_delivery_attempt_time = Some(now);
            }
            if current.cloud_watch.is_some() && current.cloud_watch == trail.cloud_watch {
                match &cloud_watch_error {
                    None => {
                        delivery.cloud_watch_through = delivery.cloud_watch_through.max(through);
                        delivery.latest_cloud_watch_delivery_time = Some(now);
                        delivery.latest_cloud_watch_delivery_error = None;
                    }
                    Some(error) => delivery.latest_cloud_watch_delivery_error = Some(error.clone()),
                }
            }
            match &delivery_error {
                None => {
                    delivery.through = delivery.through.max(through);
                    if delivered_any {
                        delivery.latest_delivery_time = Some(now);
                        delivery.latest_delivery_attempt_succeeded = Some(now);
                    }
                    delivery.latest_delivery_error = None;
                }
                Some(code) => delivery.latest_delivery_error = Some(code.clone()),
            }
            if digest_written {
                delivery.latest_digest_delivery_time = Some(now);
            }
            if digest_error.is_some() || digest_written {
                delivery.latest_digest_delivery_error.clone_from(&digest_error);
            }
            // A chain StartLogging or UpdateTrail restarted meanwhile stays restarted.
            if current.start_logging_time == trail.start_logging_time
                && current.log_file_validation == trail.log_file_validation
            {
                delivery.chains.clone_from(&chains);
            }
            let keep_going = current.logging || !finished || current.stop_logging_time != trail.stop_logging_time;
            current.delivery.flushed = !keep_going;
            if keep_going {
                let due = if backlog { now } else { next_run };
                tx.schedule(&self.delivery_job(&current, due))?;
            } else {
                tx.cancel(&job.id)?;
            }
            records::put(tx, TRAIL_SCOPE, &payload.id, &current)?;
            Ok(())
        })
    }
}

impl JobHandler for CloudTrail {
    fn run(&self, job: &Job, _audit: &AuditLog) -> Result<(), KernelError> {
        self.deliver(job).map_err(job_failed)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::selectors::Selectors;

    fn trail(multi_region: bool) -> TrailRecord {
        TrailRecord {
            v: 1,
            name: "t".into(),
            account: "111122223333".into(),
            home_region: "us-east-1".into(),
            arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/t".into(),
            s3_bucket: "b".into(),
            s3_key_prefix: None,
            include_global_service_events: true,
            multi_region,
            log_file_validation: true,
            kms_key_arn: None,
            cloud_watch: None,
            selectors: Selectors::default(),
            insight_selectors: Vec::new(),
            tags: vec![],
            logging: true,
            start_logging_time: Some(0),
            stop_logging_time: None,
            delivery: Default::default(),
        }
    }

    fn record(account: &str, region: &str, source: &str, time: &str) -> Value {
        json!({
            "recipientAccountId": account, "awsRegion": region, "eventSource": source, "eventTime": time,
            "eventName": "X", "readOnly": false, "managementEvent": true,
        })
    }

    #[test]
    fn a_trail_delivers_its_accounts_records_of_the_regions_it_covers() {
        let at = "2026-01-01T00:00:10Z";
        let home = record("111122223333", "us-east-1", "kms.amazonaws.com", at);
        let other_region = record("111122223333", "eu-west-1", "kms.amazonaws.com", at);
        let global = record("111122223333", "eu-west-1", "iam.amazonaws.com", at);
        let other_account = record("444455556666", "us-east-1", "kms.amazonaws.com", at);
        let single = trail(false);
        let multi = trail(true);
        assert!(CloudTrail::delivers(&single, &home, None));
        assert!(!CloudTrail::delivers(&single, &other_region, None));
        assert!(CloudTrail::delivers(&single, &global, None));
        assert!(!CloudTrail::delivers(&single, &other_account, None));
        assert!(CloudTrail::delivers(&multi, &other_region, None));
        let stop = OffsetDateTime::parse(at, &Rfc3339).expect("valid").unix_timestamp();
        assert!(
            CloudTrail::delivers(&single, &home, Some(stop)),
            "up to when logging stopped"
        );
        assert!(!CloudTrail::delivers(&single, &home, Some(stop - 1)), "not after");
    }

    #[test]
    fn retention_waits_for_trails_that_log_or_have_records_to_flush() {
        let mut stopped = trail(false);
        stopped.delivery.through = 7;
        assert!(stopped.delivering());
        stopped.logging = false;
        assert!(!stopped.delivering(), "never started");
        stopped.stop_logging_time = Some(1);
        assert!(stopped.delivering(), "stopped, not yet flushed");
        stopped.delivery.flushed = true;
        assert!(!stopped.delivering());
        stopped.cloud_watch = Some(crate::model::CloudWatchDelivery {
            group_arn: "g".into(),
            role_arn: "r".into(),
        });
        stopped.delivery.cloud_watch_through = 3;
        assert_eq!(stopped.delivered_through(), 3, "the older of the two positions");
    }

    #[test]
    fn file_names_follow_cloudtrails_layout() {
        assert_eq!(
            formatted(1_438_395_000, format_description!("[year][month][day]T[hour][minute]Z")),
            "20150801T0210Z"
        );
        assert_eq!(iso(1_439_823_691), "2015-08-17T15:01:31Z");
        let mut prefixed = trail(false);
        prefixed.s3_key_prefix = Some("logs".into());
        assert_eq!(prefixed.logs_prefix(), "logs/AWSLogs/111122223333/");
        assert_eq!(trail(false).logs_prefix(), "AWSLogs/111122223333/");
    }
}
