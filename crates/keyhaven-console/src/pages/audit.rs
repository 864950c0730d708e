//! The audit trail: CloudTrail records as a timeline (LookupEvents), filtered by user, event name, resource, source,
//! access key and time, each record expandable; and the audit chain's check, as `keyhaven audit-verify` runs it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use keyhaven_kernel::audit::ChainCheck;
use keyhaven_kernel::audit::lookup::Attribute;

use crate::Console;
use crate::api::JsonService;
use crate::form::Form;
use crate::layout::{Alert, Section, csrf_field, enc, failed_page, next_link, page, pretty_json, respond, when};
use crate::session::{Change, SignedIn};

const PAGE_SIZE: usize = 50;
/// LookupEvents calls per page at most while other filters drop records; then "more".
const MAX_CALLS: usize = 5;

/// The filters, in the order the first one given becomes LookupEvents' single lookup attribute.
const FILTERS: &[(&str, Attribute, &str)] = &[
    ("user", Attribute::Username, "User name"),
    ("event", Attribute::EventName, "Event name"),
    ("resource", Attribute::ResourceName, "Resource name or ARN"),
    ("source", Attribute::EventSource, "Event source"),
    ("key", Attribute::AccessKeyId, "Access key ID"),
];

/// Seconds since the epoch from an HTML `datetime-local` value, read as UTC.
fn epoch_of(text: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let with_seconds = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text, format)
        .or_else(|_| time::PrimitiveDateTime::parse(text, with_seconds))
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Whether an event (LookupEvents' summary) passes the filters other than the lookup attribute.
fn passes(event: &Value, query: &Form) -> bool {
    FILTERS.iter().all(|(field, attribute, _)| match query.trimmed(field) {
        None => true,
        Some(wanted) => match attribute {
            Attribute::ResourceName => event["Resources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["ResourceName"].as_str() == Some(wanted)),
            other => event[other.name()].as_str() == Some(wanted),
        },
    })
}

fn filter_form(s: &SignedIn) -> Markup {
    let value = |name: &str| s.query.get(name).unwrap_or("").to_string();
    html! {
        form.row method="get" action=(s.href("/audit")) {
            @for (field, _, label) in FILTERS {
                label { (label) input name=(field) value=(value(field)); }
            }
            label { "From (UTC)" input type="datetime-local" name="from" value=(value("from")); }
            label { "To (UTC)" input type="datetime-local" name="to" value=(value("to")); }
            button.primary type="submit" { "Filter" }
            a href=(s.href("/audit")) { "Clear" }
        }
    }
}

/// The timeline page.
pub async fn timeline(s: SignedIn) -> Response {
    render(&s, None).await
}

async fn render(s: &SignedIn, shown: Option<Alert>) -> Response {
    let mut input = json!({"MaxResults": PAGE_SIZE});
    if let Some((field, attribute, _)) = FILTERS.iter().find(|(field, _, _)| s.query.trimmed(field).is_some()) {
        input["LookupAttributes"] =
            json!([{"AttributeKey": attribute.name(), "AttributeValue": s.query.trimmed(field)}]);
    }
    if let Some(from) = s.query.trimmed("from").and_then(epoch_of) {
        input["StartTime"] = json!(from);
    }
    if let Some(to) = s.query.trimmed("to").and_then(epoch_of) {
        input["EndTime"] = json!(to);
    }
    let mut token = s.query.get("token").map(str::to_string);
    let mut events: Vec<Value> = Vec::new();
    for _ in 0..MAX_CALLS {
        if let Some(token) = &token {
            input["NextToken"] = json!(token);
        }
        let found = match s.api.json(JsonService::CloudTrail, "LookupEvents", input.clone()).await {
            Ok(found) => found,
            Err(failure) => return failed_page(s, Section::Audit, "Audit trail", failure),
        };
        events.extend(
            found["Events"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|event| passes(event, &s.query))
                .cloned(),
        );
        token = found["NextToken"].as_str().map(str::to_string);
        if token.is_none() || events.len() >= PAGE_SIZE {
            break;
        }
    }
    let next = token.map(|token| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for field in FILTERS.iter().map(|(f, _, _)| *f).chain(["from", "to"]) {
            if let Some(value) = s.query.get(field) {
                query.append_pair(field, value);
            }
        }
        query.append_pair("token", &token);
        format!("{}?{}", s.href("/audit"), query.finish())
    });
    let user_href = |user: &str| format!("{}?user={}", s.href("/audit"), enc(user));
    let body = html! {
        form.inline method="post" action=(s.href("/audit/verify")) {
            (csrf_field(s))
            button type="submit" { "Verify the audit chain" }
        }
        (filter_form(s))
        div.timeline {
            @for event in &events {
                @let record = event["CloudTrailEvent"].as_str().unwrap_or("{}");
                @let parsed: Value = serde_json::from_str(record).unwrap_or_default();
                details.event {
                    summary {
                        span.time { (when(&event["EventTime"])) }
                        span.name { (event["EventName"].as_str().unwrap_or("")) }
                        span.user { (event["Username"].as_str().unwrap_or("")) }
                        span.muted { (event["EventSource"].as_str().unwrap_or("")) }
                        span.muted { (parsed["sourceIPAddress"].as_str().unwrap_or("")) }
                        @if let Some(code) = parsed["errorCode"].as_str() { span.bad { (code) } }
                    }
                    @if let Some(user) = event["Username"].as_str() { p { a href=(user_href(user)) { "Everything by " (user) } } }
                    pre { (pretty_json(record)) }
                }
            }
        }
        @if events.is_empty() { p.muted { "No records match." } }
        (next_link(next))
    };
    respond(
        StatusCode::OK,
        page(s, Section::Audit, "Audit trail", shown.as_ref(), body),
    )
}

/// Checks the audit chain. Allowed to callers who may read the trail (a LookupEvents probe succeeds); record counts
/// are shown only to the root user of the server's own account, since the log holds every account's records.
pub async fn verify(State(console): State<Arc<Console>>, change: Change) -> Response {
    let s = change.signed_in;
    if let Err(failure) = s
        .api
        .json(JsonService::CloudTrail, "LookupEvents", json!({"MaxResults": 1}))
        .await
    {
        return render(&s, Some(Alert::Failure(failure))).await;
    }
    if let Err(refusal) = s.record_action(&console, "VerifyAuditChain", true).await {
        return refusal.into_response();
    }
    let app = console.app.clone();
    let checked = tokio::task::spawn_blocking(move || app.core.verify_audit()).await;
    let owner = format!("arn:aws:iam::{}:root", console.app.default_account);
    let broken = |text: String| {
        Alert::Failure(crate::api::ApiFailure {
            status: 200,
            code: "AuditChainBroken".into(),
            message: text,
        })
    };
    let shown = match checked {
        Ok(Ok(ChainCheck::Intact { records, last })) if s.principal.arn == owner => Alert::Notice(format!(
            "Audit chain intact: {records} records, the last numbered {last}."
        )),
        Ok(Ok(ChainCheck::Intact { .. })) => Alert::Notice("Audit chain intact.".into()),
        Ok(Ok(ChainCheck::Broken { sequence, reason })) => {
            broken(format!("the chain breaks at record {sequence}: {reason}."))
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "checking the audit chain failed");
            broken("the audit chain could not be read.".into())
        }
        Err(_) => broken("the audit chain check did not finish.".into()),
    };
    render(&s, Some(shown)).await
}
