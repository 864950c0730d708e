//! The page frame (navigation, identity, alerts), the pieces pages share, and the embedded static assets.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyhaven_crypto::digest::sha256;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::api::ApiFailure;
use crate::session::{PREFIX, SignedIn};

const CSS: &str = include_str!("../assets/console.css");
const JS: &str = include_str!("../assets/console.js");

/// An asset's name carries its content's hash, so it can be cached for good and still change with the binary.
struct Asset {
    name: String,
    body: &'static str,
    content_type: &'static str,
}

fn asset_named(stem: &str, extension: &str, body: &'static str, content_type: &'static str) -> Asset {
    Asset {
        name: format!("{stem}.{}.{extension}", &hex::encode(sha256(body.as_bytes()))[..8]),
        body,
        content_type,
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        asset_named("console", "css", CSS, "text/css; charset=utf-8"),
        asset_named("console", "js", JS, "text/javascript; charset=utf-8"),
    ]
});

/// Serves an embedded asset by its hashed name.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            asset.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The console's sections, in the navigation's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Kms,
    Parameters,
    Secrets,
    Iam,
    Simulator,
    Audit,
    S3,
}

const SECTIONS: &[(Section, &str, &str)] = &[
    (Section::Home, "Home", ""),
    (Section::Kms, "Keys", "/kms"),
    (Section::Parameters, "Parameters", "/ssm"),
    (Section::Secrets, "Secrets", "/secrets"),
    (Section::Iam, "IAM", "/iam"),
    (Section::Simulator, "Policy simulator", "/iam/simulator"),
    (Section::Audit, "Audit trail", "/audit"),
    (Section::S3, "Buckets", "/s3"),
];

/// What a page reports above its content.
#[derive(Debug)]
pub enum Alert {
    /// A request the API refused, shown with AWS's code and message.
    Failure(ApiFailure),
    Notice(String),
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · keyhaven" }
            link rel="stylesheet" href={ (PREFIX) "/static/" (ASSETS[0].name) };
            script src={ (PREFIX) "/static/" (ASSETS[1].name) } defer {}
        }
    }
}

pub fn alert(alert: Option<&Alert>) -> Markup {
    html! {
        @match alert {
            Some(Alert::Failure(failure)) => {
                div.alert.error role="alert" {
                    strong { (failure.code) } @if !failure.message.is_empty() { ": " (failure.message) }
                }
            }
            Some(Alert::Notice(text)) => { div.alert.notice role="status" { (text) } }
            None => {}
        }
    }
}

/// A signed-in page.
pub fn page(s: &SignedIn, section: Section, title: &str, shown: Option<&Alert>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(s.href("")) { "keyhaven" }
                    nav aria-label="Sections" {
                        ul {
                            @for (each, label, path) in SECTIONS {
                                li {
                                    a href=(s.href(path)) aria-current=[(*each == section).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                    div.who {
                        form.region method="get" action={ (PREFIX) "/go" } {
                            label for="region" { "Region" }
                            input #region name="region" value=(s.region()) size="12" pattern="[a-z]{2}(-[a-z]+)+-[0-9]+";
                            input type="hidden" name="section" value=(SECTIONS.iter().find(|(e, _, _)| *e == section).map_or("", |(_, _, p)| *p));
                            button type="submit" { "Go" }
                        }
                        span.arn title=(s.principal.arn) { (s.principal.arn) }
                        form method="post" action={ (PREFIX) "/sign-out" } {
                            (csrf_field(s))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (alert(shown))
                    (body)
                }
            }
        }
    }
}

/// A page outside a session (sign-in).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare { main #main { (body) } }
        }
    }
}

pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

/// The page's status for an API failure: the API's own, so a denied action is a 403 page.
pub fn failure_status(failure: &ApiFailure) -> StatusCode {
    StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_REQUEST)
}

/// The status of a page showing `shown`: a refused request's own, else 200.
pub fn status_for(shown: Option<&Alert>) -> StatusCode {
    match shown {
        Some(Alert::Failure(failure)) => failure_status(failure),
        _ => StatusCode::OK,
    }
}

/// A page that shows a failure as its main content (a read the caller may not make).
pub fn failed_page(s: &SignedIn, section: Section, title: &str, failure: ApiFailure) -> Response {
    let status = failure_status(&failure);
    respond(
        status,
        page(s, section, title, Some(&Alert::Failure(failure)), html! {}),
    )
}

pub fn csrf_field(s: &SignedIn) -> Markup {
    html! { input type="hidden" name="_csrf" value=(s.csrf); }
}

/// A one-button form posting `op` (and `fields`) to `action`; `confirm` asks first (console.js).
pub fn action_button(
    s: &SignedIn,
    action: &str,
    op: &str,
    label: &str,
    fields: &[(&str, &str)],
    confirm: Option<&str>,
) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            (csrf_field(s))
            input type="hidden" name="op" value=(op);
            @for (name, value) in fields { input type="hidden" name=(name) value=(value); }
            button type="submit" { (label) }
        }
    }
}

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A path or query component, percent-encoded.
pub fn enc(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// An AWS timestamp (epoch seconds, as awsJson sends it) as UTC text.
pub fn epoch_text(seconds: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let whole = seconds.floor() as i64;
    time::OffsetDateTime::from_unix_timestamp(whole)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

/// A JSON timestamp member as text, or "—".
pub fn when(value: &serde_json::Value) -> String {
    value.as_f64().map_or_else(|| "—".to_string(), epoch_text)
}

/// A JSON document pretty-printed (policies, audit records), or the text as it is when it is not JSON.
pub fn pretty_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| text.to_string())
}

/// A definition list of label and value rows.
pub fn facts(rows: &[(&str, Markup)]) -> Markup {
    html! {
        dl.facts {
            @for (label, value) in rows { dt { (label) } dd { (value) } }
        }
    }
}

/// A `<select>` of an enum's values as the service's model lists them, with `chosen` selected.
pub fn select(name: &str, rule: &keyhaven_api::shapes::Rule, chosen: &str) -> Markup {
    html! {
        select name=(name) {
            @for value in rule.allowed_values() { option selected[*value == chosen] { (value) } }
        }
    }
}

/// A "more" link to the next page of a listing.
pub fn next_link(href: Option<String>) -> Markup {
    html! { @if let Some(href) = href { p.more { a href=(href) rel="next" { "More →" } } } }
}

/// Text in a masked box, for values not revealed.
pub fn masked() -> Markup {
    html! { span.masked aria-label="hidden value" { (PreEscaped("&#8226;&#8226;&#8226;&#8226;&#8226;&#8226;&#8226;&#8226;")) } }
}
