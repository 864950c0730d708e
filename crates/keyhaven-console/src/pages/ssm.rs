//! Parameter Store: the hierarchy as a tree; one parameter's versions, labels, tiers and policies; put a version,
//! label one, compare two, and reveal a SecureString (itself an audited GetParameter with decryption).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use keyhaven_api::generated::ssm;

use crate::api::JsonService;
use crate::form::Form;
use crate::layout::{
    Alert, Section, action_button, csrf_field, enc, facts, failed_page, masked, next_link, page, respond, select,
    status_for, when,
};
use crate::session::{Change, SignedIn};

const PAGE_SIZE: u32 = 50;
const SECURE: &str = "SecureString";

fn parameter_href(s: &SignedIn, name: &str) -> String {
    s.href(&format!("/ssm/parameter?name={}", enc(name)))
}

fn tree_href(s: &SignedIn, path: &str) -> String {
    s.href(&format!("/ssm?path={}", enc(path)))
}

/// `/a/b/c` as links to `/`, `/a`, `/a/b` and `/a/b/c`.
fn breadcrumbs(s: &SignedIn, path: &str) -> Markup {
    let segments: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    html! {
        nav aria-label="Path" {
            a href=(tree_href(s, "/")) { "/" }
            @for i in 0..segments.len() {
                @let prefix = format!("/{}", segments[..=i].join("/"));
                " " a href=(tree_href(s, &prefix)) { (segments[i]) } " /"
            }
        }
    }
}

fn put_form(s: &SignedIn, path: &str) -> Markup {
    let prefix = if path == "/" {
        "/".to_string()
    } else {
        format!("{path}/")
    };
    html! {
        details {
            summary { "Create a parameter" }
            form.row method="post" action=(s.href("/ssm/parameter")) {
                (csrf_field(s))
                input type="hidden" name="op" value="put";
                label { "Name" input name="name" value=(prefix) required; }
                label { "Type" (select("type", &ssm::PARAMETER_TYPE, "String")) }
                label { "Value" input name="value" required; }
                label { "Tier" (select("tier", &ssm::PARAMETER_TIER, "Standard")) }
                label { "Description" input name="description"; }
                button.primary type="submit" { "Create parameter" }
            }
        }
    }
}

/// The tree at `?path=` (default `/`): DescribeParameters with a recursive Path filter, 50 names a page in name
/// order, drawn as the folders and parameters directly under the path.
pub async fn tree(s: SignedIn) -> Response {
    render_tree(&s, None).await
}

async fn render_tree(s: &SignedIn, shown: Option<Alert>) -> Response {
    let path = s.query.trimmed("path").unwrap_or("/").to_string();
    let mut input = json!({
        "MaxResults": PAGE_SIZE,
        "ParameterFilters": [{"Key": "Path", "Option": "Recursive", "Values": [path]}],
    });
    if let Some(token) = s.query.get("token") {
        input["NextToken"] = json!(token);
    }
    let described = match s.api.json(JsonService::Ssm, "DescribeParameters", input).await {
        Ok(described) => described,
        Err(failure) => return failed_page(s, Section::Parameters, "Parameters", failure),
    };
    let base = if path == "/" {
        "/".to_string()
    } else {
        format!("{}/", path.trim_end_matches('/'))
    };
    let mut folders: Vec<String> = Vec::new();
    let mut leaves: Vec<&Value> = Vec::new();
    for parameter in described["Parameters"].as_array().into_iter().flatten() {
        let name = parameter["Name"].as_str().unwrap_or("");
        let rest = name.strip_prefix(base.as_str()).unwrap_or(name);
        match rest.split_once('/') {
            Some((folder, _)) if !folder.is_empty() => {
                let folder = format!("{base}{folder}");
                if !folders.contains(&folder) {
                    folders.push(folder);
                }
            }
            _ => leaves.push(parameter),
        }
    }
    let next = described["NextToken"]
        .as_str()
        .map(|token| format!("{}&token={}", tree_href(s, &path), enc(token)));
    let status = status_for(shown.as_ref());
    let body = html! {
        (breadcrumbs(s, &path))
        (put_form(s, &path))
        ul.tree {
            @for folder in &folders {
                li.folder { a href=(tree_href(s, folder)) { (folder.rsplit('/').next().unwrap_or(folder)) "/" } }
            }
        }
        @if !leaves.is_empty() {
            div.scroll { table.wide data-filter {
                thead { tr { th { "Name" } th { "Type" } th { "Version" } th { "Tier" } th { "Last modified" } th { "By" } } }
                tbody { @for parameter in &leaves {
                    @let name = parameter["Name"].as_str().unwrap_or("");
                    tr {
                        td { a href=(parameter_href(s, name)) { (name) } }
                        td { (parameter["Type"].as_str().unwrap_or("")) }
                        td { (parameter["Version"].as_i64().unwrap_or(0)) }
                        td { (parameter["Tier"].as_str().unwrap_or("")) }
                        td { (when(&parameter["LastModifiedDate"])) }
                        td { code { (parameter["LastModifiedUser"].as_str().unwrap_or("")) } }
                    }
                } }
            } }
        }
        @if folders.is_empty() && leaves.is_empty() { p.muted { "No parameters under " (path) "." } }
        (next_link(next))
    };
    respond(status, page(s, Section::Parameters, "Parameters", shown.as_ref(), body))
}

