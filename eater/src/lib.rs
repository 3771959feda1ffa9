//! A Rust library for dumpling eaters, and the `nd-print`, `nd-hubstatus`
//! and `nd-hubdetails` tools built on it.
//!
//! # Layout
//!
//! - [`EaterConfig`]: hub address, eater name, filters, reconnect policy.
//! - [`Eater`]: a connection to the hub's out port; [`Eater::next`] yields
//!   [`Dumpling`]s that pass the filters, reconnecting with backoff if asked.
//! - [`hub_url`]: turns netdumplings' `HOST:PORT` into a WebSocket URL
//!   (from `nd-client`, which also does `wss://`, CA files and tokens).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use nd_eater::{Eater, EaterConfig};
//! let config = EaterConfig::new("localhost:11348", "my_eater").chef("DNSLookupChef");
//! let mut eater = Eater::connect(config).await?;
//! while let Some(dumpling) = eater.next().await {
//!     let dumpling = dumpling?;
//!     println!("{} from {:?}: {}", dumpling.metadata.chef, dumpling.metadata.kitchen, dumpling.payload);
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod cli;
pub mod pretty;

use std::path::PathBuf;

use futures_util::{SinkExt, StreamExt};
use nd_client::session::{close_gracefully, Backoff, CLOSE_GRACE};
pub use nd_client::session::{RECONNECT_MAX, RECONNECT_MIN};
pub use nd_client::{hub_url, HubEndpoint};
pub use nd_protocol::{CloseCode, Driver, Dumpling, EaterHello, Metadata};
use tokio_tungstenite::tungstenite::Message;

/// How to connect and what to keep.
#[derive(Debug, Clone)]
pub struct EaterConfig {
    /// `HOST:PORT` or a `ws://`/`wss://` URL of the hub's out port.
    pub hub: String,
    /// CA certificates (PEM) to trust for `wss://` instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Token for a hub that requires eater tokens (sent as a bearer token).
    pub token: Option<String>,
    /// The name announced in the hello (shown in the hub's status).
    pub name: String,
    /// Keep only dumplings from these chefs (empty: all chefs).
    pub chefs: Vec<String>,
    /// Keep only dumplings from these kitchens (empty: all kitchens).
    pub kitchens: Vec<String>,
    /// Reconnect with exponential backoff when the hub goes away, instead of
    /// ending the stream.
    pub reconnect: bool,
}

impl EaterConfig {
    /// A config for `hub` announcing itself as `name`, no filters, no reconnect.
    pub fn new(hub: impl Into<String>, name: impl Into<String>) -> Self {
        EaterConfig {
            hub: hub.into(),
            ca_file: None,
            token: None,
            name: name.into(),
            chefs: Vec::new(),
            kitchens: Vec::new(),
            reconnect: false,
        }
    }

    /// Adds a chef to the chef filter.
    pub fn chef(mut self, chef: impl Into<String>) -> Self {
        self.chefs.push(chef.into());
        self
    }

    /// Adds a kitchen to the kitchen filter.
    pub fn kitchen(mut self, kitchen: impl Into<String>) -> Self {
        self.kitchens.push(kitchen.into());
        self
    }

    /// Trusts the CA certificates in `path` (PEM) for `wss://`.
    pub fn ca_file(mut self, path: Option<PathBuf>) -> Self {
        self.ca_file = path;
        self
    }

    /// Presents `token` to the hub.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Turns reconnecting on or off.
    pub fn reconnect(mut self, on: bool) -> Self {
        self.reconnect = on;
        self
    }

    fn wants(&self, d: &Dumpling) -> bool {
        (self.chefs.is_empty() || self.chefs.contains(&d.metadata.chef))
            && (self.kitchens.is_empty()
                || d.metadata
                    .kitchen
                    .as_ref()
                    .is_some_and(|k| self.kitchens.iter().any(|w| w == k)))
    }
}

/// Errors an eater reports.
#[derive(Debug, thiserror::Error)]
pub enum EaterError {
    /// Could not reach the hub or complete the WebSocket handshake.
    #[error("cannot connect to nd-hub at {url}: {source}")]
    Connect {
        /// The URL tried (a token in it hidden).
        url: String,
        /// What went wrong.
        source: nd_client::ConnectError,
    },
    /// The connection broke.
    #[error("lost connection to nd-hub: {0}")]
    Lost(String),
    /// The hub sent something that is not a dumpling (it is skipped).
    #[error("invalid dumpling: {0}")]
    Invalid(#[from] nd_protocol::InvalidDumpling),
}

type Ws = nd_client::HubStream;

/// A connected dumpling eater.
pub struct Eater {
    config: EaterConfig,
    endpoint: HubEndpoint,
    /// `None` between a lost connection and the next reconnect.
    ws: Option<Ws>,
    /// Why the hub closed the connection, once it has.
    closed: Option<String>,
    /// The hub refused our token (4103): reconnecting would not help.
    refused: bool,
}

impl Eater {
    /// Connects to the hub and sends the eater hello.
    pub async fn connect(config: EaterConfig) -> Result<Eater, EaterError> {
        let endpoint = HubEndpoint {
            url: hub_url(&config.hub),
            ca_file: config.ca_file.clone(),
            token: config.token.clone(),
        };
        let ws = open(&endpoint, &config).await?;
        Ok(Eater {
            config,
            endpoint,
            ws: Some(ws),
            closed: None,
            refused: false,
        })
    }

