//! Service last accessed details (GenerateServiceLastAccessedDetails and the reads of its report):
//! for a user, group, role or managed policy, the services its policies allow and when an entity it
//! covers last made a request to each, read from the audit log.
//!
//! Which entities a report covers: a user or role itself (a role through its sessions), a group's
//! members, and everything a policy is attached to (a group's members through the group). Which
//! services: those the covering policies' `Allow` statements name by prefix, and every service this
//! server runs for a wildcard vendor or `NotAction`. The report is made when it is asked for and kept
//! under its job id.

use std::collections::{BTreeMap, BTreeSet};

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::ids::new_uuid;
use keyhaven_kernel::records;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{EntityKind, Iam, RECORD_VERSION, all_entities, managed};
use crate::error::{IamError, read};

keyhaven_kernel::versioned_record!(AccessReport, "iam-access-report", RECORD_VERSION);

/// The services this server runs, which a wildcard grants (their IAM namespaces).
pub const SERVED_NAMESPACES: &[&str] = &["cloudtrail", "iam", "kms", "logs", "s3", "secretsmanager", "ssm", "sts"];

/// `SERVICE_LEVEL` or `ACTION_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Granularity {
    Service,
    Action,
}

/// When an entity last used one action of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionAccess {
    pub action: String,
    pub time: f64,
    pub entity: String,
    pub region: String,
}

/// One service of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccess {
    pub namespace: String,
    pub last_authenticated: Option<f64>,
    pub last_entity: Option<String>,
    pub last_region: Option<String>,
    /// When each covered entity that used the service last did, by ARN.
    pub entities: BTreeMap<String, f64>,
    /// `ACTION_LEVEL` only.
    pub actions: Vec<ActionAccess>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessReport {
    pub v: u32,
    pub job_id: String,
    pub arn: String,
    pub granularity: Granularity,
    pub created: f64,
    pub completed: f64,
    pub services: Vec<ServiceAccess>,
}

fn not_found(arn: &str) -> IamError {
    IamError::NotFound(format!("The entity {arn} cannot be found."))
}

