//! The authorisation table: for each IAM action, the resource types AWS authorises it on and the
//! condition keys it supplies, as AWS's Service Authorization Reference states them (`reference.rs`,
//! generated). Operations say how to compute ARNs and key values; this table says which apply.

use super::reference;

/// An action of the reference.
#[derive(Debug)]
pub struct Action {
    /// `service:Action`, as the reference spells it.
    pub name: &'static str,
    pub resources: &'static [ResourceUse],
    pub condition_keys: KeySet,
}

/// Condition keys as the table lists them: literal keys, sorted case-insensitively, and templates.
#[derive(Debug)]
pub struct KeySet {
    pub literals: &'static [&'static str],
    pub templates: &'static [&'static str],
}

impl KeySet {
    /// Whether `key` is one of the set (case-insensitively, as IAM compares key names).
    pub fn contains(&self, key: &str) -> bool {
        self.literals
            .binary_search_by(|literal| cmp_key_names(literal, key))
            .is_ok()
            || self.templates.iter().any(|t| key_matches(t, key))
    }
}

/// A resource type an action is authorised on, with the type's ARN format and the condition keys
/// its resources supply (the type's own and the action's for it).
#[derive(Debug)]
pub struct ResourceUse {
    /// Lowercase, as the reference names it.
    pub resource_type: &'static str,
    pub required: bool,
    pub arn: &'static str,
    pub condition_keys: KeySet,
}

/// The order of `KeySet::literals`: by length, then case-insensitively (most comparisons end at the
/// length).
fn cmp_key_names(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        a.bytes()
            .zip(b.bytes())
            .map(|(x, y)| x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    })
}

/// The reference's entry for `action` (`service:Action`, matched case-insensitively as IAM does).
pub fn action(action: &str) -> Option<&'static Action> {
    let lowercase = |text: &'static str| text.bytes().map(|b| b.to_ascii_lowercase());
    reference::ACTIONS
        .binary_search_by(|a| lowercase(a.name).cmp(action.bytes().map(|b| b.to_ascii_lowercase())))
        .ok()
        .map(|i| &reference::ACTIONS[i])
}

/// Whether any service of the table defines `key` (with its variable parts filled in).
pub fn is_known_key(key: &str) -> bool {
    reference::CONDITION_KEYS
        .iter()
        .any(|template| key_matches(template, key))
}

/// A global condition key (`aws:SourceIp`, `aws:MultiFactorAuthPresent`, ...): present in every
/// request context. The tag keys are not global: the table says which actions supply them.
pub fn is_global_key(key: &str) -> bool {
    let starts = |prefix: &str| {
        key.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    starts("aws:")
        && !["aws:RequestTag/", "aws:ResourceTag/", "aws:TagKeys"]
            .iter()
            .any(|p| starts(p))
}

impl Action {
    /// Whether `key` is an identity provider's claim (`<issuer>:aud`, `<issuer>:sub`, ...) given to
    /// a federation action: the reference lists well-known issuers only, AWS takes every provider's.
    pub fn takes_provider_key(&self, key: &str) -> bool {
        let federation = ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(self.name));
        let issuer = key.rsplit_once(':').map_or("", |(issuer, _)| issuer);
        federation && !issuer.is_empty() && !reference::SERVICES.contains(&issuer) && issuer != "aws"
    }

    pub fn service(&self) -> &'static str {
        self.name.split_once(':').map_or(self.name, |(service, _)| service)
    }

    fn resource_use(&self, resource_type: &str) -> Option<&'static ResourceUse> {
        self.resources
            .iter()
            .find(|r| r.resource_type.eq_ignore_ascii_case(resource_type))
    }

    /// Whether the request-level keys of this action, or the keys of `resource_type` when the
    /// request is authorised on one, include `key`.
    pub fn supplies(&self, key: &str, resource_type: Option<&str>) -> bool {
        if self.condition_keys.contains(key) {
            return true;
        }
        let Some(type_name) = resource_type else { return false };
        self.resource_use(type_name)
            .is_some_and(|u| u.condition_keys.contains(key))
    }
}

impl ResourceUse {
    /// Whether `arn` has this resource type's ARN format.
    pub fn matches(&self, arn: &str) -> bool {
        template_matches(self.arn, arn, true)
    }
}

/// Condition key templates: `${Name}` parts (and the reference's literal `tag-key` after a
/// `ResourceTag/`) stand for any non-empty text; the rest matches case-insensitively.
fn key_matches(template: &str, key: &str) -> bool {
    if !template.contains('$') && !template.ends_with("/tag-key") {
        return template.eq_ignore_ascii_case(key);
    }
    if let Some(prefix) = template
        .strip_suffix('}')
        .and_then(|t| t.rsplit_once("${"))
        .map(|(p, _)| p)
        && !prefix.contains('$')
    {
        return key.len() > prefix.len()
            && key.is_char_boundary(prefix.len())
            && key[..prefix.len()].eq_ignore_ascii_case(prefix);
    }
    match template.split_once("ResourceTag/tag-key") {
        Some((head, "")) => {
            let prefix = format!("{head}ResourceTag/");
            key.len() > prefix.len()
                && key.is_char_boundary(prefix.len())
                && key[..prefix.len()].eq_ignore_ascii_case(&prefix)
        }
        _ => template_matches(template, key, false),
    }
}

