//! KMS: the keys of a Region with their state, spec and aliases; one key's rotation, policy (edited as PutKeyPolicy
//! validates it, errors inline) and grants; create, enable and disable, schedule and cancel deletion, rotate now.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use keyhaven_api::generated::kms;

use crate::api::{Api, ApiFailure, JsonService};
use crate::layout::{
    Alert, Section, action_button, alert, csrf_field, enc, facts, failed_page, next_link, page, respond, select,
    status_for, when,
};
use crate::session::{Change, SignedIn};

const PAGE_SIZE: u32 = 50;

/// Every alias of the Region by its target key (ListAliases, all pages).
async fn aliases_by_key(api: &Api) -> Result<Vec<(String, String)>, ApiFailure> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut input = json!({"Limit": 100});
        if let Some(marker) = &marker {
            input["Marker"] = json!(marker);
        }
        let page = api.json(JsonService::Kms, "ListAliases", input).await?;
        for alias in page["Aliases"].as_array().into_iter().flatten() {
            if let (Some(name), Some(key)) = (alias["AliasName"].as_str(), alias["TargetKeyId"].as_str()) {
                found.push((key.to_string(), name.to_string()));
            }
        }
        marker = page["NextMarker"].as_str().map(str::to_string);
        if marker.is_none() || page["Truncated"] != json!(true) {
            return Ok(found);
        }
    }
}

/// A key's automatic rotation from GetKeyRotationStatus: "every N days", "Off", or "—" where the key type has none.
fn rotation_text(rotation: &Result<Value, ApiFailure>) -> String {
    match rotation {
        Ok(r) if r["KeyRotationEnabled"] == json!(true) => {
            format!("every {} days", r["RotationPeriodInDays"].as_i64().unwrap_or(365))
        }
        Ok(_) => "Off".into(),
        Err(_) => "—".into(),
    }
}

fn create_form(s: &SignedIn) -> Markup {
    html! {
        details {
            summary { "Create a key" }
            form.row method="post" action=(s.href("/kms")) {
                (csrf_field(s))
                label { "Alias (optional)" input name="alias" placeholder="alias/app"; }
                label { "Description" input name="description"; }
                label { "Key spec" (select("key_spec", &kms::KEY_SPEC, "SYMMETRIC_DEFAULT")) }
                label { "Key usage" (select("key_usage", &kms::KEY_USAGE_TYPE, "ENCRYPT_DECRYPT")) }
                button.primary type="submit" { "Create key" }
            }
        }
    }
}

/// The keys page: ListKeys (a page of 50), ListAliases, and DescribeKey per key, a few at a time.
pub async fn list(s: SignedIn) -> Response {
    render_list(&s, None).await
}

async fn render_list(s: &SignedIn, shown: Option<Alert>) -> Response {
    let mut input = json!({"Limit": PAGE_SIZE});
    if let Some(marker) = s.query.get("marker") {
        input["Marker"] = json!(marker);
    }
    let keys = match s.api.json(JsonService::Kms, "ListKeys", input).await {
        Ok(keys) => keys,
        Err(failure) => return failed_page(s, Section::Kms, "Keys", failure),
    };
    let aliases = aliases_by_key(&s.api).await.unwrap_or_default();
    let ids: Vec<String> = keys["Keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["KeyId"].as_str().map(str::to_string))
        .collect();
    let described = s
        .api
        .each(ids, |api, id| async move {
            let key = json!({"KeyId": id});
            futures_util::join!(
                api.json(JsonService::Kms, "DescribeKey", key.clone()),
                api.json(JsonService::Kms, "GetKeyRotationStatus", key),
            )
        })
        .await;
    let next = keys["NextMarker"]
        .as_str()
        .map(|marker| format!("{}?marker={}", s.href("/kms"), enc(marker)));
    let status = status_for(shown.as_ref());
    let body = html! {
        (create_form(s))
        div.scroll {
            table.wide data-filter {
                thead { tr { th { "Aliases" } th { "Key ID" } th { "State" } th { "Spec" } th { "Usage" } th { "Rotation" } th { "Origin" } th { "Created" } } }
                tbody {
                    @for (id, (described, rotation)) in &described {
                        @let meta = described.as_ref().map(|d| &d["KeyMetadata"]);
                        tr {
                            td { @for (_, alias) in aliases.iter().filter(|(key, _)| key == id) { div { (alias) } } }
                            td { a href=(s.href(&format!("/kms/{}", enc(id)))) { code { (id) } } }
                            @match meta {
                                Ok(meta) => {
                                    @let state = meta["KeyState"].as_str().unwrap_or("");
                                    td class={ "state-" (state) } { (state) }
                                    td { (meta["KeySpec"].as_str().unwrap_or("")) }
                                    td { (meta["KeyUsage"].as_str().unwrap_or("")) }
                                    td { (rotation_text(rotation)) }
                                    td { (meta["Origin"].as_str().unwrap_or("")) }
                                    td { (when(&meta["CreationDate"])) }
                                }
                                Err(failure) => { td colspan="6" .muted { (failure.code) } }
                            }
                        }
                    }
                }
            }
        }
        @if described.is_empty() { p.muted { "No keys in " (s.region()) "." } }
        (next_link(next))
    };
    respond(status, page(s, Section::Kms, "Keys", shown.as_ref(), body))
}

/// Create a key: CreateKey, then CreateAlias when an alias was given.
pub async fn create(change: Change) -> Response {
    let Change { signed_in: s, form } = change;
    let mut input = json!({});
    for (field, member) in [
        ("description", "Description"),
        ("key_spec", "KeySpec"),
        ("key_usage", "KeyUsage"),
    ] {
        if let Some(value) = form.trimmed(field) {
            input[member] = json!(value);
        }
    }
    let created = match s.api.json(JsonService::Kms, "CreateKey", input).await {
        Ok(created) => created,
        Err(failure) => return render_list(&s, Some(Alert::Failure(failure))).await,
    };
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap_or_default().to_string();
    if let Some(alias) = form.trimmed("alias") {
        let aliased = s
            .api
            .json(
                JsonService::Kms,
                "CreateAlias",
                json!({"AliasName": alias, "TargetKeyId": key_id}),
            )
            .await;
        if let Err(failure) = aliased {
            return render_detail(&s, &key_id, Some(Alert::Failure(failure)), None).await;
        }
    }
    Redirect::to(&s.href(&format!("/kms/{}?done=created", enc(&key_id)))).into_response()
}

/// A key's page: DescribeKey, GetKeyRotationStatus, ListAliases for the key, GetKeyPolicy and ListGrants.
pub async fn detail(s: SignedIn, Path((_, key)): Path<(String, String)>) -> Response {
    let shown = s.done_notice(done_text);
    render_detail(&s, &key, shown, None).await
}

fn done_text(op: &str) -> Option<&'static str> {
    Some(match op {
        "created" => "Key created.",
        "enable" => "Key enabled.",
        "disable" => "Key disabled.",
        "schedule" => "Key deletion scheduled.",
        "cancel" => "Key deletion cancelled; the key is disabled until you enable it.",
        "rotate" => "Key material rotated.",
        "rotation-on" => "Automatic rotation enabled.",
        "rotation-off" => "Automatic rotation disabled.",
        "policy" => "Key policy saved.",
        _ => return None,
    })
}

