//! Translates the models' Java regular expressions into the `regex` crate's syntax.
//!
//! AWS checks `pattern` with Java's `Matcher.matches()`, so the result is anchored at both ends.
//! Java's `\d`, `\w` and `\s` are ASCII-only while the `regex` crate's are Unicode, so they become
//! explicit ASCII classes. Constructs the `regex` crate cannot express (lookaround, backreferences,
//! possessive quantifiers) are reported as `Err` and the generator leaves that pattern unchecked.

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0B\x0C\r ";
/// The largest repetition count translated (SSM's `^.{1,100000}$` would exceed the crate's size limit).
const MAX_REPEAT: u32 = 10_000;
/// Characters the `regex` crate treats as syntax, inside or outside a class.
const META: &str = r"\.+*?()|[]{}^$#&-~";

/// The `regex` crate equivalent of `java`, matching the whole input.
pub fn translate(java: &str) -> Result<String, String> {
    let mut parser = Parser {
        chars: java.chars().collect(),
        pos: 0,
    };
    let mut out = String::new();
    let mut after_quantifier = false;
    while let Some(c) = parser.next() {
        let mut quantifier = false;
        match c {
            '\\' => out.push_str(&parser.escape()?.outside()),
            '[' => out.push_str(&parser.class()?),
            '(' => out.push_str(&parser.group()?),
            '*' | '+' | '?' | '{' => {
                if after_quantifier && c == '+' {
                    return Err("possessive quantifier".into());
                }
                out.push(c);
                if c == '{' {
                    let mut counts = String::new();
                    while let Some(q) = parser.next() {
                        out.push(q);
                        if q == '}' {
                            break;
                        }
                        counts.push(q);
                    }
                    // The regex crate unrolls counted repetition; beyond this it outgrows its size limit.
                    if counts
                        .split(',')
                        .any(|n| n.parse::<u32>().is_ok_and(|n| n > MAX_REPEAT))
                    {
                        return Err(format!("repetition {{{counts}}} is too large"));
                    }
                }
                // A `?` after a quantifier makes it lazy, which both dialects share.
                quantifier = !(after_quantifier && c == '?');
            }
            _ => out.push(c),
        }
        after_quantifier = quantifier;
    }
    Ok(format!("^(?:{out})$"))
}

/// One escape sequence: a single character or a whole character class.
enum Atom {
    Char(char),
    Class { items: String, negated: bool },
}

