//! ListSecrets / BatchGetSecretValue filters: prefix matches on names and tags, word matches on
//! descriptions (and `all`), `!` negation; entries ANDed, values within an entry ORed.

use super::model::SecretRecord;
use super::{SecretsFault, fault};
use crate::error::SecretsError;

const KEYS: &str = "[all, name, tag-key, description, tag-value, primary-region, owning-service]";
const SPECIALS: &[char] = &['/', '-', '_', '+', '=', '.', '@'];
const OWNING_SERVICE_TAG: &str = "aws:secretsmanager:owningService";

/// One `{Key, Values}` filter as the request gave it.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub key: Option<String>,
    pub values: Option<Vec<String>>,
}

/// Refuses filters AWS refuses, with its messages.
pub fn validate(filters: &[Filter]) -> Result<(), SecretsError> {
    for (index, filter) in filters.iter().enumerate() {
        let Some(key) = &filter.key else {
            return Err(fault(SecretsFault::InvalidParameter, "Invalid filter key"));
        };
        if ![
            "all",
            "name",
            "tag-key",
            "description",
            "tag-value",
            "primary-region",
            "owning-service",
        ]
        .contains(&key.as_str())
        {
            return Err(fault(
                SecretsFault::Validation,
                format!(
                    "1 validation error detected: Value '{key}' at 'filters.{}.member.key' failed to satisfy constraint: Member must satisfy enum value set: {KEYS}",
                    index + 1
                ),
            ));
        }
        if filter.values.as_ref().is_none_or(|v| v.is_empty()) {
            return Err(fault(
                SecretsFault::InvalidParameter,
                format!("Invalid filter values for key: {key}"),
            ));
        }
    }
    Ok(())
}

/// Splits text into the words the word filters match: on the one kind of special character if
/// only one kind appears (mixed kinds leave the text whole; a lone special character is no word),
/// then before each capital (any non-lowercase character) followed by lower case.
fn words(text: &str) -> Vec<String> {
    if text.chars().count() == 1 && text.chars().all(|c| SPECIALS.contains(&c)) {
        return Vec::new();
    }
    let mut kinds: Vec<char> = text.chars().filter(|c| SPECIALS.contains(c)).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let parts: Vec<&str> = match kinds.as_slice() {
        [] => vec![text],
        [only] => text.split(*only).collect(),
        _ => return vec![text.to_string()],
    };
    parts.into_iter().flat_map(split_at_capitals).collect()
}

/// `MyTest4x` → `My`, `Test`, `4x`: each non-lowercase character followed by lower case starts a
/// word, and what lies between such words is a word of its own.
fn split_at_capitals(part: &str) -> Vec<String> {
    let chars: Vec<char> = part.chars().collect();
    let mut out = Vec::new();
    let mut push = |piece: &[char]| {
        let word: String = piece.iter().collect::<String>().trim().to_string();
        if !word.is_empty() {
            out.push(word);
        }
    };
    let (mut last, mut i) = (0, 0);
    while i < chars.len() {
        if !chars[i].is_ascii_lowercase() && chars.get(i + 1).is_some_and(char::is_ascii_lowercase) {
            let mut end = i + 1;
            while chars.get(end).is_some_and(char::is_ascii_lowercase) {
                end += 1;
            }
            push(&chars[last..i]);
            push(&chars[i..end]);
            (last, i) = (end, end);
        } else {
            i += 1;
        }
    }
    push(&chars[last..]);
    out
}

/// Every word of the pattern must begin some word of the text, ignoring case.
fn word_match(pattern: &str, text: &str) -> bool {
    let value_words: Vec<String> = words(text).iter().map(|w| w.to_lowercase()).collect();
    let pattern_words: Vec<String> = words(pattern).iter().map(|w| w.to_lowercase()).collect();
    !pattern_words.is_empty()
        && pattern_words
            .iter()
            .all(|p| value_words.iter().any(|w| w.starts_with(p)))
}

fn prefix_match(pattern: &str, text: &str) -> bool {
    text.starts_with(pattern)
}

/// How a filter value matches one string.
type Matcher = fn(&str, &str) -> bool;

/// The strings one filter key looks at, and how it matches them.
fn candidates(key: &str, record: &SecretRecord) -> (Vec<String>, Matcher) {
    let tags = record.tags.iter();
    match key {
        "name" => (vec![record.name.clone()], prefix_match),
        "tag-key" => (tags.map(|(k, _)| k.clone()).collect(), prefix_match),
        "tag-value" => (tags.map(|(_, v)| v.clone()).collect(), prefix_match),
        "description" => (record.description.iter().cloned().collect(), word_match),
        "primary-region" => {
            let region = record
                .primary_region
                .clone()
                .or_else(|| (!record.replicas.is_empty()).then(|| super::names::region_of(&record.arn).to_string()));
            (region.into_iter().collect(), prefix_match)
        }
        "owning-service" => (
            tags.filter(|(k, _)| k == OWNING_SERVICE_TAG)
                .map(|(_, v)| v.clone())
                .collect(),
            word_match,
        ),
        _ => {
            let mut all = vec![record.name.clone()];
            all.extend(record.description.iter().cloned());
            all.extend(tags.flat_map(|(k, v)| [k.clone(), v.clone()]));
            (all, word_match)
        }
    }
}

fn entry_matches(filter: &Filter, record: &SecretRecord) -> bool {
    let key = filter.key.as_deref().unwrap_or("all");
    let (texts, matches) = candidates(key, record);
    filter
        .values
        .iter()
        .flatten()
        .any(|value| match value.strip_prefix('!') {
            Some(negated) => !texts.iter().any(|t| matches(negated, t)),
            None => texts.iter().any(|t| matches(value, t)),
        })
}

pub fn matches(filters: &[Filter], record: &SecretRecord) -> bool {
    filters.iter().all(|f| entry_matches(f, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_as_aws_does() {
        let cases: &[(&str, &[&str])] = &[
            ("one two", &["one", "two"]),
            ("SecretOne", &["Secret", "One"]),
            ("SecretOne4d065f", &["Secret", "One", "4d", "06", "5f"]),
            ("testing-only", &["testing", "only"]),
            ("+", &[]),
            ("COMPANYthings", &["COMPAN", "Ythings"]),
            ("prod/app/db", &["prod", "app", "db"]),
            ("prod-AppBeta/x", &["prod-AppBeta/x"]),
        ];
        for (text, expected) in cases {
            assert_eq!(words(text), *expected, "{text}");
        }
    }

    #[test]
    fn word_matches_are_case_insensitive_word_prefixes() {
        let cases = [
            ("o t", "one two", true),
            ("o t", "one and two", true),
            ("t", "two", true),
            ("sec", "SecretOne", true),
            ("ret", "SecretOne", false),
            ("Ythings", "COMPANYthings", true),
            ("things", "COMPANYthings", false),
            ("+", "a+b", false),
            ("SecretOne", "SecretOne4d065f", true),
            ("testing-only", "testing-only", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(word_match(pattern, text), expected, "{pattern} in {text}");
        }
    }
}
