//! GetRandomPassword: passwords drawn uniformly from the allowed characters, with at least one of
//! each included character type when asked (the default).

use zeroize::Zeroizing;

use super::{SecretsFault, fault};
use crate::error::SecretsError;

pub const DEFAULT_LENGTH: i64 = 32;
const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// GetRandomPassword's options.
#[derive(Debug, Clone, Default)]
pub struct PasswordOptions {
    pub length: Option<i64>,
    pub exclude_characters: Option<String>,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub include_space: bool,
    pub require_each_included_type: Option<bool>,
}

/// A uniform random index below `bound`, by rejection sampling (no modulo bias).
fn random_below(bound: usize) -> Result<usize, SecretsError> {
    let bound = u32::try_from(bound).map_err(|_| SecretsError::Internal("character set too large".into()))?;
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let value = u32::from_le_bytes(keyhaven_crypto::random_array::<4>()?);
        if value < zone {
            return Ok((value % bound) as usize);
        }
    }
}

pub fn generate(options: &PasswordOptions) -> Result<Zeroizing<String>, SecretsError> {
    let length = options.length.unwrap_or(DEFAULT_LENGTH);
    if !(1..=4096).contains(&length) {
        return Err(fault(
            SecretsFault::InvalidParameter,
            "Password length must be between 1 and 4096 characters.",
        ));
    }
    let excluded = options.exclude_characters.as_deref().unwrap_or_default();
    let keep = |set: &str| -> Vec<char> { set.chars().filter(|c| !excluded.contains(*c)).collect() };
    // The character types each password must include; a space may appear but is not required.
    let mut types: Vec<Vec<char>> = Vec::new();
    for (set, exclude) in [
        (LOWERCASE, options.exclude_lowercase),
        (UPPERCASE, options.exclude_uppercase),
        (DIGITS, options.exclude_numbers),
        (PUNCTUATION, options.exclude_punctuation),
    ] {
        if !exclude {
            let chars = keep(set);
            if chars.is_empty() && options.require_each_included_type.unwrap_or(true) {
                return Err(fault(
                    SecretsFault::InvalidParameter,
                    "All characters of the desired type have been excluded.",
                ));
            }
            if !chars.is_empty() {
                types.push(chars);
            }
        }
    }
    let mut alphabet: Vec<char> = types.iter().flatten().copied().collect();
    if options.include_space && !excluded.contains(' ') {
        alphabet.push(' ');
    }
    if alphabet.is_empty() {
        return Err(fault(
            SecretsFault::InvalidParameter,
            "All characters have been excluded from selection.",
        ));
    }
    let length = length as usize;
    let require_each = options.require_each_included_type.unwrap_or(true);
    if require_each && types.len() > length {
        return Err(fault(
            SecretsFault::InvalidParameter,
            "Password length is too short based on the required types.",
        ));
    }
    let mut password: Vec<char> = Vec::with_capacity(length);
    if require_each {
        for chars in &types {
            password.push(chars[random_below(chars.len())?]);
        }
    }
    while password.len() < length {
        password.push(alphabet[random_below(alphabet.len())?]);
    }
    // Shuffle (Fisher–Yates) so the required characters are not always first.
    for i in (1..password.len()).rev() {
        let j = random_below(i + 1)?;
        password.swap(i, j);
    }
    let text = Zeroizing::new(password.iter().collect::<String>());
    password.iter_mut().for_each(|c| *c = '\0');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(f: impl FnOnce(&mut PasswordOptions)) -> PasswordOptions {
        let mut options = PasswordOptions::default();
        f(&mut options);
        options
    }

    #[test]
    fn each_option_shapes_the_characters() {
        type Check = fn(char) -> bool;
        let cases: Vec<(PasswordOptions, usize, Check)> = vec![
            (options(|_| {}), 32, |c| c.is_ascii_graphic()),
            (options(|o| o.length = Some(4096)), 4096, |c| c.is_ascii_graphic()),
            (options(|o| o.exclude_numbers = true), 32, |c| !c.is_ascii_digit()),
            (options(|o| o.exclude_punctuation = true), 32, |c| {
                c.is_ascii_alphanumeric()
            }),
            (options(|o| o.exclude_uppercase = true), 32, |c| !c.is_ascii_uppercase()),
            (options(|o| o.exclude_lowercase = true), 32, |c| !c.is_ascii_lowercase()),
            (
                options(|o| {
                    o.exclude_characters = Some("abcdefghijklmnopqrstuvwxyz0123456789".into());
                    o.require_each_included_type = Some(false);
                }),
                32,
                |c| !c.is_ascii_lowercase() && !c.is_ascii_digit(),
            ),
            (
                options(|o| {
                    o.exclude_lowercase = true;
                    o.exclude_uppercase = true;
                    o.exclude_punctuation = true;
                }),
                12,
                |c| c.is_ascii_digit(),
            ),
        ];
        for (options, expected_len, allowed) in cases {
            let length = options.length.unwrap_or(DEFAULT_LENGTH);
            let options = PasswordOptions {
                length: Some(length.min(expected_len as i64)),
                ..options
            };
            let password = generate(&options).expect("test value");
            assert_eq!(password.chars().count(), expected_len, "{options:?}");
            assert!(password.chars().all(allowed), "{options:?}: {}", password.as_str());
        }
    }

    #[test]
    fn every_included_type_appears_by_default_and_space_only_when_asked() {
        for _ in 0..50 {
            let password = generate(&options(|o| o.length = Some(4))).expect("test value");
            assert!(password.chars().any(|c| c.is_ascii_lowercase()));
            assert!(password.chars().any(|c| c.is_ascii_uppercase()));
            assert!(password.chars().any(|c| c.is_ascii_digit()));
            assert!(password.chars().any(|c| c.is_ascii_punctuation()));
        }
        let spaced = generate(&options(|o| {
            o.length = Some(4096);
            o.include_space = true;
        }))
        .expect("test value");
        assert!(spaced.contains(' '));
        assert!(
            !generate(&options(|o| o.length = Some(4096)))
                .expect("test value")
                .contains(' ')
        );
    }

    #[test]
    fn impossible_requests_are_refused() {
        let all_excluded = options(|o| {
            o.exclude_lowercase = true;
            o.exclude_uppercase = true;
            o.exclude_numbers = true;
            o.exclude_punctuation = true;
        });
        let too_short = options(|o| o.length = Some(3));
        let short_but_not_required = options(|o| {
            o.length = Some(3);
            o.require_each_included_type = Some(false);
        });
        let type_emptied = options(|o| o.exclude_characters = Some("0123456789".into()));
        assert!(generate(&all_excluded).is_err());
        assert!(generate(&type_emptied).is_err());
        assert!(generate(&too_short).is_err());
        assert_eq!(generate(&short_but_not_required).expect("test value").len(), 3);
        assert!(generate(&options(|o| o.length = Some(0))).is_err());
        assert!(generate(&options(|o| o.length = Some(4097))).is_err());
    }
}
