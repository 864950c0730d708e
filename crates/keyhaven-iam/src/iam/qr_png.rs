//! The QR code CreateVirtualMFADevice returns as `QRCodePNG`: the device's `otpauth://` URI as a
//! black-on-white PNG that authenticator apps scan. It holds the seed, so it lives in zeroized memory.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use keyhaven_crypto::SecretBytes;
use qrcodegen::{QrCode, QrCodeEcc};

use crate::error::IamError;

/// Pixels per QR module, and the quiet zone around the code in modules (ISO/IEC 18004 asks for four).
const SCALE: usize = 4;
const QUIET: usize = 4;

/// The URI authenticator apps read: `otpauth://totp/<device>@<account or user>?secret=<base32 seed>`
/// (IAM API Reference, VirtualMFADevice.QRCodePNG).
pub fn otpauth_uri(device_name: &str, owner: &str, base32_seed: &[u8]) -> SecretBytes {
    let mut uri = format!("otpauth://totp/{device_name}@{owner}?secret=").into_bytes();
    uri.extend_from_slice(base32_seed);
    SecretBytes::new(uri)
}

/// `text` as a QR code in a greyscale PNG.
pub fn png(text: &[u8]) -> Result<SecretBytes, IamError> {
    let code = QrCode::encode_binary(text, QrCodeEcc::Medium)
        .map_err(|_| IamError::Internal("the MFA URI does not fit a QR code".into()))?;
    let modules = usize::try_from(code.size()).unwrap_or_default();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut rows = Vec::with_capacity(side * (side + 1));
    for y in 0..side {
        rows.push(0); // filter type: none
        for x in 0..side {
            let (mx, my) = ((x / SCALE) as i32 - QUIET as i32, (y / SCALE) as i32 - QUIET as i32);
            rows.push(if code.get_module(mx, my) { 0x00 } else { 0xff });
        }
    }
    let rows = SecretBytes::new(rows);
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(rows.expose())
        .map_err(|e| IamError::Internal(format!("compressing the QR code: {e}")))?;
    let compressed = SecretBytes::new(
        zlib.finish()
            .map_err(|e| IamError::Internal(format!("compressing the QR code: {e}")))?,
    );
    let side = u32::try_from(side).unwrap_or(u32::MAX);
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&side.to_be_bytes());
    // 8-bit greyscale, deflate, adaptive filtering, no interlace.
    header.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", compressed.expose());
    chunk(&mut out, b"IEND", &[]);
    Ok(SecretBytes::new(out))
}

/// One PNG chunk: length, type, data, and the CRC-32 of type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_is_well_formed_and_square() {
        let uri = otpauth_uri("phone", "111122223333", b"JBSWY3DPEHPK3PXP");
        assert_eq!(
            uri.expose(),
            b"otpauth://totp/phone@111122223333?secret=JBSWY3DPEHPK3PXP"
        );
        let png = png(uri.expose()).expect("png");
        let bytes = png.expose();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&bytes[12..16], b"IHDR");
        let width = u32::from_be_bytes(bytes[16..20].try_into().expect("width"));
        let height = u32::from_be_bytes(bytes[20..24].try_into().expect("height"));
        assert_eq!(width, height);
        assert_eq!(width as usize % SCALE, 0);
        assert_eq!(&bytes[bytes.len() - 8..bytes.len() - 4], b"IEND");
    }
}
