//! Secrets Manager: secrets with their rotation schedule, last and next rotation and last failure; one secret's
//! versions and stages; put a value, rotate now, delete and restore, and reveal a value (an audited GetSecretValue).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde_json::{Value, json};

use crate::api::{ApiFailure, JsonService};
use crate::layout::{
    Alert, Section, action_button, csrf_field, enc, facts, failed_page, masked, next_link, page, respond, status_for,
    when,
};
use crate::session::{Change, SignedIn};

const PAGE_SIZE: u32 = 50;

fn secret_href(s: &SignedIn, id: &str) -> String {
    s.href(&format!("/secrets/secret?id={}", enc(id)))
}

/// A fresh idempotency token: Secrets Manager asks raw callers for one, as the SDKs send it.
fn request_token() -> Result<String, ApiFailure> {
    keyhaven_kernel::ids::new_uuid().map_err(|_| ApiFailure {
        status: 500,
        code: "InternalFailure".into(),
        message: "No random token could be made.".into(),
    })
}

fn rotation_rules(rules: &Value) -> String {
    if let Some(expression) = rules["ScheduleExpression"].as_str() {
        return expression.to_string();
    }
    rules["AutomaticallyAfterDays"]
        .as_i64()
        .map_or_else(String::new, |days| format!("every {days} days"))
}

/// The secrets page: ListSecrets, 50 a page, including those scheduled for deletion.
pub async fn list(s: SignedIn) -> Response {
    render_list(&s, None).await
}

async fn render_list(s: &SignedIn, shown: Option<Alert>) -> Response {
    let mut input = json!({"MaxResults": PAGE_SIZE, "IncludePlannedDeletion": true});
    if let Some(token) = s.query.get("token") {
        input["NextToken"] = json!(token);
    }
    let listed = match s.api.json(JsonService::SecretsManager, "ListSecrets", input).await {
        Ok(listed) => listed,
        Err(failure) => return failed_page(s, Section::Secrets, "Secrets", failure),
    };
    let next = listed["NextToken"]
        .as_str()
        .map(|token| format!("{}?token={}", s.href("/secrets"), enc(token)));
    let status = status_for(shown.as_ref());
    let secrets = listed["SecretList"].as_array().cloned().unwrap_or_default();
    let body = html! {
        details {
            summary { "Create a secret" }
            form.row method="post" action=(s.href("/secrets")) {
                (csrf_field(s))
                label { "Name" input name="name" required; }
                label { "Value" input type="password" name="value" required autocomplete="off"; }
                label { "Description" input name="description"; }
                label { "KMS key (optional)" input name="kms_key"; }
                button.primary type="submit" { "Create secret" }
            }
        }
        div.scroll { table.wide data-filter {
            thead { tr { th { "Name" } th { "Rotation" } th { "Last rotated" } th { "Next rotation" } th { "Last changed" } th { "Deletion" } } }
            tbody { @for secret in &secrets {
                @let name = secret["Name"].as_str().unwrap_or("");
                tr {
                    td { a href=(secret_href(s, secret["ARN"].as_str().unwrap_or(name))) { (name) } }
                    td { @if secret["RotationEnabled"] == json!(true) { "On, " (rotation_rules(&secret["RotationRules"])) } @else { span.muted { "Off" } } }
                    td { (when(&secret["LastRotatedDate"])) }
                    td { (when(&secret["NextRotationDate"])) }
                    td { (when(&secret["LastChangedDate"])) }
                    td { @if secret["DeletedDate"].is_number() { span.bad { "Scheduled " (when(&secret["DeletedDate"])) } } }
                }
            } }
        } }
        @if secrets.is_empty() { p.muted { "No secrets in " (s.region()) "." } }
        (next_link(next))
    };
    respond(status, page(s, Section::Secrets, "Secrets", shown.as_ref(), body))
}

