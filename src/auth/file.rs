//! The auth file (`--auth-file`, YAML): users with argon2 password hashes, named bearer tokens
//! stored as SHA-256 hashes, and the roles of users a trusted proxy names. It holds no secret in
//! the clear, but treat it as one (a Kubernetes Secret): hashes can be attacked offline.
//!
//! ```yaml
//! users:
//!   - name: alice
//!     role: admin
//!     passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$…"   # openfero auth hash-password
//! tokens:
//!   - name: ci
//!     role: operator
//!     sha256: "…64 hex digits…"                          # openfero auth hash-token
//! proxy:
//!   defaultRole: viewer          # optional: users the map does not name
//!   users:
//!     bob@example.com: admin
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::error::{AuthError, Result};
use super::password;
use super::role::Role;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthFile {
    #[serde(default)]
    pub users: Vec<UserEntry>,
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    #[serde(default)]
    pub proxy: ProxyRoles,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserEntry {
    pub name: String,
    pub role: Role,
    /// An argon2 PHC string; never the password itself.
    pub password_hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenEntry {
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token, 64 hex digits.
    pub sha256: String,
}

/// Roles of the users an authenticating proxy names in `--auth-proxy-header`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProxyRoles {
    /// The role of a proxy user the map does not name; without it such a user is refused (403).
    pub default_role: Option<Role>,
    #[serde(default)]
    pub users: BTreeMap<String, Role>,
}

// Hashes are not passwords, but they are what an attacker would crack offline: no Debug output
// shows them.
impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEntry")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("sha256", &"<redacted>")
            .finish()
    }
}

const WHAT: &str = "auth file";

/// A serde message with every quoted value replaced, keeping what was expected: a value may be
/// a password pasted in the wrong place.
fn without_values(message: &str) -> String {
    let (head, tail) = match message.find(", expected") {
        Some(i) => message.split_at(i),
        None => (message, ""),
    };
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in head.chars() {
        if c == '`' {
            if !quoted {
                out.push_str("`…");
            }
            quoted = !quoted;
            if !quoted {
                out.push('`');
            }
        } else if !quoted {
            out.push(c);
        }
    }
    // A value serde quotes without backticks: "invalid type: string \"…\"".
    let out = match out.find('"') {
        Some(i) => format!("{}…", &out[..i]),
        None => out,
    };
    format!("{out}{tail}")
}

