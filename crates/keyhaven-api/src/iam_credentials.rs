//! IAM on the wire, users' other credentials: console passwords (login profiles, the account
//! password policy, ChangePassword), SSH public keys, signing certificates, service-specific
//! credentials, and the account's server certificates. The last stop of IAM's dispatch.

use keyhaven_core::Core;
use keyhaven_iam::iam::certificates::{NewServerCertificate, ServerCertificate};
use keyhaven_iam::iam::login::{PasswordPolicy, PasswordPolicyUpdate};
use keyhaven_iam::iam::user_credentials::{NewServiceCredential, parse_ssh_public_key};
use keyhaven_iam::iam::{ServiceCredential, SigningCertificate, SshPublicKey};
use keyhaven_kernel::context::RequestContext;
use zeroize::Zeroizing;

use crate::error::{ApiError, iam_error};
use crate::generated::iam::{self as wire, Request};
use crate::iam::{Output, done, listed, name, own_user, some, tags_in, tags_out};
use crate::shapes::{SensitiveString, Timestamp};

fn status(active: bool) -> String {
    if active { "Active" } else { "Inactive" }.into()
}

fn password(value: Option<SensitiveString>) -> Zeroizing<String> {
    Zeroizing::new(value.map(|p| p.expose().to_string()).unwrap_or_default())
}

fn login_profile_out(user: String, profile: &keyhaven_iam::iam::LoginProfile) -> wire::LoginProfile {
    wire::LoginProfile {
        user_name: Some(user),
        create_date: Some(Timestamp(profile.create_date)),
        password_reset_required: Some(profile.password_reset_required),
    }
}

fn password_policy_out(p: &PasswordPolicy) -> wire::PasswordPolicy {
    wire::PasswordPolicy {
        minimum_password_length: Some(p.minimum_password_length),
        require_symbols: Some(p.require_symbols),
        require_numbers: Some(p.require_numbers),
        require_uppercase_characters: Some(p.require_uppercase_characters),
        require_lowercase_characters: Some(p.require_lowercase_characters),
        allow_users_to_change_password: Some(p.allow_users_to_change_password),
        expire_passwords: Some(p.max_password_age.is_some()),
        max_password_age: p.max_password_age,
        password_reuse_prevention: p.password_reuse_prevention,
        hard_expiry: p.hard_expiry,
    }
}

fn ssh_key_out(user: &str, key: &SshPublicKey, body: String) -> wire::SSHPublicKey {
    wire::SSHPublicKey {
        user_name: Some(user.to_string()),
        ssh_public_key_id: Some(key.id.clone()),
        fingerprint: Some(key.fingerprint.clone()),
        ssh_public_key_body: Some(body),
        status: Some(status(key.active)),
        upload_date: Some(Timestamp(key.upload_date)),
    }
}

fn signing_certificate_out(user: &str, certificate: &SigningCertificate) -> wire::SigningCertificate {
    wire::SigningCertificate {
        user_name: Some(user.to_string()),
        certificate_id: Some(certificate.id.clone()),
        certificate_body: Some(certificate.body.clone()),
        status: Some(status(certificate.active)),
        upload_date: Some(Timestamp(certificate.upload_date)),
    }
}

/// A service-specific credential with its password, as Create and Reset answer it.
fn new_service_credential_out(created: NewServiceCredential) -> wire::ServiceSpecificCredential {
    let NewServiceCredential {
        user_name,
        credential,
        password,
    } = created;
    wire::ServiceSpecificCredential {
        create_date: Some(Timestamp(credential.create_date)),
        service_name: Some(credential.service_name),
        service_user_name: Some(credential.service_user_name),
        service_password: Some(SensitiveString::new(
            String::from_utf8_lossy(password.expose()).into_owned(),
        )),
        service_specific_credential_id: Some(credential.id),
        user_name: Some(user_name),
        status: Some(status(credential.active)),
        ..Default::default()
    }
}

fn service_credential_metadata(user: &str, credential: &ServiceCredential) -> wire::ServiceSpecificCredentialMetadata {
    wire::ServiceSpecificCredentialMetadata {
        user_name: Some(user.to_string()),
        status: Some(status(credential.active)),
        service_user_name: Some(credential.service_user_name.clone()),
        create_date: Some(Timestamp(credential.create_date)),
        service_specific_credential_id: Some(credential.id.clone()),
        service_name: Some(credential.service_name.clone()),
        ..Default::default()
    }
}

fn server_certificate_metadata(certificate: &ServerCertificate) -> wire::ServerCertificateMetadata {
    wire::ServerCertificateMetadata {
        path: Some(certificate.path.clone()),
        server_certificate_name: Some(certificate.name.clone()),
        server_certificate_id: Some(certificate.id.clone()),
        arn: Some(certificate.arn()),
        upload_date: Some(Timestamp(certificate.upload_date)),
        expiration: Some(Timestamp(certificate.expiration)),
    }
}

