//! Log streams: CreateLogStream, DeleteLogStream, DescribeLogStreams.

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;
use keyhaven_store::Transaction;

use crate::error::{LogsError, LogsFault, fault, invalid};
use crate::groups::delete_stream_in;
use crate::model::{GroupRecord, RECORD_VERSION, StreamRecord, stream_scope};
use crate::{Logs, read, transact};

pub(crate) fn stream_not_found() -> LogsError {
    fault(LogsFault::ResourceNotFound, "The specified log stream does not exist.")
}

/// How DescribeLogStreams orders streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    Name,
    LastEventTime,
}

/// A DescribeLogStreams request, checked by the wire.
#[derive(Debug, Clone, Default)]
pub struct StreamQuery<'a> {
    pub prefix: Option<&'a str>,
    pub by_last_event: bool,
    pub descending: bool,
    pub token: Option<&'a str>,
    pub limit: usize,
}

/// A page of DescribeLogStreams, with the group the streams belong to.
#[derive(Debug, Clone)]
pub struct StreamsPage {
    pub group: GroupRecord,
    pub streams: Vec<StreamRecord>,
    pub next_token: Option<String>,
}

impl Logs {
    pub fn create_log_stream(&self, ctx: &RequestContext, group: &str, stream: &str) -> Result<(), LogsError> {
        self.group(ctx, group, "logs:CreateLogStream", Some(stream))?;
        let scope = stream_scope(&ctx.regional_scope(), group);
        let record = StreamRecord {
            v: RECORD_VERSION,
            name: stream.to_string(),
            created: self.now_ms(),
            first_event: None,
            last_event: None,
            last_ingestion: None,
            batches: 0,
        };
        transact(&*self.store, |tx: &mut dyn Transaction| {
            if records::get::<StreamRecord>(tx, &scope, stream)?.is_some() {
                return Err(fault(
                    LogsFault::ResourceAlreadyExists,
                    "The specified log stream already exists",
                ));
            }
            records::put(tx, &scope, stream, &record)?;
            Ok(())
        })
    }

    pub fn delete_log_stream(&self, ctx: &RequestContext, group: &str, stream: &str) -> Result<(), LogsError> {
        self.group(ctx, group, "logs:DeleteLogStream", Some(stream))?;
        let scope = ctx.regional_scope();
        transact(&*self.store, |tx| {
            if records::get::<StreamRecord>(tx, &stream_scope(&scope, group), stream)?.is_none() {
                return Err(stream_not_found());
            }
            delete_stream_in(tx, &scope, group, stream)
        })
    }

    pub fn describe_log_streams(
        &self,
        ctx: &RequestContext,
        group: &str,
        query: &StreamQuery<'_>,
    ) -> Result<StreamsPage, LogsError> {
        let record = self.group(ctx, group, "logs:DescribeLogStreams", None)?;
        if query.prefix.is_some() && query.by_last_event {
            return Err(invalid("Cannot order by LastEventTime with a logStreamNamePrefix."));
        }
        let scope = stream_scope(&ctx.regional_scope(), group);
        let mut streams: Vec<(String, StreamRecord)> =
            read(&*self.store, |tx| Ok(records::all::<StreamRecord>(tx, &scope)?))?
                .into_iter()
                .filter(|(name, _)| query.prefix.is_none_or(|p| name.starts_with(p)))
                .collect();
        if query.by_last_event {
            streams.sort_by(|(a_name, a), (b_name, b)| (a.last_event, a_name).cmp(&(b.last_event, b_name)));
        }
        if query.descending {
            streams.reverse();
        }
        let page = keyhaven_kernel::paging::by_offset(&streams, query.limit, query.token)
            .map_err(|_| invalid("The specified nextToken is invalid."))?;
        Ok(StreamsPage {
            group: record,
            streams: page.items.into_iter().map(|(_, s)| s).collect(),
            next_token: page.next_marker,
        })
    }
}
