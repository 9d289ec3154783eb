//! `openfero auth …`: make the hashes the auth file holds. Secrets are read from standard
//! input, never from the command line (argv is visible to every local user).

use std::io::{BufRead, Write};

use base64::Engine as _;
use rand::RngCore;

use super::credentials::sha256_hex;
use super::error::{AuthError, Result};
use super::password::hash_password;

/// `openfero auth …`'s subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// Read a password (one line) from standard input; print its argon2id hash for a user's
    /// `passwordHash`.
    HashPassword,
    /// Read a token (one line) from standard input; print its SHA-256 for a token's `sha256`.
    HashToken,
    /// Print a new random token (256 bits) and its SHA-256.
    NewToken,
}

/// The first line of `input`, without its line end; an empty one is refused.
fn read_line(input: &mut dyn BufRead, what: &'static str) -> Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|source| AuthError::Read {
            what,
            path: "standard input".into(),
            source,
        })?;
    let line = line.trim_end_matches(['\n', '\r']).to_string();
    if line.is_empty() {
        return Err(AuthError::Invalid {
            field: what,
            reason: "nothing on standard input".into(),
        });
    }
    Ok(line)
}

/// Run one `auth` subcommand.
pub fn run(cmd: &AuthCommand, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<()> {
    let write = |out: &mut dyn Write, text: String| {
        writeln!(out, "{text}").map_err(|e| AuthError::Hash(format!("writing the answer: {e}")))
    };
    match cmd {
        AuthCommand::HashPassword => {
            let password = read_line(input, "password")?;
            write(out, hash_password(&password)?)
        }
        AuthCommand::HashToken => {
            let token = read_line(input, "token")?;
            write(out, sha256_hex(token.trim().as_bytes()))
        }
        AuthCommand::NewToken => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            write(
                out,
                format!("token: {token}\nsha256: {}", sha256_hex(token.as_bytes())),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_password_reads_stdin_and_prints_a_phc_string() {
        let mut out = Vec::new();
        run(
            &AuthCommand::HashPassword,
            &mut "pa:ss word\n".as_bytes(),
            &mut out,
        )
        .expect("run");
        let hash = String::from_utf8(out).expect("utf-8");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(super::super::verify_password(hash.trim(), "pa:ss word"));
        assert!(run(
            &AuthCommand::HashPassword,
            &mut "\n".as_bytes(),
            &mut Vec::new()
        )
        .is_err());
    }

    #[test]
    fn hash_token_and_new_token_agree() {
        let mut out = Vec::new();
        run(&AuthCommand::NewToken, &mut "".as_bytes(), &mut out).expect("run");
        let text = String::from_utf8(out).expect("utf-8");
        let token = text
            .lines()
            .find_map(|l| l.strip_prefix("token: "))
            .expect("token line");
        let sha = text
            .lines()
            .find_map(|l| l.strip_prefix("sha256: "))
            .expect("sha line");
        assert!(token.len() >= 43, "256 bits: {token}");
        let mut out = Vec::new();
        run(
            &AuthCommand::HashToken,
            &mut format!("{token}\n").as_bytes(),
            &mut out,
        )
        .expect("run");
        assert_eq!(String::from_utf8(out).expect("utf-8").trim(), sha);
    }
}
