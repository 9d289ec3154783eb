//! What a request presents in `Authorization`: HTTP basic (RFC 7617) or a bearer token
//! (RFC 6750). Schemes are matched case-insensitively (RFC 9110).

use axum::http::{header, HeaderMap};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Credentials from one request. No `Debug`: they are secrets.
pub enum Credentials {
    Basic { user: String, password: String },
    Bearer(String),
}

/// `Ok(None)` without an `Authorization` header; `Err(())` for one that is neither a
/// well-formed basic nor bearer value.
pub fn from_headers(headers: &HeaderMap) -> Result<Option<Credentials>, ()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?;
    let (scheme, rest) = value.split_once(' ').ok_or(())?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(());
        }
        return Ok(Some(Credentials::Bearer(rest.to_string())));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| ())?;
        let text = String::from_utf8(decoded).map_err(|_| ())?;
        let (user, password) = text.split_once(':').ok_or(())?;
        return Ok(Some(Credentials::Basic {
            user: user.to_string(),
            password: password.to_string(),
        }));
    }
    Err(())
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 as 64 lowercase hex digits: how the auth file stores a token.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// Equality whose time depends on the lengths only, not on where the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    /// Whether the request carries `Authorization: Bearer <token>` for a token whose SHA-256 is
    /// `expected`.
    fn bearer_hash_matches(headers: &HeaderMap, expected: &[u8; 32]) -> bool {
        matches!(from_headers(headers), Ok(Some(Credentials::Bearer(t))) if constant_time_eq(&sha256(t.as_bytes()), expected))
    }

    fn basic(user: &str, password: &str) -> String {
        let raw = format!("{user}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn only_the_exact_token_with_the_bearer_scheme_matches() {
        let h = sha256(b"s3cret");
        assert!(bearer_hash_matches(&with_auth("Bearer s3cret"), &h));
        assert!(bearer_hash_matches(&with_auth("bearer s3cret"), &h));
        assert!(!bearer_hash_matches(&HeaderMap::new(), &h));
        assert!(!bearer_hash_matches(&with_auth("s3cret"), &h));
        assert!(!bearer_hash_matches(&with_auth("Basic s3cret"), &h));
        assert!(!bearer_hash_matches(&with_auth("Bearer s3cre"), &h));
        assert!(!bearer_hash_matches(&with_auth("Bearer s3cret2"), &h));
        assert!(!bearer_hash_matches(&with_auth("Bearer S3CRET"), &h));
        assert!(!bearer_hash_matches(&with_auth("Bearer "), &h));
    }

    #[test]
    fn basic_credentials_are_decoded_and_the_password_may_hold_colons() {
        match from_headers(&with_auth(&basic("alice", "a:b:c"))) {
            Ok(Some(Credentials::Basic { user, password })) => {
                assert_eq!((user.as_str(), password.as_str()), ("alice", "a:b:c"));
            }
            _ => panic!("basic credentials"),
        }
        assert!(from_headers(&with_auth("Basic !!!")).is_err());
        assert!(
            from_headers(&with_auth("Basic YWxpY2U=")).is_err(),
            "no colon"
        );
        assert!(from_headers(&with_auth("Digest x")).is_err());
        assert!(matches!(from_headers(&HeaderMap::new()), Ok(None)));
    }

    #[test]
    fn token_hashes_are_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
