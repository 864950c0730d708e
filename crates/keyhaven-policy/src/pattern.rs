//! Wildcard patterns (`*`, `?`) for actions, resources and condition values, and policy variables.
//!
//! ARN rule (IAM User Guide, "IAM JSON policy elements: Resource", section "Using wildcards in
//! resource ARNs"): wildcards work inside each colon-separated segment; "if the `*` wildcard is the
//! last character of a resource ARN segment, it can expand to match beyond the colon boundaries";
//! and `*` "can expand to replace everything within a segment, including characters like a forward
//! slash". We read that as:
//! - in the first five segments (`arn`, partition, service, region, account), a `*` that is the
//!   last character of its segment may match across `:` (so `arn:aws:kms:*` covers every KMS ARN);
//!   any other `*`, and every `?`, stays inside its segment;
//! - in the resource part (after the fifth colon) `*` and `?` match any character, `/` and `:`
//!   included (`arn:aws:s3:::b/*/test/*` matches `b/1/2/test/x:y`).
//!
//! Matching is case-sensitive except for actions, which callers lowercase first.
//!
//! Policy variables (IAM User Guide, "IAM policy elements: Variables and tags"): `${key}` takes the
//! value of a single-valued context key (names are case-insensitive); `${key, 'default'}` falls back
//! to the quoted text; `${*}`, `${?}` and `${$}` stand for those characters literally. Substituted
//! text is always literal, never a wildcard. A variable that cannot be resolved (key absent or
//! multivalued, no default) makes AWS treat "any attempt to match it" as failing and "the statement
//! to be invalid"; we report it as unresolved and callers make sure it never makes a statement apply.

use crate::context::Context;

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character; `colon` says whether that character may be `:`.
    One {
        colon: bool,
    },
    /// `*`: any run of characters; `colon` says whether the run may contain `:`.
    Run {
        colon: bool,
    },
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern(Vec<Token>);

/// Text produced by variable substitution: each character remembers whether it came from the
/// policy itself (so `*` and `?` are wildcards) or from a substituted value (always literal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved(Vec<(char, bool)>);

impl Resolved {
    /// The policy text as written, with no variable processing (2008-10-17 documents).
    pub(crate) fn verbatim(text: &str) -> Self {
        Self(text.chars().map(|c| (c, true)).collect())
    }

    fn push_policy_text(&mut self, text: &str) {
        self.0.extend(text.chars().map(|c| (c, true)));
    }

    fn push_value(&mut self, text: &str) {
        self.0.extend(text.chars().map(|c| (c, false)));
    }

    /// The text with every character literal (for StringEquals and friends).
    pub(crate) fn text(&self) -> String {
        self.0.iter().map(|(c, _)| c).collect()
    }

    /// `*` and `?` from the policy text are wildcards that match anything.
    pub(crate) fn glob(&self) -> Pattern {
        Pattern(
            self.0
                .iter()
                .map(|&(c, wild)| match (c, wild) {
                    ('*', true) => Token::Run { colon: true },
                    ('?', true) => Token::One { colon: true },
                    _ => Token::Literal(c),
                })
                .collect(),
        )
    }

    /// Wildcards follow the ARN segment rule described in the module documentation.
    pub(crate) fn arn(&self) -> Pattern {
        let chars = &self.0;
        let mut segment = 0;
        let mut tokens = Vec::with_capacity(chars.len());
        for (i, &(c, wild)) in chars.iter().enumerate() {
            let in_resource_part = segment >= 5;
            tokens.push(match (c, wild) {
                ('*', true) => {
                    let ends_segment = chars.get(i + 1).is_none_or(|&(next, _)| next == ':');
                    Token::Run {
                        colon: in_resource_part || ends_segment,
                    }
                }
                ('?', true) => Token::One {
                    colon: in_resource_part,
                },
                _ => Token::Literal(c),
            });
            if c == ':' {
                segment += 1;
            }
        }
        Pattern(tokens)
    }
}

impl Pattern {
    /// A pattern with `*` and `?` wildcards and no variables.
    pub(crate) fn glob(text: &str) -> Self {
        Resolved::verbatim(text).glob()
    }

