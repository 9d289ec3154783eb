//! Development certificates for peer TLS: a cluster CA and one certificate per node.
//!
//! `init` writes `ca.pem`, `ca-key.pem` and, per node, `<name>.pem` + `<name>-key.pem` into a
//! folder; `issue` adds (or replaces) one node's certificate from that CA later. A node is
//! named `name` or `name=san1,san2`: its certificate lists `name`, `localhost`, `127.0.0.1` and
//! the extra names (IP addresses or DNS names), and is valid for both TLS ends (server and
//! client auth), as peer TLS requires. For production, let cert-manager (or your PKI) issue
//! certificates from a CA dedicated to the cluster.
//!
//! Keys are written with mode 0600. Every file is written to a temporary name and renamed into
//! place, so a node reloading its certificates never reads a half-written file. `issue` only
//! works with a CA written by `init`: the issuer name is rebuilt from the fixed subject below,
//! not parsed from `ca.pem`.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use chrono::Datelike;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Subject of the CA `init` writes; `issue` names it as the issuer of new certificates.
const CA_COMMON_NAME: &str = "openfero peer CA";
const CA_ORGANIZATION: &str = "openfero";
/// The CA outlives the node certificates it signs by at least this much.
const CA_MIN_DAYS: u32 = 3650;
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca-key.pem";

/// What `init` does when the folder already holds a CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Refuse,
    Overwrite,
}

/// A node's name and the extra subject alternative names of its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub extra_sans: Vec<String>,
}

impl NodeSpec {
    /// Parse `name` or `name=san1,san2`.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let (name, extra) = match spec.split_once('=') {
            Some((name, extra)) => (name.trim(), Some(extra)),
            None => (spec.trim(), None),
        };
        ensure!(!name.is_empty(), "node `{spec}` has no name");
        ensure!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')),
            "node name `{name}` may only hold letters, digits, `-`, `.` and `_`"
        );
        ensure!(
            !name.starts_with('.') && name != "ca",
            "node name `{name}` would clash with the CA's files or hide its own"
        );
        let extra_sans = extra
            .map(|e| {
                e.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            name: name.to_string(),
            extra_sans,
        })
    }

    /// The SANs: the name, `localhost`, `127.0.0.1`, then the extras, without repeats.
    fn sans(&self) -> anyhow::Result<Vec<SanType>> {
        let mut names: Vec<&str> = vec![&self.name, "localhost", "127.0.0.1"];
        for extra in &self.extra_sans {
            if !names.contains(&extra.as_str()) {
                names.push(extra);
            }
        }
        names
            .into_iter()
            .map(|n| match n.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(n.try_into().with_context(|| {
                    format!("`{n}` is neither an IP address nor a DNS name")
                })?)),
            })
            .collect()
    }
}

/// Write a new CA and a certificate per node into `dir`, valid for `days`. Refuses a folder
/// that already holds a CA.
pub fn init(dir: &Path, nodes: &[String], days: u32) -> anyhow::Result<()> {
    init_with(dir, nodes, days, Existing::Refuse)
}

