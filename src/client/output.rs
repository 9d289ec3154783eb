//! How the client prints: tables for people (no borders, headers in capitals, like `kubectl`
//! and `consul members`), the API's own JSON or YAML for scripts.

use std::io::Write;

use comfy_table::{presets, ContentArrangement, Table};
use serde_json::Value;

use super::Format;

/// A table with these headers, laid out for the terminal's width (or 200 columns when not a
/// terminal, so a pipe gets whole lines).
pub fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.iter().map(|h| h.to_uppercase()));
    if !t.is_tty() {
        t.set_width(200);
    }
    t
}

/// Writes `value` as JSON or YAML; `None` for [`Format::Table`] (the caller prints a table).
pub fn structured(
    format: Format,
    value: &Value,
    out: &mut dyn Write,
) -> Option<std::io::Result<()>> {
    match format {
        Format::Table => None,
        Format::Json => Some(
            serde_json::to_writer_pretty(&mut *out, value)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(out)),
        ),
        Format::Yaml => Some(
            serde_yaml::to_string(value)
                .map_err(std::io::Error::other)
                .and_then(|y| out.write_all(y.as_bytes())),
        ),
    }
}

/// A field as text: strings as they are, `null`/missing as `-`, anything else as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        other => other.to_string(),
    }
}

/// An RFC 3339 time as `2026-12-03 12:34:56` (UTC), or the text unchanged when it is not one.
pub fn time(v: &Value) -> String {
    match v
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => text(v),
    }
}

/// The time between two RFC 3339 fields, as `1m 5s` (`-` when either is missing).
pub fn took(from: &Value, to: &Value) -> String {
    let parse = |v: &Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    match (parse(from), parse(to)) {
        (Some(a), Some(b)) if b >= a => {
            let ms = (b - a).num_milliseconds().max(0) as u64;
            let d =
                std::time::Duration::from_millis(if ms >= 1000 { ms / 1000 * 1000 } else { ms });
            humantime::format_duration(d).to_string()
        }
        _ => "-".into(),
    }
}

/// The first `n` characters of an id or fingerprint.
pub fn short(v: &Value, n: usize) -> String {
    let s = text(v);
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_print_as_people_read_them() {
        assert_eq!(text(&json!(null)), "-");
        assert_eq!(text(&json!("")), "-");
        assert_eq!(text(&json!(true)), "yes");
        assert_eq!(text(&json!(3)), "3");
        assert_eq!(
            time(&json!("2026-12-03T13:04:05+01:00")),
            "2026-12-03 12:04:05"
        );
        assert_eq!(time(&json!("soon")), "soon");
        assert_eq!(
            took(
                &json!("2026-12-03T12:00:00Z"),
                &json!("2026-12-03T12:01:05.300Z")
            ),
            "1m 5s"
        );
        assert_eq!(
            took(
                &json!("2026-12-03T12:00:00Z"),
                &json!("2026-12-03T12:00:00.250Z")
            ),
            "250ms"
        );
        assert_eq!(took(&json!("2026-12-03T12:00:00Z"), &json!(null)), "-");
    }

    #[test]
    fn json_and_yaml_are_the_value_and_a_table_is_left_to_the_caller() {
        let v = json!({"a": [1, 2]});
        let mut out = Vec::new();
        structured(Format::Json, &v, &mut out)
            .expect("json")
            .expect("written");
        assert_eq!(serde_json::from_slice::<Value>(&out).expect("parses"), v);
        let mut out = Vec::new();
        structured(Format::Yaml, &v, &mut out)
            .expect("yaml")
            .expect("written");
        assert_eq!(serde_yaml::from_slice::<Value>(&out).expect("parses"), v);
        assert!(structured(Format::Table, &v, &mut Vec::new()).is_none());
    }
}