/// What the detail page shows besides the stored state.
#[derive(Default)]
struct Shown {
    alert: Option<Alert>,
    /// A value revealed by an explicit action, and which version it is.
    revealed: Option<(i64, String)>,
    /// Two versions' values side by side, revealed when SecureString.
    compared: Option<((i64, String), (i64, String))>,
}

/// One parameter: GetParameter (without decryption) and GetParameterHistory.
pub async fn detail(s: SignedIn) -> Response {
    let Some(name) = s.query.get("name").map(str::to_string) else {
        return Redirect::to(&s.href("/ssm")).into_response();
    };
    let mut shown = Shown {
        alert: s.done_notice(done_text),
        ..Shown::default()
    };
    if let (Some(a), Some(b)) = (s.query.get("a"), s.query.get("b")) {
        match compared_values(&s, &name, a, b, false).await {
            Ok(values) => shown.compared = values,
            Err(alert) => shown.alert = Some(alert),
        }
    }
    render_detail(&s, &name, shown).await
}

fn done_text(op: &str) -> Option<&'static str> {
    Some(match op {
        "put" => "New version saved.",
        "label" => "Label attached.",
        _ => return None,
    })
}

/// The values of versions `a` and `b` from GetParameterHistory (decrypted only when `reveal`).
async fn compared_values(
    s: &SignedIn,
    name: &str,
    a: &str,
    b: &str,
    reveal: bool,
) -> Result<Option<((i64, String), (i64, String))>, Alert> {
    let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) else {
        return Err(Alert::Notice("Choose two versions to compare.".into()));
    };
    let versions = history(s, name, reveal).await.map_err(Alert::Failure)?;
    let value = |v: i64| {
        versions
            .iter()
            .find(|p| p["Version"].as_i64() == Some(v))
            .map(|p| (v, p["Value"].as_str().unwrap_or("").to_string()))
    };
    Ok(value(a).zip(value(b)))
}

async fn history(s: &SignedIn, name: &str, reveal: bool) -> Result<Vec<Value>, crate::api::ApiFailure> {
    let mut versions = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"Name": name, "MaxResults": 50, "WithDecryption": reveal});
        if let Some(token) = &token {
            input["NextToken"] = json!(token);
        }
        let page = s.api.json(JsonService::Ssm, "GetParameterHistory", input).await?;
        versions.extend(page["Parameters"].as_array().cloned().unwrap_or_default());
        token = page["NextToken"].as_str().map(str::to_string);
        if token.is_none() || versions.len() >= 200 {
            return Ok(versions);
        }
    }
}

