//! Tags on every IAM resource that has them, through one pair of operations: which resource
//! ([`Tagged`]) and what to do to its tags ([`TagChange`]).

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::tags;
use keyhaven_store::Transaction;

use super::{Iam, TAG_RULES, Tag, tag_error, validate_tags};
use crate::error::{IamError, read};

/// An IAM resource that carries tags, as a request names it.
#[derive(Debug, Clone, Copy)]
pub enum Tagged<'a> {
    Entity(super::EntityKind, &'a str),
    Policy(&'a str),
    InstanceProfile(&'a str),
    OidcProvider(&'a str),
    MfaDevice(&'a str),
    ServerCertificate(&'a str),
    SamlProvider(&'a str),
}

/// What a Tag* or Untag* operation does.
#[derive(Debug, Clone, Copy)]
pub enum TagChange<'a> {
    Add(&'a [Tag]),
    Remove(&'a [String]),
}

impl TagChange<'_> {
    fn apply(&self, current: &mut Vec<Tag>) -> Result<(), IamError> {
        match self {
            TagChange::Add(new) => tags::upsert(current, new, &TAG_RULES).map_err(tag_error),
            TagChange::Remove(keys) => {
                current.retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
                Ok(())
            }
        }
    }
}

impl Iam {
    /// The resource's tags (NoSuchEntity when it does not exist).
    pub fn tags_of(&self, ctx: &RequestContext, resource: Tagged<'_>) -> Result<Vec<Tag>, IamError> {
        let account = ctx.account_id().to_string();
        read(&*self.store, |tx| {
            let mut found = Vec::new();
            self.with_tags(tx, &account, resource, false, &mut |tags| {
                found.clone_from(tags);
                Ok(())
            })?;
            Ok(found)
        })
    }

    /// Adds or removes tags of the resource, in one transaction.
    pub fn change_tags(
        &self,
        ctx: &RequestContext,
        resource: Tagged<'_>,
        change: TagChange<'_>,
    ) -> Result<(), IamError> {
        if let TagChange::Add(new) = change {
            validate_tags(new)?;
        }
        let account = ctx.account_id().to_string();
        self.write(|tx| self.with_tags(tx, &account, resource, true, &mut |tags| change.apply(tags)))
    }

    /// Loads the resource, lets `visit` see (and change) its tags, and with `save` writes it back.
    fn with_tags(
        &self,
        tx: &mut dyn Transaction,
        account: &str,
        resource: Tagged<'_>,
        save: bool,
        visit: &mut dyn FnMut(&mut Vec<Tag>) -> Result<(), IamError>,
    ) -> Result<(), IamError> {
        match resource {
            Tagged::Entity(kind, name) => {
                let mut entity = super::require_entity(tx, account, kind, name)?;
                visit(&mut entity.tags)?;
                if save { super::save_entity(tx, &entity) } else { Ok(()) }
            }
            Tagged::Policy(arn) => {
                let mut policy = super::load_policy(tx, account, arn)?;
                visit(&mut policy.tags)?;
                if save { super::save_policy(tx, &policy) } else { Ok(()) }
            }
            Tagged::InstanceProfile(name) => {
                let mut profile = super::profiles::require_profile(tx, account, name)?;
                visit(&mut profile.tags)?;
                if save {
                    super::profiles::save_profile(tx, &profile)
                } else {
                    Ok(())
                }
            }
            Tagged::OidcProvider(arn) => {
                let mut provider = super::oidc::require_provider(tx, account, arn)?;
                visit(&mut provider.tags)?;
                if save {
                    super::oidc::save_provider(tx, &provider)
                } else {
                    Ok(())
                }
            }
            Tagged::MfaDevice(serial) => {
                let mut device = super::mfa::load_device(tx, account, serial)?;
                visit(&mut device.tags)?;
                if save {
                    super::mfa::save_device(tx, &device)
                } else {
                    Ok(())
                }
            }
            Tagged::ServerCertificate(name) => {
                let mut certificate = super::certificates::require_server_certificate(tx, account, name)?;
                visit(&mut certificate.tags)?;
                if save {
                    super::certificates::save_server_certificate(tx, &certificate)
                } else {
                    Ok(())
                }
            }
            Tagged::SamlProvider(arn) => {
                let mut provider = super::saml::require_provider(tx, account, arn)?;
                visit(&mut provider.tags)?;
                if save {
                    super::saml::save_provider(tx, &provider)
                } else {
                    Ok(())
                }
            }
        }
    }
}
