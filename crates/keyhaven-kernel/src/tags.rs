//! Resource tags: the one tag shape, the checks every service makes on a request's tags (with each
//! service's limits as data), the upsert every TagResource does, and the condition keys a tagging
//! request supplies.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Records that keep tags as (key, value) pairs.
impl From<(String, String)> for Tag {
    fn from((key, value): (String, String)) -> Self {
        Self { key, value }
    }
}

impl Tag {
    pub fn into_pair(self) -> (String, String) {
        (self.key, self.value)
    }
}

/// How a service compares tag keys for duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCase {
    /// Duplicates in one request are not the service's concern (the last one wins).
    Unchecked,
    Sensitive,
    /// IAM: keys are unique case-insensitively.
    Insensitive,
}

/// A service's tag limits.
#[derive(Debug, Clone, Copy)]
pub struct TagRules {
    pub max_tags: usize,
    /// Whether keys starting with `aws:` (any case) are refused.
    pub reserve_aws_prefix: bool,
    pub duplicates: KeyCase,
}

impl TagRules {
    /// KMS, Parameter Store, Secrets Manager and IAM all allow 50 tags per resource.
    pub const fn at_most_50(reserve_aws_prefix: bool, duplicates: KeyCase) -> Self {
        Self {
            max_tags: 50,
            reserve_aws_prefix,
            duplicates,
        }
    }
}

/// What is wrong with a request's tags; each service words it as AWS does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagViolation {
    TooMany,
    ReservedPrefix,
    DuplicateKey,
}

/// Checks a request's tags: the count first, then each tag in order.
pub fn check(tags: &[Tag], rules: &TagRules) -> Result<(), TagViolation> {
    if tags.len() > rules.max_tags {
        return Err(TagViolation::TooMany);
    }
    let mut seen = std::collections::HashSet::new();
    for tag in tags {
        if rules.reserve_aws_prefix && tag.key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(TagViolation::ReservedPrefix);
        }
        let unique = match rules.duplicates {
            KeyCase::Unchecked => true,
            KeyCase::Sensitive => seen.insert(tag.key.clone()),
            KeyCase::Insensitive => seen.insert(tag.key.to_ascii_lowercase()),
        };
        if !unique {
            return Err(TagViolation::DuplicateKey);
        }
    }
    Ok(())
}

/// TagResource: sets each of `added` on `existing`, replacing the value of a key already there
/// (compared as the service compares keys), and checks the result stays within the limit
/// (nothing is changed when it would not).
pub fn upsert(existing: &mut Vec<Tag>, added: &[Tag], rules: &TagRules) -> Result<(), TagViolation> {
    let same = |a: &str, b: &str| match rules.duplicates {
        KeyCase::Insensitive => a.eq_ignore_ascii_case(b),
        KeyCase::Sensitive | KeyCase::Unchecked => a == b,
    };
    let mut merged = existing.clone();
    for tag in added {
        match merged.iter_mut().find(|t| same(&t.key, &tag.key)) {
            Some(slot) => slot.value.clone_from(&tag.value),
            None => merged.push(tag.clone()),
        }
    }
    if merged.len() > rules.max_tags {
        return Err(TagViolation::TooMany);
    }
    *existing = merged;
    Ok(())
}

/// The condition keys a resource with `tags` supplies: `aws:ResourceTag/<key>` for each.
pub fn resource_keys(tags: &[Tag]) -> Vec<(String, Vec<String>)> {
    tags.iter()
        .map(|t| (format!("aws:ResourceTag/{}", t.key), vec![t.value.clone()]))
        .collect()
}

/// The condition keys a request that adds `tags` and removes the keys `removed` supplies:
/// `aws:RequestTag/<key>` for each added tag and `aws:TagKeys` for every key named.
pub fn request_keys(tags: &[Tag], removed: &[String]) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<(String, Vec<String>)> = tags
        .iter()
        .map(|t| (format!("aws:RequestTag/{}", t.key), vec![t.value.clone()]))
        .collect();
    let names: Vec<String> = tags
        .iter()
        .map(|t| t.key.clone())
        .chain(removed.iter().cloned())
        .collect();
    if !names.is_empty() {
        keys.push(("aws:TagKeys".into(), names));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str) -> Tag {
        Tag {
            key: key.into(),
            value: "v".into(),
        }
    }

    #[test]
    fn check_table() {
        let iam = TagRules::at_most_50(true, KeyCase::Insensitive);
        let kms = TagRules::at_most_50(true, KeyCase::Sensitive);
        let secrets = TagRules::at_most_50(false, KeyCase::Unchecked);
        let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"))).collect();
        let cases: [(&[Tag], TagRules, Result<(), TagViolation>); 8] = [
            (&[tag("a"), tag("b")], iam, Ok(())),
            (&many, iam, Err(TagViolation::TooMany)),
            (&many[..50], kms, Ok(())),
            (&[tag("AWS:x")], kms, Err(TagViolation::ReservedPrefix)),
            (&[tag("aws:x")], secrets, Ok(())),
            (&[tag("a"), tag("A")], iam, Err(TagViolation::DuplicateKey)),
            (&[tag("a"), tag("A")], kms, Ok(())),
            (&[tag("a"), tag("a")], kms, Err(TagViolation::DuplicateKey)),
        ];
        for (tags, rules, expected) in cases {
            assert_eq!(check(tags, &rules), expected, "{tags:?}");
        }
    }

    #[test]
    fn upsert_replaces_values_and_refuses_past_the_limit() {
        let rules = TagRules::at_most_50(true, KeyCase::Sensitive);
        let mut tags = vec![tag("a")];
        let replaced = Tag {
            key: "a".into(),
            value: "new".into(),
        };
        upsert(&mut tags, &[replaced.clone(), tag("b")], &rules).expect("upsert");
        assert_eq!(tags, vec![replaced, tag("b")]);
        let more: Vec<Tag> = (0..49).map(|i| tag(&format!("k{i}"))).collect();
        assert_eq!(upsert(&mut tags, &more, &rules), Err(TagViolation::TooMany));
        assert_eq!(tags.len(), 2, "a refused upsert changes nothing");
    }

    #[test]
    fn request_keys_name_added_and_removed_keys() {
        let keys = request_keys(&[tag("a")], &["b".into()]);
        assert_eq!(
            keys,
            vec![
                ("aws:RequestTag/a".to_string(), vec!["v".to_string()]),
                ("aws:TagKeys".to_string(), vec!["a".to_string(), "b".to_string()]),
            ]
        );
    }
}
