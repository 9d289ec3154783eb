//! Bearer tokens (`Authorization: Bearer <token>`) for the admin API and the webhook.

use axum::http::{header, HeaderMap};

/// Whether the request carries `Authorization: Bearer <expected>`. The scheme is matched
/// case-insensitively (RFC 9110); the token exactly, in time independent of its content.
pub fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, given)| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

/// Equality whose time depends on the lengths only, not on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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

    #[test]
    fn only_the_exact_token_with_the_bearer_scheme_matches() {
        assert!(bearer_matches(&with_auth("Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(&with_auth("bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
        assert!(!bearer_matches(&with_auth("s3cret"), "s3cret"));
        assert!(!bearer_matches(&with_auth("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(&with_auth("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(&with_auth("Bearer s3cret2"), "s3cret"));
        assert!(!bearer_matches(&with_auth("Bearer S3CRET"), "s3cret"));
        assert!(!bearer_matches(&with_auth("Bearer "), "s3cret"));
    }
}
