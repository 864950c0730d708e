//! CloudWatch Logs filter patterns, as AWS documents their syntax: terms (all of them, `?` any of them, `-` none of
//! them; quoted phrases), JSON patterns (`{ $.a.b[0] = "x*" && ($.n > 5 || $.f IS NULL) }`, `NOT EXISTS`, `IS TRUE`)
//! and space-delimited patterns (`[ip, user, ..., status = 4*, bytes > 1000]`, with `...` for any fields).

use serde_json::Value;

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    Everything,
    Terms {
        all: Vec<String>,
        any: Vec<String>,
        none: Vec<String>,
    },
    Json(Expr),
    Delimited(Vec<Field>),
}

/// A boolean expression over comparisons (of JSON selectors, or of space-delimited fields by name).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare { target: String, op: Op, value: String },
    IsNull(String),
    NotExists(String),
    IsBool(String, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One field of a space-delimited pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// `...`: any number of fields.
    Any,
    Named {
        name: String,
        condition: Option<Expr>,
    },
}

/// Why a pattern does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPattern;

struct Lexer<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        self.skip_space();
        let rest = self.rest();
        let matches = rest.len() >= word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && !rest[word.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
        if matches {
            self.at += word.len();
        }
        matches
    }

    /// A quoted string (without its quotes) or a bare token ending at a space or one of `stops`.
    fn value(&mut self, stops: &[char]) -> Result<String, InvalidPattern> {
        self.skip_space();
        let rest = self.rest();
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').ok_or(InvalidPattern)?;
            self.at += end + 2;
            return Ok(quoted[..end].to_string());
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || stops.contains(&c) || c == '&' || c == '|')
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(InvalidPattern);
        }
        self.at += end;
        Ok(rest[..end].to_string())
    }

    fn op(&mut self) -> Result<Op, InvalidPattern> {
        for (token, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat(token) {
                return Ok(op);
            }
        }
        Err(InvalidPattern)
    }

    fn name(&mut self, json: bool) -> Result<String, InvalidPattern> {
        self.skip_space();
        let rest = self.rest();
        let end = rest
            .find(|c: char| {
                !(c.is_alphanumeric() || matches!(c, '_' | '-' | '@') || (json && matches!(c, '$' | '.' | '[' | ']')))
            })
            .unwrap_or(rest.len());
        if end == 0 || (json && !rest.starts_with('$')) {
            return Err(InvalidPattern);
        }
        self.at += end;
        Ok(rest[..end].to_string())
    }

    /// `a || b`, `a && b`, parentheses, then comparisons; `&&` binds tighter.
    fn or(&mut self, json: bool, stops: &[char]) -> Result<Expr, InvalidPattern> {
        let mut left = self.and(json, stops)?;
        while self.eat("||") {
            left = Expr::Or(Box::new(left), Box::new(self.and(json, stops)?));
        }
        Ok(left)
    }

    fn and(&mut self, json: bool, stops: &[char]) -> Result<Expr, InvalidPattern> {
        let mut left = self.unary(json, stops)?;
        while self.eat("&&") {
            left = Expr::And(Box::new(left), Box::new(self.unary(json, stops)?));
        }
        Ok(left)
    }

    fn unary(&mut self, json: bool, stops: &[char]) -> Result<Expr, InvalidPattern> {
        if self.eat("(") {
            let inner = self.or(json, stops)?;
            return if self.eat(")") { Ok(inner) } else { Err(InvalidPattern) };
        }
        let target = self.name(json)?;
        if self.eat_word("IS") {
            if self.eat_word("NULL") {
                return Ok(Expr::IsNull(target));
            }
            if self.eat_word("TRUE") {
                return Ok(Expr::IsBool(target, true));
            }
            if self.eat_word("FALSE") {
                return Ok(Expr::IsBool(target, false));
            }
            return Err(InvalidPattern);
        }
        if self.eat_word("NOT") {
            return if self.eat_word("EXISTS") {
                Ok(Expr::NotExists(target))
            } else {
                Err(InvalidPattern)
            };
        }
        let op = self.op()?;
        let value = self.value(stops)?;
        Ok(Expr::Compare { target, op, value })
    }
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Self, InvalidPattern> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Pattern::Everything);
        }
        if let Some(inner) = text.strip_prefix('{') {
            let inner = inner.strip_suffix('}').ok_or(InvalidPattern)?;
            let mut lexer = Lexer::new(inner);
            let expr = lexer.or(true, &[')', '}'])?;
            lexer.skip_space();
            return if lexer.rest().is_empty() {
                Ok(Pattern::Json(expr))
            } else {
                Err(InvalidPattern)
            };
        }
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(InvalidPattern)?;
            return Self::delimited(inner);
        }
        Self::terms(text)
    }

    fn delimited(inner: &str) -> Result<Self, InvalidPattern> {
        let mut fields = Vec::new();
        let mut lexer = Lexer::new(inner);
        loop {
            lexer.skip_space();
            if lexer.eat("...") {
                fields.push(Field::Any);
            } else {
                let name = lexer.name(false)?;
                lexer.skip_space();
                let condition = if lexer.rest().is_empty() || lexer.rest().starts_with(',') {
                    None
                } else {
                    // The field's condition: comparisons of it (or of fields named earlier) joined by && and ||.
                    let mut rest = Lexer::new(&lexer.text[lexer.at..]);
                    let op = rest.op()?;
                    let value = rest.value(&[',', ')'])?;
                    let mut expr = Expr::Compare {
                        target: name.clone(),
                        op,
                        value,
                    };
                    loop {
                        if rest.eat("&&") {
                            expr = Expr::And(Box::new(expr), Box::new(rest.unary(false, &[',', ')'])?));
                        } else if rest.eat("||") {
                            expr = Expr::Or(Box::new(expr), Box::new(rest.unary(false, &[',', ')'])?));
                        } else {
                            break;
                        }
                    }
                    lexer.at += rest.at;
                    Some(expr)
                };
                fields.push(Field::Named { name, condition });
            }
            lexer.skip_space();
            if lexer.rest().is_empty() {
                return Ok(Pattern::Delimited(fields));
            }
            if !lexer.eat(",") {
                return Err(InvalidPattern);
            }
        }
    }

    fn terms(text: &str) -> Result<Self, InvalidPattern> {
        let (mut all, mut any, mut none) = (Vec::new(), Vec::new(), Vec::new());
        let mut lexer = Lexer::new(text);
        loop {
            lexer.skip_space();
            if lexer.rest().is_empty() {
                return Ok(Pattern::Terms { all, any, none });
            }
            let list = if lexer.eat("?") {
                &mut any
            } else if lexer.eat("-") {
                &mut none
            } else {
                &mut all
            };
            let term = lexer.value(&[])?;
            if !term
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-' | '@'))
                && !lexer.text[..lexer.at].ends_with('"')
            {
                return Err(InvalidPattern);
            }
            list.push(term);
        }
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::Everything => true,
            Pattern::Terms { all, any, none } => {
                all.iter().all(|t| message.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
                    && !none.iter().any(|t| message.contains(t.as_str()))
            }
            Pattern::Json(expr) => match serde_json::from_str::<Value>(message) {
                Ok(document) => expr.holds(&|target| select(&document, target).cloned()),
                Err(_) => false,
            },
            Pattern::Delimited(fields) => {
                let words = split_fields(message);
                bind(fields, &words).is_some_and(|bound| {
                    fields.iter().all(|f| match f {
                        Field::Named { condition: Some(c), .. } => c.holds(&|name| {
                            bound
                                .iter()
                                .find(|(n, _)| n == name)
                                .map(|(_, v)| Value::String(v.to_string()))
                        }),
                        _ => true,
                    })
                })
            }
        }
    }
}