async fn render_detail(s: &SignedIn, name: &str, shown: Shown) -> Response {
    let current = match s
        .api
        .json(
            JsonService::Ssm,
            "GetParameter",
            json!({"Name": name, "WithDecryption": false}),
        )
        .await
    {
        Ok(found) => found,
        Err(failure) => return failed_page(s, Section::Parameters, name, failure),
    };
    let parameter = &current["Parameter"];
    let secure = parameter["Type"].as_str() == Some(SECURE);
    let versions = history(s, name, false).await;
    let here = s.href("/ssm/parameter");
    let name_field = [("name", name)];
    let latest = parameter["Version"].as_i64().unwrap_or(0);
    let status = status_for(shown.alert.as_ref());
    let parent = name
        .rsplit_once('/')
        .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
    let body = html! {
        (breadcrumbs(s, parent))
        (facts(&[
            ("ARN", html! { code { (parameter["ARN"].as_str().unwrap_or("")) } }),
            ("Type", html! { (parameter["Type"].as_str().unwrap_or("")) }),
            ("Version", html! { (latest) }),
            ("Last modified", html! { (when(&parameter["LastModifiedDate"])) }),
            ("Value", html! {
                @match &shown.revealed {
                    Some((version, value)) => { code #revealed-value { (value) } " " span.muted { "(version " (version) ", revealed)" } }
                    None if secure => { (masked()) " " (action_button(s, &here, "reveal", "Reveal", &name_field, None)) }
                    None => { code { (parameter["Value"].as_str().unwrap_or("")) } }
                }
            }),
        ]))
        h2 { "Put a new version" }
        form.row method="post" action=(here) {
            (csrf_field(s))
            input type="hidden" name="op" value="put";
            input type="hidden" name="name" value=(name);
            input type="hidden" name="overwrite" value="true";
            input type="hidden" name="type" value=(parameter["Type"].as_str().unwrap_or("String"));
            label { "Value" input name="value" required autocomplete="off"; }
            label { "Tier" (select("tier", &ssm::PARAMETER_TIER, "Standard")) }
            label { "Policies (JSON, optional)" input name="policies"; }
            button.primary type="submit" { "Save version" }
        }
        @if let Some(((a, left), (b, right))) = &shown.compared {
            h2 #compare { "Version " (a) " → version " (b) }
            pre.diff { @for line in crate::pages::ssm::line_diff(left, right) { (line) } }
        }
        h2 { "History" }
        @match &versions {
            Ok(versions) => {
                form.row method=(if secure { "post" } else { "get" }) action={ (here) "#compare" } {
                    @if secure { (csrf_field(s)) input type="hidden" name="op" value="compare"; }
                    input type="hidden" name="name" value=(name);
                    label { "Compare version" input name="a" size="4" inputmode="numeric" value=((latest - 1).max(1)); }
                    label { "with version" input name="b" size="4" inputmode="numeric" value=(latest); }
                    button type="submit" { @if secure { "Reveal and compare" } @else { "Compare" } }
                }
                div.scroll { table.wide {
                    thead { tr { th { "Version" } th { "Value" } th { "Labels" } th { "Tier" } th { "Policies" } th { "Modified" } th { "By" } th { "Label" } } }
                    tbody { @for version in versions.iter().rev() {
                        @let number = version["Version"].as_i64().unwrap_or(0);
                        tr {
                            td { (number) }
                            td { @if secure { (masked()) } @else { code { (version["Value"].as_str().unwrap_or("")) } } }
                            td { (version["Labels"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")) }
                            td { (version["Tier"].as_str().unwrap_or("")) }
                            td { @for policy in version["Policies"].as_array().into_iter().flatten() { div { code { (policy["PolicyText"].as_str().unwrap_or("")) } } } }
                            td { (when(&version["LastModifiedDate"])) }
                            td { code { (version["LastModifiedUser"].as_str().unwrap_or("")) } }
                            td {
                                form.inline method="post" action=(here) {
                                    (csrf_field(s))
                                    input type="hidden" name="op" value="label";
                                    input type="hidden" name="name" value=(name);
                                    input type="hidden" name="version" value=(number);
                                    input name="label" size="8" aria-label={ "Label for version " (number) };
                                    button type="submit" { "Add" }
                                }
                            }
                        }
                    } }
                } }
            }
            Err(failure) => { p.muted { "The history is not available to you: " (failure.code) } }
        }
    };
    respond(status, page(s, Section::Parameters, name, shown.alert.as_ref(), body))
}

/// Lines of `left` and `right` marked as kept, removed (`-`) or added (`+`), from their longest common subsequence.
pub fn line_diff(left: &str, right: &str) -> Vec<Markup> {
    let a: Vec<&str> = left.lines().collect();
    let b: Vec<&str> = right.lines().collect();
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(html! { span { "  " (a[i]) "\n" } });
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || common[i][j + 1] >= common[i + 1][j]) {
            out.push(html! { span.add { "+ " (b[j]) "\n" } });
            j += 1;
        } else {
            out.push(html! { span.del { "- " (a[i]) "\n" } });
            i += 1;
        }
    }
    out
}

/// A change to a parameter: put a version (or a new parameter), label a version, reveal, or reveal and compare.
pub async fn change(change: Change) -> Response {
    let Change { signed_in: s, form } = change;
    let Some(name) = form.trimmed("name").map(str::to_string) else {
        return (StatusCode::BAD_REQUEST, "A parameter name is required.").into_response();
    };
    match form.get("op").unwrap_or("") {
        "put" => put(&s, &name, &form).await,
        "label" => {
            let mut input = json!({"Name": name, "Labels": [form.get("label").unwrap_or("")]});
            if let Some(version) = form.trimmed("version").and_then(|v| v.parse::<i64>().ok()) {
                input["ParameterVersion"] = json!(version);
            }
            match s.api.json(JsonService::Ssm, "LabelParameterVersion", input).await {
                Ok(_) => Redirect::to(&format!("{}&done=label", parameter_href(&s, &name))).into_response(),
                Err(failure) => render_detail(&s, &name, alerted(failure)).await,
            }
        }
        "reveal" => match s
            .api
            .json(
                JsonService::Ssm,
                "GetParameter",
                json!({"Name": name, "WithDecryption": true}),
            )
            .await
        {
            Ok(found) => {
                let parameter = &found["Parameter"];
                let revealed = (
                    parameter["Version"].as_i64().unwrap_or(0),
                    parameter["Value"].as_str().unwrap_or("").to_string(),
                );
                render_detail(
                    &s,
                    &name,
                    Shown {
                        revealed: Some(revealed),
                        ..Shown::default()
                    },
                )
                .await
            }
            Err(failure) => render_detail(&s, &name, alerted(failure)).await,
        },
        "compare" => {
            let (a, b) = (form.get("a").unwrap_or(""), form.get("b").unwrap_or(""));
            match compared_values(&s, &name, a, b, true).await {
                Ok(compared) => {
                    render_detail(
                        &s,
                        &name,
                        Shown {
                            compared,
                            ..Shown::default()
                        },
                    )
                    .await
                }
                Err(alert) => {
                    render_detail(
                        &s,
                        &name,
                        Shown {
                            alert: Some(alert),
                            ..Shown::default()
                        },
                    )
                    .await
                }
            }
        }
        _ => (StatusCode::BAD_REQUEST, "Unknown action.").into_response(),
    }
}

fn alerted(failure: crate::api::ApiFailure) -> Shown {
    Shown {
        alert: Some(Alert::Failure(failure)),
        ..Shown::default()
    }
}

async fn put(s: &SignedIn, name: &str, form: &Form) -> Response {
    let mut input = json!({
        "Name": name,
        "Value": form.get("value").unwrap_or(""),
        "Overwrite": form.get("overwrite") == Some("true"),
    });
    for (field, member) in [
        ("type", "Type"),
        ("tier", "Tier"),
        ("description", "Description"),
        ("policies", "Policies"),
    ] {
        if let Some(value) = form.trimmed(field) {
            input[member] = json!(value);
        }
    }
    match s.api.json(JsonService::Ssm, "PutParameter", input).await {
        Ok(_) => Redirect::to(&format!("{}&done=put", parameter_href(s, name))).into_response(),
        Err(failure) if form.get("overwrite") == Some("true") => render_detail(s, name, alerted(failure)).await,
        Err(failure) => render_tree(s, Some(Alert::Failure(failure))).await,
    }
}