impl Atom {
    fn outside(self) -> String {
        match self {
            Atom::Char(c) => literal(c),
            Atom::Class { items, negated } => format!("[{}{items}]", if negated { "^" } else { "" }),
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        self.pos += 1;
        c
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    /// After `(`: keeps plain, non-capturing, named and flag groups; rejects lookaround and atomic groups.
    fn group(&mut self) -> Result<String, String> {
        if self.peek(0) != Some('?') {
            return Ok("(".into());
        }
        match (self.peek(1), self.peek(2)) {
            (Some('=' | '!' | '>'), _) | (Some('<'), Some('=' | '!')) => Err("lookaround or atomic group".into()),
            (Some(':'), _) => {
                self.pos += 2;
                Ok("(?:".into())
            }
            (Some('<'), _) => {
                let mut out = String::from("(");
                while let Some(c) = self.next() {
                    out.push(c);
                    if c == '>' {
                        return Ok(out);
                    }
                }
                Err("unterminated group name".into())
            }
            _ => {
                // Inline flags: Java's `u`, `d`, `c` and `U` have no equivalent (`U` even means lazy in Rust).
                let mut out = String::from("(");
                while let Some(c) = self.next() {
                    out.push(c);
                    match c {
                        '?' | '-' | 'i' | 's' | 'm' | 'x' => {}
                        ':' | ')' => return Ok(out),
                        _ => return Err(format!("inline flag {c}")),
                    }
                }
                Err("unterminated group".into())
            }
        }
    }

    /// After `\`.
    fn escape(&mut self) -> Result<Atom, String> {
        let c = self.next().ok_or("trailing backslash")?;
        let class = |items: &str, negated: bool| {
            Ok(Atom::Class {
                items: items.into(),
                negated,
            })
        };
        match c {
            'd' => class(DIGIT, false),
            'D' => class(DIGIT, true),
            'w' => class(WORD, false),
            'W' => class(WORD, true),
            's' => class(SPACE, false),
            'S' => class(SPACE, true),
            'p' | 'P' => self.property(c == 'P'),
            'u' => self.unicode_escape().map(Atom::Char),
            't' => Ok(Atom::Char('\t')),
            'n' => Ok(Atom::Char('\n')),
            'r' => Ok(Atom::Char('\r')),
            'f' => Ok(Atom::Char('\x0C')),
            'a' => Ok(Atom::Char('\x07')),
            'e' => Ok(Atom::Char('\x1B')),
            'x' => self.hex_escape().map(Atom::Char),
            c if c.is_ascii_alphanumeric() => Err(format!("escape \\{c}")),
            c => Ok(Atom::Char(c)),
        }
    }

    /// `\p{Name}` / `\P{Name}`: Java's POSIX names become ASCII classes, Unicode names pass through.
    fn property(&mut self, negated: bool) -> Result<Atom, String> {
        let name: String = if self.peek(0) == Some('{') {
            self.next();
            let mut name = String::new();
            loop {
                match self.next() {
                    Some('}') => break name,
                    Some(c) => name.push(c),
                    None => return Err("unterminated \\p{".into()),
                }
            }
        } else {
            self.next().ok_or("trailing \\p")?.to_string()
        };
        let posix = match name.as_str() {
            "Lower" => "[:lower:]",
            "Upper" => "[:upper:]",
            "ASCII" => "[:ascii:]",
            "Alpha" => "[:alpha:]",
            "Digit" => "[:digit:]",
            "Alnum" => "[:alnum:]",
            "Punct" => "[:punct:]",
            "Graph" => "[:graph:]",
            "Print" => "[:print:]",
            "Blank" => "[:blank:]",
            "Cntrl" => "[:cntrl:]",
            "XDigit" => "[:xdigit:]",
            "Space" => "[:space:]",
            _ if name.starts_with("In") || name.starts_with("java") => return Err(format!("property {name}")),
            _ => {
                let name = name.strip_prefix("Is").unwrap_or(&name);
                return Ok(Atom::Class {
                    items: format!(r"\p{{{name}}}"),
                    negated,
                });
            }
        };
        Ok(Atom::Class {
            items: posix.into(),
            negated,
        })
    }

    /// `\uXXXX`, joining a UTF-16 surrogate pair written as two escapes into one character.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let high = self.hex_digits(4)?;
        if (0xD800..0xDC00).contains(&high) && self.peek(0) == Some('\\') && self.peek(1) == Some('u') {
            self.pos += 2;
            let low = self.hex_digits(4)?;
            if (0xDC00..0xE000).contains(&low) {
                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                return char::from_u32(code).ok_or_else(|| "bad surrogate pair".into());
            }
        }
        char::from_u32(high).ok_or_else(|| format!("lone surrogate \\u{high:04X}"))
    }

    /// `\xHH` or `\x{H...}`.
    fn hex_escape(&mut self) -> Result<char, String> {
        let code = if self.peek(0) == Some('{') {
            self.next();
            let mut code = 0u32;
            loop {
                match self.next() {
                    Some('}') => break code,
                    Some(c) => code = code * 16 + c.to_digit(16).ok_or("bad \\x{")?,
                    None => return Err("unterminated \\x{".into()),
                }
            }
        } else {
            self.hex_digits(2)?
        };
        char::from_u32(code).ok_or_else(|| "bad \\x escape".into())
    }

    fn hex_digits(&mut self, count: usize) -> Result<u32, String> {
        let mut code = 0u32;
        for _ in 0..count {
            let digit = self.next().and_then(|c| c.to_digit(16)).ok_or("bad hex escape")?;
            code = code * 16 + digit;
        }
        Ok(code)
    }

    /// After `[`: re-emits the class with every literal escaped, so Rust's class operators
    /// (`--`, `~~`) and Java's lenient `-` placement mean what Java means.
    fn class(&mut self) -> Result<String, String> {
        let mut out = String::from("[");
        if self.peek(0) == Some('^') {
            self.next();
            out.push('^');
        }
        let mut first = true;
        loop {
            let c = self.next().ok_or("unterminated character class")?;
            match c {
                ']' if !first => break,
                '[' => out.push_str(&self.class()?),
                '&' if self.peek(0) == Some('&') => {
                    self.next();
                    out.push_str("&&");
                }
                _ => {
                    let atom = if c == '\\' { self.escape()? } else { Atom::Char(c) };
                    match atom {
                        Atom::Class { items, negated } if negated => out.push_str(&format!("[^{items}]")),
                        Atom::Class { items, .. } => out.push_str(&items),
                        Atom::Char(low) => {
                            out.push_str(&literal(low));
                            // Java forms a range only when an atom is followed by `-` and a non-`]`.
                            if self.peek(0) == Some('-') && self.peek(1).is_some_and(|n| n != ']' && n != '[') {
                                self.next();
                                let high = match self.next() {
                                    Some('\\') => match self.escape()? {
                                        Atom::Char(high) => high,
                                        Atom::Class { .. } => return Err("class escape ends a range".into()),
                                    },
                                    Some(high) => high,
                                    None => return Err("unterminated range".into()),
                                };
                                out.push('-');
                                out.push_str(&literal(high));
                            }
                        }
                    }
                }
            }
            first = false;
        }
        out.push(']');
        Ok(out)
    }
}

/// `c` as a literal in `regex` syntax, inside or outside a class.
fn literal(c: char) -> String {
    if META.contains(c) {
        format!("\\{c}")
    } else if c.is_ascii_graphic() || c == ' ' {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", u32::from(c))
    }
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn translates_the_models_java_constructs() {
        let cases = [
            (r"^[a-zA-Z0-9:/_-]+$", r"^(?:^[a-zA-Z0-9:/_\-]+$)$"),
            (r"^[a-zA-Z0-9-_.]+$", r"^(?:^[a-zA-Z0-9\-_\.]+$)$"),
            (r"[\w]+", r"^(?:[0-9A-Za-z_]+)$"),
            (r"^[\w+=,.@:/-]+$", r"^(?:^[0-9A-Za-z_\+=,\.@:/\-]+$)$"),
            (r"^([a-z]+-){2,3}\d+$", r"^(?:^([a-z]+-){2,3}[0-9]+$)$"),
            (
                r"[\u0009\u000A\u000D\u0020-\u00FF]+",
                r"^(?:[\x{9}\x{A}\x{D} -\x{FF}]+)$",
            ),
            (
                r"[\u0020-\uD7FF\uD800\uDC00-\uDBFF\uDFFF]*",
                r"^(?:[ -\x{D7FF}\x{10000}-\x{10FFFF}]*)$",
            ),
            (
                r"[\s\S]*\S[\s\S]*",
                r"^(?:[\t\n\x0B\x0C\r [^\t\n\x0B\x0C\r ]]*[^\t\n\x0B\x0C\r ][\t\n\x0B\x0C\r [^\t\n\x0B\x0C\r ]]*)$",
            ),
            (r"(?i)all|[0-9]{12}", r"^(?:(?i)all|[0-9]{12})$"),
            (
                r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$",
                r"^(?:^([\p{L}\p{Z}\p{N}_\.:/=\+\-@]*)$)$",
            ),
            (r"[$]LATEST", r"^(?:[\$]LATEST)$"),
            (r"(?<v>[0-9]+)(?:\.x)?", r"^(?:(?<v>[0-9]+)(?:\.x)?)$"),
        ];
        for (java, rust) in cases {
            assert_eq!(translate(java).as_deref(), Ok(rust), "{java}");
        }
    }

    #[test]
    fn rejects_what_the_regex_crate_cannot_express() {
        for java in [
            r"^(?!\s*$).+",
            r"(a)\1",
            r"a*+",
            r"(?<=a)b",
            r"(?U)a",
            r"\p{InGreek}",
            r"^.{1,100000}$",
        ] {
            assert!(translate(java).is_err(), "{java}");
        }
    }
}