async fn render_detail(s: &SignedIn, key: &str, shown: Option<Alert>, edited_policy: Option<&str>) -> Response {
    let id = json!({"KeyId": key});
    let described = match s.api.json(JsonService::Kms, "DescribeKey", id.clone()).await {
        Ok(described) => described,
        Err(failure) => return failed_page(s, Section::Kms, key, failure),
    };
    let meta = &described["KeyMetadata"];
    let (rotation, aliases, policy, grants) = futures_util::join!(
        s.api.json(JsonService::Kms, "GetKeyRotationStatus", id.clone()),
        s.api.json(JsonService::Kms, "ListAliases", id.clone()),
        s.api.json(
            JsonService::Kms,
            "GetKeyPolicy",
            json!({"KeyId": key, "PolicyName": "default"})
        ),
        s.api.json(JsonService::Kms, "ListGrants", id.clone()),
    );
    let state = meta["KeyState"].as_str().unwrap_or("");
    let here = s.href(&format!("/kms/{}", enc(key)));
    let policy_text = edited_policy.map(str::to_string).or_else(|| {
        policy
            .as_ref()
            .ok()
            .and_then(|p| p["Policy"].as_str())
            .map(str::to_string)
    });
    // A refused policy edit is reported beside the editor, where the browser lands.
    let (top_alert, policy_alert) = if edited_policy.is_some() {
        (None, shown.as_ref())
    } else {
        (shown.as_ref(), None)
    };
    let status = status_for(shown.as_ref());
    let body = html! {
        (facts(&[
            ("ARN", html! { code { (meta["Arn"].as_str().unwrap_or("")) } }),
            ("State", html! { span class={ "state-" (state) } { (state) } }),
            ("Description", html! { (meta["Description"].as_str().unwrap_or("")) }),
            ("Spec and usage", html! { (meta["KeySpec"].as_str().unwrap_or("")) " · " (meta["KeyUsage"].as_str().unwrap_or("")) }),
            ("Origin", html! { (meta["Origin"].as_str().unwrap_or("")) }),
            ("Created", html! { (when(&meta["CreationDate"])) }),
            ("Deletion date", html! { (when(&meta["DeletionDate"])) }),
            ("Aliases", html! {
                @match &aliases {
                    Ok(found) => { @for alias in found["Aliases"].as_array().into_iter().flatten() { div { (alias["AliasName"].as_str().unwrap_or("")) } } }
                    Err(failure) => { span.muted { (failure.code) } }
                }
            }),
            ("Automatic rotation", html! {
                @match &rotation {
                    Ok(r) => {
                        @if r["KeyRotationEnabled"] == json!(true) {
                            "On, every " (r["RotationPeriodInDays"].as_i64().unwrap_or(365)) " days; next " (when(&r["NextRotationDate"]))
                        } @else { "Off" }
                    }
                    Err(failure) => { span.muted { (failure.code) } }
                }
            }),
        ]))
        h2 { "Actions" }
        div {
            @if state == "Disabled" { (action_button(s, &here, "enable", "Enable", &[], None)) }
            @if state == "Enabled" { (action_button(s, &here, "disable", "Disable", &[], Some("Disable this key? Requests that use it will fail."))) }
            @if state == "PendingDeletion" { (action_button(s, &here, "cancel", "Cancel deletion", &[], None)) }
            @if state == "Enabled" {
                (action_button(s, &here, "rotate", "Rotate now", &[], None))
                @if rotation.as_ref().is_ok_and(|r| r["KeyRotationEnabled"] == json!(true)) {
                    (action_button(s, &here, "rotation-off", "Turn off automatic rotation", &[], None))
                } @else if rotation.is_ok() {
                    (action_button(s, &here, "rotation-on", "Turn on automatic rotation", &[], None))
                }
            }
            @if state != "PendingDeletion" {
                form.inline method="post" action=(here) data-confirm="Schedule this key for deletion?" {
                    (csrf_field(s))
                    input type="hidden" name="op" value="schedule";
                    label { "Waiting period (days) " input name="days" value="30" size="3" inputmode="numeric"; }
                    " "
                    button.danger type="submit" { "Schedule deletion" }
                }
            }
        }
        h2 #policy { "Key policy" }
        @match (&policy, &policy_text) {
            (_, Some(text)) => {
                form.stack method="post" action={ (here) "#policy" } {
                    (alert(policy_alert))
                    (csrf_field(s))
                    input type="hidden" name="op" value="policy";
                    label for="policy-text" { "Policy document (JSON), saved with PutKeyPolicy" }
                    textarea.policy #policy-text name="policy" spellcheck="false" { (text) }
                    div { button.primary type="submit" { "Save policy" } }
                }
            }
            (Err(failure), None) => { p.muted { "The key policy is not available to you: " (failure.code) } }
            (Ok(_), None) => {}
        }
        h2 { "Grants" }
        @match &grants {
            Ok(found) => {
                @let listed = found["Grants"].as_array().cloned().unwrap_or_default();
                @if listed.is_empty() { p.muted { "No grants." } } @else {
                    div.scroll { table.wide {
                        thead { tr { th { "Grant ID" } th { "Name" } th { "Grantee" } th { "Operations" } th { "Created" } } }
                        tbody { @for grant in &listed { tr {
                            td { code { (grant["GrantId"].as_str().unwrap_or("")) } }
                            td { (grant["Name"].as_str().unwrap_or("")) }
                            td { code { (grant["GranteePrincipal"].as_str().unwrap_or("")) } }
                            td { (grant["Operations"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")) }
                            td { (when(&grant["CreationDate"])) }
                        } } }
                    } }
                }
            }
            Err(failure) => { p.muted { "Grants are not available to you: " (failure.code) } }
        }
    };
    let title = meta["KeyId"].as_str().unwrap_or(key).to_string();
    respond(status, page(s, Section::Kms, &title, top_alert, body))
}

/// A change to one key; the page shows AWS's error inline when the API refuses it, and keeps an edited policy.
pub async fn change(Path((_, key)): Path<(String, String)>, change: Change) -> Response {
    let Change { signed_in: s, form } = change;
    let op = form.get("op").unwrap_or("");
    let id = json!({"KeyId": key});
    let result = match op {
        "enable" => s.api.json(JsonService::Kms, "EnableKey", id).await,
        "disable" => s.api.json(JsonService::Kms, "DisableKey", id).await,
        "cancel" => s.api.json(JsonService::Kms, "CancelKeyDeletion", id).await,
        "rotate" => s.api.json(JsonService::Kms, "RotateKeyOnDemand", id).await,
        "rotation-on" => s.api.json(JsonService::Kms, "EnableKeyRotation", id).await,
        "rotation-off" => s.api.json(JsonService::Kms, "DisableKeyRotation", id).await,
        "schedule" => {
            let mut input = id;
            if let Some(days) = form.trimmed("days") {
                input["PendingWindowInDays"] = days.parse::<i64>().map_or_else(|_| json!(days), |d| json!(d));
            }
            s.api.json(JsonService::Kms, "ScheduleKeyDeletion", input).await
        }
        "policy" => {
            let text = form.get("policy").unwrap_or("");
            let saved = s
                .api
                .json(
                    JsonService::Kms,
                    "PutKeyPolicy",
                    json!({"KeyId": key, "PolicyName": "default", "Policy": text}),
                )
                .await;
            if let Err(failure) = saved {
                return render_detail(&s, &key, Some(Alert::Failure(failure)), Some(text)).await;
            }
            Ok(Value::Null)
        }
        _ => return (StatusCode::BAD_REQUEST, "Unknown action.").into_response(),
    };
    match result {
        Ok(_) => Redirect::to(&s.href(&format!("/kms/{}?done={op}", enc(&key)))).into_response(),
        Err(failure) => render_detail(&s, &key, Some(Alert::Failure(failure)), None).await,
    }
}