    /// The URL of the hub (a `?token=` in it hidden).
    pub fn url(&self) -> String {
        self.endpoint.display_url()
    }

    /// Why the hub closed the connection (after [`Eater::next`] returned `None`).
    pub fn close_reason(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    /// The next dumpling that passes the filters.
    ///
    /// `None` means the hub closed the connection (and reconnect is off).
    /// A message that is not a valid dumpling is returned as an error once
    /// and skipped; the stream continues.
    pub async fn next(&mut self) -> Option<Result<Dumpling, EaterError>> {
        let mut backoff = Backoff::default();
        loop {
            let Some(ws) = self.ws.as_mut() else {
                if !self.config.reconnect || self.refused {
                    return None;
                }
                tokio::time::sleep(backoff.next_wait()).await;
                match open(&self.endpoint, &self.config).await {
                    Ok(ws) => {
                        tracing::info!("reconnected to nd-hub at {}", self.url());
                        self.ws = Some(ws);
                        self.closed = None;
                        backoff.reset();
                    }
                    Err(e) => {
                        tracing::debug!("reconnect failed: {e}");
                    }
                }
                continue;
            };
            let text = match ws.next().await {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                    Ok(s) => s.into(),
                    Err(_) => {
                        return Some(Err(EaterError::Invalid(
                            nd_protocol::InvalidDumpling::NotJson("binary frame".into()),
                        )))
                    }
                },
                Some(Ok(Message::Close(frame))) => {
                    self.refused = frame
                        .as_ref()
                        .is_some_and(|f| u16::from(f.code) == CloseCode::Unauthorized.code());
                    self.closed = Some(match frame {
                        Some(f) => format!("{} {}", u16::from(f.code), f.reason),
                        None => "closed without a reason".to_string(),
                    });
                    self.lost();
                    continue;
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    self.closed = Some(e.to_string());
                    self.lost();
                    if self.config.reconnect {
                        continue;
                    }
                    return Some(Err(EaterError::Lost(e.to_string())));
                }
                None => {
                    self.closed.get_or_insert_with(|| "connection ended".into());
                    self.lost();
                    continue;
                }
            };
            match Dumpling::from_json(text.as_str()) {
                Ok(d) if self.config.wants(&d) => return Some(Ok(d)),
                Ok(_) => continue,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    fn lost(&mut self) {
        if self.ws.take().is_some() {
            tracing::warn!(
                "lost connection to nd-hub at {}: {}",
                self.url(),
                self.closed.as_deref().unwrap_or("")
            );
        }
    }

    /// Closes the connection with one of netdumplings' close codes.
    pub async fn close(mut self, code: CloseCode) {
        if let Some(mut ws) = self.ws.take() {
            close_gracefully(&mut ws, code.code(), code.reason(), CLOSE_GRACE).await;
        }
    }
}

/// The hello for `config`: its name, and its filters as a subscription, so
/// a hub that knows subscriptions sends only what passes them (status
/// dumplings only if the chef filter lets SystemStatusChef through and no
/// kitchen filter is set: they come from no kitchen). The
/// same filters still run here ([`EaterConfig::wants`]), for a hub that
/// ignores subscriptions (netdumplings').
fn hello_for(config: &EaterConfig) -> EaterHello {
    let narrowed = !config.chefs.is_empty() || !config.kitchens.is_empty();
    let status = config.kitchens.is_empty()
        && (config.chefs.is_empty()
            || config
                .chefs
                .iter()
                .any(|c| c == nd_protocol::SYSTEM_STATUS_CHEF));
    EaterHello {
        eater_name: config.name.clone(),
        chefs: config.chefs.clone(),
        kitchens: config.kitchens.clone(),
        status: narrowed.then_some(status),
    }
}

async fn open(endpoint: &HubEndpoint, config: &EaterConfig) -> Result<Ws, EaterError> {
    let err = |source| EaterError::Connect {
        url: endpoint.display_url(),
        source,
    };
    let mut ws = endpoint.connect().await.map_err(err)?;
    let hello = hello_for(config);
    let hello = serde_json::to_string(&hello).expect("a struct of one string serialises");
    ws.send(Message::Text(hello.into()))
        .await
        .map_err(|e| err(e.into()))?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(config: EaterConfig) -> String {
        serde_json::to_string(&hello_for(&config)).unwrap()
    }

    #[test]
    fn the_hello_carries_the_filters_as_a_subscription() {
        // No filter: netdumplings' hello, byte for byte.
        assert_eq!(hello(EaterConfig::new("h:1", "e")), r#"{"eater_name":"e"}"#);
        assert_eq!(
            hello(EaterConfig::new("h:1", "e").chef("DNSLookupChef")),
            r#"{"eater_name":"e","chefs":["DNSLookupChef"],"status":false}"#
        );
        // nd-hubstatus: status dumplings, nothing else.
        assert_eq!(
            hello(EaterConfig::new("h:1", "e").chef(nd_protocol::SYSTEM_STATUS_CHEF)),
            r#"{"eater_name":"e","chefs":["SystemStatusChef"],"status":true}"#
        );
        // Status dumplings come from no kitchen: a kitchen filter leaves them out.
        let mut c = EaterConfig::new("h:1", "e");
        c.kitchens = vec!["k1".into()];
        assert_eq!(
            hello(c),
            r#"{"eater_name":"e","kitchens":["k1"],"status":false}"#
        );
    }
}
