//! Go-template rendering compatible with OpenFero 0.18
//! (`pkg/services/operarius.go`, `applyTemplateVariables`/`processTemplate`).
//!
//! Template data mirrors OpenFero's anonymous struct, with Go field names:
//!
//! * `.Alert` — `models.Alert`: `.Labels`, `.Annotations`, `.StartsAt`, `.EndsAt`
//!   (plus openfero-rs extensions `.Status`, `.Fingerprint`, `.GeneratorURL`);
//! * `.HookMessage` — `models.HookMessage`: `.Version` (`"4"`), `.GroupKey`,
//!   `.Status`, `.Receiver`, `.GroupLabels`, `.CommonLabels`,
//!   `.CommonAnnotations`,
//!   `.ExternalURL`, `.Alerts` (a one-element list holding `.Alert`);
//! * shorthands `.Labels`, `.Annotations`, `.GroupKey`, `.Status`.
//!
//! OpenFero executes with `missingkey=error`. gtmpl renders a missing key of a
//! `Value::Map` as `<no value>`, but fails with a "no field" error for a
//! missing key of a `Value::Object`. Every map and struct of the data is
//! therefore built as a `Value::Object`, so a missing label or annotation is a
//! hard execution error that we turn into [`RenderError::MissingKey`]; no
//! output scanning is involved. Like Go's `index` (which ignores
//! `missingkey`), the `index` function returns `""` for a missing map key.
//!
//! Known gtmpl differences: the Go builtins `html`, `js`, `slice` are not
//! available, and `range` over a map and printing a map are refused (gtmpl
//! iterates maps in a random order, and Jobs are rendered in apply on every
//! replica: see [`super::determinism`]).
//!
//! Guards: gtmpl 0.7.1 loops forever on an unclosed action that ends in
//! whitespace (`"{{ .a "`), overflows the stack on recursive
//! `define`/`template`, and its lexer panics (in its own thread, so the parse
//! fails with "receiving on a closed channel") when it steps back over a
//! non-ASCII character inside an action (`{{ .a\u{a0}}}`, `{{ 1€ }}`): it
//! backs up one byte, not one character; a `{{-` right after a non-ASCII
//! character (`café{{- .a }}`) makes it trim one byte too many in the same way.
//! Before gtmpl sees a text, [`preflight`] therefore rejects unclosed actions,
//! non-ASCII characters in an action outside quoted strings and comments
//! (label and annotation names are ASCII; quote others:
//! `index .Labels "größe"`), a `{{-` after one, and the `define`,
//! `template` and `block` actions (OpenFero templates are single strings, so
//! named templates are of no use).

use std::collections::{BTreeMap, HashMap};

use gtmpl::{Context, Template, Value};
use gtmpl_value::FuncError;

use super::determinism;
use super::error::RenderError;
use super::selector::AlertContext;

/// Whether OpenFero would treat the string as a template (it skips strings
/// without `{{`).
pub(crate) fn is_template(text: &str) -> bool {
    text.contains("{{")
}

fn new_template() -> Template {
    let mut template = Template::default();
    template.add_func("index", go_index);
    template.add_func("printf", bounded_printf);
    template
}

/// Widest `printf` width or precision accepted. gtmpl hands them to Rust's `format!`, which
/// panics above 65 535 (on the rendering thread: in apply), and a format string may come from
/// a label (`printf .Labels.fmt`).
const MAX_PRINTF_WIDTH: u64 = 4096;

/// gtmpl's `printf` after checking the format: every width and precision written out and at
/// most [`MAX_PRINTF_WIDTH`]; no `*` (taken from an argument) and no `[n]` argument indexes.
fn bounded_printf(args: &[Value]) -> Result<Value, FuncError> {
    if let Some(Value::String(format)) = args.first() {
        check_printf_format(format).map_err(FuncError::Generic)?;
    }
    gtmpl::funcs::printf(args)
}

