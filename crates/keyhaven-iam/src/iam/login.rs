//! Console passwords: login profiles, the account password policy every password is checked
//! against, and ChangePassword for users' self-service. Passwords are kept only as slow salted
//! hashes and never leave this module in any other form.

use keyhaven_crypto::password;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{EntityKind, Iam, LoginProfile, RECORD_VERSION, require_entity, save_entity};
use crate::error::{IamError, read};

keyhaven_kernel::versioned_record!(PasswordPolicy, "iam-password-policy", RECORD_VERSION);
const POLICY_ID: &str = "password-policy";
const SECONDS_PER_DAY: f64 = 86_400.0;

/// The account password policy, as UpdateAccountPasswordPolicy sets it (unset members take
/// AWS's defaults: length 6, nothing required, no expiry, no reuse prevention).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    pub v: u32,
    pub minimum_password_length: i32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub allow_users_to_change_password: bool,
    /// Days a password lasts; none when passwords never expire.
    pub max_password_age: Option<i32>,
    /// How many earlier passwords a new one may not repeat.
    pub password_reuse_prevention: Option<i32>,
    pub hard_expiry: Option<bool>,
}

/// What UpdateAccountPasswordPolicy takes.
#[derive(Debug, Clone, Default)]
pub struct PasswordPolicyUpdate {
    pub minimum_password_length: Option<i32>,
    pub require_symbols: Option<bool>,
    pub require_numbers: Option<bool>,
    pub require_uppercase_characters: Option<bool>,
    pub require_lowercase_characters: Option<bool>,
    pub allow_users_to_change_password: Option<bool>,
    pub max_password_age: Option<i32>,
    pub password_reuse_prevention: Option<i32>,
    pub hard_expiry: Option<bool>,
}

/// The symbols IAM counts (IAM User Guide, "Set an account password policy for IAM users").
const SYMBOLS: &str = "!@#$%^&*()_+-=[]{}|'";

fn violation() -> IamError {
    IamError::PasswordPolicyViolation("Password does not conform to the account password policy.".into())
}

fn policy_not_found(account: &str) -> IamError {
    IamError::NotFound(format!(
        "The Password Policy with domain name {account} cannot be found."
    ))
}

fn profile_not_found(user: &str) -> IamError {
    IamError::NotFound(format!("Login Profile for User {user} cannot be found."))
}

/// Checks a new password against the policy, or without one against AWS's default rules: at least
/// eight characters and three of the four character classes.
fn check_password(policy: Option<&PasswordPolicy>, password: &str) -> Result<(), IamError> {
    let length = password.chars().count();
    let upper = password.chars().any(|c| c.is_ascii_uppercase());
    let lower = password.chars().any(|c| c.is_ascii_lowercase());
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let symbol = password.chars().any(|c| SYMBOLS.contains(c));
    let ok = match policy {
        None => length >= 8 && [upper, lower, digit, symbol].iter().filter(|b| **b).count() >= 3,
        Some(p) => {
            length >= usize::try_from(p.minimum_password_length).unwrap_or(usize::MAX)
                && (!p.require_symbols || symbol)
                && (!p.require_numbers || digit)
                && (!p.require_uppercase_characters || upper)
                && (!p.require_lowercase_characters || lower)
        }
    };
    if ok { Ok(()) } else { Err(violation()) }
}

fn load_policy(tx: &mut dyn Transaction, account: &str) -> Result<Option<PasswordPolicy>, IamError> {
    Ok(records::get(tx, account, POLICY_ID)?)
}

impl Iam {
    pub fn update_password_policy(&self, ctx: &RequestContext, update: PasswordPolicyUpdate) -> Result<(), IamError> {
        let policy = PasswordPolicy {
            v: RECORD_VERSION,
            minimum_password_length: update.minimum_password_length.unwrap_or(6),
            require_symbols: update.require_symbols.unwrap_or(false),
            require_numbers: update.require_numbers.unwrap_or(false),
            require_uppercase_characters: update.require_uppercase_characters.unwrap_or(false),
            require_lowercase_characters: update.require_lowercase_characters.unwrap_or(false),
            allow_users_to_change_password: update.allow_users_to_change_password.unwrap_or(false),
            max_password_age: update.max_password_age.filter(|d| *d > 0),
            password_reuse_prevention: update.password_reuse_prevention.filter(|n| *n > 0),
            hard_expiry: update.hard_expiry,
        };
        let account = ctx.account_id().to_string();
        self.write(|tx| Ok(records::put(tx, &account, POLICY_ID, &policy)?))
    }

    pub fn password_policy(&self, ctx: &RequestContext) -> Result<PasswordPolicy, IamError> {
        let account = ctx.account_id();
        read(&*self.store, |tx| load_policy(tx, account))?.ok_or_else(|| policy_not_found(account))
    }

