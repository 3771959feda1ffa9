//! Connecting to a dumpling hub, for kitchens (`nd-sniff`) and eaters alike.
//!
//! netdumplings' clients take the hub as `HOST:PORT` and connect to
//! `ws://HOST:PORT`. Ours also take `ws://` and `wss://` URLs, a CA file to
//! trust for `wss://` (a private CA, say; without one the system's roots are
//! used), and a token for a hub that requires one.
//!
//! # Layout
//!
//! - [`hub_url`]: netdumplings' `HOST:PORT` form to a URL.
//! - [`HubEndpoint`]: URL + CA file + token; [`HubEndpoint::connect`] opens
//!   the WebSocket.
//! - [`redact`]: a URL fit for logs (a `?token=` value hidden).
//! - [`session`]: what every end does alike: close with a reason and a
//!   grace period ([`session::close_gracefully`]), reconnect backoff
//!   ([`session::Backoff`]).
//!
//! # Tokens
//!
//! A token is sent as `Authorization: Bearer TOKEN` on the WebSocket
//! upgrade request. A `?token=TOKEN` query in the URL works too (that is how
//! a Python netdumplings client, which cannot add headers, passes one:
//! `nd-sniff --hub 'hub:11347/?token=TOKEN'`), but a URL shows up in process
//! lists and logs, so the header is preferred; log lines use [`redact`].
//!
//! # TLS
//!
//! rustls with its ring provider, chosen explicitly for every connection
//! (no process-wide default provider, which would panic if two crates
//! installed different ones).

#![forbid(unsafe_code)]

pub mod session;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// An open connection to a hub.
pub type HubStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Environment variable read for a token when no token file is given.
pub const TOKEN_ENV: &str = "ND_HUB_TOKEN";

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a ws:// or wss:// URL.
    #[error("{0:?} is not a ws:// or wss:// URL")]
    BadUrl(String),
    /// The CA file cannot be read or holds no certificate.
    #[error("CA file {path}: {message}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The token cannot go in an HTTP header.
    #[error("the token has characters an HTTP header cannot carry")]
    BadToken,
    /// TCP, TLS or the WebSocket handshake failed (an HTTP refusal such as
    /// 503 "too many connections" included).
    #[error(transparent)]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
}

/// Turns `HOST:PORT` (netdumplings' `--hub` form) into `ws://HOST:PORT`;
/// `ws://` and `wss://` URLs pass through unchanged.
pub fn hub_url(hub: &str) -> String {
    if hub.starts_with("ws://") || hub.starts_with("wss://") {
        hub.to_string()
    } else {
        format!("ws://{hub}")
    }
}

/// `url` with the value of a `token` query parameter replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.query_pairs().any(|(k, _)| k == "token") => {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "token" { "***".into() } else { v.into() };
                    (k.into_owned(), v)
                })
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
            u.to_string().replace("%2A%2A%2A", "***")
        }
        _ => url.to_string(),
    }
}

/// Reads a token file: its first line that is not empty or a `#` comment.
pub fn read_token_file(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no token in the file"))
}

/// The token from `file` if given, else from [`TOKEN_ENV`], else none.
pub fn token_from(file: Option<&Path>) -> std::io::Result<Option<String>> {
    match file {
        Some(f) => read_token_file(f)
            .map(Some)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", f.display()))),
        None => Ok(std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty())),
    }
}

/// Where a hub is and how to reach it.
#[derive(Clone, Default)]
pub struct HubEndpoint {
    /// `ws://` or `wss://` URL (see [`hub_url`]).
    pub url: String,
    /// PEM file of CA certificates to trust for `wss://` instead of the
    /// system's roots.
    pub ca_file: Option<PathBuf>,
    /// Sent as `Authorization: Bearer`.
    pub token: Option<String>,
}

impl std::fmt::Debug for HubEndpoint {
    // Never print the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubEndpoint")
            .field("url", &redact(&self.url))
            .field("ca_file", &self.ca_file)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl HubEndpoint {
    /// An endpoint for `hub` (`HOST:PORT` or a URL), no CA file, no token.
    pub fn new(hub: &str) -> HubEndpoint {
        HubEndpoint {
            url: hub_url(hub),
            ..Default::default()
        }
    }

    /// The URL, fit for logs.
    pub fn display_url(&self) -> String {
        redact(&self.url)
    }

    /// Opens the WebSocket (TCP_NODELAY set: dumplings are small messages).
    pub async fn connect(&self) -> Result<HubStream, ConnectError> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|_| ConnectError::BadUrl(self.url.clone()))?;
        if let Some(token) = &self.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ConnectError::BadToken)?;
            request.headers_mut().insert("Authorization", value);
        }
        let connector = if self.url.starts_with("wss://") {
            Some(Connector::Rustls(Arc::new(self.tls_config()?)))
        } else if self.url.starts_with("ws://") {
            Some(Connector::Plain)
        } else {
            return Err(ConnectError::BadUrl(self.url.clone()));
        };
        let (ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector)
                .await?;
        Ok(ws)
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, ConnectError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                use rustls::pki_types::pem::PemObject;
                let ca_err = |message: String| ConnectError::CaFile {
                    path: path.clone(),
                    message,
                };
                let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| ca_err(e.to_string()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ca_err(e.to_string()))?;
                if certs.is_empty() {
                    return Err(ca_err("no PEM certificate in it".into()));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    tracing::debug!("system CA store: {e}");
                }
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    tracing::warn!(
                        "no system CA certificate found; wss:// needs a CA file (--ca-file)"
                    );
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectError::WebSocket(tls_error(e)))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(config)
    }
}

fn tls_error(e: rustls::Error) -> tokio_tungstenite::tungstenite::Error {
    tokio_tungstenite::tungstenite::Error::Tls(e.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(hub_url("localhost:11347"), "ws://localhost:11347");
        assert_eq!(hub_url("wss://h:1/"), "wss://h:1/");
    }

    #[test]
    fn redacts_tokens_only() {
        assert_eq!(
            redact("ws://h:1/?token=s3cret&x=1"),
            "ws://h:1/?token=***&x=1"
        );
        assert_eq!(redact("ws://h:1/?x=1"), "ws://h:1/?x=1");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn debug_hides_the_token() {
        let e = HubEndpoint {
            token: Some("s3cret".into()),
            ..HubEndpoint::new("h:1")
        };
        assert!(!format!("{e:?}").contains("s3cret"));
    }

    #[test]
    fn token_file_first_real_line() {
        let dir = std::env::temp_dir().join(format!("nd-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "# kitchen token\n\n  abc  \nsecond\n").unwrap();
        assert_eq!(read_token_file(&f).unwrap(), "abc");
        std::fs::write(&f, "# none\n").unwrap();
        assert!(read_token_file(&f).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
