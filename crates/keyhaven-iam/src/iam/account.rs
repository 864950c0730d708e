//! The account as IAM reports it: its alias, the summary of what it holds against IAM's quotas,
//! and the credential report (every user's passwords, access keys, MFA and certificates as CSV).

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{AccessKeyRecord, EntityKind, Iam, RECORD_VERSION, all_entities, all_of, mfa, profiles};
use crate::error::{IamError, read};

keyhaven_kernel::versioned_record!(AccountAlias, "iam-account-alias", RECORD_VERSION);
keyhaven_kernel::versioned_record!(CredentialReport, "iam-credential-report", RECORD_VERSION);
keyhaven_kernel::versioned_record!(StsPreferences, "iam-sts-preferences", RECORD_VERSION);

const STS_PREFERENCES_ID: &str = "sts-preferences";

/// SetSecurityTokenServicePreferences: which session tokens the global STS endpoint issues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StsPreferences {
    pub v: u32,
    /// 1 (`v1Token`, valid only in Regions enabled by default) or 2 (`v2Token`, valid everywhere).
    pub global_endpoint_token_version: i32,
}

const ALIAS_ID: &str = "alias";
const REPORT_ID: &str = "credential-report";
/// A report younger than this is served again rather than regenerated (IAM User Guide, "Getting
/// credential reports": "If the existing report is more than four hours old, IAM generates a new one").
const REPORT_REUSE_SECONDS: f64 = 4.0 * 3600.0;

/// IAM's default quotas, as GetAccountSummary reports them (IAM User Guide, "IAM and AWS STS quotas").
pub const QUOTAS: &[(&str, i32)] = &[
    ("AccessKeysPerUserQuota", 2),
    ("AssumeRolePolicySizeQuota", 2048),
    ("AttachedPoliciesPerGroupQuota", 10),
    ("AttachedPoliciesPerRoleQuota", 10),
    ("AttachedPoliciesPerUserQuota", 10),
    ("GroupPolicySizeQuota", 5120),
    ("GroupsPerUserQuota", 10),
    ("GroupsQuota", 300),
    ("InstanceProfilesQuota", 1000),
    ("PoliciesQuota", 1500),
    ("PolicySizeQuota", 6144),
    ("PolicyVersionsInUseQuota", 10000),
    ("RolePolicySizeQuota", 10240),
    ("RolesQuota", 1000),
    ("ServerCertificatesQuota", 20),
    ("SigningCertificatesPerUserQuota", 2),
    ("UserPolicySizeQuota", 2048),
    ("UsersQuota", 5000),
    ("VersionsPerPolicyQuota", 5),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountAlias {
    pub v: u32,
    pub alias: String,
}

/// A generated credential report: the CSV and when it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialReport {
    pub v: u32,
    pub generated: f64,
    pub csv: String,
}

/// What GenerateCredentialReport answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportState {
    Started,
    Complete,
}

impl ReportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Started => "STARTED",
            ReportState::Complete => "COMPLETE",
        }
    }
}

const REPORT_COLUMNS: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,\
password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,\
access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,\
access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,\
cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

/// A report time: ISO 8601 to the second with an explicit UTC offset, as AWS writes them.
fn report_time(seconds: f64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]+00:00"
            ))
            .ok()
        })
        .unwrap_or_else(|| "N/A".into())
}

fn or_na(value: Option<f64>) -> String {
    value.map_or_else(|| "N/A".into(), report_time)
}

/// The model's `accountAliasType` pattern, which uses a lookahead the wire layer's regex engine
/// cannot run: lowercase letters, digits and single hyphens, neither first nor last.
fn check_alias(alias: &str) -> Result<(), IamError> {
    let bytes = alias.as_bytes();
    let allowed = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    let ends = bytes.first().is_some_and(|b| *b != b'-') && bytes.last().is_some_and(|b| *b != b'-');
    if allowed && ends && !alias.contains("--") && (3..=63).contains(&bytes.len()) {
        return Ok(());
    }
    Err(IamError::Validation(
        "1 validation error detected: Value at 'accountAlias' failed to satisfy constraint: Member must satisfy \
         regular expression pattern: ^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$"
            .into(),
    ))
}