    /// Whether `value` matches. Dynamic programming over (pattern, value) prefixes: patterns and
    /// ARNs are short, and unlike backtracking this never goes exponential on hostile input.
    pub(crate) fn matches(&self, value: &str) -> bool {
        // Without allocating: most patterns fail on their literal prefix (`ssm:Get*` against
        // `kms:encrypt`), and patterns without wildcards are plain comparisons.
        let mut rest = value.chars();
        let mut wildcard = false;
        for token in &self.0 {
            match token {
                Token::Literal(literal) => {
                    if rest.next() != Some(*literal) {
                        return false;
                    }
                }
                _ => {
                    wildcard = true;
                    break;
                }
            }
        }
        if !wildcard {
            return rest.next().is_none();
        }
        let value: Vec<char> = value.chars().collect();
        // reachable[j]: the tokens consumed so far match value[..j].
        let mut reachable = vec![false; value.len() + 1];
        let mut next = vec![false; value.len() + 1];
        reachable[0] = true;
        for token in &self.0 {
            next[0] = matches!(token, Token::Run { .. }) && reachable[0];
            for j in 1..=value.len() {
                let c = value[j - 1];
                next[j] = match *token {
                    Token::Run { colon } => reachable[j] || (next[j - 1] && (colon || c != ':')),
                    Token::One { colon } => reachable[j - 1] && (colon || c != ':'),
                    Token::Literal(literal) => reachable[j - 1] && c == literal,
                };
            }
            std::mem::swap(&mut reachable, &mut next);
        }
        reachable[value.len()]
    }
}

/// Substitutes the policy variables in `text[from..]` (`text[..from]` is kept as written). On
/// failure returns the name of the first variable that could not be resolved.
pub(crate) fn substitute(text: &str, from: usize, context: &Context) -> Result<Resolved, String> {
    let (verbatim, mut rest) = text.split_at_checked(from).unwrap_or((text, ""));
    let mut out = Resolved::verbatim(verbatim);
    while let Some(start) = rest.find("${") {
        out.push_policy_text(&rest[..start]);
        let after = &rest[start + 2..];
        match parse_variable(after) {
            Some((variable, consumed)) => {
                match variable {
                    Variable::Escaped(c) => out.push_value(c),
                    Variable::Key { name, default } => match single_value(context, name) {
                        Some(value) => out.push_value(value),
                        None => match default {
                            Some(default) => out.push_value(&default),
                            None => return Err(name.to_string()),
                        },
                    },
                }
                rest = &after[consumed..];
            }
            None => {
                // Not a well-formed variable: the `${` is ordinary text.
                out.push_policy_text("${");
                rest = after;
            }
        }
    }
    out.push_policy_text(rest);
    Ok(out)
}

/// Variables only stand for single values: a multivalued key cannot be substituted.
fn single_value<'c>(context: &'c Context, name: &str) -> Option<&'c str> {
    match context.values(name) {
        Some([value]) => Some(value),
        _ => None,
    }
}

