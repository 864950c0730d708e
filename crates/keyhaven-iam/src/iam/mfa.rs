//! Virtual MFA devices: TOTP seeds sealed by the root key, enabled with two consecutive codes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::{SecretBytes, totp};
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};

use super::{EntityKind, Iam, RECORD_VERSION, Tag, require_entity};
use crate::error::IamError;
use crate::error::read;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;

keyhaven_kernel::versioned_record!(MfaDevice, "iam-mfa-device", RECORD_VERSION);
const SEED_BYTES: usize = 20;
/// Codes from this many steps either side of now are accepted (clock drift between device and server).
const DRIFT_STEPS: u64 = 1;
/// ResyncMFADevice looks further: ten minutes either side.
const RESYNC_STEPS: u64 = 20;

/// A virtual MFA device. `sealed_seed` is the TOTP seed sealed by the root key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct MfaDevice {
    pub v: u32,
    pub serial_number: String,
    pub account_id: String,
    pub sealed_seed: String,
    pub user_name: Option<String>,
    pub enable_date: Option<f64>,
    pub create_date: f64,
    pub tags: Vec<Tag>,
    /// The last step a code was accepted for: a code is good once.
    pub last_used_step: Option<u64>,
}

impl MfaDevice {
    /// Whether the device is enabled for `user` (IAM user names compare case-insensitively).
    fn is_enabled_for(&self, user: &str) -> bool {
        self.user_name.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(user))
    }
}

/// Everything but the sealed seed.
impl std::fmt::Debug for MfaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaDevice")
            .field("v", &self.v)
            .field("serial_number", &self.serial_number)
            .field("account_id", &self.account_id)
            .field("sealed_seed", &"<redacted>")
            .field("user_name", &self.user_name)
            .field("enable_date", &self.enable_date)
            .field("create_date", &self.create_date)
            .field("tags", &self.tags)
            .field("last_used_step", &self.last_used_step)
            .finish()
    }
}

/// A new device with its seed, shown this once (base32, as authenticator apps take it).
#[derive(Debug)]
pub struct NewMfaDevice {
    pub device: MfaDevice,
    pub base32_seed: SecretBytes,
    /// The seed's `otpauth://` URI as a QR code PNG, for authenticator apps to scan.
    pub qr_code_png: SecretBytes,
}

fn seed_label(serial: &str) -> Vec<u8> {
    format!("iam-mfa-seed/{serial}").into_bytes()
}

fn invalid_code() -> IamError {
    IamError::InvalidAuthenticationCode("Authentication code for device is not valid.".into())
}

fn device_not_found(serial: &str) -> IamError {
    IamError::NotFound(format!("VirtualMFADevice with serial number {serial} doesn't exist."))
}

/// RFC 4648 base32 without padding, the form authenticator apps read.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub(super) fn load_device(tx: &mut dyn Transaction, account: &str, serial: &str) -> Result<MfaDevice, IamError> {
    records::get(tx, account, serial)?.ok_or_else(|| device_not_found(serial))
}

pub(super) fn save_device(tx: &mut dyn Transaction, device: &MfaDevice) -> Result<(), IamError> {
    Ok(records::put(tx, &device.account_id, &device.serial_number, device)?)
}

impl Iam {
    fn seed(&self, device: &MfaDevice) -> Result<SecretBytes, IamError> {
        let sealed = B64
            .decode(&device.sealed_seed)
            .map_err(|_| IamError::Internal("sealed seed is not base64".into()))?;
        Ok(self.root.open(&seed_label(&device.serial_number), &sealed)?)
    }

    /// The step of `code1`, when `code2` is the next step's code, within `drift` steps of now: the
    /// proof EnableMFADevice and ResyncMFADevice ask for.
    fn consecutive_codes(&self, device: &MfaDevice, code1: &str, code2: &str, drift: u64) -> Result<u64, IamError> {
        let seed = self.seed(device)?;
        let now = totp::step_of(self.clock.now().unix_timestamp());
        (now.saturating_sub(drift)..=now + drift)
            .find(|step| totp::matches(seed.expose(), *step, code1) && totp::matches(seed.expose(), step + 1, code2))
            .ok_or_else(invalid_code)
    }

