//! `keyhaven s3 cp`: uploads and downloads with S3 client-side encryption (the S3 Encryption Client's format),
//! under a KMS key or a raw AES or RSA key; the plaintext never leaves this machine.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use keyhaven_client::keyring::KmsClients;
use keyhaven_client::s3ec::{
    Format, S3Objects, WrappingKey, aligned_range, decrypt_object, decrypt_range, encrypt_object,
};
use keyhaven_crypto::SecretBytes;
use keyhaven_crypto::envelope::{GcmKey, RsaUnwrappingKey};

use super::keys::der_of;
use super::output::{End, write_complete};
use super::{block_on, current_thread, exit_with};

#[derive(Debug, Subcommand)]
pub enum S3Command {
    /// Copy a local file (or `-`) to `s3://bucket/key` encrypting it, or an object to a local file decrypting it.
    Cp(CpArgs),
}

/// `keyhaven s3 cp` options.
#[derive(Debug, Args)]
pub struct CpArgs {
    source: String,
    destination: String,
    /// Wrap data keys with this KMS key (`kms+context`).
    #[arg(long, conflicts_with_all = ["aes_key_file", "rsa_private_key_file", "rsa_public_key_file"])]
    kms_key_id: Option<String>,
    /// Wrap data keys with the 32-byte AES key in this file (`AES/GCM`).
    #[arg(long)]
    aes_key_file: Option<String>,
    /// Unwrap (and wrap) data keys with this RSA private key, PEM or DER (`RSA-OAEP-SHA1`).
    #[arg(long)]
    rsa_private_key_file: Option<String>,
    /// Wrap data keys with this RSA public key, PEM or DER.
    #[arg(long)]
    rsa_public_key_file: Option<String>,
    /// Encryption context (KMS) or material description (raw keys): `key=value` pairs; on download they must match.
    #[arg(short = 'c', long = "encryption-context", num_args = 1..)]
    context: Vec<String>,
    /// The object format to write: `v3` (key commitment, the default) or `v2`.
    #[arg(long, default_value = "v3", value_parser = ["v3", "v2"])]
    format: String,
    /// `require-encrypt-require-decrypt` (the default) reads only v3 objects; the others also read v2.
    #[arg(long, default_value = "require-encrypt-require-decrypt", value_parser = ["require-encrypt-require-decrypt", "require-encrypt-allow-decrypt", "forbid-encrypt-allow-decrypt"])]
    commitment_policy: String,
    /// The named profile of the AWS configuration files to take credentials, Region and endpoint from.
    #[arg(long)]
    profile: Option<String>,
    /// Upload the wrapped data key in an instruction file (`<key>.instruction`) instead of the object's metadata.
    #[arg(long)]
    instruction_file: bool,
    /// Download only these plaintext bytes (`bytes=FIRST-LAST` or `bytes=FIRST-`), decrypted without
    /// authentication: the object's GCM tag covers it whole (the key commitment is still checked).
    #[arg(long, value_name = "bytes=FIRST-LAST")]
    range: Option<String>,
}

/// The first and last byte of a `bytes=FIRST-LAST` range within `length` bytes.
fn byte_range(range: &str, length: u64) -> Result<(u64, u64), String> {
    let invalid = || format!("InvalidRange: {range} is not a satisfiable range of {length} bytes");
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last = match last {
        "" => length.saturating_sub(1),
        last => last
            .parse::<u64>()
            .map_err(|_| invalid())?
            .min(length.saturating_sub(1)),
    };
    if first >= length || first > last {
        return Err(invalid());
    }
    Ok((first, last))
}

