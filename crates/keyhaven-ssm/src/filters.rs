//! Listing filters of DescribeParameters and GetParametersByPath, validated and matched as AWS does.

use super::model::{ParameterRecord, parameter_key};
use super::names::{self, subtree_prefix};
use super::{SsmFault, fault};
use crate::error::SsmError;

/// One `ParameterStringFilter` (or legacy `ParametersFilter`) as sent.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub key: String,
    pub option: Option<String>,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingKind {
    Describe,
    ByPath,
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Equals(Vec<String>),
    BeginsWith(Vec<String>),
    Contains(Vec<String>),
}

impl Test {
    fn matches(&self, candidate: &str) -> bool {
        match self {
            Test::Equals(v) => v.iter().any(|x| x == candidate),
            Test::BeginsWith(v) => v.iter().any(|x| candidate.starts_with(x.as_str())),
            Test::Contains(v) => v.iter().any(|x| candidate.contains(x.as_str())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Name(Test),
    Type(Test),
    KeyId(Test),
    Tier(Test),
    DataType(Test),
    Label(String),
    Tag { key: String, test: Option<Test> },
    Path { paths: Vec<String>, recursive: bool },
}

/// Validated filters; a parameter is listed when it passes every one.
#[derive(Debug, Clone, Default)]
pub struct FilterSet {
    conditions: Vec<Condition>,
}

const TYPES: &[&str] = &["String", "StringList", "SecureString"];
const TIERS: &[&str] = &["Standard", "Advanced", "Intelligent-Tiering"];

fn invalid_option(option: &str, valid: &str) -> SsmError {
    fault(
        SsmFault::InvalidFilterOption,
        format!("The following filter option is not valid: {option}. Valid options include: {valid}."),
    )
}

impl FilterSet {
    pub fn parse(filters: &[Filter], kind: ListingKind) -> Result<Self, SsmError> {
        let mut conditions = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for filter in filters {
            let key = filter.key.as_str();
            let valid_keys = match kind {
                ListingKind::Describe => !matches!(key, "Label"),
                ListingKind::ByPath => matches!(key, "Type" | "KeyId" | "Label"),
            };
            if !valid_keys {
                let listed = match kind {
                    ListingKind::Describe => "[Path, Name, Type, KeyId, Tier, DataType, tag]",
                    ListingKind::ByPath => "[Type, KeyId, Label]",
                };
                return Err(fault(
                    SsmFault::InvalidFilterKey,
                    format!("The following filter key is not valid: {key}. Valid filter keys include: {listed}."),
                ));
            }
            if seen.contains(&key) {
                return Err(fault(
                    SsmFault::InvalidFilterKey,
                    format!(
                        "The following filter is duplicated in the request: {key}. A request can contain only one occurrence of a specific filter."
                    ),
                ));
            }
            seen.push(key);
            if filter.values.is_empty() && !key.starts_with("tag:") {
                return Err(fault(
                    SsmFault::InvalidFilterValue,
                    format!("The following filter values are missing : null for filter key {key}."),
                ));
            }
            conditions.push(Self::condition(filter, kind)?);
        }
        Ok(Self { conditions })
    }

    fn condition(filter: &Filter, kind: ListingKind) -> Result<Condition, SsmError> {
        let values = filter.values.clone();
        let option = filter.option.as_deref();
        if filter.key == "Path" {
            let recursive = match option.unwrap_or("OneLevel") {
                "OneLevel" => false,
                "Recursive" => true,
                other => return Err(invalid_option(other, "[Recursive, OneLevel]")),
            };
            let mut paths = Vec::new();
            for value in &values {
                let lower = value.to_ascii_lowercase();
                if lower.starts_with("/aws") || lower.starts_with("/ssm") {
                    return Err(fault(
                        SsmFault::Validation,
                        "Filters for common parameters can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).",
                    ));
                }
                paths.push(names::validate_path(value)?);
            }
            return Ok(Condition::Path { paths, recursive });
        }
        let test = match (option.unwrap_or("Equals"), filter.key.as_str(), kind) {
            ("Equals", _, _) => Test::Equals(values.clone()),
            ("BeginsWith", "Label", _) => return Err(invalid_option("BeginsWith", "[Equals]")),
            ("BeginsWith", _, _) => Test::BeginsWith(values.clone()),
            ("Contains", "Name", ListingKind::Describe) => Test::Contains(values.clone()),
            (other, _, _) => return Err(invalid_option(other, "[BeginsWith, Equals]")),
        };
        let check_values = |allowed: &[&str]| -> Result<(), SsmError> {
            match values.iter().find(|v| !allowed.contains(&v.as_str())) {
                Some(bad) => Err(fault(
                    SsmFault::InvalidFilterValue,
                    format!(
                        "The following filter value is not valid: {bad}. Valid values include: [{}].",
                        allowed.join(", ")
                    ),
                )),
                None => Ok(()),
            }
        };
        Ok(match filter.key.as_str() {
            "Name" => Condition::Name(test),
            "Type" => {
                check_values(TYPES)?;
                Condition::Type(test)
            }
            "Tier" => {
                check_values(TIERS)?;
                Condition::Tier(test)
            }
            "KeyId" => Condition::KeyId(test),
            "DataType" => Condition::DataType(test),
            "Label" => Condition::Label(values.first().cloned().unwrap_or_default()),
            tag => Condition::Tag {
                key: tag.trim_start_matches("tag:").to_string(),
                test: (!values.is_empty()).then_some(test),
            },
        })
    }

    /// The legacy `Filters` member of DescribeParameters: Name begins with, Type and KeyId equal.
    pub fn legacy(filters: &[Filter]) -> Self {
        let conditions = filters
            .iter()
            .map(|f| match f.key.as_str() {
                "Name" => Condition::Name(Test::BeginsWith(f.values.clone())),
                "Type" => Condition::Type(Test::Equals(f.values.clone())),
                _ => Condition::KeyId(Test::Equals(f.values.clone())),
            })
            .collect();
        Self { conditions }
    }

    /// The label a GetParametersByPath Label filter asks for.
    pub fn label(&self) -> Option<&str> {
        self.conditions.iter().find_map(|c| match c {
            Condition::Label(l) => Some(l.as_str()),
            _ => None,
        })
    }

    /// Where a scan needs to look: one path's subtree when a single Path filter says so.
    pub fn scan_range(&self) -> (String, Option<usize>) {
        for condition in &self.conditions {
            if let Condition::Path { paths, recursive } = condition
                && let [path] = paths.as_slice()
            {
                let prefix = subtree_prefix(path);
                let depth = (!recursive).then_some(prefix.len());
                return (prefix, depth);
            }
        }
        ("/".into(), None)
    }

    pub fn matches(&self, record: &ParameterRecord) -> bool {
        let current = &record.current;
        self.conditions.iter().all(|condition| match condition {
            Condition::Name(test) => {
                test.matches(&record.name)
                    || test.matches(&parameter_key(&record.name))
                    || test.matches(record.name.trim_start_matches('/'))
            }
            Condition::Type(test) => test.matches(&current.parameter_type),
            Condition::KeyId(test) => current.key_id.as_deref().is_some_and(|k| test.matches(k)),
            Condition::Tier(test) => test.matches(&current.tier),
            Condition::DataType(test) => test.matches(&current.data_type),
            Condition::Label(label) => record.labels.contains_key(label),
            Condition::Tag { key, test } => record
                .tags
                .iter()
                .any(|(k, v)| k == key && test.as_ref().is_none_or(|t| t.matches(v))),
            Condition::Path { paths, recursive } => {
                let key = parameter_key(&record.name);
                paths.iter().any(|path| {
                    let prefix = subtree_prefix(path);
                    key.starts_with(&prefix) && (*recursive || !key[prefix.len()..].contains('/'))
                })
            }
        })
    }
}