    /// The step whose code `code` is, within the allowed drift of `now`, if any.
    fn matching_step(&self, seed: &SecretBytes, code: &str) -> Option<u64> {
        let now = totp::step_of(self.clock.now().unix_timestamp());
        (now.saturating_sub(DRIFT_STEPS)..=now + DRIFT_STEPS).find(|step| totp::matches(seed.expose(), *step, code))
    }

    pub fn create_virtual_mfa_device(
        &self,
        ctx: &RequestContext,
        name: &str,
        path: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<NewMfaDevice, IamError> {
        let account = ctx.account_id().to_string();
        let serial = format!("arn:aws:iam::{account}:mfa{}{name}", path.unwrap_or("/"));
        let seed = keyhaven_crypto::random_bytes(SEED_BYTES)?;
        let base32_seed = SecretBytes::new(base32(seed.expose()).into_bytes());
        let device = MfaDevice {
            v: RECORD_VERSION,
            serial_number: serial.clone(),
            account_id: account.clone(),
            sealed_seed: B64.encode(self.root.seal(&seed_label(&serial), seed.expose())?),
            user_name: None,
            enable_date: None,
            create_date: self.now(),
            tags,
            last_used_step: None,
        };
        self.write(|tx| {
            if records::get::<MfaDevice>(tx, &account, &serial)?.is_some() {
                return Err(IamError::AlreadyExists(
                    "MFADevice entity at the same path and name already exists.".into(),
                ));
            }
            save_device(tx, &device)
        })?;
        // Not yet assigned, the device is named after the account (VirtualMFADevice.QRCodePNG).
        let uri = super::qr_png::otpauth_uri(name, &account, base32_seed.expose());
        let qr_code_png = super::qr_png::png(uri.expose())?;
        Ok(NewMfaDevice {
            device,
            base32_seed,
            qr_code_png,
        })
    }

    /// EnableMFADevice: two consecutive codes prove the user holds the device.
    pub fn enable_mfa_device(
        &self,
        ctx: &RequestContext,
        user: &str,
        serial: &str,
        code1: &str,
        code2: &str,
    ) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        let now = self.now();
        self.write(|tx| {
            let entity = require_entity(tx, &account, EntityKind::User, user)?;
            let mut device = load_device(tx, &account, serial)?;
            if device.user_name.is_some() {
                return Err(IamError::AlreadyExists("MFA Device is already in use.".into()));
            }
            let first = self.consecutive_codes(&device, code1, code2, DRIFT_STEPS)?;
            device.user_name = Some(entity.name);
            device.enable_date = Some(now);
            device.last_used_step = Some(first + 1);
            save_device(tx, &device)
        })
    }

