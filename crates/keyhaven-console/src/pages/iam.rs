//! IAM: users, groups, roles and policies with what is attached where; a user's access keys with their last use;
//! and the policy simulator (SimulatePrincipalPolicy) with each matched statement highlighted in its policy.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use percent_encoding::percent_decode_str;

use crate::api::{ApiFailure, QueryService};
use crate::layout::{Alert, Section, enc, facts, failed_page, next_link, page, pretty_json, respond};
use crate::session::SignedIn;
use crate::xml::Element;

fn names(list: &[&Element], member: &str) -> String {
    list.iter()
        .map(|e| e.text_of(member).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn attached(entity: &Element) -> String {
    entity
        .members_of("AttachedManagedPolicies")
        .iter()
        .map(|p| p.text_of("PolicyName").to_string())
        .chain(
            ["UserPolicyList", "GroupPolicyList", "RolePolicyList"]
                .iter()
                .flat_map(|list| entity.members_of(list))
                .map(|p| format!("{} (inline)", p.text_of("PolicyName"))),
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// Users, groups and roles with their attachments (GetAccountAuthorizationDetails), and the account's own
/// managed policies (ListPolicies, Scope=Local).
pub async fn overview(s: SignedIn) -> Response {
    let mut params = vec![
        ("Filter.member.1", "User"),
        ("Filter.member.2", "Group"),
        ("Filter.member.3", "Role"),
        ("MaxItems", "100"),
    ];
    let marker = s.query.get("marker").map(str::to_string);
    if let Some(marker) = &marker {
        params.push(("Marker", marker));
    }
    let (details, policies) = futures_util::join!(
        s.api
            .query(QueryService::Iam, "GetAccountAuthorizationDetails", &params),
        s.api.query(
            QueryService::Iam,
            "ListPolicies",
            &[("Scope", "Local"), ("MaxItems", "100")]
        ),
    );
    let details = match details {
        Ok(details) => details,
        Err(failure) => return failed_page(&s, Section::Iam, "IAM", failure),
    };
    let next = (details.text_of("IsTruncated") == "true")
        .then(|| format!("{}?marker={}", s.href("/iam"), enc(details.text_of("Marker"))));
    let body = html! {
        h2 { "Users" }
        div.scroll { table.wide data-filter {
            thead { tr { th { "User" } th { "Groups" } th { "Policies" } th { "Created" } } }
            tbody { @for user in details.members_of("UserDetailList") { tr {
                td { a href=(s.href(&format!("/iam/user?name={}", enc(user.text_of("UserName"))))) { (user.text_of("UserName")) } }
                td { (user.members_of("GroupList").iter().map(|g| g.text.clone()).collect::<Vec<_>>().join(", ")) }
                td { (attached(user)) }
                td { (user.text_of("CreateDate")) }
            } } }
        } }
        h2 { "Groups" }
        div.scroll { table.wide {
            thead { tr { th { "Group" } th { "Policies" } th { "Created" } } }
            tbody { @for group in details.members_of("GroupDetailList") { tr {
                td { (group.text_of("GroupName")) }
                td { (attached(group)) }
                td { (group.text_of("CreateDate")) }
            } } }
        } }
        h2 { "Roles" }
        div.scroll { table.wide data-filter {
            thead { tr { th { "Role" } th { "Path" } th { "Policies" } th { "Last used" } } }
            tbody { @for role in details.members_of("RoleDetailList") { tr {
                td { code { (role.text_of("RoleName")) } }
                td { (role.text_of("Path")) }
                td { (attached(role)) }
                td { (role.find("RoleLastUsed").map_or("", |used| used.text_of("LastUsedDate"))) }
            } } }
        } }
        (next_link(next))
        h2 { "Customer managed policies" }
        @match &policies {
            Ok(policies) => {
                div.scroll { table.wide {
                    thead { tr { th { "Policy" } th { "Attachments" } th { "Default version" } th { "Updated" } } }
                    tbody { @for policy in policies.members_of("Policies") { tr {
                        td { code { (policy.text_of("Arn")) } }
                        td { (policy.text_of("AttachmentCount")) }
                        td { (policy.text_of("DefaultVersionId")) }
                        td { (policy.text_of("UpdateDate")) }
                    } } }
                } }
            }
            Err(failure) => { p.muted { "Policies are not available to you: " (failure.code) } }
        }
    };
    respond(StatusCode::OK, page(&s, Section::Iam, "IAM", None, body))
}

/// One user: GetUser, access keys with their last use, MFA devices, groups and policies.
pub async fn user(s: SignedIn) -> Response {
    let Some(name) = s.query.trimmed("name").map(str::to_string) else {
        return Redirect::to(&s.href("/iam")).into_response();
    };
    let by_name = [("UserName", name.as_str())];
    let user = match s.api.query(QueryService::Iam, "GetUser", &by_name).await {
        Ok(user) => user,
        Err(failure) => return failed_page(&s, Section::Iam, &name, failure),
    };
    let (keys, devices, groups, attached, inline) = futures_util::join!(
        s.api.query(QueryService::Iam, "ListAccessKeys", &by_name),
        s.api.query(QueryService::Iam, "ListMFADevices", &by_name),
        s.api.query(QueryService::Iam, "ListGroupsForUser", &by_name),
        s.api.query(QueryService::Iam, "ListAttachedUserPolicies", &by_name),
        s.api.query(QueryService::Iam, "ListUserPolicies", &by_name),
    );
    let mut key_rows = Vec::new();
    if let Ok(keys) = &keys {
        for key in keys.members_of("AccessKeyMetadata") {
            let id = key.text_of("AccessKeyId").to_string();
            let used = s
                .api
                .query(QueryService::Iam, "GetAccessKeyLastUsed", &[("AccessKeyId", &id)])
                .await;
            let used = used.map_or_else(
                |failure| failure.code,
                |u| match u.text_of("LastUsedDate") {
                    "" => "Never".to_string(),
                    date => format!("{date} · {} · {}", u.text_of("ServiceName"), u.text_of("Region")),
                },
            );
            key_rows.push((
                id,
                key.text_of("Status").to_string(),
                key.text_of("CreateDate").to_string(),
                used,
            ));
        }
    }
    let listed = |answer: &Result<Element, ApiFailure>, list: &str, member: &str| -> Markup {
        match answer {
            Ok(found) => html! { (names(&found.members_of(list), member)) },
            Err(failure) => html! { span.muted { (failure.code) } },
        }
    };
    let body = html! {
        (facts(&[
            ("ARN", html! { code { (user.text_of("Arn")) } }),
            ("Created", html! { (user.text_of("CreateDate")) }),
            ("Password last used", html! { (user.text_of("PasswordLastUsed")) }),
            ("Groups", listed(&groups, "Groups", "GroupName")),
            ("Managed policies", listed(&attached, "AttachedPolicies", "PolicyName")),
            ("Inline policies", match &inline { Ok(found) => html! { (found.members_of("PolicyNames").iter().map(|p| p.text.clone()).collect::<Vec<_>>().join(", ")) }, Err(f) => html! { span.muted { (f.code) } } }),
            ("MFA devices", listed(&devices, "MFADevices", "SerialNumber")),
        ]))
        h2 { "Access keys" }
        @match &keys {
            Ok(_) => {
                table.wide {
                    thead { tr { th { "Access key ID" } th { "Status" } th { "Created" } th { "Last used" } } }
                    tbody { @for (id, status, created, used) in &key_rows { tr { td { code { (id) } } td { (status) } td { (created) } td { (used) } } } }
                }
            }
            Err(failure) => { p.muted { "Access keys are not available to you: " (failure.code) } }
        }
        p { a href={ (s.href("/iam/simulator")) "?principal=" (enc(user.text_of("Arn"))) } { "Simulate this user's policies →" } }
    };
    respond(StatusCode::OK, page(&s, Section::Iam, &name, None, body))
}

/// `ContextEntries` from lines of `key=value` or `key type=value` (type as SimulatePrincipalPolicy names it).
fn context_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    for (n, line) in text.lines().filter_map(|l| l.split_once('=')).enumerate() {
        let (key, value) = line;
        let (name, kind) = key.trim().split_once(' ').unwrap_or((key.trim(), "string"));
        let prefix = format!("ContextEntries.member.{}", n + 1);
        params.push((format!("{prefix}.ContextKeyName"), name.to_string()));
        params.push((format!("{prefix}.ContextKeyType"), kind.trim().to_string()));
        for (i, value) in value.split(',').enumerate() {
            params.push((
                format!("{prefix}.ContextKeyValues.member.{}", i + 1),
                value.trim().to_string(),
            ));
        }
    }
    params
}

/// A policy document's text with a statement's span marked, braces included: the simulator reports, as AWS does,
/// the position just after the statement's `{` as its start and the one just after its `}` as its end.
fn highlighted(text: &str, start: (usize, usize), end: (usize, usize)) -> Markup {
    let offset = |(line, column): (usize, usize)| -> usize {
        let before: usize = text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(|l| l.chars().count())
            .sum();
        before + column.saturating_sub(1)
    };
    let chars: Vec<char> = text.chars().collect();
    let (from, to) = (
        offset(start).saturating_sub(1).min(chars.len()),
        offset(end).min(chars.len()),
    );
    let (from, to) = (from.min(to), to.max(from));
    let part = |range: std::ops::Range<usize>| chars[range].iter().collect::<String>();
    html! { pre { (part(0..from)) mark { (part(from..to)) } (part(to..chars.len())) } }
}

/// The principal's kind and name from its ARN (`user/…/name`, `role/…/name`).
fn principal_of(arn: &str) -> Option<(&str, &str)> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let (kind, path) = resource.split_once('/')?;
    Some((kind, path.rsplit('/').next()?))
}

/// A URL-encoded policy document member of an IAM answer, decoded.
fn decoded(answer: &Element, member: &str) -> String {
    percent_decode_str(answer.text_of(member))
        .decode_utf8_lossy()
        .into_owned()
}

/// The stored text of a matched statement's policy: inline policies by name (a user's groups' too), managed ones
/// through the principal's attachments (and its groups'), then the default version.
async fn source_text(s: &SignedIn, principal_arn: &str, kind: &str, id: &str) -> Option<String> {
    let (entity, name) = principal_of(principal_arn)?;
    let (owner_member, get_inline, list_attached) = match entity {
        "role" => ("RoleName", "GetRolePolicy", "ListAttachedRolePolicies"),
        _ => ("UserName", "GetUserPolicy", "ListAttachedUserPolicies"),
    };
    let own = (owner_member, name.to_string());
    // A user's groups matter only for group policies and managed ones (which a group may hold).
    let groups = if entity == "user" && kind != "user" {
        let found = s
            .api
            .query(QueryService::Iam, "ListGroupsForUser", &[("UserName", name)])
            .await
            .ok()?;
        found
            .members_of("Groups")
            .iter()
            .map(|g| ("GroupName", g.text_of("GroupName").to_string()))
            .collect()
    } else {
        Vec::new()
    };
    let (inline_action, owners): (&str, Vec<(&str, String)>) = match kind {
        "user" | "role" => (get_inline, vec![own]),
        "group" => ("GetGroupPolicy", groups),
        "aws-managed" | "user-managed" => {
            let mut owners = vec![(list_attached, own)];
            owners.extend(groups.into_iter().map(|group| ("ListAttachedGroupPolicies", group)));
            for (action, (member, owner)) in owners {
                let Ok(found) = s.api.query(QueryService::Iam, action, &[(member, &owner)]).await else {
                    continue;
                };
                let Some(policy) = found
                    .members_of("AttachedPolicies")
                    .into_iter()
                    .find(|p| p.text_of("PolicyName") == id)
                else {
                    continue;
                };
                let arn = policy.text_of("PolicyArn").to_string();
                let described = s
                    .api
                    .query(QueryService::Iam, "GetPolicy", &[("PolicyArn", &arn)])
                    .await
                    .ok()?;
                let version = described.text_of("DefaultVersionId").to_string();
                let params = [("PolicyArn", arn.as_str()), ("VersionId", version.as_str())];
                let text = s.api.query(QueryService::Iam, "GetPolicyVersion", &params).await.ok()?;
                return Some(decoded(&text, "Document"));
            }
            return None;
        }
        _ => return None,
    };
    for (member, owner) in owners {
        let params = [(member, owner.as_str()), ("PolicyName", id)];
        if let Ok(found) = s.api.query(QueryService::Iam, inline_action, &params).await {
            return Some(decoded(&found, "PolicyDocument"));
        }
    }
    None
}

fn position(element: Option<&Element>) -> Option<(usize, usize)> {
    let element = element?;
    Some((
        element.text_of("Line").parse().ok()?,
        element.text_of("Column").parse().ok()?,
    ))
}

/// The policy simulator: SimulatePrincipalPolicy for a principal, actions, resources and context.
pub async fn simulator(s: SignedIn) -> Response {
    let principal = s.query.trimmed("principal").unwrap_or("").to_string();
    let actions_text = s.query.get("actions").unwrap_or("").to_string();
    let resources_text = s.query.get("resources").unwrap_or("").to_string();
    let context_text = s.query.get("context").unwrap_or("").to_string();
    let (users, roles) = futures_util::join!(
        s.api.query(QueryService::Iam, "ListUsers", &[("MaxItems", "200")]),
        s.api.query(QueryService::Iam, "ListRoles", &[("MaxItems", "200")]),
    );
    let mut known: Vec<String> = Vec::new();
    for (answer, list) in [(&users, "Users"), (&roles, "Roles")] {
        if let Ok(found) = answer {
            known.extend(found.members_of(list).iter().map(|e| e.text_of("Arn").to_string()));
        }
    }
    let actions: Vec<&str> = actions_text.split_whitespace().collect();
    let resources: Vec<&str> = resources_text.split_whitespace().collect();
    let mut shown = None;
    let mut results: Vec<(String, String, String, Vec<Markup>, String)> = Vec::new();
    let mut status = StatusCode::OK;
    if !principal.is_empty() && !actions.is_empty() {
        let mut params: Vec<(String, String)> = vec![("PolicySourceArn".into(), principal.clone())];
        params.extend(
            actions
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("ActionNames.member.{}", i + 1), (*a).to_string())),
        );
        params.extend(
            resources
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("ResourceArns.member.{}", i + 1), (*r).to_string())),
        );
        params.extend(context_params(&context_text));
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match s
            .api
            .query(QueryService::Iam, "SimulatePrincipalPolicy", &borrowed)
            .await
        {
            Ok(answer) => {
                for result in answer.members_of("EvaluationResults") {
                    let mut marked = Vec::new();
                    for statement in result.members_of("MatchedStatements") {
                        let (kind, id) = (
                            statement.text_of("SourcePolicyType"),
                            statement.text_of("SourcePolicyId"),
                        );
                        let span =
                            position(statement.find("StartPosition")).zip(position(statement.find("EndPosition")));
                        let text = source_text(&s, &principal, kind, id).await;
                        marked.push(html! {
                            div.matched {
                                p { "Matched in " strong { (id) } " (" (kind) ")" }
                                @match (text, span) {
                                    (Some(text), Some((start, end))) => { (highlighted(&text, start, end)) }
                                    (Some(text), None) => { pre { (pretty_json(&text)) } }
                                    (None, _) => { p.muted { "The policy's text is not available to you." } }
                                }
                            }
                        });
                    }
                    let missing = result
                        .members_of("MissingContextValues")
                        .iter()
                        .map(|m| m.text.clone())
                        .collect::<Vec<_>>()
                        .join(", ");
                    results.push((
                        result.text_of("EvalActionName").to_string(),
                        result.text_of("EvalResourceName").to_string(),
                        result.find("EvalDecision").map_or_else(String::new, |d| d.text.clone()),
                        marked,
                        missing,
                    ));
                }
            }
            Err(failure) => {
                status = crate::layout::failure_status(&failure);
                shown = Some(Alert::Failure(failure));
            }
        }
    }
    let body = html! {
        form.stack method="get" action=(s.href("/iam/simulator")) {
            label { "Principal (user or role ARN)"
                input name="principal" value=(principal) list="principals" required;
            }
            datalist #principals { @for arn in &known { option value=(arn) {} } }
            label { "Actions (one per line or space-separated)" textarea name="actions" rows="3" required { (actions_text) } }
            label { "Resource ARNs (optional; * when empty)" textarea name="resources" rows="2" { (resources_text) } }
            label { "Context (one per line: key=value, or key type=value, e.g. aws:SourceIp ip=10.0.0.1)" textarea name="context" rows="2" { (context_text) } }
            div { button.primary type="submit" { "Simulate" } }
        }
        @for (action, resource, decision, marked, missing) in &results {
            section.result {
                h2 { (action) " on " code { (resource) } ": " span class={ "decision-" (decision) } { (decision) } }
                @if !missing.is_empty() { p.muted { "Missing context values: " (missing) } }
                @for each in marked { (each) }
            }
        }
    };
    respond(
        status,
        page(&s, Section::Simulator, "Policy simulator", shown.as_ref(), body),
    )
}
