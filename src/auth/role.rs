//! Roles and the identity of a caller.

use serde::{Deserialize, Serialize};

/// What a caller may do. Ordered: each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Pages, `GET` API calls, the event stream, the "try it" previews.
    Viewer,
    /// A viewer who may also act on remediations (controls to come; the level exists now).
    Operator,
    /// An operator who may also change the cluster: membership, the autopilot.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a request, as recorded in logs (`by`) and replicated commands. Never a secret: a
/// user or token *name*, `admin-token`, `proxy:<user>`, `anonymous` or `loopback`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

impl Identity {
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Self {
            name: name.into(),
            role,
        }
    }

    /// A caller without credentials where none are required (no `--auth-file`): anything but
    /// admin calls.
    pub fn anonymous() -> Self {
        Self::new("anonymous", Role::Operator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_named_in_lowercase() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        let parsed: Role = serde_yaml::from_str("operator").expect("role");
        assert_eq!(parsed, Role::Operator);
        assert_eq!(Role::Admin.to_string(), "admin");
        assert!(serde_yaml::from_str::<Role>("root").is_err());
    }
}