/// `$.a.b[0].c` in a JSON document.
fn select<'a>(document: &'a Value, selector: &str) -> Option<&'a Value> {
    let path = selector.strip_prefix('$')?;
    let mut current = document;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            current = current.get(&after[..end])?;
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            current = current.get(after[..end].parse::<usize>().ok()?)?;
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(current)
}

/// `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut at = first.len();
    let end = text.len() - last.len();
    for part in &parts[1..parts.len() - 1] {
        match text[at..end].find(part) {
            Some(found) => at += found + part.len(),
            None => return false,
        }
    }
    true
}

fn compare(found: &Value, op: Op, wanted: &str) -> bool {
    let number = match found {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    let text = match found {
        Value::String(s) => s.clone(),
        Value::Null => return false,
        other => other.to_string(),
    };
    match (op, number, wanted.parse::<f64>().ok()) {
        (Op::Eq, Some(a), Some(b)) => a == b,
        (Op::Ne, Some(a), Some(b)) => a != b,
        (Op::Lt, Some(a), Some(b)) => a < b,
        (Op::Le, Some(a), Some(b)) => a <= b,
        (Op::Gt, Some(a), Some(b)) => a > b,
        (Op::Ge, Some(a), Some(b)) => a >= b,
        (Op::Eq, _, _) => glob(wanted, &text),
        (Op::Ne, _, _) => !glob(wanted, &text),
        _ => false,
    }
}

impl Expr {
    fn holds(&self, lookup: &dyn Fn(&str) -> Option<Value>) -> bool {
        match self {
            Expr::And(a, b) => a.holds(lookup) && b.holds(lookup),
            Expr::Or(a, b) => a.holds(lookup) || b.holds(lookup),
            Expr::Compare { target, op, value } => lookup(target).is_some_and(|found| compare(&found, *op, value)),
            Expr::IsNull(target) => lookup(target).is_some_and(|v| v.is_null()),
            Expr::NotExists(target) => lookup(target).is_none(),
            Expr::IsBool(target, wanted) => lookup(target).and_then(|v| v.as_bool()) == Some(*wanted),
        }
    }
}

/// An event's fields for a space-delimited pattern: words, with `"..."` and `[...]` each one field.
fn split_fields(message: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut rest = message.trim_start();
    while !rest.is_empty() {
        let (field, after) = match rest.chars().next() {
            Some('"') => match rest[1..].find('"') {
                Some(end) => (&rest[1..=end], &rest[end + 2..]),
                None => (rest, ""),
            },
            Some('[') => match rest.find(']') {
                Some(end) => (&rest[1..end], &rest[end + 1..]),
                None => (rest, ""),
            },
            _ => {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        fields.push(field);
        rest = after.trim_start();
    }
    fields
}

/// Binds the pattern's named fields to the event's, `...` taking any number.
fn bind<'a>(fields: &[Field], words: &[&'a str]) -> Option<Vec<(String, &'a str)>> {
    match fields.split_first() {
        None => words.is_empty().then(Vec::new),
        Some((Field::Any, rest)) => (0..=words.len()).find_map(|skip| bind(rest, &words[skip..])),
        Some((Field::Named { name, .. }, rest)) => {
            let (word, others) = words.split_first()?;
            let mut bound = bind(rest, others)?;
            bound.insert(0, (name.clone(), *word));
            Some(bound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_aws_documents_them() {
        let json = r#"{"eventType": "UpdateTrail", "sourceIPAddress": "123.123.4.5", "latency": 750,
            "user": {"id": 1, "email": null}, "items": ["a", "b"], "ok": true}"#;
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
        let cases: &[(&str, &str, bool)] = &[
            ("", "anything", true),
            ("ERROR", "an ERROR here", true),
            ("ERROR", "an error here", false),
            ("ERROR ARGUMENTS", "ERROR: bad ARGUMENTS", true),
            ("ERROR ARGUMENTS", "ERROR only", false),
            ("?ERROR ?WARN", "a WARN", true),
            ("?ERROR ?WARN", "an INFO", false),
            ("ERROR -Exiting", "ERROR Exiting now", false),
            ("ERROR -Exiting", "ERROR going on", true),
            ("\"Failed to process\"", "Failed to process the job", true),
            ("\"Failed to process\"", "Failed to start", false),
            ("{ $.eventType = \"UpdateTrail\" }", json, true),
            ("{ $.eventType = Update* }", json, true),
            ("{ $.sourceIPAddress != 123.123.* }", json, false),
            ("{ $.latency > 500 }", json, true),
            ("{ $.latency <= 500 }", json, false),
            ("{ $.user.id = 1 && $.items[1] = \"b\" }", json, true),
            ("{ ($.user.id = 2 || $.latency >= 750) && $.ok IS TRUE }", json, true),
            ("{ $.user.email IS NULL }", json, true),
            ("{ $.missing NOT EXISTS }", json, true),
            ("{ $.eventType NOT EXISTS }", json, false),
            ("{ $.eventType = \"UpdateTrail\" }", "not json", false),
            (
                "[ip, user, username, timestamp, request, status_code = 4*, bytes]",
                line,
                true,
            ),
            (
                "[ip, user, username, timestamp, request, status_code = 2*, bytes]",
                line,
                false,
            ),
            ("[..., status_code, bytes > 1000]", line, true),
            ("[ip = 127.0.0.1, ...]", line, true),
            ("[ip, id, user = bob || user = frank, ...]", line, true),
            ("[ip, user]", line, false),
        ];
        for (pattern, message, expected) in cases {
            let parsed = Pattern::parse(pattern).unwrap_or_else(|_| panic!("{pattern} parses"));
            assert_eq!(parsed.matches(message), *expected, "{pattern} on {message}");
        }
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for pattern in [
            "{ $.a = ",
            "{ a = 1 }",
            "[a, b",
            "{ $.a = 1 ",
            "[a = ]",
            "{ $.a IS MAYBE }",
            "{ ($.a = 1 }",
        ] {
            assert_eq!(Pattern::parse(pattern), Err(InvalidPattern), "{pattern}");
        }
    }
}
