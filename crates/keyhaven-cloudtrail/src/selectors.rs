//! Event selectors: which events a trail logs. Basic selectors (read/write type, management events, data resources,
//! management event sources left out) and advanced ones (field selectors over the record), checked as
//! PutEventSelectors checks them and matched against stored records.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CloudTrailError, CloudTrailFault, fault};

/// Read, write or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ReadWriteType {
    ReadOnly,
    WriteOnly,
    #[default]
    All,
}

impl ReadWriteType {
    pub fn parse(value: &str) -> Result<Self, CloudTrailError> {
        match value {
            "ReadOnly" => Ok(Self::ReadOnly),
            "WriteOnly" => Ok(Self::WriteOnly),
            "All" => Ok(Self::All),
            other => Err(invalid(format!("Value {other} for ReadWriteType is invalid."))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "ReadOnly",
            Self::WriteOnly => "WriteOnly",
            Self::All => "All",
        }
    }

    fn admits(self, read_only: bool) -> bool {
        match self {
            Self::ReadOnly => read_only,
            Self::WriteOnly => !read_only,
            Self::All => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataResource {
    pub resource_type: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSelector {
    pub read_write_type: ReadWriteType,
    pub include_management_events: bool,
    pub data_resources: Vec<DataResource>,
    pub exclude_management_event_sources: Vec<String>,
}

impl Default for EventSelector {
    /// A new trail's: every management event, read and write, no data events.
    fn default() -> Self {
        Self {
            read_write_type: ReadWriteType::All,
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: Vec::new(),
        }
    }
}

/// One condition of an advanced selector on one record field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FieldSelector {
    pub field: String,
    pub equals: Vec<String>,
    pub starts_with: Vec<String>,
    pub ends_with: Vec<String>,
    pub not_equals: Vec<String>,
    pub not_starts_with: Vec<String>,
    pub not_ends_with: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvancedEventSelector {
    pub name: Option<String>,
    pub field_selectors: Vec<FieldSelector>,
}

/// A trail's selectors: one style or the other, never both (putting advanced selectors replaces basic ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selectors {
    Basic(Vec<EventSelector>),
    Advanced(Vec<AdvancedEventSelector>),
}

impl Default for Selectors {
    fn default() -> Self {
        Self::Basic(vec![EventSelector::default()])
    }
}

fn invalid(message: impl Into<String>) -> CloudTrailError {
    fault(CloudTrailFault::InvalidEventSelectors, message)
}

/// The resource types basic selectors log data events of (only S3 objects exist here; the others are accepted as
/// AWS accepts them, and match nothing).
const DATA_RESOURCE_TYPES: [&str; 3] = ["AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::S3::Object"];
/// The management event sources a basic selector can leave out.
const EXCLUDABLE_SOURCES: [&str; 2] = ["kms.amazonaws.com", "rdsdata.amazonaws.com"];
const MAX_BASIC_SELECTORS: usize = 5;
const MAX_DATA_RESOURCE_VALUES: usize = 250;
const MAX_ADVANCED_SELECTORS: usize = 500;
const MAX_ADVANCED_VALUES: usize = 500;
/// The record fields advanced selectors can test.
const FIELDS: [&str; 8] = [
    "eventCategory",
    "eventSource",
    "eventName",
    "eventType",
    "readOnly",
    "errorCode",
    "resources.type",
    "resources.ARN",
];

/// Whether `value` names S3 objects as a data resource value: all of them (`arn:aws:s3`), or a bucket's, or those
/// under a prefix (`arn:aws:s3:::bucket/prefix`).
fn valid_s3_value(value: &str) -> bool {
    if value == "arn:aws:s3" || value == "arn:aws:s3:::" {
        return true;
    }
    let Some(rest) = value.strip_prefix("arn:aws:s3:::") else {
        return false;
    };
    match rest.split_once('/') {
        Some((bucket, _)) => !bucket.is_empty() && !value.contains('*'),
        None => false,
    }
}

impl Selectors {
    /// PutEventSelectors' checks of basic selectors.
    pub fn basic(selectors: Vec<EventSelector>) -> Result<Self, CloudTrailError> {
        if selectors.is_empty() || selectors.len() > MAX_BASIC_SELECTORS {
            return Err(invalid(format!(
                "Specify a valid number of event selectors (1 to {MAX_BASIC_SELECTORS}) for your trail."
            )));
        }
        let mut values = 0;
        for selector in &selectors {
            for source in &selector.exclude_management_event_sources {
                if !EXCLUDABLE_SOURCES.contains(&source.as_str()) {
                    return Err(invalid(format!(
                        "Value {source} for ExcludeManagementEventSources is invalid."
                    )));
                }
            }
            for resource in &selector.data_resources {
                if !DATA_RESOURCE_TYPES.contains(&resource.resource_type.as_str()) {
                    return Err(invalid(format!(
                        "Value {} for DataResources.Type is invalid. Valid values are: {}",
                        resource.resource_type,
                        DATA_RESOURCE_TYPES.join(", ")
                    )));
                }
                values += resource.values.len();
                if resource.resource_type == "AWS::S3::Object"
                    && let Some(bad) = resource.values.iter().find(|v| !valid_s3_value(v))
                {
                    return Err(invalid(format!("Value {bad} for DataResources.Values is invalid.")));
                }
            }
        }
        if values > MAX_DATA_RESOURCE_VALUES {
            return Err(invalid(format!(
                "Specify a valid number of DataResources.Values (0 to {MAX_DATA_RESOURCE_VALUES}) for all your selectors"
            )));
        }
        Ok(Self::Basic(selectors))
    }

    /// PutEventSelectors' checks of advanced selectors.
    pub fn advanced(selectors: Vec<AdvancedEventSelector>) -> Result<Self, CloudTrailError> {
        if selectors.is_empty() || selectors.len() > MAX_ADVANCED_SELECTORS {
            return Err(invalid(format!(
                "Specify a valid number of advanced event selectors (1 to {MAX_ADVANCED_SELECTORS}) for your trail."
            )));
        }
        let mut values = 0;
        for selector in &selectors {
            if selector.field_selectors.is_empty() {
                return Err(invalid(
                    "Each advanced event selector must have at least one field selector.",
                ));
            }
            let mut category = false;
            for field in &selector.field_selectors {
                if !FIELDS.contains(&field.field.as_str()) {
                    return Err(invalid(format!("Value {} for Field is invalid.", field.field)));
                }
                let lists = [
                    &field.equals,
                    &field.starts_with,
                    &field.ends_with,
                    &field.not_equals,
                    &field.not_starts_with,
                    &field.not_ends_with,
                ];
                if lists.iter().all(|l| l.is_empty()) {
                    return Err(invalid(format!(
                        "Field selector {} must have at least one operator with a value.",
                        field.field
                    )));
                }
                values += lists.iter().map(|l| l.len()).sum::<usize>();
                if field.field == "eventCategory" {
                    category = true;
                    if let Some(bad) = field
                        .equals
                        .iter()
                        .find(|v| !matches!(v.as_str(), "Management" | "Data"))
                    {
                        return Err(invalid(format!("Value {bad} for eventCategory is invalid.")));
                    }
                    if field.equals.is_empty() {
                        return Err(invalid("Field eventCategory supports only the Equals operator."));
                    }
                }
            }
            if !category {
                return Err(invalid(
                    "Each advanced event selector must have an eventCategory field selector with Equals.",
                ));
            }
        }
        if values > MAX_ADVANCED_VALUES {
            return Err(invalid(format!(
                "Specify a valid number of values (0 to {MAX_ADVANCED_VALUES}) for all your advanced event selectors."
            )));
        }
        Ok(Self::Advanced(selectors))
    }

    /// Whether these are anything but a new trail's selectors (`HasCustomEventSelectors`).
    pub fn custom(&self) -> bool {
        *self != Self::default()
    }

    /// Whether the trail logs this record.
    pub fn select(&self, record: &Value) -> bool {
        let view = View::of(record);
        match self {
            Self::Basic(selectors) => selectors.iter().any(|s| view.basic(s)),
            Self::Advanced(selectors) => selectors
                .iter()
                .any(|s| s.field_selectors.iter().all(|f| f.matches(&view.field(&f.field)))),
        }
    }
}

/// What selectors read of a record.
struct View<'a> {
    record: &'a Value,
    management: bool,
    read_only: bool,
    event_source: &'a str,
    resources: Vec<(&'a str, &'a str)>,
}

impl<'a> View<'a> {
    fn of(record: &'a Value) -> Self {
        Self {
            record,
            management: record["managementEvent"].as_bool().unwrap_or(true),
            read_only: record["readOnly"].as_bool().unwrap_or(false),
            event_source: record["eventSource"].as_str().unwrap_or_default(),
            resources: record["resources"]
                .as_array()
                .map(|all| {
                    all.iter()
                        .map(|r| {
                            (
                                r["type"].as_str().unwrap_or_default(),
                                r["ARN"].as_str().unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn basic(&self, selector: &EventSelector) -> bool {
        if !selector.read_write_type.admits(self.read_only) {
            return false;
        }
        if self.management {
            return selector.include_management_events
                && !selector
                    .exclude_management_event_sources
                    .iter()
                    .any(|s| s == self.event_source);
        }
        selector.data_resources.iter().any(|resource| {
            self.resources.iter().any(|(kind, arn)| {
                *kind == resource.resource_type
                    && resource
                        .values
                        .iter()
                        .any(|v| v == "arn:aws:s3" || v == "arn:aws:s3:::" || arn.starts_with(v.as_str()))
            })
        })
    }

    /// The record's values of an advanced selector's field.
    fn field(&self, field: &str) -> Vec<String> {
        let text = |name: &str| self.record[name].as_str().map(str::to_string).into_iter().collect();
        match field {
            "eventCategory" => vec![if self.management { "Management" } else { "Data" }.to_string()],
            "readOnly" => vec![self.read_only.to_string()],
            "resources.type" => self.resources.iter().map(|(t, _)| t.to_string()).collect(),
            "resources.ARN" => self.resources.iter().map(|(_, a)| a.to_string()).collect(),
            other => text(other),
        }
    }
}

impl FieldSelector {
    /// All of the selector's operators hold for the record's values: a positive operator for some value, a
    /// negative one for every value.
    fn matches(&self, values: &[String]) -> bool {
        let any = |list: &[String], test: &dyn Fn(&str, &str) -> bool| {
            list.is_empty() || values.iter().any(|v| list.iter().any(|p| test(v, p)))
        };
        let none = |list: &[String], test: &dyn Fn(&str, &str) -> bool| {
            values.iter().all(|v| !list.iter().any(|p| test(v, p)))
        };
        any(&self.equals, &|v, p| v == p)
            && any(&self.starts_with, &|v, p| v.starts_with(p))
            && any(&self.ends_with, &|v, p| v.ends_with(p))
            && none(&self.not_equals, &|v, p| v == p)
            && none(&self.not_starts_with, &|v, p| v.starts_with(p))
            && none(&self.not_ends_with, &|v, p| v.ends_with(p))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(source: &str, name: &str, read_only: bool, management: bool, resources: &[(&str, &str)]) -> Value {
        json!({
            "eventSource": source,
            "eventName": name,
            "readOnly": read_only,
            "managementEvent": management,
            "eventCategory": if management { "Management" } else { "Data" },
            "resources": resources.iter().map(|(t, a)| json!({"type": t, "ARN": a})).collect::<Vec<_>>(),
        })
    }

    fn basic(read_write: ReadWriteType, management: bool, data: &[&str], exclude: &[&str]) -> Selectors {
        Selectors::basic(vec![EventSelector {
            read_write_type: read_write,
            include_management_events: management,
            data_resources: if data.is_empty() {
                vec![]
            } else {
                vec![DataResource {
                    resource_type: "AWS::S3::Object".into(),
                    values: data.iter().map(|v| v.to_string()).collect(),
                }]
            },
            exclude_management_event_sources: exclude.iter().map(|v| v.to_string()).collect(),
        }])
        .expect("valid")
    }

    fn field(name: &str, equals: &[&str], not_starts_with: &[&str]) -> FieldSelector {
        FieldSelector {
            field: name.into(),
            equals: equals.iter().map(|v| v.to_string()).collect(),
            not_starts_with: not_starts_with.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn selectors_choose_records_as_cloudtrail_classifies_them() {
        let decrypt = record("kms.amazonaws.com", "Decrypt", true, true, &[]);
        let create_key = record("kms.amazonaws.com", "CreateKey", false, true, &[]);
        let put_secret = record("secretsmanager.amazonaws.com", "PutSecretValue", false, true, &[]);
        let get_object = record(
            "s3.amazonaws.com",
            "GetObject",
            true,
            false,
            &[
                ("AWS::S3::Object", "arn:aws:s3:::logs/app/1.txt"),
                ("AWS::S3::Bucket", "arn:aws:s3:::logs"),
            ],
        );
        let put_other = record(
            "s3.amazonaws.com",
            "PutObject",
            false,
            false,
            &[("AWS::S3::Object", "arn:aws:s3:::other/x")],
        );
        let all = [&decrypt, &create_key, &put_secret, &get_object, &put_other];
        let advanced = |fields: Vec<FieldSelector>| {
            Selectors::advanced(vec![AdvancedEventSelector {
                name: None,
                field_selectors: fields,
            }])
            .expect("valid")
        };
        let cases: Vec<(&str, Selectors, [bool; 5])> = vec![
            ("default", Selectors::default(), [true, true, true, false, false]),
            (
                "write only",
                basic(ReadWriteType::WriteOnly, true, &[], &[]),
                [false, true, true, false, false],
            ),
            (
                "KMS left out",
                basic(ReadWriteType::All, true, &[], &["kms.amazonaws.com"]),
                [false, false, true, false, false],
            ),
            (
                "one bucket's objects",
                basic(ReadWriteType::All, false, &["arn:aws:s3:::logs/"], &[]),
                [false, false, false, true, false],
            ),
            (
                "every object",
                basic(ReadWriteType::All, false, &["arn:aws:s3"], &[]),
                [false, false, false, true, true],
            ),
            (
                "advanced: data events outside one bucket",
                advanced(vec![
                    field("eventCategory", &["Data"], &[]),
                    field("resources.type", &["AWS::S3::Object"], &[]),
                    field("resources.ARN", &[], &["arn:aws:s3:::logs/"]),
                ]),
                [false, false, false, false, true],
            ),
            (
                "advanced: KMS management writes",
                advanced(vec![
                    field("eventCategory", &["Management"], &[]),
                    field("eventSource", &["kms.amazonaws.com"], &[]),
                    field("readOnly", &["false"], &[]),
                ]),
                [false, true, false, false, false],
            ),
        ];
        for (name, selectors, expected) in cases {
            let got: Vec<bool> = all.iter().map(|r| selectors.select(r)).collect();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn put_event_selectors_refuses_what_cloudtrail_refuses() {
        let bad_value = Selectors::basic(vec![EventSelector {
            data_resources: vec![DataResource {
                resource_type: "AWS::S3::Object".into(),
                values: vec!["arn:aws:s3:::*".into()],
            }],
            ..Default::default()
        }]);
        assert_eq!(
            bad_value.expect_err("refused").to_string(),
            "Value arn:aws:s3:::* for DataResources.Values is invalid."
        );
        let bad_type = Selectors::basic(vec![EventSelector {
            data_resources: vec![DataResource {
                resource_type: "AWS::S3::Bucket".into(),
                values: vec![],
            }],
            ..Default::default()
        }]);
        assert!(
            bad_type
                .expect_err("refused")
                .to_string()
                .starts_with("Value AWS::S3::Bucket for DataResources.Type is invalid.")
        );
        assert!(Selectors::basic(vec![EventSelector::default(); 6]).is_err());
        let no_category = Selectors::advanced(vec![AdvancedEventSelector {
            name: None,
            field_selectors: vec![field("eventSource", &["kms.amazonaws.com"], &[])],
        }]);
        assert!(matches!(
            no_category,
            Err(CloudTrailError::Fault(CloudTrailFault::InvalidEventSelectors, _))
        ));
        assert!(!Selectors::default().custom());
        assert!(basic(ReadWriteType::ReadOnly, true, &[], &[]).custom());
    }
}