impl Iam {
    /// CreateAccountAlias. An account has one alias; creating another replaces it.
    pub fn create_account_alias(&self, ctx: &RequestContext, alias: &str) -> Result<(), IamError> {
        check_alias(alias)?;
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            if let Some(current) = records::get::<AccountAlias>(tx, &account, ALIAS_ID)?
                && current.alias == alias
            {
                return Err(IamError::AlreadyExists(format!(
                    "The account alias {alias} already exists."
                )));
            }
            records::put(
                tx,
                &account,
                ALIAS_ID,
                &AccountAlias {
                    v: RECORD_VERSION,
                    alias: alias.to_string(),
                },
            )?;
            Ok(())
        })
    }

    pub fn delete_account_alias(&self, ctx: &RequestContext, alias: &str) -> Result<(), IamError> {
        check_alias(alias)?;
        let account = ctx.account_id().to_string();
        self.write(|tx| match records::get::<AccountAlias>(tx, &account, ALIAS_ID)? {
            Some(current) if current.alias == alias => {
                records::delete::<AccountAlias>(tx, &account, ALIAS_ID)?;
                Ok(())
            }
            _ => Err(IamError::NotFound(format!(
                "The account alias {alias} cannot be found."
            ))),
        })
    }

    pub fn account_aliases(&self, ctx: &RequestContext) -> Result<Vec<String>, IamError> {
        let alias = read(&*self.store, |tx| {
            Ok(records::get::<AccountAlias>(tx, ctx.account_id(), ALIAS_ID)?)
        })?;
        Ok(alias.into_iter().map(|a| a.alias).collect())
    }

    /// GetAccountSummary's map: what the account holds, then IAM's quotas.
    pub fn account_summary(&self, ctx: &RequestContext) -> Result<Vec<(String, i32)>, IamError> {
        let account = ctx.account_id();
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        read(&*self.store, |tx| {
            let users = all_entities(tx, account, EntityKind::User)?;
            let groups = all_entities(tx, account, EntityKind::Group)?;
            let roles = all_entities(tx, account, EntityKind::Role)?;
            let attachments = [&users, &groups, &roles]
                .iter()
                .flat_map(|entities| entities.iter())
                .map(|e| e.attached_policies.len())
                .sum();
            let policies: Vec<super::ManagedPolicy> = all_of(tx, account)?;
            let devices: Vec<mfa::MfaDevice> = all_of(tx, account)?;
            let oidc: Vec<super::oidc::OidcProvider> = all_of(tx, account)?;
            let saml: Vec<super::saml::SamlProvider> = all_of(tx, account)?;
            let certificates: Vec<super::certificates::ServerCertificate> = all_of(tx, account)?;
            let instance_profiles: Vec<profiles::InstanceProfile> = all_of(tx, account)?;
            let mut summary = vec![
                ("Users".to_string(), count(users.len())),
                ("Groups".into(), count(groups.len())),
                ("Roles".into(), count(roles.len())),
                ("Policies".into(), count(policies.len())),
                // "The number of managed policies attached to IAM users, groups or roles" (GetAccountSummary reference).
                ("PolicyVersionsInUse".into(), count(attachments)),
                ("InstanceProfiles".into(), count(instance_profiles.len())),
                ("ServerCertificates".into(), count(certificates.len())),
                ("MFADevices".into(), count(devices.len())),
                (
                    "MFADevicesInUse".into(),
                    count(devices.iter().filter(|d| d.user_name.is_some()).count()),
                ),
                ("Providers".into(), count(oidc.len() + saml.len())),
                ("AccountMFAEnabled".into(), 0),
                ("AccountPasswordPresent".into(), 0),
                (
                    "GlobalEndpointTokenVersion".into(),
                    records::get::<StsPreferences>(tx, account, STS_PREFERENCES_ID)?
                        .map_or(1, |p| p.global_endpoint_token_version),
                ),
                ("AccountAccessKeysPresent".into(), 0),
                ("AccountSigningCertificatesPresent".into(), 0),
            ];
            summary.extend(QUOTAS.iter().map(|(name, value)| (name.to_string(), *value)));
            summary.sort();
            Ok(summary)
        })
    }

    pub fn set_sts_preferences(&self, ctx: &RequestContext, version: i32) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        let preferences = StsPreferences {
            v: RECORD_VERSION,
            global_endpoint_token_version: version,
        };
        self.write(|tx| Ok(records::put(tx, &account, STS_PREFERENCES_ID, &preferences)?))
    }

    /// GenerateCredentialReport: makes the report now unless one under four hours old exists.
    pub fn generate_credential_report(&self, ctx: &RequestContext) -> Result<ReportState, IamError> {
        let account = ctx.account_id().to_string();
        let now = self.now();
        let existing = read(&*self.store, |tx| {
            Ok(records::get::<CredentialReport>(tx, &account, REPORT_ID)?)
        })?;
        if existing.is_some_and(|r| now - r.generated < REPORT_REUSE_SECONDS) {
            return Ok(ReportState::Complete);
        }
        let csv = self.credential_report_csv(&account)?;
        let report = CredentialReport {
            v: RECORD_VERSION,
            generated: now,
            csv,
        };
        self.write(|tx| Ok(records::put(tx, &account, REPORT_ID, &report)?))?;
        Ok(ReportState::Started)
    }

    pub fn credential_report(&self, ctx: &RequestContext) -> Result<CredentialReport, IamError> {
        read(&*self.store, |tx| {
            Ok(records::get::<CredentialReport>(tx, ctx.account_id(), REPORT_ID)?)
        })?
        .ok_or_else(|| {
            // AWS sends this error without a message.
            IamError::ReportNotPresent(String::new())
        })
    }

    fn credential_report_csv(&self, account: &str) -> Result<String, IamError> {
        let (users, keys, devices) = read(&*self.store, |tx| {
            let users = all_entities(tx, account, EntityKind::User)?;
            let keys: Vec<AccessKeyRecord> = all_of(tx, "")?;
            let devices: Vec<mfa::MfaDevice> = all_of(tx, account)?;
            Ok((users, keys, devices))
        })?;
        let mut csv = String::from(REPORT_COLUMNS);
        csv.push('\n');
        csv.push_str(&format!(
            "<root_account>,arn:aws:iam::{account}:root,N/A,not_supported,no_information,not_supported,not_supported,\
             false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        ));
        for user in &users {
            let profile = user.credentials.login_profile.as_ref();
            let next_rotation = match profile {
                Some(p) => self.password_next_rotation(account, p)?,
                None => None,
            };
            let mfa_active = devices.iter().any(|d| {
                d.user_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(&user.name))
            });
            let mut fields = vec![
                user.name.clone(),
                user.arn(),
                report_time(user.create_date),
                profile.is_some().to_string(),
                match profile {
                    Some(p) => p
                        .password_last_used
                        .map_or_else(|| "no_information".into(), report_time),
                    None => "N/A".into(),
                },
                or_na(profile.map(|p| p.password_last_changed)),
                or_na(next_rotation),
                mfa_active.to_string(),
            ];
            let mut own_keys: Vec<&AccessKeyRecord> = keys
                .iter()
                .filter(|k| k.account_id == account && k.user_name.eq_ignore_ascii_case(&user.name))
                .collect();
            // Active keys come first in AWS's reports, whatever their creation order.
            own_keys.sort_by(|a, b| b.active.cmp(&a.active).then(a.create_date.total_cmp(&b.create_date)));
            for slot in 0..2 {
                match own_keys.get(slot) {
                    Some(key) => {
                        fields.push(key.active.to_string());
                        fields.push(report_time(key.create_date));
                        fields.push(or_na(key.last_used.as_ref().map(|u| u.date)));
                        fields.push(
                            key.last_used
                                .as_ref()
                                .map_or_else(|| "N/A".into(), |u| u.region.clone()),
                        );
                        fields.push(
                            key.last_used
                                .as_ref()
                                .map_or_else(|| "N/A".into(), |u| u.service.clone()),
                        );
                    }
                    None => fields.extend(["false", "N/A", "N/A", "N/A", "N/A"].map(String::from)),
                }
            }
            for slot in 0..2 {
                match user.credentials.signing_certificates.get(slot) {
                    Some(certificate) => {
                        fields.push(certificate.active.to_string());
                        fields.push(report_time(certificate.upload_date));
                    }
                    None => fields.extend(["false", "N/A"].map(String::from)),
                }
            }
            csv.push_str(&fields.join(","));
            csv.push('\n');
        }
        Ok(csv.trim_end().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_times_are_iso_8601_with_an_explicit_offset() {
        assert_eq!(report_time(1_700_000_000.4), "2023-11-14T22:13:20+00:00");
        assert_eq!(or_na(None), "N/A");
        assert_eq!(REPORT_COLUMNS.split(',').count(), 22);
    }

    #[test]
    fn aliases_follow_the_models_pattern() {
        for good in ["abc", "a-b-c", "0123", &"a".repeat(63)] {
            assert!(check_alias(good).is_ok(), "{good}");
        }
        for bad in ["ab", "-abc", "abc-", "a--b", "ABC", "a_b", &"a".repeat(64)] {
            assert!(matches!(check_alias(bad), Err(IamError::Validation(_))), "{bad}");
        }
    }
}
