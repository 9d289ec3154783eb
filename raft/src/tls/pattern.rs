//! The SAN pattern: which certificate names count as cluster peers.

use super::error::TlsError;

/// A glob over DNS names: `*` matches any run of characters (dots included), everything else
/// matches itself, ASCII case-insensitively. Deliberately small: DNS names have no other
/// metacharacters, and a regex here would invite patterns nobody can review at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanPattern {
    glob: String,
}

impl SanPattern {
    pub fn parse(pattern: &str) -> Result<Self, TlsError> {
        let invalid = |reason: String| TlsError::Invalid {
            field: "san_pattern",
            reason,
        };
        if pattern.is_empty() {
            return Err(invalid("must not be empty".into()));
        }
        if pattern.chars().all(|c| c == '*') {
            return Err(invalid(format!(
                "`{pattern}` matches every name; leave the pattern unset to accept any \
                 certificate of the cluster CA"
            )));
        }
        if let Some(c) = pattern
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '*')))
        {
            return Err(invalid(format!(
                "`{pattern}` has `{c}`; only DNS name characters and `*` are allowed"
            )));
        }
        Ok(Self {
            glob: pattern.to_ascii_lowercase(),
        })
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.glob.as_bytes(), name.to_ascii_lowercase().as_bytes())
    }

    /// Whether any of `names` matches.
    pub fn matches_any<'a>(&self, mut names: impl Iterator<Item = &'a str>) -> bool {
        names.any(|n| self.matches(n))
    }

    pub fn as_str(&self) -> &str {
        &self.glob
    }
}

/// Linear-time glob matching with one backtrack point (the last `*` seen).
fn glob_match(glob: &[u8], name: &[u8]) -> bool {
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if g < glob.len() && glob[g] == b'*' {
            star = Some((g, n));
            g += 1;
        } else if g < glob.len() && glob[g] == name[n] {
            g += 1;
            n += 1;
        } else if let Some((sg, sn)) = star {
            // Let the last star swallow one more character and retry from there.
            g = sg + 1;
            n = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SanPattern {
        SanPattern::parse(s).expect("valid pattern")
    }

    #[test]
    fn a_leading_star_matches_any_prefix() {
        let pat = p("*.openfero-peers.ns.svc");
        assert!(pat.matches("openfero-0.openfero-peers.ns.svc"));
        assert!(pat.matches("a.b.openfero-peers.ns.svc"));
        assert!(pat.matches("OPENFERO-1.Openfero-Peers.ns.svc"));
        assert!(!pat.matches("openfero-peers.ns.svc"));
        assert!(!pat.matches("evil.openfero-peers.ns.svc.attacker.example"));
    }

    #[test]
    fn a_trailing_star_matches_any_suffix() {
        let pat = p("openfero-*");
        assert!(pat.matches("openfero-0"));
        assert!(pat.matches("openfero-2.openfero-peers"));
        assert!(!pat.matches("openferoo-0"));
        assert!(!pat.matches("x-openfero-0"));
    }

    #[test]
    fn literal_and_inner_stars() {
        assert!(p("node-1").matches("node-1"));
        assert!(!p("node-1").matches("node-10"));
        let pat = p("openfero-*.peers.*.svc");
        assert!(pat.matches("openfero-3.peers.prod.svc"));
        assert!(!pat.matches("openfero-3.peers.svc"));
        assert!(p("a*b*c").matches("abbbc"));
        assert!(!p("a*b*c").matches("abbb"));
    }

    #[test]
    fn empty_match_all_and_odd_characters_are_refused() {
        for bad in ["", "*", "**", "a/b", "a b", "node?"] {
            assert!(SanPattern::parse(bad).is_err(), "`{bad}` is refused");
        }
    }
}