/// Runs the IAM actions this module serves; anything else is not an IAM action this server has.
pub fn execute(core: &Core, ctx: &RequestContext, request: Request) -> Result<Output, ApiError> {
    let iam = &core.identity.iam;
    match request {
        Request::UpdateAccountPasswordPolicy(i) => done(iam.update_password_policy(
            ctx,
            PasswordPolicyUpdate {
                minimum_password_length: i.minimum_password_length,
                require_symbols: i.require_symbols,
                require_numbers: i.require_numbers,
                require_uppercase_characters: i.require_uppercase_characters,
                require_lowercase_characters: i.require_lowercase_characters,
                allow_users_to_change_password: i.allow_users_to_change_password,
                max_password_age: i.max_password_age,
                password_reuse_prevention: i.password_reuse_prevention,
                hard_expiry: i.hard_expiry,
            },
        )),
        Request::GetAccountPasswordPolicy => {
            let policy = iam.password_policy(ctx).map_err(iam_error)?;
            some(wire::GetAccountPasswordPolicyResponse {
                password_policy: Some(password_policy_out(&policy)),
            })
        }
        Request::DeleteAccountPasswordPolicy => done(iam.delete_password_policy(ctx)),
        Request::CreateLoginProfile(i) => {
            let user = own_user(ctx, i.user_name);
            let reset = i.password_reset_required.unwrap_or(false);
            let profile = iam
                .create_login_profile(ctx, &user, password(i.password), reset)
                .map_err(iam_error)?;
            let (user, _) = iam.login_profile(ctx, &user).map_err(iam_error)?;
            some(wire::CreateLoginProfileResponse {
                login_profile: Some(login_profile_out(user, &profile)),
            })
        }
        Request::GetLoginProfile(i) => {
            let (user, profile) = iam.login_profile(ctx, &own_user(ctx, i.user_name)).map_err(iam_error)?;
            some(wire::GetLoginProfileResponse {
                login_profile: Some(login_profile_out(user, &profile)),
            })
        }
        Request::UpdateLoginProfile(i) => done(iam.update_login_profile(
            ctx,
            &name(i.user_name),
            i.password.map(|p| Zeroizing::new(p.expose().to_string())),
            i.password_reset_required,
        )),
        Request::DeleteLoginProfile(i) => done(iam.delete_login_profile(ctx, &own_user(ctx, i.user_name))),
        Request::ChangePassword(i) => {
            done(iam.change_password(ctx, password(i.old_password), password(i.new_password)))
        }
        Request::UploadSSHPublicKey(i) => {
            let (user, key) = iam
                .upload_ssh_public_key(ctx, &name(i.user_name), &name(i.ssh_public_key_body))
                .map_err(iam_error)?;
            let body = key.body.clone();
            some(wire::UploadSSHPublicKeyResponse {
                ssh_public_key: Some(ssh_key_out(&user, &key, body)),
            })
        }
        Request::GetSSHPublicKey(i) => {
            let (user, key) = iam
                .ssh_public_key(ctx, &name(i.user_name), &name(i.ssh_public_key_id))
                .map_err(iam_error)?;
            let forms = parse_ssh_public_key(&key.body).map_err(iam_error)?;
            let body = if i.encoding.as_deref() == Some("PEM") {
                forms.pem
            } else {
                forms.ssh
            };
            some(wire::GetSSHPublicKeyResponse {
                ssh_public_key: Some(ssh_key_out(&user, &key, body)),
            })
        }
        Request::ListSSHPublicKeys(i) => {
            let entity = iam
                .user_credentials(ctx, &own_user(ctx, i.user_name))
                .map_err(iam_error)?;
            let page = listed(entity.credentials.ssh_public_keys, i.max_items, i.marker.as_deref())?;
            some(wire::ListSSHPublicKeysResponse {
                ssh_public_keys: Some(
                    page.items
                        .iter()
                        .map(|k| wire::SSHPublicKeyMetadata {
                            user_name: Some(entity.name.clone()),
                            ssh_public_key_id: Some(k.id.clone()),
                            status: Some(status(k.active)),
                            upload_date: Some(Timestamp(k.upload_date)),
                        })
                        .collect(),
                ),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::UpdateSSHPublicKey(i) => {
            done(iam.update_ssh_public_key(ctx, &name(i.user_name), &name(i.ssh_public_key_id), &name(i.status)))
        }
        Request::DeleteSSHPublicKey(i) => {
            done(iam.delete_ssh_public_key(ctx, &name(i.user_name), &name(i.ssh_public_key_id)))
        }
        Request::UploadSigningCertificate(i) => {
            let (user, certificate) = iam
                .upload_signing_certificate(ctx, &own_user(ctx, i.user_name), &name(i.certificate_body))
                .map_err(iam_error)?;
            some(wire::UploadSigningCertificateResponse {
                certificate: Some(signing_certificate_out(&user, &certificate)),
            })
        }
        Request::ListSigningCertificates(i) => {
            let entity = iam
                .user_credentials(ctx, &own_user(ctx, i.user_name))
                .map_err(iam_error)?;
            let page = listed(
                entity.credentials.signing_certificates,
                i.max_items,
                i.marker.as_deref(),
            )?;
            some(wire::ListSigningCertificatesResponse {
                certificates: Some(
                    page.items
                        .iter()
                        .map(|c| signing_certificate_out(&entity.name, c))
                        .collect(),
                ),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::UpdateSigningCertificate(i) => done(iam.update_signing_certificate(
            ctx,
            &own_user(ctx, i.user_name),
            &name(i.certificate_id),
            &name(i.status),
        )),
        Request::DeleteSigningCertificate(i) => {
            done(iam.delete_signing_certificate(ctx, &own_user(ctx, i.user_name), &name(i.certificate_id)))
        }
        Request::CreateServiceSpecificCredential(i) => {
            let created = iam
                .create_service_credential(ctx, &name(i.user_name), &name(i.service_name))
                .map_err(iam_error)?;
            some(wire::CreateServiceSpecificCredentialResponse {
                service_specific_credential: Some(new_service_credential_out(created)),
            })
        }
        Request::ResetServiceSpecificCredential(i) => {
            let reset = iam
                .reset_service_credential(
                    ctx,
                    &own_user(ctx, i.user_name),
                    &name(i.service_specific_credential_id),
                )
                .map_err(iam_error)?;
            some(wire::ResetServiceSpecificCredentialResponse {
                service_specific_credential: Some(new_service_credential_out(reset)),
            })
        }
        Request::ListServiceSpecificCredentials(i) => {
            let users = if i.all_users == Some(true) {
                iam.list_entities(ctx, keyhaven_iam::iam::EntityKind::User, None, usize::MAX, None)
                    .map_err(iam_error)?
                    .items
                    .into_iter()
                    .map(|u| u.name)
                    .collect()
            } else {
                vec![own_user(ctx, i.user_name)]
            };
            let mut metadata = Vec::new();
            for user in users {
                let (user, credentials) = iam
                    .service_credentials(ctx, &user, i.service_name.as_deref())
                    .map_err(iam_error)?;
                metadata.extend(credentials.iter().map(|c| service_credential_metadata(&user, c)));
            }
            let page = listed(metadata, i.max_items, i.marker.as_deref())?;
            some(wire::ListServiceSpecificCredentialsResponse {
                service_specific_credentials: Some(page.items),
                marker: page.marker,
                is_truncated: page.is_truncated,
            })
        }
        Request::UpdateServiceSpecificCredential(i) => done(iam.update_service_credential(
            ctx,
            &own_user(ctx, i.user_name),
            &name(i.service_specific_credential_id),
            &name(i.status),
        )),
        Request::DeleteServiceSpecificCredential(i) => done(iam.delete_service_credential(
            ctx,
            &own_user(ctx, i.user_name),
            &name(i.service_specific_credential_id),
        )),
        Request::UploadServerCertificate(i) => {
            let certificate = iam
                .upload_server_certificate(
                    ctx,
                    NewServerCertificate {
                        name: &name(i.server_certificate_name),
                        path: i.path.as_deref(),
                        body: &name(i.certificate_body),
                        chain: i.certificate_chain.as_deref(),
                        private_key: password(i.private_key),
                        tags: tags_in(i.tags),
                    },
                )
                .map_err(iam_error)?;
            some(wire::UploadServerCertificateResponse {
                server_certificate_metadata: Some(server_certificate_metadata(&certificate)),
                tags: tags_out(&certificate.tags),
            })
        }
        Request::GetServerCertificate(i) => {
            let certificate = iam
                .server_certificate(ctx, &name(i.server_certificate_name))
                .map_err(iam_error)?;
            some(wire::GetServerCertificateResponse {
                server_certificate: Some(wire::ServerCertificate {
                    server_certificate_metadata: Some(server_certificate_metadata(&certificate)),
                    certificate_body: Some(certificate.body.clone()),
                    certificate_chain: certificate.chain.clone(),
                    tags: tags_out(&certificate.tags).or(Some(Vec::new())),
                }),
            })
        }
        Request::ListServerCertificates(i) => {
            let all = iam
                .server_certificates(ctx, i.path_prefix.as_deref())
                .map_err(iam_error)?;
            let page = listed(all, i.max_items, i.marker.as_deref())?;
            some(wire::ListServerCertificatesResponse {
                server_certificate_metadata_list: Some(page.items.iter().map(server_certificate_metadata).collect()),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::UpdateServerCertificate(i) => done(iam.update_server_certificate(
            ctx,
            &name(i.server_certificate_name),
            i.new_server_certificate_name.as_deref(),
            i.new_path.as_deref(),
        )),
        Request::DeleteServerCertificate(i) => {
            done(iam.delete_server_certificate(ctx, &name(i.server_certificate_name)))
        }
        other => Err(ApiError::unserved("InvalidAction", other.operation_name())),
    }
}