fn check_printf_format(format: &str) -> Result<(), String> {
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        while chars.peek().is_some_and(|c| "+-# 0".contains(*c)) {
            chars.next();
        }
        for part in ["width", "precision"] {
            if part == "precision" {
                if chars.peek() != Some(&'.') {
                    break;
                }
                chars.next();
            }
            match chars.peek() {
                Some('*') => return Err(format!("printf {part} `*` is not supported")),
                Some('[') => return Err("printf argument indexes are not supported".into()),
                _ => {}
            }
            let mut value = 0u64;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                chars.next();
                value = value.saturating_mul(10).saturating_add(u64::from(d));
                if value > MAX_PRINTF_WIDTH {
                    return Err(format!(
                        "printf {part} above {MAX_PRINTF_WIDTH} in `{format}`"
                    ));
                }
            }
        }
        if chars.peek() == Some(&'[') {
            return Err("printf argument indexes are not supported".into());
        }
        chars.next();
    }
    Ok(())
}

/// Checks that the text parses as a template.
pub fn check_template(text: &str) -> Result<(), RenderError> {
    preflight(text)?;
    new_template()
        .parse(text)
        .map_err(|err| RenderError::Parse {
            template: text.to_owned(),
            message: err.to_string(),
        })
}

/// Renders one string against the data from [`template_data`]. Strings
/// without `{{` are returned unchanged, as in OpenFero.
pub fn render_template(text: &str, data: &Value) -> Result<String, RenderError> {
    if !is_template(text) {
        return Ok(text.to_owned());
    }
    preflight(text)?;
    let mut template = new_template();
    template.parse(text).map_err(|err| RenderError::Parse {
        template: text.to_owned(),
        message: err.to_string(),
    })?;
    template
        .render(&Context::from(data.clone()))
        .map_err(|err| match err {
            gtmpl::error::ExecError::NoFiledFor(field, _) => RenderError::MissingKey {
                field: missing_field_path(text, &field, data),
                template: text.to_owned(),
            },
            other => RenderError::Execute {
                template: text.to_owned(),
                message: other.to_string(),
            },
        })
}

/// Rejects what would make gtmpl hang or crash (see module docs).
fn preflight(text: &str) -> Result<(), RenderError> {
    let fail = |message: String| RenderError::Parse {
        template: text.to_owned(),
        message,
    };
    let mut rest = text;
    let mut actions = Vec::new();
    while let Some(start) = rest.find("{{") {
        let action = &rest[start + 2..];
        let before = rest[..start].trim_end().chars().next_back();
        if let Some(c) = before.filter(|c| action.starts_with("- ") && !c.is_ascii()) {
            return Err(fail(format!(
                "`{{{{-` after the non-ASCII character `{}`: put an ASCII character between them or drop the `-`",
                c.escape_unicode()
            )));
        }
        let ActionScan {
            end,
            stray,
            unquotable,
            comment,
        } = scan_action(action).ok_or_else(|| fail("unclosed action".to_owned()))?;
        if let Some(c) = stray {
            return Err(fail(format!(
                "non-ASCII character `{}` in an action outside a quoted string",
                c.escape_unicode()
            )));
        }
        if let Some(literal) = unquotable {
            return Err(fail(if literal.is_ascii() {
                format!(
                    "the string {literal} ends in a `\\` or has a `\\x`/`\\u` escape without all its digits, which gtmpl cannot unquote"
                )
            } else {
                format!(
                    "the string {literal} mixes a `\\x`/`\\u` escape (or a `\\` before a non-ASCII character) with non-ASCII characters, which gtmpl cannot unquote: write the characters themselves"
                )
            }));
        }
        let inner = action[..end].trim_start();
        let inner = match inner.strip_prefix('-') {
            Some(after) if after.starts_with(char::is_whitespace) => after.trim_start(),
            _ => inner,
        };
        let keyword: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if matches!(keyword.as_str(), "define" | "template" | "block") {
            return Err(fail(format!("`{keyword}` actions are not supported")));
        }
        if !comment {
            actions.push(&action[..end]);
        }
        rest = &action[end + 2..];
    }
    determinism::check(actions).map_err(fail)
}

/// Where an action ends, and what in it gtmpl's lexer cannot take.
struct ActionScan<'a> {
    /// Byte offset of the `}}` closing the action.
    end: usize,
    /// The first non-ASCII character outside quoted strings and a leading comment.
    stray: Option<char>,
    /// The first quoted string gtmpl's unquoting would slice inside a character.
    unquotable: Option<&'a str>,
    /// The action is a comment.
    comment: bool,
}

