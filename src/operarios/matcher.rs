//! Alertmanager matcher syntax (`name="value"`, `name!=v`, `name=~"re"`,
//! `name!~"re"`, and the braced list `{a="b", c=~"d"}`).
//!
//! Follows Alertmanager's classic parser (`pkg/labels/parse.go`): whitespace
//! around name, operator and value is ignored; a value may be bare or enclosed
//! in double quotes; inside it `\"`, `\\` and `\n` are escapes while any other
//! backslash is kept literally (so `=~"\d+"` is the regex `\d+`); an unescaped
//! double quote that does not close the value is an error. Regexes are fully
//! anchored as Alertmanager anchors them: `^(?:re)$`. Label names are
//! `[a-zA-Z_][a-zA-Z0-9_]*`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::error::MatcherError;

/// The matcher operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `=~`
    Re,
    /// `!~`
    NotRe,
}

impl MatchOp {
    /// The operator as written in matcher syntax.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::NotEq => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }

    fn is_regex(self) -> bool {
        matches!(self, MatchOp::Re | MatchOp::NotRe)
    }
}

/// One parsed matcher. `value` is unescaped (for regex operators it is the
/// unanchored pattern as written by the user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatcherDef {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

impl MatcherDef {
    /// Parses exactly one matcher (no braces, no list).
    pub fn parse(input: &str) -> Result<MatcherDef, MatcherError> {
        parse_one(input, input)
    }

    /// Whether the labels satisfy the matcher. A missing label is matched as
    /// the empty string, as in Alertmanager. A regex that does not compile
    /// (only possible for a hand-built, unvalidated def) matches nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let actual = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match self.op {
            MatchOp::Eq => actual == self.value,
            MatchOp::NotEq => actual != self.value,
            MatchOp::Re => anchored(&self.value).is_some_and(|re| re.is_match(actual)),
            MatchOp::NotRe => anchored(&self.value).is_some_and(|re| !re.is_match(actual)),
        }
    }
}

impl fmt::Display for MatcherDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"", self.name, self.op.as_str())?;
        for c in self.value.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                other => write!(f, "{other}")?,
            }
        }
        f.write_str("\"")
    }
}

/// Parses one matcher string: either a single matcher or a braced list
/// `{a="b", c=~"d"}` (commas inside quoted values do not separate; one
/// trailing comma is allowed).
pub fn parse_matchers(input: &str) -> Result<Vec<MatcherDef>, MatcherError> {
    let trimmed = input.trim();
    let Some(rest) = trimmed.strip_prefix('{') else {
        return Ok(vec![parse_one(trimmed, input)?]);
    };
    let inner = rest
        .strip_suffix('}')
        .ok_or_else(|| MatcherError::BadFormat {
            input: input.to_owned(),
        })?;
    let mut parts = split_outside_quotes(inner);
    if parts.last().is_some_and(|p| p.trim().is_empty()) && parts.len() > 1 {
        parts.pop();
    }
    if parts.len() == 1 && parts[0].trim().is_empty() {
        return Err(MatcherError::Empty {
            input: input.to_owned(),
        });
    }
    parts.into_iter().map(|p| parse_one(p, input)).collect()
}

fn split_outside_quotes(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_one(text: &str, input: &str) -> Result<MatcherDef, MatcherError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(MatcherError::Empty {
            input: input.to_owned(),
        });
    }
    let bad_format = || MatcherError::BadFormat {
        input: input.to_owned(),
    };
    let op_start = text.find(['=', '!']).ok_or_else(bad_format)?;
    let name = text[..op_start].trim();
    if name.is_empty() {
        return Err(bad_format());
    }
    if !is_label_name(name) {
        return Err(MatcherError::InvalidLabelName {
            input: input.to_owned(),
            name: name.to_owned(),
        });
    }
    let after = &text[op_start..];
    let (op, rest) = if let Some(rest) = after.strip_prefix("=~") {
        (MatchOp::Re, rest)
    } else if let Some(rest) = after.strip_prefix("!=") {
        (MatchOp::NotEq, rest)
    } else if let Some(rest) = after.strip_prefix("!~") {
        (MatchOp::NotRe, rest)
    } else if let Some(rest) = after.strip_prefix('=') {
        (MatchOp::Eq, rest)
    } else {
        return Err(bad_format());
    };
    let value = unquote(rest.trim(), input)?;
    if op.is_regex() {
        if let Err(err) = compile(&value) {
            return Err(MatcherError::InvalidRegex {
                input: input.to_owned(),
                pattern: value,
                message: err.to_string(),
            });
        }
    }
    Ok(MatcherDef {
        name: name.to_owned(),
        op,
        value,
    })
}