enum Variable<'t> {
    Escaped(&'static str),
    Key { name: &'t str, default: Option<String> },
}

/// Parses what follows `${`: returns the variable and how many bytes it used, closing `}` included.
fn parse_variable(text: &str) -> Option<(Variable<'_>, usize)> {
    for (escape, literal) in [("*}", "*"), ("?}", "?"), ("$}", "$")] {
        if text.starts_with(escape) {
            return Some((Variable::Escaped(literal), escape.len()));
        }
    }
    let end = text.find([',', '}'])?;
    let name = text[..end].trim();
    if name.is_empty() {
        return None;
    }
    if text[end..].starts_with('}') {
        return Some((Variable::Key { name, default: None }, end + 1));
    }
    // `, 'default'` with `''` standing for one quote inside the default.
    let after_comma = &text[end + 1..];
    let quoted = after_comma.trim_start();
    let body_start = text.len() - quoted.len() + 1;
    if !quoted.starts_with('\'') {
        return None;
    }
    let mut default = String::new();
    let mut chars = text[body_start..].char_indices().peekable();
    let close = loop {
        let (i, c) = chars.next()?;
        if c != '\'' {
            default.push(c);
        } else if chars.next_if(|&(_, next)| next == '\'').is_some() {
            default.push('\'');
        } else {
            break body_start + i + 1;
        }
    };
    let tail = text[close..].trim_start();
    if !tail.starts_with('}') {
        return None;
    }
    let consumed = text.len() - tail.len() + 1;
    Some((
        Variable::Key {
            name,
            default: Some(default),
        },
        consumed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything:at/all", true),
            ("kms:*", "kms:encrypt", true),
            ("kms:encrypt*", "kms:encryptdecrypt", true),
            ("kms:?ncrypt", "kms:encrypt", true),
            ("kms:?ncrypt", "kms:ncrypt", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("abc", "abcd", false),
            ("", "", true),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(Pattern::glob(pattern).matches(value), *expected, "{pattern} vs {value}");
        }
    }

    #[test]
    fn arn_segment_table() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234";
        let cases: &[(&str, &str, bool)] = &[
            ("arn:aws:kms:*", key, true),
            ("arn:aws:kms:us-*", key, true),
            ("arn:aws:kms:*:111122223333:key/*", key, true),
            ("arn:aws:kms:*:*:*", key, true),
            ("arn:aws:kms:us-east-1:*:alias/*", key, false),
            // A `*` inside a segment does not cross a colon.
            ("arn:aws:k*s:us-east-1:111122223333:key/1234", key, true),
            ("arn:aws:k*1:111122223333:key/1234", key, false),
            ("arn:aws:kms:us-east-?:111122223333:key/1234", key, true),
            ("arn:aws:kms:us-east-1?111122223333:key/1234", key, false),
            // Case-sensitive.
            ("arn:aws:kms:us-east-1:111122223333:KEY/1234", key, false),
            // The resource part: `*` crosses `/` and `:`.
            ("arn:aws:s3:::b/*/test/*", "arn:aws:s3:::b/1/2/test/3/x.jpg", true),
            ("arn:aws:s3:::b/*/test/*", "arn:aws:s3:::b//test/", true),
            ("arn:aws:s3:::b/*/test/*", "arn:aws:s3:::b/1-test/x", false),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/a:b/c", true),
            (
                "arn:aws:logs:*:*:log-group:g:*",
                "arn:aws:logs:r:1:log-group:g:log-stream:s",
                true,
            ),
        ];
        for (pattern, value, expected) in cases {
            let compiled = Resolved::verbatim(pattern).arn();
            assert_eq!(compiled.matches(value), *expected, "{pattern} vs {value}");
        }
    }

    #[test]
    fn variable_table() {
        let mut context = Context::new();
        context.set("aws:username", "alice");
        context.set("aws:PrincipalTag/team", "blue*");
        context.set_all("aws:TagKeys", ["a", "b"]);
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("home/${aws:username}/*", Ok("home/alice/*")),
            ("home/${AWS:UserName}", Ok("home/alice")),
            ("${aws:principaltag/team}", Ok("blue*")),
            ("${aws:userid, 'anonymous'}", Ok("anonymous")),
            ("${ aws:userid , 'it''s' }x", Ok("it'sx")),
            ("${aws:username, 'ignored'}", Ok("alice")),
            ("a${*}b${?}c${$}d", Ok("a*b?c$d")),
            ("${aws:userid}", Err("aws:userid")),
            ("${aws:TagKeys}", Err("aws:TagKeys")),
            ("${aws:TagKeys, 'many'}", Ok("many")),
            ("${unterminated", Ok("${unterminated")),
            ("${}", Ok("${}")),
            ("${k, 'no close'", Ok("${k, 'no close'")),
            ("cost $5", Ok("cost $5")),
        ];
        for (text, expected) in cases {
            let got = substitute(text, 0, &context).map(|r| r.text());
            assert_eq!(got.as_deref().map_err(String::as_str), *expected, "{text}");
        }
    }

    #[test]
    fn substituted_text_is_literal() {
        let mut context = Context::new();
        context.set("aws:username", "a*");
        let pattern = substitute("home/${aws:username}/${*}", 0, &context).map(|r| r.glob());
        let pattern = pattern.unwrap_or_else(|name| panic!("unresolved {name}"));
        assert!(pattern.matches("home/a*/*"));
        assert!(!pattern.matches("home/ab/*"));
        assert!(!pattern.matches("home/a*/x"));
    }
}