impl AuthFile {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            what: WHAT,
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|reason| AuthError::Format {
            what: WHAT,
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parse and check the file; the error says where and what, never quoting a value.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let de = serde_yaml::Deserializer::from_str(text);
        let file: AuthFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let at = e.path().to_string();
            let inner = e.into_inner();
            let place = inner
                .location()
                .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
                .unwrap_or_default();
            let msg = without_values(&inner.to_string());
            // serde_yaml appends the location to its message; keep one.
            let msg = msg.split(" at line ").next().unwrap_or("").to_string();
            if at.is_empty() || at == "." {
                format!("{msg}{place}")
            } else {
                format!("at `{at}`{place}: {msg}")
            }
        })?;
        file.check()?;
        Ok(file)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let mut names = BTreeSet::new();
        for u in &self.users {
            let n = u.name.as_str();
            if n.trim().is_empty() || n.trim() != n {
                return Err("a user name is empty or has surrounding spaces".into());
            }
            if n.contains(':') || n.chars().any(char::is_control) {
                return Err(format!(
                    "user `{n}`: a name cannot hold `:` or control characters (HTTP basic auth)"
                ));
            }
            if !names.insert(n) {
                return Err(format!("user `{n}` is listed twice"));
            }
            password::check_phc(&u.password_hash).map_err(|why| format!("user `{n}`: {why}"))?;
        }
        let mut token_names = BTreeSet::new();
        let mut hashes = BTreeSet::new();
        for t in &self.tokens {
            let n = t.name.as_str();
            if n.trim().is_empty() || n.chars().any(char::is_control) {
                return Err("a token name is empty or has control characters".into());
            }
            if !token_names.insert(n) {
                return Err(format!("token `{n}` is listed twice"));
            }
            let ok = t.sha256.len() == 64 && t.sha256.chars().all(|c| c.is_ascii_hexdigit());
            if !ok {
                return Err(format!(
                    "token `{n}`: `sha256` must be 64 hex digits (make it with `openfero auth hash-token`)"
                ));
            }
            if !hashes.insert(t.sha256.to_ascii_lowercase()) {
                return Err(format!("token `{n}` has the hash of another token"));
            }
        }
        Ok(())
    }

    /// Whether the file grants anything at all (an empty file would lock everyone out).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.tokens.is_empty()
            && self.proxy.users.is_empty()
            && self.proxy.default_role.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash() -> String {
        password::hash_password_with("pw", password::Cost::Test).expect("hash")
    }

    #[test]
    fn a_full_file_parses() {
        let text = format!(
            "users:\n  - name: alice\n    role: admin\n    passwordHash: \"{}\"\n\
             tokens:\n  - name: ci\n    role: operator\n    sha256: \"{}\"\n\
             proxy:\n  defaultRole: viewer\n  users:\n    bob@example.com: admin\n",
            hash(),
            "ab".repeat(32)
        );
        let f = AuthFile::parse(&text).expect("parses");
        assert_eq!(f.users[0].role, Role::Admin);
        assert_eq!(f.tokens[0].name, "ci");
        assert_eq!(f.proxy.users["bob@example.com"], Role::Admin);
        assert_eq!(f.proxy.default_role, Some(Role::Viewer));
        let debug = format!("{f:?}");
        assert!(!debug.contains("argon2"), "{debug}");
        assert!(!debug.contains(&"ab".repeat(32)), "{debug}");
    }

    #[test]
    fn a_plaintext_password_is_refused_without_being_quoted() {
        for text in [
            "users:\n  - name: alice\n    role: admin\n    passwordHash: hunter2-secret\n",
            "users:\n  - name: alice\n    role: hunter2-secret\n    passwordHash: x\n",
            "users:\n  - name: alice\n    role: admin\n    password: hunter2-secret\n",
            "users:\n  - name: alice\n    role: admin\n    passwordHash: [hunter2-secret]\n",
            "tokens:\n  - name: ci\n    role: admin\n    sha256: hunter2-secret\n",
            "users: \"hunter2-secret\"\n",
        ] {
            let err = AuthFile::parse(text).expect_err(text);
            assert!(!err.contains("hunter2"), "{err}");
            assert!(!err.is_empty());
        }
        let err = AuthFile::parse(
            "users:\n  - name: alice\n    role: admin\n    passwordHash: hunter2-secret\n",
        )
        .expect_err("plaintext");
        assert!(err.contains("user `alice`"), "{err}");
        assert!(err.contains("hash-password"), "{err}");
        let err = AuthFile::parse("users:\n  - name: alice\n    role: root\n    passwordHash: x\n")
            .expect_err("role");
        assert!(err.contains("users[0].role"), "{err}");
        assert!(err.contains("`viewer`"), "names what is expected: {err}");
    }

    #[test]
    fn duplicates_and_bad_names_are_refused() {
        let h = hash();
        let two = format!(
            "users:\n  - {{name: a, role: admin, passwordHash: \"{h}\"}}\n  - {{name: a, role: viewer, passwordHash: \"{h}\"}}\n"
        );
        assert!(AuthFile::parse(&two).expect_err("dup").contains("twice"));
        let colon = format!("users:\n  - {{name: \"a:b\", role: admin, passwordHash: \"{h}\"}}\n");
        assert!(AuthFile::parse(&colon).expect_err("colon").contains("`:`"));
        let same = format!(
            "tokens:\n  - {{name: a, role: admin, sha256: \"{x}\"}}\n  - {{name: b, role: admin, sha256: \"{x}\"}}\n",
            x = "0f".repeat(32)
        );
        assert!(AuthFile::parse(&same)
            .expect_err("same hash")
            .contains("another"));
        assert!(AuthFile::parse("").expect("empty parses").is_empty());
    }
}