/// Strips the optional enclosing quotes and resolves escapes.
fn unquote(raw: &str, input: &str) -> Result<String, MatcherError> {
    let unescaped_quote = || MatcherError::UnescapedQuote {
        input: input.to_owned(),
    };
    let body = match raw.strip_prefix('"') {
        Some(rest) => {
            let body = rest.strip_suffix('"').ok_or_else(unescaped_quote)?;
            let trailing_backslashes = body.chars().rev().take_while(|&c| c == '\\').count();
            if trailing_backslashes % 2 == 1 {
                // The would-be closing quote is escaped: the value never closes.
                return Err(unescaped_quote());
            }
            body
        }
        None => raw,
    };
    let mut value = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => value.push('\n'),
                Some(e @ ('"' | '\\')) => value.push(e),
                Some(other) => {
                    value.push('\\');
                    value.push(other);
                }
                None => value.push('\\'),
            },
            '"' => return Err(unescaped_quote()),
            other => value.push(other),
        }
    }
    Ok(value)
}

fn anchor(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// Largest compiled matcher regex (the regex crate's default is 10 MiB). A label matcher
/// needs kilobytes; a counted repetition such as `(…){5000}` compiled for seconds up to the
/// default limit, at every catalog reload and in apply. Go's regexp, which Alertmanager uses,
/// refuses counts above 1000 outright.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The anchored regex of a matcher pattern, compiled within [`REGEX_SIZE_LIMIT`] (validation
/// and matching use the same, so a validated pattern always compiles).
fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&anchor(pattern))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// Compiled anchored regex, cached by pattern (patterns come from the catalog,
/// so the set is small; the cache is cleared if it ever grows large).
fn anchored(pattern: &str) -> Option<Regex> {
    const MAX_CACHED: usize = 1024;
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(re) = guard.get(pattern) {
        return Some(re.clone());
    }
    let re = compile(pattern).ok()?;
    if guard.len() >= MAX_CACHED {
        guard.clear();
    }
    guard.insert(pattern.to_owned(), re.clone());
    Some(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn m(input: &str) -> MatcherDef {
        MatcherDef::parse(input).expect("valid matcher")
    }

    #[test]
    fn parses_every_operator_quoted_and_bare() {
        let cases = [
            ("a=\"b\"", MatchOp::Eq, "b"),
            ("a=b", MatchOp::Eq, "b"),
            ("a!=b", MatchOp::NotEq, "b"),
            ("a=~\"b.*\"", MatchOp::Re, "b.*"),
            ("a!~b.*", MatchOp::NotRe, "b.*"),
            ("  a  !=   \"b c\"  ", MatchOp::NotEq, "b c"),
            ("a=", MatchOp::Eq, ""),
            ("a=~x=y!=z", MatchOp::Re, "x=y!=z"),
        ];
        for (input, op, value) in cases {
            let parsed = m(input);
            assert_eq!(parsed.name, "a", "{input}");
            assert_eq!(parsed.op, op, "{input}");
            assert_eq!(parsed.value, value, "{input}");
        }
    }

    #[test]
    fn eq_and_not_eq_compare_exactly_and_missing_label_is_empty() {
        let l = labels(&[("severity", "critical")]);
        assert!(m("severity=critical").matches(&l));
        assert!(!m("severity=crit").matches(&l));
        assert!(m("severity!=warning").matches(&l));
        assert!(!m("severity!=critical").matches(&l));
        assert!(m("team=\"\"").matches(&l));
        assert!(!m("team!=\"\"").matches(&l));
        assert!(m("team!=ops").matches(&l));
    }

    #[test]
    fn regex_is_fully_anchored() {
        let l = labels(&[("job", "foobar")]);
        assert!(!m("job=~\"foo\"").matches(&l));
        assert!(m("job=~\"foo.*\"").matches(&l));
        assert!(!m("job=~\"bar\"").matches(&l));
        assert!(m("job!~\"foo\"").matches(&l));
        assert!(!m("job!~\"foo.*\"").matches(&l));
        assert!(m("job=~\"foobar|x\"").matches(&l));
        assert!(!m("job=~\"x|foo\"").matches(&l));
        assert!(m("missing=~\".*\"").matches(&l));
        assert!(!m("missing=~\".+\"").matches(&l));
    }

    #[test]
    fn escapes_are_resolved_and_spurious_backslashes_kept() {
        assert_eq!(m(r#"a="say \"hi\"""#).value, r#"say "hi""#);
        assert_eq!(m(r#"a="back\\slash""#).value, r"back\slash");
        assert_eq!(m(r#"a="line\nbreak""#).value, "line\nbreak");
        assert_eq!(m(r#"a=~"\d+""#).value, r"\d+");
        assert!(m(r#"a=~"\d+""#).matches(&labels(&[("a", "42")])));
        assert_eq!(m(r"a=trailing\").value, r"trailing\");
    }

    #[test]
    fn unescaped_quotes_are_errors() {
        for input in [
            r#"a="open"#,
            r#"a=close""#,
            r#"a=x"y"#,
            r#"a="esc\""#,
            r#"a=""""#,
        ] {
            assert!(
                matches!(
                    MatcherDef::parse(input),
                    Err(MatcherError::UnescapedQuote { .. })
                ),
                "{input}"
            );
        }
    }

    #[test]
    fn braced_list_yields_several_matchers() {
        let list = parse_matchers(r#"{a="b", c=~"d|e" , f!="g,h",}"#).expect("list");
        assert_eq!(list.len(), 3);
        assert_eq!(list[0], m("a=b"));
        assert_eq!(list[1].op, MatchOp::Re);
        assert_eq!(list[1].value, "d|e");
        assert_eq!(list[2].value, "g,h");
        let single = parse_matchers("a=b").expect("single");
        assert_eq!(single, vec![m("a=b")]);
        let regex_with_comma = parse_matchers(r#"{a=~"x{1,3}"}"#).expect("comma in regex");
        assert_eq!(regex_with_comma[0].value, "x{1,3}");
    }

    #[test]
    fn parse_errors_name_the_input() {
        let cases = [
            ("", "empty matcher ``"),
            ("{}", "empty matcher `{}`"),
            ("{,}", "empty matcher `{,}`"),
            ("novalue", "bad matcher format `novalue`"),
            ("{a=b", "bad matcher format `{a=b`"),
            ("=b", "bad matcher format `=b`"),
            ("a!b", "bad matcher format `a!b`"),
            (
                "invalid-name=\"x\"",
                "invalid label name `invalid-name` in matcher `invalid-name=\"x\"`",
            ),
            ("9a=b", "invalid label name `9a` in matcher `9a=b`"),
        ];
        for (input, expected) in cases {
            let err = parse_matchers(input).expect_err(input);
            assert_eq!(err.to_string(), expected);
        }
        let err = parse_matchers("{a=b, c=~\"[\"}").expect_err("bad regex");
        assert!(
            err.to_string()
                .starts_with("invalid regex `[` in matcher `{a=b, c=~\"[\"}`"),
            "{err}"
        );
    }

    /// Found by fuzzing the matchers: a counted repetition that compiled to just under the
    /// regex crate's 10 MiB default took 14 s per input in the fuzz build (validated, compiled
    /// again to match, label values run through a 10 MiB program), and every catalog reload
    /// and every replica's apply pays the same. Matchers now compile within 1 MiB.
    #[test]
    fn a_regex_too_large_for_a_label_matcher_is_refused() {
        assert!(
            regex::Regex::new(&anchor("(a|b){50000}")).is_ok(),
            "under 10 MiB"
        );
        let err = MatcherDef::parse(r#"a=~"(a|b){50000}""#).expect_err("over 1 MiB");
        assert!(
            matches!(&err, MatcherError::InvalidRegex { message, .. } if message.contains("size limit")),
            "{err}"
        );
        let go_max = m(r#"a=~"(a|b){1000}""#);
        assert!(go_max.matches(&labels(&[("a", &"ab".repeat(500))])));
        assert!(!go_max.matches(&labels(&[("a", "ab")])));
    }

    #[test]
    fn display_round_trips() {
        for input in [r#"a="x\"y""#, r#"b=~"\\d""#, "c!=plain", r#"d!~"a\nb""#] {
            let parsed = m(input);
            assert_eq!(m(&parsed.to_string()), parsed, "{input}");
        }
    }
}