/// Create a secret: CreateSecret with its first value.
pub async fn create(change: Change) -> Response {
    let Change { signed_in: s, form } = change;
    let token = match request_token() {
        Ok(token) => token,
        Err(failure) => return render_list(&s, Some(Alert::Failure(failure))).await,
    };
    let mut input = json!({
        "Name": form.trimmed("name").unwrap_or(""),
        "SecretString": form.get("value").unwrap_or(""),
        "ClientRequestToken": token,
    });
    for (field, member) in [("description", "Description"), ("kms_key", "KmsKeyId")] {
        if let Some(value) = form.trimmed(field) {
            input[member] = json!(value);
        }
    }
    match s.api.json(JsonService::SecretsManager, "CreateSecret", input).await {
        Ok(created) => {
            let arn = created["ARN"].as_str().unwrap_or("");
            Redirect::to(&format!("{}&done=created", secret_href(&s, arn))).into_response()
        }
        Err(failure) => render_list(&s, Some(Alert::Failure(failure))).await,
    }
}

/// One secret: DescribeSecret, ListSecretVersionIds, and its last rotation outcome from the audit trail
/// (LookupEvents by resource), since Secrets Manager has no member for a failure.
pub async fn detail(s: SignedIn) -> Response {
    let Some(id) = s.query.get("id").map(str::to_string) else {
        return Redirect::to(&s.href("/secrets")).into_response();
    };
    let shown = s.done_notice(done_text);
    render_detail(&s, &id, shown, None).await
}

fn done_text(op: &str) -> Option<&'static str> {
    Some(match op {
        "created" => "Secret created.",
        "put" => "New value saved as AWSCURRENT.",
        "rotate" => "Rotation started.",
        "restore" => "Secret restored.",
        "delete" => "Secret scheduled for deletion.",
        _ => return None,
    })
}

