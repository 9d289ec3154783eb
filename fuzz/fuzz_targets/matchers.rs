//! Alertmanager matchers (`spec.matchers` of an operarius): any text, as one matcher and as a
//! braced list.
//!
//! Invariants of an accepted matcher: its name is a label name; printing it and parsing the
//! print gives it back (one matcher and a whole list); `=` matches exactly its value and `!=`
//! never does; matching any label set (here: the input itself as the value) never panics, and
//! a regex operator's pattern compiles.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use openfero::operarios::{parse_matchers, MatchOp, MatcherDef};

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check(m: &MatcherDef, input: &str) {
    assert!(is_label_name(&m.name), "name `{}` from `{input}`", m.name);
    let printed = m.to_string();
    let back = MatcherDef::parse(&printed)
        .unwrap_or_else(|e| panic!("`{printed}` (from `{input}`) does not parse: {e}"));
    assert_eq!(&back, m, "`{printed}` (from `{input}`)");
    let own: BTreeMap<String, String> = [(m.name.clone(), m.value.clone())].into();
    let other: BTreeMap<String, String> = [(m.name.clone(), input.to_owned())].into();
    let empty = BTreeMap::new();
    match m.op {
        MatchOp::Eq => assert!(m.matches(&own) && m.matches(&empty) == m.value.is_empty()),
        MatchOp::NotEq => assert!(!m.matches(&own) && m.matches(&empty) != m.value.is_empty()),
        MatchOp::Re | MatchOp::NotRe => {
            // A compiled pattern: exactly one of `=~` and `!~` holds for any value.
            let flipped = MatcherDef {
                op: if m.op == MatchOp::Re {
                    MatchOp::NotRe
                } else {
                    MatchOp::Re
                },
                ..m.clone()
            };
            for labels in [&own, &other, &empty] {
                assert_ne!(m.matches(labels), flipped.matches(labels), "`{printed}`");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let single = MatcherDef::parse(input);
    let Ok(list) = parse_matchers(input) else {
        assert!(single.is_err(), "`{input}`: one matcher but not a list");
        return;
    };
    assert!(!list.is_empty(), "`{input}` parsed to no matcher");
    if let Ok(m) = single {
        assert_eq!(list, [m], "`{input}`: as one matcher and as a list");
    }
    for m in &list {
        check(m, input);
    }
    if list.len() > 1 {
        let printed = format!(
            "{{{}}}",
            list.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let back = parse_matchers(&printed)
            .unwrap_or_else(|e| panic!("`{printed}` (from `{input}`) does not parse: {e}"));
        assert_eq!(back, list, "`{printed}` (from `{input}`)");
    }
});