/// The namespaces an identity policy's `Allow` statements reach.
fn allowed_namespaces(document: &str, into: &mut BTreeSet<String>) {
    let Ok(value) = serde_json::from_str::<Value>(document) else {
        return;
    };
    let statements: Vec<&Value> = match &value["Statement"] {
        Value::Array(items) => items.iter().collect(),
        single @ Value::Object(_) => vec![single],
        _ => Vec::new(),
    };
    for statement in statements.into_iter().filter(|s| s["Effect"] == "Allow") {
        if statement.get("NotAction").is_some() {
            into.extend(SERVED_NAMESPACES.iter().map(|s| s.to_string()));
            continue;
        }
        let actions: Vec<&str> = match &statement["Action"] {
            Value::String(one) => vec![one],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for action in actions {
            match action.split_once(':') {
                Some((vendor, _)) if !vendor.contains(['*', '?']) => {
                    into.insert(vendor.to_ascii_lowercase());
                }
                _ => into.extend(SERVED_NAMESPACES.iter().map(|s| s.to_string())),
            }
        }
    }
}

impl Iam {
    /// The ARNs of the users and roles a report on `arn` covers, and the documents of the policies
    /// that decide its services.
    fn report_scope(&self, ctx: &RequestContext, arn: &str) -> Result<(Vec<String>, Vec<String>), IamError> {
        let account = ctx.account_id();
        let resource = arn
            .strip_prefix(&format!("arn:aws:iam::{account}:"))
            .or_else(|| arn.strip_prefix("arn:aws:iam::aws:"))
            .ok_or_else(|| not_found(arn))?;
        let (kind, _) = resource.split_once('/').ok_or_else(|| not_found(arn))?;
        let name = resource.rsplit('/').next().unwrap_or_default();
        let entity_policies = |entity: &super::Entity| -> Result<Vec<String>, IamError> {
            let policies = match entity.kind {
                EntityKind::Role => self.role_policies(account, entity)?,
                _ => self.user_policies(account, entity)?,
            };
            Ok(policies.into_iter().map(|(_, document)| document).collect())
        };
        match kind {
            "user" | "role" => {
                let kind = if kind == "user" {
                    EntityKind::User
                } else {
                    EntityKind::Role
                };
                let entity = self.entity(ctx, kind, name).map_err(|_| not_found(arn))?;
                if entity.arn() != arn {
                    return Err(not_found(arn));
                }
                Ok((vec![entity.arn()], entity_policies(&entity)?))
            }
            "group" => {
                let (group, members) = self.group_with_members(ctx, name).map_err(|_| not_found(arn))?;
                if group.arn() != arn {
                    return Err(not_found(arn));
                }
                let mut documents: Vec<String> = group.inline_policies.values().cloned().collect();
                for policy in &group.attached_policies {
                    documents.push(self.managed_policy_document(account, policy)?);
                }
                Ok((members.iter().map(super::Entity::arn).collect(), documents))
            }
            "policy" => {
                let document = match managed::aws_managed(arn) {
                    Some(aws) => aws.document.clone(),
                    None => self.managed_policy_document(account, arn).map_err(|_| not_found(arn))?,
                };
                let (users, groups, roles) = read(&*self.store, |tx| {
                    Ok((
                        all_entities(tx, account, EntityKind::User)?,
                        all_entities(tx, account, EntityKind::Group)?,
                        all_entities(tx, account, EntityKind::Role)?,
                    ))
                })?;
                let attached_groups: Vec<&str> = groups
                    .iter()
                    .filter(|g| g.attached_policies.iter().any(|p| p == arn))
                    .map(|g| g.name.as_str())
                    .collect();
                let covered = users
                    .iter()
                    .filter(|u| {
                        u.attached_policies.iter().any(|p| p == arn)
                            || u.groups
                                .iter()
                                .any(|g| attached_groups.iter().any(|a| a.eq_ignore_ascii_case(g)))
                    })
                    .chain(roles.iter().filter(|r| r.attached_policies.iter().any(|p| p == arn)))
                    .map(super::Entity::arn)
                    .collect();
                Ok((covered, vec![document]))
            }
            _ => Err(not_found(arn)),
        }
    }

    /// GenerateServiceLastAccessedDetails: makes the report now and answers its job id.
    pub fn generate_access_report(
        &self,
        ctx: &RequestContext,
        arn: &str,
        granularity: Granularity,
    ) -> Result<String, IamError> {
        let created = self.now();
        let (covered, documents) = self.report_scope(ctx, arn)?;
        let mut namespaces = BTreeSet::new();
        for document in &documents {
            allowed_namespaces(document, &mut namespaces);
        }
        let used = self.audit_usage(ctx.account_id(), &covered)?;
        let services = namespaces
            .into_iter()
            .map(|namespace| {
                let usage = used.get(&namespace);
                let last = usage.and_then(|u| u.actions.values().max_by(|a, b| a.time.total_cmp(&b.time)));
                ServiceAccess {
                    last_authenticated: last.map(|l| l.time),
                    last_entity: last.map(|l| l.entity.clone()),
                    last_region: last.map(|l| l.region.clone()),
                    entities: usage.map(|u| u.entities.clone()).unwrap_or_default(),
                    actions: match granularity {
                        Granularity::Action => usage.map(|u| u.actions.values().cloned().collect()).unwrap_or_default(),
                        Granularity::Service => Vec::new(),
                    },
                    namespace,
                }
            })
            .collect();
        let report = AccessReport {
            v: RECORD_VERSION,
            job_id: new_uuid()?,
            arn: arn.to_string(),
            granularity,
            created,
            completed: self.now(),
            services,
        };
        let account = ctx.account_id().to_string();
        self.write(|tx| Ok(records::put(tx, &account, &report.job_id, &report)?))?;
        Ok(report.job_id)
    }

    /// ListPoliciesGrantingServiceAccess: for each namespace, the inline and managed policies of a
    /// user (its groups' included), group or role whose `Allow` statements reach the service.
    pub fn policies_granting(
        &self,
        ctx: &RequestContext,
        arn: &str,
        namespaces: &[String],
    ) -> Result<Vec<(String, Vec<GrantingPolicy>)>, IamError> {
        let account = ctx.account_id();
        let resource = arn
            .strip_prefix(&format!("arn:aws:iam::{account}:"))
            .ok_or_else(|| not_found(arn))?;
        let (kind, _) = resource.split_once('/').ok_or_else(|| not_found(arn))?;
        let kind = match kind {
            "user" => EntityKind::User,
            "group" => EntityKind::Group,
            "role" => EntityKind::Role,
            _ => return Err(not_found(arn)),
        };
        let entity = self
            .entity(ctx, kind, resource.rsplit('/').next().unwrap_or_default())
            .map_err(|_| not_found(arn))?;
        if entity.arn() != arn {
            return Err(not_found(arn));
        }
        let mut holders = vec![entity.clone()];
        for group in &entity.groups {
            holders.push(self.entity(ctx, EntityKind::Group, group)?);
        }
        let mut candidates: Vec<(GrantingPolicy, String)> = Vec::new();
        for holder in &holders {
            for (name, document) in &holder.inline_policies {
                candidates.push((GrantingPolicy::of(holder, name.clone(), None), document.clone()));
            }
            for policy_arn in &holder.attached_policies {
                let name = policy_arn.rsplit('/').next().unwrap_or_default().to_string();
                let document = self.managed_policy_document(account, policy_arn)?;
                candidates.push((GrantingPolicy::of(holder, name, Some(policy_arn.clone())), document));
            }
        }
        Ok(namespaces
            .iter()
            .map(|namespace| {
                let granting = candidates
                    .iter()
                    .filter(|(_, document)| {
                        let mut reached = BTreeSet::new();
                        allowed_namespaces(document, &mut reached);
                        reached.contains(namespace.as_str())
                    })
                    .map(|(policy, _)| policy.clone())
                    .collect();
                (namespace.clone(), granting)
            })
            .collect())
    }

    pub fn access_report(&self, ctx: &RequestContext, job_id: &str) -> Result<AccessReport, IamError> {
        read(&*self.store, |tx| {
            Ok(records::get::<AccessReport>(tx, ctx.account_id(), job_id)?)
        })?
        .ok_or_else(|| IamError::NotFound(format!("No such job {job_id} exists.")))
    }

    /// Per service namespace: the latest use of each action by any of `covered` (users by their ARN,
    /// roles through their sessions) in `account`, and which of them used it.
    fn audit_usage(&self, account: &str, covered: &[String]) -> Result<BTreeMap<String, Usage>, IamError> {
        let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
        if covered.is_empty() {
            return Ok(usage);
        }
        keyhaven_kernel::audit::scan_records(&*self.store, |bytes| {
            let Ok(record) = serde_json::from_slice::<Value>(bytes) else {
                return;
            };
            if record["recipientAccountId"] != account {
                return;
            }
            let identity = &record["userIdentity"];
            let entity = match identity["type"].as_str() {
                Some("AssumedRole") => identity["sessionContext"]["sessionIssuer"]["arn"].as_str(),
                _ => identity["arn"].as_str(),
            };
            let Some(entity) = entity.filter(|e| covered.iter().any(|c| c == e)) else {
                return;
            };
            let (Some(source), Some(action), Some(time)) = (
                record["eventSource"].as_str(),
                record["eventName"].as_str(),
                record["eventTime"].as_str().and_then(super::saml::parse_datetime),
            ) else {
                return;
            };
            let namespace = source.split('.').next().unwrap_or_default().to_string();
            let service = usage.entry(namespace).or_default();
            let seen = service.entities.entry(entity.to_string()).or_insert(time);
            *seen = seen.max(time);
            let latest = service
                .actions
                .entry(action.to_string())
                .or_insert_with(|| ActionAccess {
                    action: action.to_string(),
                    time,
                    entity: entity.to_string(),
                    region: String::new(),
                });
            if time >= latest.time {
                latest.time = time;
                latest.entity = entity.to_string();
                latest.region = record["awsRegion"].as_str().unwrap_or_default().to_string();
            }
        })?;
        Ok(usage)
    }
}

/// A policy that grants access to a service, and the entity it is inline in or attached to.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantingPolicy {
    pub name: String,
    /// None for an inline policy.
    pub arn: Option<String>,
    pub entity_kind: EntityKind,
    pub entity_name: String,
}

impl GrantingPolicy {
    fn of(holder: &super::Entity, name: String, arn: Option<String>) -> Self {
        Self {
            name,
            arn,
            entity_kind: holder.kind,
            entity_name: holder.name.clone(),
        }
    }
}

/// One service's use by the covered entities.
#[derive(Debug, Default)]
struct Usage {
    /// The latest use by each entity.
    entities: BTreeMap<String, f64>,
    /// By action name.
    actions: BTreeMap<String, ActionAccess>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_come_from_allow_statements() {
        let mut found = BTreeSet::new();
        allowed_namespaces(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","S3:Get*"],"Resource":"*"},{"Effect":"Deny","Action":"sqs:*","Resource":"*"}]}"#,
            &mut found,
        );
        assert_eq!(found.into_iter().collect::<Vec<_>>(), ["kms", "s3"]);
        let mut everything = BTreeSet::new();
        allowed_namespaces(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            &mut everything,
        );
        assert_eq!(everything.len(), SERVED_NAMESPACES.len());
    }
}
