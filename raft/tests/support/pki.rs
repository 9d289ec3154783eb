//! A throwaway cluster CA for tests: node certificates written as PEM files.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};

pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

/// A leaf certificate and its key, as PEM.
pub struct Leaf {
    pub cert: String,
    pub key: String,
}

/// Where a node's PEM files are.
#[derive(Clone)]
pub struct Files {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        Self {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// A certificate for both TLS ends with the given DNS names and IPs.
    pub fn leaf(&self, dns: &[&str], ips: &[IpAddr], serial: u64) -> Leaf {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, dns.first().copied().unwrap_or("peer"));
        params.subject_alt_names = dns
            .iter()
            .map(|d| SanType::DnsName((*d).try_into().expect("dns name")))
            .chain(ips.iter().map(|ip| SanType::IpAddress(*ip)))
            .collect();
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Write `ca.pem`, `<name>.pem` and `<name>-key.pem` into `dir`.
    pub fn write(&self, dir: &Path, name: &str, leaf: &Leaf) -> Files {
        let files = Files {
            ca: dir.join("ca.pem"),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&files.ca, &self.pem).expect("write ca");
        leaf.write(&files);
        files
    }
}

impl Leaf {
    pub fn write(&self, files: &Files) {
        std::fs::write(&files.cert, &self.cert).expect("write cert");
        std::fs::write(&files.key, &self.key).expect("write key");
    }
}

/// Serial `n` as the hex `PeerIdentity` shows (DER integers: a leading zero when the top bit
/// is set).
pub fn serial_hex(n: u64) -> String {
    let bytes = SerialNumber::from(n).to_bytes();
    let trimmed: Vec<u8> = {
        let first = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        let mut v = bytes[first..].to_vec();
        if v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        v
    };
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}