fn s3_location(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn wrapping_key(args: &CpArgs) -> Result<WrappingKey, String> {
    if let Some(key_id) = &args.kms_key_id {
        return Ok(WrappingKey::Kms {
            key_id: key_id.clone(),
            clients: KmsClients::new(args.profile.clone()),
        });
    }
    if let Some(file) = &args.aes_key_file {
        let material = zeroize::Zeroizing::new(read(file)?);
        if material.len() != 32 {
            return Err(format!("{file}: an AES wrapping key is 32 bytes"));
        }
        return Ok(WrappingKey::Aes(Arc::new(
            GcmKey::new(&material).map_err(|e| e.to_string())?,
        )));
    }
    let private_key = match &args.rsa_private_key_file {
        Some(file) => {
            let der = der_of(zeroize::Zeroizing::new(read(file)?)).map_err(|e| e.0)?;
            Some(Arc::new(
                RsaUnwrappingKey::from_der(&der).map_err(|_| format!("{file}: not an RSA private key"))?,
            ))
        }
        None => None,
    };
    let public_key = match (&args.rsa_public_key_file, &private_key) {
        (Some(file), _) => Some(der_of(zeroize::Zeroizing::new(read(file)?)).map_err(|e| e.0)?.to_vec()),
        (None, Some(private)) => Some(private.public_key().map_err(|e| e.to_string())?),
        (None, None) => {
            return Err("name a wrapping key: --kms-key-id, --aes-key-file or --rsa-private-key-file".into());
        }
    };
    Ok(WrappingKey::Rsa {
        public_key,
        private_key,
    })
}

fn context(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{pair}: expected key=value")),
        })
        .collect()
}

async fn copy(args: &CpArgs) -> Result<(), String> {
    let key = wrapping_key(args)?;
    let context = context(&args.context)?;
    let objects = S3Objects::from_environment(args.profile.as_deref()).await;
    match (s3_location(&args.source), s3_location(&args.destination)) {
        (None, Some((bucket, object_key))) => {
            let plaintext = zeroize::Zeroizing::new(if args.source == "-" {
                let mut buffer = Vec::new();
                std::io::stdin().read_to_end(&mut buffer).map_err(|e| e.to_string())?;
                buffer
            } else {
                read(&args.source)?
            });
            let format = if args.format == "v2" { Format::V2 } else { Format::V3 };
            let object = encrypt_object(&key, format, &context, &plaintext)
                .await
                .map_err(|e| e.to_string())?;
            let stored = if args.instruction_file {
                objects.put_with_instruction_file(bucket, object_key, object).await
            } else {
                objects.put(bucket, object_key, object).await
            };
            stored.map_err(|e| e.to_string())
        }
        (Some((bucket, object_key)), None) => {
            let allow_v2 = args.commitment_policy != "require-encrypt-require-decrypt";
            let located = |e: keyhaven_client::ClientError| format!("s3://{bucket}/{object_key}: {e}");
            let plaintext = match &args.range {
                None => {
                    let (body, metadata) = objects.get(bucket, object_key).await.map_err(located)?;
                    decrypt_object(&key, &context, allow_v2, &body, &metadata)
                        .await
                        .map_err(located)?
                }
                Some(range) => {
                    let (length, metadata) = objects.head(bucket, object_key).await.map_err(located)?;
                    let (first, last) = byte_range(range, length)?;
                    let (start, end) = aligned_range(first, last);
                    let aligned = objects
                        .get_bytes(bucket, object_key, start, end)
                        .await
                        .map_err(located)?;
                    let part = decrypt_range(&key, &context, allow_v2, &metadata, start, &aligned)
                        .await
                        .map_err(located)?;
                    eprintln!(
                        "keyhaven s3 cp: note: a ranged read is not authenticated (the object's tag covers it whole)"
                    );
                    SecretBytes::from_slice(&part.expose()[(first - start) as usize..])
                }
            };
            write_complete(&End::of(&args.destination), plaintext.expose())
        }
        _ => Err("one of SOURCE and DESTINATION is s3://bucket/key and the other a local path (or -)".into()),
    }
}

pub fn run(command: S3Command) -> ExitCode {
    let S3Command::Cp(args) = command;
    exit_with("s3 cp", block_on(current_thread(), copy(&args)))
}