/// Whether gtmpl 0.7.1 would slice inside a character unquoting a literal (it unquotes raw
/// `` `…` `` strings too): after a `\x` or `\u` escape it reads the rest of the string in
/// fixed byte steps, and after `\` it reads two bytes — or would panic or loop for ever on
/// another escape ([`unquote_survives`]).
fn unquotable(literal: &str) -> bool {
    let escapes = literal
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'\\' && (w[1] == b'x' || w[1] == b'u' || !w[1].is_ascii()));
    (escapes && !literal.is_ascii()) || !unquote_survives(literal)
}

/// Walks `literal` (quotes included) as gtmpl 0.7.1's `unquote_str` does and says whether it
/// gets through: `false` where gtmpl would slice past the end or inside a character (a `\`
/// as the string's last character: `` `a\` ``) or stop advancing and loop for ever (a `\x`
/// or `\u` with fewer than 4 or 6 bytes left: `"\x"`). An escape gtmpl refuses is fine: it
/// fails the parse with an error.
fn unquote_survives(literal: &str) -> bool {
    if literal.len() < 2 {
        return true;
    }
    let raw = &literal[1..literal.len() - 1];
    let mut i = 0;
    while i < raw.len() {
        if !raw.is_char_boundary(i) {
            return false;
        }
        let s = &raw[i..];
        if !s.starts_with('\\') {
            i += s.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        if s.len() < 2 || !s.is_char_boundary(2) {
            return false;
        }
        let step = match &s[..2] {
            "\\x" => fixed_steps(s, 4, 2),
            "\\u" => fixed_steps(s, 6, 4),
            "\\U" if s.len() == 10 => Some(Some(10)),
            "\\b" | "\\f" | "\\n" | "\\r" | "\\t" | "\\'" | "\\\"" | "\\\\" => Some(Some(2)),
            _ => Some(None),
        };
        match step {
            None | Some(Some(0)) => return false,
            Some(None) => return true,
            Some(Some(n)) => i += n,
        }
    }
    true
}

/// gtmpl's `\x`/`\u` reader on `s`: `width`-byte steps, each `\x`/`\u` then `digits` hex
/// digits, while `width` bytes are left. `None`: it would slice inside a character;
/// `Some(None)`: it fails (a parse error); `Some(Some(n))`: it consumes `n` bytes (0 makes
/// `unquote_str` loop for ever).
fn fixed_steps(s: &str, width: usize, digits: usize) -> Option<Option<usize>> {
    let mut j = 0;
    while s.len() > j {
        if !s.is_char_boundary(j) {
            return None;
        }
        if s[j..].len() < width {
            break;
        }
        if !s.is_char_boundary(j + 2) || !s.is_char_boundary(j + 2 + digits) {
            return None;
        }
        if u32::from_str_radix(&s[j + 2..j + 2 + digits], 16).is_err() {
            return Some(None);
        }
        j += width;
    }
    Some(Some(j))
}

/// Finds the `}}` closing an action, skipping quoted strings and a leading
/// comment; `None` when the action never closes.
fn scan_action(action: &str) -> Option<ActionScan<'_>> {
    // A comment exactly as gtmpl's lexer sees one: `{{/*` or `{{- /*`, nothing else between.
    let comment_at = ["/*", "- /*"]
        .iter()
        .find(|opening| action.starts_with(*opening))
        .map(|opening| opening.len() - 2);
    if let Some(offset) = comment_at {
        let close = action[offset..].find("*/")?;
        let after = offset + close + 2;
        let end = action[after..].find("}}").map(|i| after + i)?;
        return Some(ActionScan {
            end,
            stray: action[after..end].chars().find(|c| !c.is_ascii()),
            unquotable: None,
            comment: true,
        });
    }
    let bytes = action.as_bytes();
    let mut stray_at = None;
    let mut unquotable_literal = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                return Some(ActionScan {
                    end: i,
                    stray: stray_at.and_then(|at: usize| action[at..].chars().next()),
                    unquotable: unquotable_literal,
                    comment: false,
                })
            }
            quote @ (b'"' | b'\'' | b'`') => {
                // Where gtmpl's lexer ends the string, which is not where Go's does: a quote
                // right after *any* run of backslashes is escaped for it (`"a\\"` does not
                // end), and a newline ends the action with an error.
                let start = i;
                i += 1;
                let mut escaped = false;
                loop {
                    match bytes.get(i) {
                        None => return None,
                        Some(b'\\') if quote != b'`' => {
                            escaped = true;
                            i += 1;
                            continue;
                        }
                        Some(b'\n') if quote != b'`' => return None,
                        Some(&b) if b == quote && !escaped => break,
                        Some(_) => {}
                    }
                    escaped = false;
                    i += 1;
                }
                i += 1;
                if unquotable_literal.is_none() {
                    // A `\` before a multi-byte character skips into it: cut at a boundary.
                    let end = (i..=action.len())
                        .find(|&e| action.is_char_boundary(e))
                        .unwrap_or(action.len());
                    let literal = &action[start..end];
                    if unquotable(literal) {
                        unquotable_literal = Some(literal);
                    }
                }
            }
            b if !b.is_ascii() => {
                stray_at.get_or_insert(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// The template data for one alert (see the module documentation).
pub fn template_data(alert: &AlertContext) -> Value {
    let alert_value = object([
        ("Labels", string_object(&alert.labels)),
        ("Annotations", string_object(&alert.annotations)),
        ("StartsAt", Value::from(alert.starts_at.as_str())),
        ("EndsAt", Value::from(alert.ends_at.as_str())),
        ("Status", Value::from(alert.status.as_str())),
        ("Fingerprint", Value::from(alert.fingerprint.as_str())),
        ("GeneratorURL", Value::from(alert.generator_url.as_str())),
    ]);
    let hook_message = object([
        ("Version", Value::from("4")),
        ("GroupKey", Value::from(alert.group_key.as_str())),
        ("Status", Value::from(alert.status.as_str())),
        ("Receiver", Value::from(alert.receiver.as_str())),
        ("GroupLabels", string_object(&alert.group_labels)),
        ("CommonLabels", string_object(&alert.common_labels)),
        (
            "CommonAnnotations",
            string_object(&alert.common_annotations),
        ),
        ("ExternalURL", Value::from(alert.external_url.as_str())),
        ("Alerts", Value::Array(vec![alert_value.clone()])),
    ]);
    object([
        ("Alert", alert_value),
        ("HookMessage", hook_message),
        ("Labels", string_object(&alert.labels)),
        ("Annotations", string_object(&alert.annotations)),
        ("GroupKey", Value::from(alert.group_key.as_str())),
        ("Status", Value::from(alert.status.as_str())),
    ])
}

fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<HashMap<_, _>>(),
    )
}

