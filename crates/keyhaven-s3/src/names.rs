//! Bucket name rules for general purpose buckets, as the S3 User Guide states them ("General purpose bucket naming
//! rules", <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html>).

use std::net::Ipv4Addr;

use crate::S3Error;

/// What S3 answers for a name that breaks any rule (recorded from AWS: `InvalidBucketName`).
pub const INVALID_BUCKET_NAME: &str = "The specified bucket is not valid.";

const MIN_LEN: usize = 3;
const MAX_LEN: usize = 63;
/// Prefixes the User Guide reserves.
const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
/// Suffixes the User Guide reserves (access point, Object Lambda, Multi-Region Access Point and directory bucket
/// names).
const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3"];

/// Checks a general purpose bucket's name.
pub fn check_bucket_name(name: &str) -> Result<(), S3Error> {
    let bytes = name.as_bytes();
    let valid = (MIN_LEN..=MAX_LEN).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && !name.contains("..")
        && name.parse::<Ipv4Addr>().is_err()
        && !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        && !RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s));
    if valid {
        Ok(())
    } else {
        Err(S3Error::InvalidBucketName(INVALID_BUCKET_NAME.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_name_rules_table() {
        let max = "a".repeat(MAX_LEN);
        let too_long = "a".repeat(MAX_LEN + 1);
        let cases: &[(&str, bool)] = &[
            ("abc", true),
            ("my-bucket.example-1", true),
            ("123", true),
            ("192.168.5.4x", true),
            ("sthree", true),
            ("s3alias", true),
            (&max, true),
            ("ab", false),
            (&too_long, false),
            ("My-Bucket", false),
            ("my_bucket", false),
            ("my bucket", false),
            ("-bucket", false),
            ("bucket-", false),
            (".bucket", false),
            ("bucket.", false),
            ("my..bucket", false),
            ("192.168.5.4", false),
            ("xn--bucket", false),
            ("sthree-bucket", false),
            ("sthree-configurator-x", false),
            ("amzn-s3-demo-bucket", false),
            ("bucket-s3alias", false),
            ("bucket--ol-s3", false),
            ("bucket.mrap", false),
            ("bucket--x-s3", false),
            ("bücket", false),
        ];
        for (name, valid) in cases {
            let got = check_bucket_name(name);
            if *valid {
                assert_eq!(got, Ok(()), "{name}");
            } else {
                assert_eq!(
                    got,
                    Err(S3Error::InvalidBucketName(INVALID_BUCKET_NAME.into())),
                    "{name}"
                );
            }
        }
    }
}
