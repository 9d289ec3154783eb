//! The HTTP client for calls to peers: plain, or the current one of peer TLS.

#[cfg(feature = "peer-tls")]
use crate::tls::PeerTls;

/// Which client peer calls go through, and with which URL scheme. Cheap to clone.
#[derive(Clone)]
pub(crate) enum PeerClient {
    Plain(reqwest::Client),
    /// The client is fetched per call, so a certificate reload applies to the next call.
    #[cfg(feature = "peer-tls")]
    Tls(PeerTls),
}

impl PeerClient {
    /// A plain-HTTP client from `builder`.
    pub fn plain(builder: reqwest::ClientBuilder) -> Self {
        // With reqwest's rustls backend compiled in, a builder without a TLS config of its
        // own would need a process-level crypto provider.
        #[cfg(feature = "peer-tls")]
        let builder =
            builder.tls_backend_preconfigured(crate::tls::provider::trust_nothing_client_config());
        Self::Plain(
            builder
                .build()
                .expect("a plain-HTTP reqwest client always builds"),
        )
    }

    pub fn client(&self) -> reqwest::Client {
        match self {
            Self::Plain(c) => c.clone(),
            #[cfg(feature = "peer-tls")]
            Self::Tls(tls) => tls.client(),
        }
    }

    /// `http://{addr}{path}`, or `https://` with peer TLS.
    pub fn url(&self, addr: &str, path: &str) -> String {
        let scheme = match self {
            Self::Plain(_) => "http",
            #[cfg(feature = "peer-tls")]
            Self::Tls(_) => "https",
        };
        format!("{scheme}://{addr}{path}")
    }
}