fn string_object(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    )
}

/// Go's `index`: missing map keys yield the zero value `""` instead of an
/// error; out-of-range list indexes are errors.
fn go_index(args: &[Value]) -> Result<Value, FuncError> {
    let Some((first, keys)) = args.split_first() else {
        return Err(FuncError::AtLeastXArgs("index".to_owned(), 1));
    };
    let mut current = first.clone();
    for key in keys {
        current = match (&current, key) {
            (Value::Object(map) | Value::Map(map), Value::String(k)) => {
                map.get(k).cloned().unwrap_or_else(|| Value::from(""))
            }
            (Value::Array(items), Value::Number(n)) => n
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| items.get(i).cloned())
                .ok_or_else(|| FuncError::Generic(format!("index `{n}` out of range")))?,
            // Kinds, not values: a map's text comes out in a random order (see `determinism`).
            (collection, key) => {
                return Err(FuncError::Generic(format!(
                    "cannot index {} with {}",
                    kind(collection),
                    kind(key)
                )))
            }
        };
    }
    Ok(current)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Object(_) | Value::Map(_) => "a map",
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a bool",
        Value::Function(_) => "a function",
        Value::Nil | Value::NoValue => "nil",
    }
}

/// Reconstructs the dotted path (e.g. `.Alert.Labels.pod`) of the missing
/// key: scans the field chains inside the template's actions and resolves
/// each against the data; the first chain that breaks at `missing` names it.
/// A chain relative to a changed dot (`with`, `range`) is reported as
/// written; a key reached only through a variable is reported bare.
fn missing_field_path(text: &str, missing: &str, data: &Value) -> String {
    for action in actions(text) {
        for chain in field_chains(action) {
            let mut current = data;
            let mut path = String::new();
            for segment in chain.split('.').filter(|s| !s.is_empty()) {
                path.push('.');
                path.push_str(segment);
                let next = match current {
                    Value::Object(map) | Value::Map(map) => map.get(segment),
                    _ => None,
                };
                match next {
                    Some(value) => current = value,
                    None if segment == missing => return path,
                    None => break,
                }
            }
        }
    }
    missing.to_owned()
}