    pub fn delete_password_policy(&self, ctx: &RequestContext) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            if records::delete::<PasswordPolicy>(tx, &account, POLICY_ID)? {
                Ok(())
            } else {
                // Recorded from AWS: not the text GetAccountPasswordPolicy gives.
                Err(IamError::NotFound(
                    "The account policy with name PasswordPolicy cannot be found.".into(),
                ))
            }
        })
    }

    /// Hashes a new password for `profile`, refusing one the policy does not allow or (with reuse
    /// prevention) one the user had before.
    fn set_password(
        &self,
        tx: &mut dyn Transaction,
        account: &str,
        profile: &mut LoginProfile,
        new_password: &str,
    ) -> Result<(), IamError> {
        let policy = load_policy(tx, account)?;
        check_password(policy.as_ref(), new_password)?;
        let remembered = policy
            .as_ref()
            .and_then(|p| p.password_reuse_prevention)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        let earlier = std::iter::once(&profile.password_hash).chain(&profile.previous_hashes);
        if !profile.password_hash.is_empty()
            && earlier
                .take(remembered)
                .any(|hash| password::verify(new_password.as_bytes(), hash))
        {
            return Err(violation());
        }
        if !profile.password_hash.is_empty() {
            let old = std::mem::take(&mut profile.password_hash);
            profile.previous_hashes.insert(0, old);
            profile.previous_hashes.truncate(remembered);
        }
        profile.password_hash = password::hash(new_password.as_bytes())?;
        profile.password_last_changed = self.now();
        Ok(())
    }

    pub fn create_login_profile(
        &self,
        ctx: &RequestContext,
        user: &str,
        new_password: Zeroizing<String>,
        reset_required: bool,
    ) -> Result<LoginProfile, IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut entity = require_entity(tx, &account, EntityKind::User, user)?;
            if entity.credentials.login_profile.is_some() {
                return Err(IamError::AlreadyExists(format!(
                    "Login Profile for user {} already exists.",
                    entity.name
                )));
            }
            let mut profile = LoginProfile {
                password_hash: String::new(),
                create_date: self.now(),
                password_reset_required: reset_required,
                password_last_changed: 0.0,
                previous_hashes: Vec::new(),
                password_last_used: None,
            };
            self.set_password(tx, &account, &mut profile, &new_password)?;
            entity.credentials.login_profile = Some(profile.clone());
            save_entity(tx, &entity)?;
            Ok(profile)
        })
    }

    /// The user's name as created and its login profile.
    pub fn login_profile(&self, ctx: &RequestContext, user: &str) -> Result<(String, LoginProfile), IamError> {
        let entity = read(&*self.store, |tx| {
            require_entity(tx, ctx.account_id(), EntityKind::User, user)
        })?;
        let profile = entity
            .credentials
            .login_profile
            .ok_or_else(|| profile_not_found(user))?;
        Ok((entity.name, profile))
    }

    pub fn update_login_profile(
        &self,
        ctx: &RequestContext,
        user: &str,
        new_password: Option<Zeroizing<String>>,
        reset_required: Option<bool>,
    ) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut entity = require_entity(tx, &account, EntityKind::User, user)?;
            let mut profile = entity
                .credentials
                .login_profile
                .clone()
                .ok_or_else(|| profile_not_found(user))?;
            if let Some(new_password) = &new_password {
                self.set_password(tx, &account, &mut profile, new_password)?;
            }
            if let Some(required) = reset_required {
                profile.password_reset_required = required;
            }
            entity.credentials.login_profile = Some(profile);
            save_entity(tx, &entity)
        })
    }

    pub fn delete_login_profile(&self, ctx: &RequestContext, user: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut entity = require_entity(tx, &account, EntityKind::User, user)?;
            if entity.credentials.login_profile.take().is_none() {
                return Err(profile_not_found(user));
            }
            save_entity(tx, &entity)
        })
    }

    /// ChangePassword: an IAM user replaces its own console password, proving the old one.
    pub fn change_password(
        &self,
        ctx: &RequestContext,
        old_password: Zeroizing<String>,
        new_password: Zeroizing<String>,
    ) -> Result<(), IamError> {
        let Some(user) = ctx.principal.user_name.clone() else {
            return Err(IamError::InvalidUserType(
                "Only IAM Users can change their own password.".into(),
            ));
        };
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut entity = require_entity(tx, &account, EntityKind::User, &user)?;
            let mut profile = entity
                .credentials
                .login_profile
                .clone()
                .ok_or_else(|| profile_not_found(&user))?;
            if !password::verify(old_password.as_bytes(), &profile.password_hash) {
                // AWS's answer to a wrong old password is not recorded anywhere we could find.
                return Err(IamError::InvalidUserType("The old password was incorrect.".into()));
            }
            self.set_password(tx, &account, &mut profile, &new_password)?;
            profile.password_reset_required = false;
            entity.credentials.login_profile = Some(profile);
            save_entity(tx, &entity)
        })
    }

    /// When the user's password expires under the account policy, if it does (credential report).
    pub fn password_next_rotation(&self, account: &str, profile: &LoginProfile) -> Result<Option<f64>, IamError> {
        let policy = read(&*self.store, |tx| load_policy(tx, account))?;
        Ok(policy
            .and_then(|p| p.max_password_age)
            .map(|days| profile.password_last_changed + f64::from(days) * SECONDS_PER_DAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(length: i32, symbols: bool, numbers: bool, upper: bool, lower: bool) -> PasswordPolicy {
        PasswordPolicy {
            v: RECORD_VERSION,
            minimum_password_length: length,
            require_symbols: symbols,
            require_numbers: numbers,
            require_uppercase_characters: upper,
            require_lowercase_characters: lower,
            allow_users_to_change_password: false,
            max_password_age: None,
            password_reuse_prevention: None,
            hard_expiry: None,
        }
    }

    #[test]
    fn passwords_are_checked_against_the_policy_or_the_default_rules() {
        let strict = policy(12, true, true, true, true);
        let cases: &[(Option<&PasswordPolicy>, &str, bool)] = &[
            (None, "Abcdefg1", true),
            (None, "abcdefg1", false),
            (None, "Abcdef1", false),
            (None, "abcdef!1", true),
            (Some(&strict), "Abcdefghij1!", true),
            (Some(&strict), "Abcdefghij1", false),
            (Some(&strict), "abcdefghij1!", false),
            (Some(&strict), "Abc1!", false),
        ];
        for (policy, password, ok) in cases {
            assert_eq!(check_password(*policy, password).is_ok(), *ok, "{password}");
        }
        assert!(check_password(Some(&policy(6, false, false, false, false)), "aaaaaa").is_ok());
    }
}
