//! A trusted authenticating proxy (oauth2-proxy, an ingress with external auth): it names the
//! user in a header, and openfero believes that header only from the proxy's addresses.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderName};
use ipnet::IpNet;

use super::file::ProxyRoles;
use super::role::Role;

/// Longest user name taken from the header.
const MAX_NAME: usize = 256;

#[derive(Debug)]
pub struct TrustedProxy {
    pub header: HeaderName,
    pub cidrs: Vec<IpNet>,
    pub roles: ProxyRoles,
}

/// What the proxy header says about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum ProxyUser {
    /// No header, or one from an address that is not the proxy's: ignored.
    Absent,
    /// The proxy named a user with this role.
    Known(String, Role),
    /// The proxy named a user the auth file gives no role.
    NoRole(String),
    /// A header from the proxy that is not a usable name.
    Malformed,
}

/// `10.0.0.0/8` or a single address (`10.1.2.3`, `::1`).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not an address or CIDR range"))
}

impl TrustedProxy {
    /// Whether `peer` is one of the proxy's addresses (IPv4-mapped IPv6 counts as IPv4).
    pub fn trusts(&self, peer: Option<SocketAddr>) -> bool {
        peer.is_some_and(|p| {
            let ip = p.ip().to_canonical();
            self.cidrs.iter().any(|c| c.contains(&ip))
        })
    }

    pub fn user(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> ProxyUser {
        let Some(value) = headers.get(&self.header) else {
            return ProxyUser::Absent;
        };
        if !self.trusts(peer) {
            tracing::debug!(
                header = %self.header,
                peer = ?peer,
                "proxy header from an address outside --auth-proxy-cidrs ignored"
            );
            return ProxyUser::Absent;
        }
        let name = match value.to_str() {
            Ok(n) if !n.trim().is_empty() && n.len() <= MAX_NAME => n.trim().to_string(),
            _ => return ProxyUser::Malformed,
        };
        match self
            .roles
            .users
            .get(&name)
            .copied()
            .or(self.roles.default_role)
        {
            Some(role) => ProxyUser::Known(name, role),
            None => ProxyUser::NoRole(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> TrustedProxy {
        let mut roles = ProxyRoles::default();
        roles.users.insert("bob".into(), Role::Admin);
        TrustedProxy {
            header: HeaderName::from_static("x-auth-request-user"),
            cidrs: vec![
                parse_cidr("10.0.0.0/8").expect("cidr"),
                parse_cidr("::1").expect("ip"),
            ],
            roles,
        }
    }

    fn headers(user: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-auth-request-user", user.parse().expect("value"));
        h
    }

    #[test]
    fn the_header_counts_only_from_the_proxys_addresses() {
        let p = proxy();
        let inside: SocketAddr = "10.1.2.3:5000".parse().expect("addr");
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:5000".parse().expect("addr");
        let outside: SocketAddr = "192.0.2.1:5000".parse().expect("addr");
        assert_eq!(
            p.user(&headers("bob"), Some(inside)),
            ProxyUser::Known("bob".into(), Role::Admin)
        );
        assert_eq!(
            p.user(&headers("bob"), Some(mapped)),
            ProxyUser::Known("bob".into(), Role::Admin)
        );
        assert_eq!(p.user(&headers("bob"), Some(outside)), ProxyUser::Absent);
        assert_eq!(p.user(&headers("bob"), None), ProxyUser::Absent);
        assert_eq!(
            p.user(&headers("carol"), Some(inside)),
            ProxyUser::NoRole("carol".into())
        );
        assert_eq!(p.user(&HeaderMap::new(), Some(inside)), ProxyUser::Absent);
        let mut p = proxy();
        p.roles.default_role = Some(Role::Viewer);
        assert_eq!(
            p.user(&headers("carol"), Some(inside)),
            ProxyUser::Known("carol".into(), Role::Viewer)
        );
        assert!(parse_cidr("10.0.0.0/33").is_err());
    }
}
