//! CloudWatch Logs as the rest of the server sees it: the kernel's [`LogService`] for services that deliver into
//! log groups (CloudTrail), and the scheduler's handler of its jobs (each group's daily retention pass).

use keyhaven_kernel::audit::AuditLog;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::error::KernelError;
use keyhaven_kernel::on_behalf::{DeliveryFailure, LogService};
use keyhaven_kernel::scheduler::{JobHandler, job_failed};
use keyhaven_store::Job;

use crate::events::{DAY_MS, EVENT_OVERHEAD, MAX_BATCH_BYTES};
use crate::names::group_of_identifier;
use crate::{Logs, LogsError, LogsFault};

impl JobHandler for Logs {
    fn run(&self, job: &Job, _audit: &AuditLog) -> Result<(), KernelError> {
        let (scope, group): (String, String) = serde_json::from_slice(&job.payload)?;
        let removed = self.expire(&scope, &group).map_err(job_failed)?;
        if removed > 0 {
            tracing::info!(group, removed, "log events past their group's retention removed");
        }
        Ok(())
    }
}

/// At most this many events in one PutLogEvents (the model's limit on `logEvents`).
const MAX_EVENTS: usize = 10_000;

fn delivery_failure(error: LogsError) -> DeliveryFailure {
    match error {
        LogsError::Fault(LogsFault::ResourceNotFound, message) => DeliveryFailure::NotFound(message),
        LogsError::Fault(LogsFault::KeyAccessDenied, message) => DeliveryFailure::Refused(message),
        LogsError::Fault(_, message) => DeliveryFailure::Refused(message),
        LogsError::AccessDenied(message) => DeliveryFailure::AccessDenied(message),
        LogsError::Internal(detail) => DeliveryFailure::Internal(detail),
        LogsError::Unavailable => DeliveryFailure::Unavailable,
    }
}

impl Logs {
    /// Puts the server's own log lines into `group` (created when missing, in `account`'s `region`) as the account's
    /// root user: the operator's log, shipped by the server itself.
    pub fn ship(
        &self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        lines: Vec<(i64, String)>,
    ) -> Result<(), LogsError> {
        let ctx = RequestContext {
            request_id: String::new(),
            principal: keyhaven_kernel::context::Principal::root(account, ""),
            region: region.to_string(),
            source_ip: None,
            user_agent: "keyhaven".into(),
            secure_transport: true,
            via_service: None,
            service_calls: keyhaven_kernel::context::ServiceCalls::default(),
            signature_v2: false,
        };
        match self.create_log_group(&ctx, group, None, Vec::new(), false) {
            Ok(()) | Err(LogsError::Fault(LogsFault::ResourceAlreadyExists, _)) => {}
            Err(e) => return Err(e),
        }
        let arn = crate::names::group_arn(region, account, group);
        self.deliver(&ctx, &arn, stream, lines)
            .map_err(|e| LogsError::Internal(e.to_string()))
    }
}

impl LogService for Logs {
    fn check_delivery(&self, ctx: &RequestContext, group_arn: &str, stream: &str) -> Result<(), DeliveryFailure> {
        let group = group_of_identifier(group_arn, &ctx.region, ctx.account_id()).map_err(delivery_failure)?;
        for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
            self.group(ctx, &group, action, Some(stream))
                .map_err(delivery_failure)?;
        }
        Ok(())
    }

    fn deliver(
        &self,
        ctx: &RequestContext,
        group_arn: &str,
        stream: &str,
        mut events: Vec<(i64, String)>,
    ) -> Result<(), DeliveryFailure> {
        let group = group_of_identifier(group_arn, &ctx.region, ctx.account_id()).map_err(delivery_failure)?;
        match self.create_log_stream(ctx, &group, stream) {
            Ok(()) | Err(LogsError::Fault(LogsFault::ResourceAlreadyExists, _)) => {}
            Err(e) => return Err(delivery_failure(e)),
        }
        events.sort_by_key(|(time, _)| *time);
        let mut batch: Vec<(i64, String)> = Vec::new();
        let mut bytes = 0;
        for event in events {
            let size = event.1.len() + EVENT_OVERHEAD;
            let full = batch.len() == MAX_EVENTS
                || bytes + size > MAX_BATCH_BYTES
                || batch.first().is_some_and(|(first, _)| event.0 - first > DAY_MS);
            if full {
                self.put_log_events(ctx, &group, stream, std::mem::take(&mut batch))
                    .map_err(delivery_failure)?;
                bytes = 0;
            }
            bytes += size;
            batch.push(event);
        }
        if !batch.is_empty() {
            self.put_log_events(ctx, &group, stream, batch)
                .map_err(delivery_failure)?;
        }
        Ok(())
    }
}