async fn render_detail(s: &SignedIn, id: &str, shown: Option<Alert>, revealed: Option<(String, String)>) -> Response {
    let described = match s
        .api
        .json(JsonService::SecretsManager, "DescribeSecret", json!({"SecretId": id}))
        .await
    {
        Ok(described) => described,
        Err(failure) => return failed_page(s, Section::Secrets, id, failure),
    };
    let arn = described["ARN"].as_str().unwrap_or(id).to_string();
    let lookup = json!({
        "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": arn}],
        "MaxResults": 50,
    });
    let (versions, events) = futures_util::join!(
        s.api.json(
            JsonService::SecretsManager,
            "ListSecretVersionIds",
            json!({"SecretId": arn, "IncludeDeprecated": true})
        ),
        s.api.json(JsonService::CloudTrail, "LookupEvents", lookup),
    );
    let last_outcome = events.as_ref().ok().and_then(|found| {
        found["Events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| matches!(e["EventName"].as_str(), Some("RotationFailed" | "RotationSucceeded")))
            .cloned()
    });
    let deleted = described["DeletedDate"].is_number();
    let here = s.href("/secrets/secret");
    let id_field = [("id", arn.as_str())];
    let status = status_for(shown.as_ref());
    let body = html! {
        (facts(&[
            ("ARN", html! { code { (arn) } }),
            ("Description", html! { (described["Description"].as_str().unwrap_or("")) }),
            ("KMS key", html! { code { (described["KmsKeyId"].as_str().unwrap_or("aws/secretsmanager")) } }),
            ("Rotation", html! {
                @if described["RotationEnabled"] == json!(true) {
                    "On, " (rotation_rules(&described["RotationRules"]))
                    @if let Some(function) = described["RotationLambdaARN"].as_str() { " · " code { (function) } }
                } @else { "Off" }
            }),
            ("Last rotated", html! { (when(&described["LastRotatedDate"])) }),
            ("Next rotation", html! { (when(&described["NextRotationDate"])) }),
            ("Last rotation outcome", html! {
                @match &last_outcome {
                    Some(event) => {
                        @let name = event["EventName"].as_str().unwrap_or("");
                        span class=(if name == "RotationFailed" { "bad" } else { "ok" }) { (name) } " " (when(&event["EventTime"]))
                    }
                    None => { span.muted { "None recorded" } }
                }
            }),
            ("Last changed", html! { (when(&described["LastChangedDate"])) }),
            ("Last accessed", html! { (when(&described["LastAccessedDate"])) }),
            ("Deletion", html! { @if deleted { span.bad { "Scheduled for " (when(&described["DeletedDate"])) } } @else { "—" } }),
            ("Value", html! {
                @match &revealed {
                    Some((version, value)) => { pre #revealed-value { (value) } span.muted { "version " (version) ", revealed" } }
                    None => { (masked()) " " @if !deleted { (action_button(s, &here, "reveal", "Reveal value", &id_field, None)) } }
                }
            }),
        ]))
        h2 { "Actions" }
        @if deleted {
            (action_button(s, &here, "restore", "Restore", &id_field, None))
        } @else {
            form.row method="post" action=(here) {
                (csrf_field(s))
                input type="hidden" name="op" value="put";
                input type="hidden" name="id" value=(arn);
                label { "New value" input type="password" name="value" required autocomplete="off"; }
                button.primary type="submit" { "Put value" }
            }
            @if described["RotationEnabled"] == json!(true) || described["RotationLambdaARN"].is_string() {
                (action_button(s, &here, "rotate", "Rotate now", &id_field, None))
            }
            (action_button(s, &here, "delete", "Delete (30-day recovery window)", &id_field, Some("Schedule this secret for deletion?")))
        }
        h2 { "Versions and stages" }
        @match &versions {
            Ok(found) => {
                div.scroll { table.wide {
                    thead { tr { th { "Version ID" } th { "Stages" } th { "Created" } th { "Last accessed" } } }
                    tbody { @for version in found["Versions"].as_array().into_iter().flatten() { tr {
                        td { code { (version["VersionId"].as_str().unwrap_or("")) } }
                        td { (version["VersionStages"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")) }
                        td { (when(&version["CreatedDate"])) }
                        td { (when(&version["LastAccessedDate"])) }
                    } } }
                } }
            }
            Err(failure) => { p.muted { "Versions are not available to you: " (failure.code) } }
        }
    };
    let title = described["Name"].as_str().unwrap_or(id).to_string();
    respond(status, page(s, Section::Secrets, &title, shown.as_ref(), body))
}

/// A change to a secret: reveal, put a value, rotate now, delete or restore.
pub async fn change(change: Change) -> Response {
    let Change { signed_in: s, form } = change;
    let Some(id) = form.trimmed("id").map(str::to_string) else {
        return (StatusCode::BAD_REQUEST, "A secret is required.").into_response();
    };
    let op = form.get("op").unwrap_or("");
    let secret = json!({"SecretId": id});
    let result = match op {
        "reveal" => {
            return match s
                .api
                .json(
                    JsonService::SecretsManager,
                    "GetSecretValue",
                    json!({"SecretId": id, "VersionStage": "AWSCURRENT"}),
                )
                .await
            {
                Ok(value) => {
                    let shown_value = value["SecretString"]
                        .as_str()
                        .map_or_else(|| "(binary value)".to_string(), str::to_string);
                    let version = value["VersionId"].as_str().unwrap_or("").to_string();
                    render_detail(&s, &id, None, Some((version, shown_value))).await
                }
                Err(failure) => render_detail(&s, &id, Some(Alert::Failure(failure)), None).await,
            };
        }
        "put" => match request_token() {
            Ok(token) => {
                let input = json!({"SecretId": id, "SecretString": form.get("value").unwrap_or(""), "ClientRequestToken": token});
                s.api.json(JsonService::SecretsManager, "PutSecretValue", input).await
            }
            Err(failure) => Err(failure),
        },
        "rotate" => match request_token() {
            Ok(token) => {
                let input = json!({"SecretId": id, "ClientRequestToken": token, "RotateImmediately": true});
                s.api.json(JsonService::SecretsManager, "RotateSecret", input).await
            }
            Err(failure) => Err(failure),
        },
        "restore" => s.api.json(JsonService::SecretsManager, "RestoreSecret", secret).await,
        "delete" => {
            let input = json!({"SecretId": id, "RecoveryWindowInDays": 30});
            s.api.json(JsonService::SecretsManager, "DeleteSecret", input).await
        }
        _ => return (StatusCode::BAD_REQUEST, "Unknown action.").into_response(),
    };
    match result {
        Ok(_) => Redirect::to(&format!("{}&done={op}", secret_href(&s, &id))).into_response(),
        Err(failure) => render_detail(&s, &id, Some(Alert::Failure(failure)), None).await,
    }
}