/// The inner text of every `{{ ... }}` action.
fn actions(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push(&after[..end]);
                rest = &after[end + 2..];
            }
            None => {
                out.push(after);
                break;
            }
        }
    }
    out
}

/// Field chains rooted at dot (`.A.B.c`) inside an action; chains that
/// follow an identifier, `$var`, `)` or a quote are skipped.
fn field_chains(action: &str) -> Vec<&str> {
    let bytes = action.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        let rooted = bytes[i] == b'.'
            && (i == 0 || !(is_ident(bytes[i - 1]) || matches!(bytes[i - 1], b'$' | b')' | b'"')));
        if rooted {
            let start = i;
            let mut j = i;
            while j < bytes.len() && bytes[j] == b'.' {
                let seg_start = j + 1;
                let mut k = seg_start;
                while k < bytes.len() && is_ident(bytes[k]) {
                    k += 1;
                }
                if k == seg_start {
                    break;
                }
                j = k;
            }
            if j > start {
                out.push(&action[start..j]);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> AlertContext {
        let labels: BTreeMap<String, String> = [
            ("alertname", "KubePodCrashLooping"),
            ("pod", "web-1"),
            ("namespace", "shop"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        AlertContext {
            status: "firing".to_owned(),
            labels: labels.clone(),
            annotations: [("summary".to_owned(), "pod is crashlooping".to_owned())]
                .into_iter()
                .collect(),
            starts_at: "2026-03-21T10:00:00Z".to_owned(),
            ends_at: "0001-01-01T00:00:00Z".to_owned(),
            generator_url: "http://prometheus/graph".to_owned(),
            fingerprint: "abc123".to_owned(),
            group_key: "{}:{alertname=\"KubePodCrashLooping\"}".to_owned(),
            receiver: "openfero".to_owned(),
            external_url: "http://alertmanager".to_owned(),
            common_labels: labels,
            group_labels: [("alertname".to_owned(), "KubePodCrashLooping".to_owned())]
                .into_iter()
                .collect(),
            common_annotations: [("runbook".to_owned(), "http://runbooks/crash".to_owned())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn common_annotations_of_the_notification_are_template_data() {
        assert_eq!(
            render("{{ .HookMessage.CommonAnnotations.runbook }}").expect("renders"),
            "http://runbooks/crash"
        );
    }

    fn render(text: &str) -> Result<String, RenderError> {
        render_template(text, &template_data(&alert()))
    }

    #[test]
    fn renders_every_documented_data_path() {
        let cases = [
            ("{{ .Labels.pod }}", "web-1"),
            ("{{ .Alert.Labels.pod }}", "web-1"),
            ("{{ .Annotations.summary }}", "pod is crashlooping"),
            ("{{ .Alert.Annotations.summary }}", "pod is crashlooping"),
            ("{{ .GroupKey }}", "{}:{alertname=\"KubePodCrashLooping\"}"),
            ("{{ .Status }}", "firing"),
            ("{{ if eq .Status \"firing\" }}fire{{ end }}", "fire"),
            (
                "{{ if eq .Status \"resolved\" }}ok{{ else }}no{{ end }}",
                "no",
            ),
            ("{{ .Labels.pod | printf \"%s-x\" }}", "web-1-x"),
            ("{{ .Alert.StartsAt }}", "2026-03-21T10:00:00Z"),
            ("{{ .HookMessage.Status }}", "firing"),
            (
                "{{ .HookMessage.GroupKey }}",
                "{}:{alertname=\"KubePodCrashLooping\"}",
            ),
            ("{{ .HookMessage.Receiver }}", "openfero"),
            ("{{ .HookMessage.ExternalURL }}", "http://alertmanager"),
            ("{{ .HookMessage.CommonLabels.namespace }}", "shop"),
            (
                "{{ .HookMessage.GroupLabels.alertname }}",
                "KubePodCrashLooping",
            ),
            ("{{ (index .HookMessage.Alerts 0).Labels.pod }}", "web-1"),
            ("{{ index .Labels \"pod\" }}", "web-1"),
            ("{{ index .Labels \"nope\" }}", ""),
            ("{{ len .Labels }}", "3"),
            (
                "plain {{ .Labels.namespace }}/{{ .Labels.pod }}",
                "plain shop/web-1",
            ),
            ("no template at all", "no template at all"),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template).as_deref(), Ok(expected), "{template}");
        }
    }

    #[test]
    fn missing_key_is_an_error_with_its_path() {
        for (template, field) in [
            ("{{ .Labels.container }}", ".Labels.container"),
            ("x {{ .Alert.Labels.container }}", ".Alert.Labels.container"),
            ("{{ .Annotations.runbook }}", ".Annotations.runbook"),
            ("{{ if .Labels.container }}y{{ end }}", ".Labels.container"),
            (
                "{{ .Labels.pod }} {{ .Labels.nope | printf \"%s\" }}",
                ".Labels.nope",
            ),
            ("{{ .Alert.Lables.pod }}", ".Alert.Lables"),
            ("{{ with .Labels }}{{ .zzz }}{{ end }}", ".zzz"),
        ] {
            assert_eq!(
                render(template),
                Err(RenderError::MissingKey {
                    field: field.to_owned(),
                    template: template.to_owned(),
                }),
                "{template}"
            );
        }
    }

    #[test]
    fn missing_key_never_renders_no_value() {
        let err = render("{{ .Labels.absent }}").expect_err("must fail");
        assert!(!err.to_string().contains("<no value>"));
        assert_eq!(
            err.to_string(),
            "missing key `.Labels.absent` in template `{{ .Labels.absent }}`"
        );
    }

    #[test]
    fn parse_and_execute_errors_are_distinguished() {
        assert!(matches!(
            render("{{ .Labels.pod "),
            Err(RenderError::Parse { .. })
        ));
        assert!(matches!(
            check_template("{{ nosuchfunc 1 }}"),
            Err(RenderError::Parse { .. })
        ));
        assert!(check_template("{{ .Labels.pod | printf \"%s\" }}").is_ok());
        assert!(matches!(
            render("{{ (index .HookMessage.Alerts 5).Status }}"),
            Err(RenderError::Execute { .. })
        ));
    }

    /// Found by fuzzing the rendering: a `range` over the labels came out in a
    /// different order at each rendering (gtmpl keeps maps as `HashMap`s with a
    /// random seed), and Jobs are rendered in apply, so replicas recorded
    /// different Jobs for one remediation. The same for printing a map.
    #[test]
    fn output_that_would_depend_on_map_order_is_refused() {
        for text in [
            "{{ range $k, $v := .Labels }}{{ $k }}={{ $v }};{{ end }}",
            "{{ range .Alert.Annotations }}x{{ end }}",
            "{{ range . }}x{{ end }}",
            "{{ .Labels }}",
            "{{ . }}",
            "{{ $ }}",
            "{{ .HookMessage.Alerts }}",
            "{{ with .Labels }}{{ . }}{{ end }}",
            "{{ $l := .Alert }}{{ $l }}",
            "{{ printf \"%x\" .Labels }}",
            "{{ .Labels | printf \"%v\" }}",
            "{{ urlquery .HookMessage }}",
            "{{ index . \"Labels\" }}",
            "{{ range .HookMessage.Alerts }}{{ . }}{{ end }}",
            "{{ or .Labels.missing .Labels }}",
            "{{ lt .Labels 1 }}",
            "{{ range (index . \"Labels\") }}x{{ end }}",
        ] {
            match check_template(text) {
                Err(RenderError::Parse { message, .. }) => {
                    assert!(message.contains("random order"), "{text}: {message}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        for (text, expected) in [
            (
                "{{ range $i, $a := .HookMessage.Alerts }}{{ $i }}:{{ $a.Labels.pod }}{{ end }}",
                "0:web-1",
            ),
            (
                "{{ range .HookMessage.Alerts }}{{ .Labels.pod }}{{ end }}",
                "web-1",
            ),
            ("{{ with .Labels }}{{ .pod }}{{ end }}", "web-1"),
            ("{{ with .Labels.pod }}{{ . }}{{ end }}", "web-1"),
            ("{{ $l := .Labels }}{{ $l.pod }}", "web-1"),
            ("{{ if .Labels }}{{ len .Labels }}{{ end }}", "3"),
            ("{{ (index . \"Alert\").Labels.pod }}", "web-1"),
            ("{{ or .Labels.pod \"x\" }}", "web-1"),
            ("{{ index .Labels \"pod\" | printf \"%s!\" }}", "web-1!"),
            (
                "{{ with .Labels }}{{ .pod }}{{ else }}{{ .Status }}{{ end }}",
                "web-1",
            ),
            ("{{ if eq .Labels .Alert.Labels }}same{{ end }}", "same"),
        ] {
            assert_eq!(render(text).as_deref(), Ok(expected), "{text}");
        }
        match render("{{ index .Labels 5 }}") {
            Err(RenderError::Execute { message, .. }) => assert!(
                message.contains("cannot index a map with a number"),
                "kinds, not the map's text: {message}"
            ),
            other => panic!("{other:?}"),
        }
    }

    /// Found by fuzzing the rendering: gtmpl's lexer backs up one byte over a
    /// multi-byte character, slices inside it and panics in its thread; the
    /// parse then failed with "receiving on a closed channel" after a panic
    /// message on stderr (and the fuzzer's panic hook aborted). A non-breaking
    /// space pasted into an action was enough; so was `café{{- .Labels.pod }}`
    /// (found in the next run: the left trim counts bytes too), and then, in
    /// the parser on the caller's thread (so in apply and in the catalog
    /// loader), a string with a `\x` escape and a non-ASCII character; and a
    /// "comment" that gtmpl does not see as one (`{{\v/* é */}}`).
    #[test]
    fn non_ascii_in_an_action_is_refused_before_gtmpl_lexes_it() {
        for text in [
            "{{ .Labels.pod\u{a0}}}",
            "{{\u{a0}\u{a0}.Labels.pod }}",
            "{{ é }}",
            "{{ 1€ }}",
            "{{ .Labels.pod€ }}",
            "{{ range \u{fffd}$k, $v := .Labels }}{{ end }}",
            "{{- /* c */ é}}",
            "café{{- .Labels.pod }}",
            "{{\u{b}/* not a comment for gtmpl: é */}}",
            "é \u{a0}\n{{- .Labels.pod }}",
            "{{ \"\\x41ab€\" }}",
            "{{ \"\\u0041a€\" }}",
            "{{ \"\\é\" }}",
            "{{ printf \"%s\\x20€\" .Labels.pod }}",
            "{{ `\\x41ab€` }}",
            // gtmpl escapes a quote after any run of backslashes: its string runs on to the
            // third quote, and `f€` is outside it (fuzzing found it in a longer text).
            "{{ \"x\\\\\" y \" f€ }}\" }}",
            "{{ ifq.e  Status \"f\u{fffd}ri\t\u{7f}D<<\u{4}\u{4}\\\\\\\\\\\\\\\\\"ir\" f\u{fffd}a}}b\" |} {/* a }} b */}\t\u{7f}, li- x",
        ] {
            for result in [check_template(text), render(text).map(drop)] {
                match result {
                    Err(RenderError::Parse { message, .. }) => {
                        assert!(message.contains("non-ASCII character"), "{text}: {message}")
                    }
                    other => panic!("{text}: {other:?}"),
                }
            }
        }
        for (text, expected) in [
            ("{{ \"é\" }}", "é"),
            ("{{ printf `€%s` .Labels.pod }}", "€web-1"),
            ("{{ index .Labels \"größe\" }}", ""),
            ("{{/* é */}}café {{ .Labels.pod }}", "café web-1"),
            ("café. {{- .Labels.pod -}} \u{a0}é", "café.web-1é"),
            ("{{ \"\\x41\\n\" }}{{ \"é\\t\" }}", "A\né\t"),
        ] {
            assert_eq!(render(text).as_deref(), Ok(expected), "{text}");
        }
    }

    /// Found by fuzzing the rendering (2026-12-03, 376 949 executions into the run after the
    /// quote fix): gtmpl's unquoting of a raw string ending in `\` sliced past its end — on
    /// the parsing thread, so in the catalog loader and in apply. Reading its code for the
    /// fix showed the same unquoting never advancing on a `\x` or `\u` with too few digits
    /// left (`"\x"`), looping for ever.
    #[test]
    fn strings_gtmpl_cannot_unquote_are_refused_before_it_tries() {
        for text in [
            "{{ printf `<b>s% .A^^\\`trtsAt }}",
            "{{ `a\\` }}",
            "{{ \"\\x\" }}",
            "{{ \"ab\\u12\" }}",
            "{{ \"\\x41\\x4\" }}",
        ] {
            for result in [check_template(text), render(text).map(drop)] {
                match result {
                    Err(RenderError::Parse { message, .. }) => {
                        assert!(
                            message.contains("gtmpl cannot unquote"),
                            "{text}: {message}"
                        )
                    }
                    other => panic!("{text}: {other:?}"),
                }
            }
        }
        for (text, expected) in [
            ("{{ `a\\\\b` }}", "a\\b"),
            ("{{ \"\\x41\\x42\" }}", "AB"),
            ("{{ \"\\u00e9\" }}", "é"),
            ("{{ \"tab\\there\" }}", "tab\there"),
        ] {
            assert_eq!(render(text).as_deref(), Ok(expected), "{text}");
        }
    }

    /// Found by fuzzing the rendering: `printf "%-6666666666s"` panicked in Rust's
    /// `format!` (widths above 65 535) on the rendering thread, that is in apply; and the
    /// format may be a label's value.
    #[test]
    fn printf_widths_are_bounded() {
        for text in [
            "{{ .Labels.pod | printf \"%-6666666666s\" }}",
            "{{ printf \"%.99999f\" 1.5 }}",
            "{{ printf \"%*d\" 5 1 }}",
            "{{ printf \"%[2]s\" .Labels.pod .Labels.pod }}",
            "{{ printf .Labels.fmt 1 }}",
        ] {
            let mut alert = alert();
            alert.labels.insert("fmt".into(), "%99999d".into());
            match render_template(text, &template_data(&alert)) {
                Err(RenderError::Execute { message, .. }) => {
                    assert!(message.contains("printf"), "{text}: {message}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(
            render("{{ printf \"[%-8s|%5.1f|%+d]\" .Labels.pod 2.25 3 }}").as_deref(),
            Ok("[web-1   |  2.2|+3]")
        );
    }

    #[test]
    fn inputs_that_would_hang_or_crash_gtmpl_are_rejected() {
        for text in [
            "{{ .Labels.pod ",
            "{{ .Labels.pod }}{{ .Labels.pod ",
            "{{ \"x\" ",
            "{{ \"}}\" ",
            "{{/* comment ",
            "{{define \"x\"}}{{template \"x\"}}{{end}}{{template \"x\"}}",
            "{{- block \"b\" . }}x{{ end }}",
        ] {
            assert!(
                matches!(check_template(text), Err(RenderError::Parse { .. })),
                "{text}"
            );
            assert!(
                matches!(render(text), Err(RenderError::Parse { .. })),
                "{text}"
            );
        }
        for text in [
            "{{ \"a}}b\" }}",
            "{{/* a }} b */}}ok",
            "{{- .Labels.pod -}}",
            "{{ printf `%s}}` .Labels.pod }}",
            "{{ '}' }}",
        ] {
            assert!(check_template(text).is_ok(), "{text}");
        }
        assert_eq!(render("{{ \"a}}b\" }}").as_deref(), Ok("a}}b"));
        assert_eq!(
            render("{{ printf `<%s>` .Labels.pod }}").as_deref(),
            Ok("<web-1>")
        );
    }
}