/// Matches `text` against a template of literals and `${Variable}`s, each variable standing for
/// non-empty text (in ARNs the last may be empty), case-insensitively and without allocating. In ARNs
/// (`arn`) a variable before the last one never spans a `:`, so a key ARN cannot pass for an alias ARN.
fn template_matches(template: &str, text: &str, arn: bool) -> bool {
    matches_from(template.as_bytes(), text.as_bytes(), arn)
}

fn matches_from(template: &[u8], text: &[u8], arn: bool) -> bool {
    let Some(start) = template.windows(2).position(|w| w == b"${") else {
        return template.eq_ignore_ascii_case(text);
    };
    let literal = &template[..start];
    if text.len() < literal.len() || !text[..literal.len()].eq_ignore_ascii_case(literal) {
        return false;
    }
    let after = template[start..]
        .iter()
        .position(|&b| b == b'}')
        .map_or(template.len(), |end| start + end + 1);
    let (rest, value) = (&template[after..], &text[literal.len()..]);
    let last_variable = !rest.windows(2).any(|w| w == b"${");
    // The last part of an ARN may be empty: GetParametersByPath of `/` is on `parameter/`.
    let shortest = usize::from(!(arn && last_variable));
    if last_variable {
        // Only the literal tail is left: the variable is whatever comes before it.
        return value.len() >= shortest + rest.len() && value[value.len() - rest.len()..].eq_ignore_ascii_case(rest);
    }
    // The next literal's first byte, where the variable can end (none when a variable follows).
    let next = (!rest.starts_with(b"${"))
        .then(|| rest.first().map(u8::to_ascii_lowercase))
        .flatten();
    (shortest..=value.len())
        .take_while(|&at| !(arn && value[..at].contains(&b':')))
        .filter(|&at| next.is_none_or(|b| value.get(at).is_some_and(|v| v.to_ascii_lowercase() == b)))
        .any(|at| matches_from(rest, &value[at..], arn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_found_case_insensitively_and_the_table_is_sorted() {
        assert!(
            reference::ACTIONS
                .windows(2)
                .all(|w| w[0].name.to_ascii_lowercase() < w[1].name.to_ascii_lowercase())
        );
        assert_eq!(action("kms:createalias").map(|a| a.name), Some("kms:CreateAlias"));
        assert_eq!(action("KMS:Encrypt").map(|a| a.name), Some("kms:Encrypt"));
        assert!(action("kms:NoSuchThing").is_none());
        let create_alias = action("kms:CreateAlias").expect("listed");
        let required: Vec<&str> = create_alias
            .resources
            .iter()
            .filter(|r| r.required)
            .map(|r| r.resource_type)
            .collect();
        assert_eq!(required, ["alias", "key"]);
    }

    #[test]
    fn condition_keys_match_their_templates() {
        let cases: &[(&str, &str, bool)] = &[
            (
                "kms:EncryptionContext:${EncryptionContextKey}",
                "kms:EncryptionContext:Department",
                true,
            ),
            (
                "kms:EncryptionContext:${EncryptionContextKey}",
                "kms:EncryptionContext:",
                false,
            ),
            ("aws:ResourceTag/${TagKey}", "aws:resourcetag/team", true),
            ("aws:ResourceTag/${TagKey}", "aws:RequestTag/team", false),
            (
                "secretsmanager:ResourceTag/tag-key",
                "secretsmanager:ResourceTag/team",
                true,
            ),
            ("kms:CallerAccount", "kms:calleraccount", true),
            ("kms:CallerAccount", "kms:CallerAccounts", false),
            (
                "agent.${Domain}.buildkite.dev:build_branch",
                "agent.x.buildkite.dev:build_branch",
                true,
            ),
        ];
        for (template, key, expected) in cases {
            assert_eq!(key_matches(template, key), *expected, "{template} vs {key}");
        }
        assert!(is_known_key("kms:EncryptionContext:Department"));
        assert!(is_known_key("iam:PolicyARN"));
        assert!(!is_known_key("kms:EncryptionContex:Department"));
    }

    fn arn_matches(action: &Action, resource_type: &str, arn: &str) -> bool {
        action.resource_use(resource_type).is_some_and(|u| u.matches(arn))
    }

    #[test]
    fn arns_match_their_resource_types() {
        let alias = action("kms:CreateAlias").expect("listed");
        let cases: &[(&str, &str, bool)] = &[
            (
                "key",
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                true,
            ),
            ("alias", "arn:aws:kms:us-east-1:111122223333:alias/prod", true),
            ("alias", "arn:aws:kms:us-east-1:111122223333:key/1234abcd", false),
            ("key", "arn:aws:kms:us-east-1:111122223333:alias/prod", false),
            ("key", "*", false),
            ("key", "arn:aws:kms:us-east-1:111122223333:key/", true),
        ];
        for (resource_type, arn, expected) in cases {
            assert_eq!(
                arn_matches(alias, resource_type, arn),
                *expected,
                "{resource_type} {arn}"
            );
        }
        let attach = action("iam:AttachUserPolicy").expect("listed");
        assert!(arn_matches(
            attach,
            "user",
            "arn:aws:iam::111122223333:user/division/alice"
        ));
        assert!(!arn_matches(attach, "user", "arn:aws:iam::111122223333:role/alice"));
        let assume = action("sts:AssumeRole").expect("listed");
        assert!(arn_matches(assume, "role", "arn:aws:iam::111122223333:role/admin"));
        let secret = action("secretsmanager:GetSecretValue").expect("listed");
        assert!(arn_matches(
            secret,
            "secret",
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"
        ));
    }
}