    /// ResyncMFADevice: two consecutive codes from a device whose clock drifted, found within a
    /// wider window than sign-in allows, and from then on the device's codes are checked from there.
    pub fn resync_mfa_device(
        &self,
        ctx: &RequestContext,
        user: &str,
        serial: &str,
        code1: &str,
        code2: &str,
    ) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            require_entity(tx, &account, EntityKind::User, user)?;
            let mut device = load_device(tx, &account, serial)?;
            if !device.is_enabled_for(user) {
                return Err(device_not_found(serial));
            }
            let first = self.consecutive_codes(&device, code1, code2, RESYNC_STEPS)?;
            device.last_used_step = Some(first + 1);
            save_device(tx, &device)
        })
    }

    pub fn deactivate_mfa_device(&self, ctx: &RequestContext, user: &str, serial: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut device = load_device(tx, &account, serial)?;
            if !device.is_enabled_for(user) {
                return Err(IamError::NotFound(format!(
                    "MFA Device with serial number {serial} not found for user {user}."
                )));
            }
            device.user_name = None;
            device.enable_date = None;
            save_device(tx, &device)
        })
    }

    pub fn delete_virtual_mfa_device(&self, ctx: &RequestContext, serial: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let device = load_device(tx, &account, serial)?;
            if device.user_name.is_some() {
                return Err(IamError::DeleteConflict(
                    "MFA Device is in use and cannot be deleted.".into(),
                ));
            }
            records::delete::<MfaDevice>(tx, &account, serial)?;
            Ok(())
        })
    }

    /// MFA devices of the account; with `user`, only that user's enabled devices.
    pub fn mfa_devices(&self, ctx: &RequestContext, user: Option<&str>) -> Result<Vec<MfaDevice>, IamError> {
        let account = ctx.account_id().to_string();
        let all: Vec<MfaDevice> = read(&*self.store, |tx| super::all_of(tx, &account))?;
        Ok(match user {
            Some(user) => all.into_iter().filter(|d| d.is_enabled_for(user)).collect(),
            None => all,
        })
    }

    /// Checks an MFA code presented to STS by `user_name` of `account`: the device must be enabled for
    /// that user and the code fresh (a code already accepted is refused).
    pub fn verify_mfa_code(
        &self,
        account: &str,
        user_name: Option<&str>,
        serial: &str,
        code: &str,
    ) -> Result<(), IamError> {
        let denied =
            || IamError::AccessDenied("MultiFactorAuthentication failed with invalid MFA one time pass code.".into());
        self.write(|tx| {
            let mut device = load_device(tx, account, serial).map_err(|_| denied())?;
            if !user_name.is_some_and(|user| device.is_enabled_for(user)) {
                return Err(denied());
            }
            let seed = self.seed(&device)?;
            let step = self.matching_step(&seed, code).ok_or_else(denied)?;
            if device.last_used_step.is_some_and(|last| step <= last) {
                return Err(denied());
            }
            device.last_used_step = Some(step);
            save_device(tx, &device)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::NewEntity;
    use crate::testing::{core, ctx};

    fn decode_base32(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut buffer, mut bits) = (0u32, 0);
        for c in text {
            let value = match c {
                b'A'..=b'Z' => c - b'A',
                b'2'..=b'7' => c - b'2' + 26,
                _ => panic!("not base32"),
            };
            buffer = (buffer << 5) | u32::from(value);
            bits += 5;
            if bits >= 8 {
                out.push((buffer >> (bits - 8)) as u8);
                bits -= 8;
            }
        }
        out
    }

    fn code(seed: &[u8], step: u64) -> String {
        format!("{:06}", totp::code_at_step(seed, step))
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn devices_enable_with_consecutive_codes_and_codes_work_once() {
        let (_d, core) = core();
        let c = ctx("us-east-1");
        core.iam
            .create_entity(&c, NewEntity::named(EntityKind::User, "mia"))
            .expect("user");
        let new = core
            .iam
            .create_virtual_mfa_device(&c, "mia-phone", None, vec![])
            .expect("device");
        let seed = decode_base32(new.base32_seed.expose());
        let serial = new.device.serial_number.clone();
        let now = totp::step_of(core.clock.now().unix_timestamp());
        assert_eq!(
            core.iam
                .enable_mfa_device(&c, "mia", &serial, &code(&seed, now), &code(&seed, now + 5))
                .err(),
            Some(invalid_code()),
            "codes must be consecutive"
        );
        core.iam
            .enable_mfa_device(&c, "mia", &serial, &code(&seed, now - 1), &code(&seed, now))
            .expect("enable");
        assert_eq!(core.iam.mfa_devices(&c, Some("mia")).expect("list").len(), 1);
        core.harness.clock.advance(totp::STEP_SECONDS);
        let fresh = code(&seed, now + 1);
        core.iam
            .verify_mfa_code(crate::testing::ACCOUNT, Some("mia"), &serial, &fresh)
            .expect("fresh code");
        assert!(
            matches!(
                core.iam
                    .verify_mfa_code(crate::testing::ACCOUNT, Some("mia"), &serial, &fresh),
                Err(IamError::AccessDenied(_))
            ),
            "replay"
        );
        assert!(matches!(
            core.iam
                .verify_mfa_code(crate::testing::ACCOUNT, Some("other"), &serial, &fresh),
            Err(IamError::AccessDenied(_))
        ));
        assert!(matches!(
            core.iam.delete_virtual_mfa_device(&c, &serial),
            Err(IamError::DeleteConflict(_))
        ));
        core.iam.deactivate_mfa_device(&c, "mia", &serial).expect("deactivate");
        core.iam.delete_virtual_mfa_device(&c, &serial).expect("delete");
    }
}
