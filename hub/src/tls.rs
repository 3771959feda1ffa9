//! `wss://` on the in and out ports: rustls, certificate and key from PEM
//! files, read at start and again on every reload.
//!
//! A reload builds a new [`TlsAcceptor`]; connections accepted after it use
//! the new certificate, open ones keep the session they negotiated. A
//! reload whose files are unreadable or do not match keeps the old
//! certificate (and says why), so a half-done certificate rotation never
//! takes the hub off the air.

use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// Builds an acceptor from the PEM files (ring provider, TLS 1.2 and 1.3).
pub(crate) fn acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("TLS certificate {}", files.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "TLS certificate {}: no PEM certificate in it",
            files.cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("TLS key {}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "TLS key {} does not fit certificate {}",
                files.key.display(),
                files.cert.display()
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