/// [`init`], choosing what happens to an existing CA.
pub fn init_with(
    dir: &Path,
    nodes: &[String],
    days: u32,
    existing: Existing,
) -> anyhow::Result<()> {
    ensure!(days > 0, "certificates must be valid for at least one day");
    // Check every spec before writing anything.
    let specs = nodes
        .iter()
        .map(|n| NodeSpec::parse(n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (ca_cert, ca_key) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if existing == Existing::Refuse {
        for path in [&ca_cert, &ca_key] {
            if path.exists() {
                bail!(
                    "`{}` exists; refusing to replace the cluster CA (every node certificate \
                     it signed would stop being trusted)",
                    path.display()
                );
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;

    let mut params = CertificateParams::default();
    params.distinguished_name = ca_subject();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, days.max(CA_MIN_DAYS));
    let key = KeyPair::generate().context("cannot generate the CA key")?;
    let cert = params
        .self_signed(&key)
        .context("cannot sign the CA certificate")?;
    // Key first: a CA certificate is never on disk without its key.
    write_atomically(&ca_key, key.serialize_pem().as_bytes(), Secret::Yes)?;
    write_atomically(&ca_cert, cert.pem().as_bytes(), Secret::No)?;

    let issuer = Issuer::new(params, key);
    for spec in &specs {
        write_node(dir, &issuer, spec, days)?;
    }
    Ok(())
}

/// Issue a certificate for one more node (`name` or `name=san1,san2`) from the CA in `dir`,
/// valid for `days`. An existing certificate of that node is replaced: that is a rotation.
pub fn issue(dir: &Path, node: &str, days: u32) -> anyhow::Result<()> {
    ensure!(days > 0, "certificates must be valid for at least one day");
    let spec = NodeSpec::parse(node)?;
    let key_path = dir.join(CA_KEY);
    let pem = std::fs::read_to_string(&key_path)
        .with_context(|| format!("cannot read the CA key `{}`", key_path.display()))?;
    let key = KeyPair::from_pem(&pem)
        .map_err(|e| anyhow::anyhow!("`{}` is not a usable key: {e}", key_path.display()))?;
    let ca_cert = dir.join(CA_CERT);
    ensure!(
        ca_cert.exists(),
        "`{}` is missing; run init first",
        ca_cert.display()
    );
    let mut params = CertificateParams::default();
    params.distinguished_name = ca_subject();
    let issuer = Issuer::new(params, key);
    write_node(dir, &issuer, &spec, days)
}

/// The files `init` and `issue` write for `name`: certificate and key.
pub fn node_files(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    )
}

fn ca_subject() -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, CA_ORGANIZATION);
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn
}

/// From yesterday (clock skew between nodes) to `days` from today.
fn set_validity(params: &mut CertificateParams, days: u32) {
    let today = chrono::Utc::now().date_naive();
    let ymd = |d: chrono::NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    params.not_before = ymd(today - chrono::Days::new(1));
    params.not_after = ymd(today + chrono::Days::new(u64::from(days)));
}

fn write_node(
    dir: &Path,
    issuer: &Issuer<'_, KeyPair>,
    spec: &NodeSpec,
    days: u32,
) -> anyhow::Result<()> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, spec.name.as_str());
    params.distinguished_name = dn;
    params.subject_alt_names = spec.sans()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, days);
    let key = KeyPair::generate()
        .with_context(|| format!("cannot generate a key for `{}`", spec.name))?;
    let cert = params
        .signed_by(&key, issuer)
        .with_context(|| format!("cannot sign the certificate of `{}`", spec.name))?;
    let (cert_path, key_path) = node_files(dir, &spec.name);
    // Key first: a reloading node that sees the new key with the old certificate refuses the
    // pair and keeps its current one until the certificate follows.
    write_atomically(&key_path, key.serialize_pem().as_bytes(), Secret::Yes)?;
    write_atomically(&cert_path, cert.pem().as_bytes(), Secret::No)?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Secret {
    Yes,
    No,
}

/// Write `bytes` to a temporary file beside `path` (mode 0600 for secrets) and rename it over
/// `path`.
fn write_atomically(path: &Path, bytes: &[u8], secret: Secret) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("`{}` names no file", path.display()))?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mode = if secret == Secret::Yes { 0o600 } else { 0o644 };
    // A stale temporary file may carry other permissions: start afresh.
    let _ = std::fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot create `{}`", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move `{}` into place", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn init_writes_a_ca_and_node_files_with_private_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nodes = vec![
            "openfero-0".to_string(),
            "openfero-1=10.0.0.7,peer-1.svc".into(),
        ];
        init(dir.path(), &nodes, 30).expect("init");
        for (file, want) in [
            ("ca.pem", 0o644),
            ("ca-key.pem", 0o600),
            ("openfero-0.pem", 0o644),
            ("openfero-0-key.pem", 0o600),
            ("openfero-1.pem", 0o644),
            ("openfero-1-key.pem", 0o600),
        ] {
            assert_eq!(mode(&dir.path().join(file)), want, "{file}");
        }
        let err = init(dir.path(), &nodes, 30).expect_err("the CA is kept");
        assert!(err.to_string().contains("ca.pem"), "{err}");
        init_with(dir.path(), &nodes, 30, Existing::Overwrite).expect("overwrite when asked");
    }

    #[test]
    fn issue_adds_a_node_from_the_existing_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        init(dir.path(), &["a".to_string()], 30).expect("init");
        let ca = std::fs::read(dir.path().join("ca.pem")).expect("ca");
        issue(dir.path(), "b=b.peers.svc", 30).expect("issue");
        assert_eq!(std::fs::read(dir.path().join("ca.pem")).expect("ca"), ca);
        assert_eq!(mode(&dir.path().join("b-key.pem")), 0o600);
        assert!(issue(tempfile::tempdir().expect("tmp").path(), "c", 30).is_err());
    }

    #[test]
    fn node_specs_parse_and_bad_names_are_refused() {
        let spec = NodeSpec::parse("n1=10.1.2.3, n1.peers.svc").expect("spec");
        assert_eq!(spec.name, "n1");
        assert_eq!(spec.extra_sans, vec!["10.1.2.3", "n1.peers.svc"]);
        for bad in ["", "=x", "ca", "../x", "a/b", ".hidden"] {
            assert!(NodeSpec::parse(bad).is_err(), "`{bad}` is refused");
        }
    }
}
