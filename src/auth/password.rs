//! Password hashes: argon2id PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), checked with
//! the parameters the string names.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use super::error::{AuthError, Result};

/// How expensive a new hash is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// argon2's defaults, OWASP's recommendation: 19 MiB, 2 passes, 1 lane.
    Default,
    /// The smallest argon2 allows; for tests only.
    Test,
}

/// Largest memory cost accepted in a hash (KiB): a check runs in this process, and a hash
/// asking for gigabytes would be a way to exhaust it.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// A new argon2id hash of `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    hash_password_with(password, Cost::Default)
}

pub fn hash_password_with(password: &str, cost: Cost) -> Result<String> {
    let params = match cost {
        Cost::Default => Params::default(),
        Cost::Test => Params::new(Params::MIN_M_COST, Params::MIN_T_COST, 1, None)
            .map_err(|e| AuthError::Hash(e.to_string()))?,
    };
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `hash` is an argon2 PHC string this process would check; the reason never quotes
/// it (it may be a password put in the wrong field).
pub fn check_phc(hash: &str) -> std::result::Result<(), String> {
    const MAKE: &str = "make one with `openfero auth hash-password`";
    let parsed = PasswordHash::new(hash)
        .map_err(|_| format!("`passwordHash` is not an argon2 PHC string ({MAKE})"))?;
    if Algorithm::try_from(parsed.algorithm).is_err() {
        return Err(format!(
            "`passwordHash` uses `{}`, not argon2 ({MAKE})",
            parsed.algorithm
        ));
    }
    let params = Params::try_from(&parsed)
        .map_err(|e| format!("`passwordHash` has unusable argon2 parameters: {e}"))?;
    if params.m_cost() > MAX_MEMORY_KIB {
        return Err(format!(
            "`passwordHash` asks for {} KiB of memory, more than the {MAX_MEMORY_KIB} KiB allowed",
            params.m_cost()
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(format!("`passwordHash` lacks its salt or hash ({MAKE})"));
    }
    Ok(())
}

/// Whether `password` matches `hash` (a string [`check_phc`] accepted). CPU- and memory-bound:
/// call it off the async runtime.
pub fn verify_password(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password_with("correct horse", Cost::Test).expect("hash");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        check_phc(&h).expect("a hash we made is accepted");
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horse "));
        assert!(!verify_password(&h, ""));
        let other = hash_password_with("correct horse", Cost::Test).expect("hash");
        assert_ne!(h, other, "random salts");
    }

    #[test]
    fn the_default_cost_is_argons_default() {
        let h = hash_password("pw").expect("hash");
        assert!(h.contains("m=19456,t=2,p=1"), "{h}");
        assert!(verify_password(&h, "pw"));
    }

    #[test]
    fn what_is_not_an_argon2_hash_is_refused_without_quoting_it() {
        for bad in [
            "hunter2",
            "$2b$12$abcdefghijklmnopqrstuuNyJ0LxuZ3tbkA6nJUcaLh1S4Om5Xl2a",
            "$argon2id$v=19$m=999999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        ] {
            let why = check_phc(bad).expect_err(bad);
            assert!(!why.contains(bad), "{why}");
        }
    }
}
