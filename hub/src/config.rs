//! The hub's configuration: command-line flags, the `--config` TOML file,
//! and what a SIGHUP may change.
//!
//! # One struct for flags and file
//!
//! [`Settings`] derives both `clap::Args` and `serde::Deserialize`, with
//! every field optional: a flag `--eater-queue N` is the key `eater_queue = N`
//! in the file, so "every flag can be set in the file" holds by construction.
//! [`Settings::merge`] lays the command line over the file (a flag given on
//! the command line wins), and [`Settings::resolve`] fills in the defaults
//! and checks the values, giving a [`Config`].
//!
//! # What a reload changes
//!
//! On SIGHUP `nd-hub` reads the file again, merges the same command line
//! over it and hands the new [`Config`] to [`crate::HubHandle::reload`].
//! What each key does then:
//!
//! | keys | after a reload |
//! |---|---|
//! | `kitchen_tokens*`, `eater_tokens*` | at once, for open connections too: a peer whose token the new list no longer holds (or that has none, if the reload turns tokens on) is closed with 4103 "token revoked"; everyone else stays |
//! | `eater_queue`, `eater_queue_bytes`, `kitchen_rate`, `kitchen_burst`, `status_freq`, `drain_timeout` | at once, for open connections too (a new status period counts from the last status dumpling) |
//! | `max_connections` | from the next connection accepted; lowering it closes nobody already connected |
//! | `tls_cert`, `tls_key` (rotation), `max_message_size`, `hello_timeout`, `slow_eater` | for connections accepted from then on: an open connection keeps the TLS session, WebSocket limits and hello deadline it was set up with, and an eater keeps the slow-eater policy it connected under (switching it to `disconnect` under a connected eater would change what it was promised) |
//! | `address`, `in_port`, `out_port`, `web`, `metrics`, TLS on/off, `log_format`, `nats*`, `hub_name` | need a restart: a reload that changes one is refused as a whole ([`Config::restart_needed`]; `log_format` by `nd-hub` itself), so the hub never runs half of a new configuration |
//!
//! Apart from revoked tokens, a reload disconnects nobody.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Largest WebSocket message the hub accepts (a bigger one closes the
/// connection with code 1009). PacketCount/ARP/DNS dumplings are < 100 KiB;
/// 16 MiB leaves room for chatty chefs without letting one peer pin memory.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// How long a new connection may take to complete the TLS and WebSocket
/// handshakes and send its hello before it is closed.
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a shutdown (SIGTERM) spends writing out what eaters still have
/// queued before it closes them. Well inside systemd's `TimeoutStopSec=15`
/// of the shipped unit, with room for the close handshakes.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Dumplings an eater may have waiting before the slow-eater policy applies.
pub const DEFAULT_EATER_QUEUE: usize = 10_000;
/// Bytes an eater may have waiting before the slow-eater policy applies.
pub const DEFAULT_EATER_QUEUE_BYTES: usize = 64 << 20;
/// Connections each of the in and out ports holds at once (handshakes in
/// progress included). Kept per port so a flood of eaters cannot lock the
/// kitchens out, or the other way round. `nd-hub` raises its open-file limit
/// to fit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Dumplings per second one kitchen connection may send, on average. A
/// kitchen above it is slowed down (the hub stops reading its socket, so TCP
/// pushes back), not cut off: nothing it sent is dropped. The standard chefs
/// send a few dumplings per second per chef, a busy DNS resolver a few
/// thousand; this only stops a runaway kitchen from taking every core.
pub const DEFAULT_KITCHEN_RATE: f64 = 50_000.0;
/// Dumplings a kitchen may send in a burst above [`DEFAULT_KITCHEN_RATE`].
pub const DEFAULT_KITCHEN_BURST: f64 = 100_000.0;

/// Every setting of the hub, as flags and as keys of the `--config` file.
///
/// All fields are optional so the command line can be laid over the file;
/// the documented defaults are applied by [`Settings::resolve`].
#[derive(clap::Args, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address where nd-hub listens; every address it resolves to is bound
    /// [default: localhost].
    #[arg(short = 'a', long, value_name = "HOSTNAME")]
    pub address: Option<String>,
    /// Port to receive incoming dumplings from (kitchens) [default: 11347].
    #[arg(short = 'i', long, value_name = "PORT")]
    pub in_port: Option<u16>,
    /// Port to send outgoing dumplings on (eaters) [default: 11348].
    #[arg(short = 'o', long, value_name = "PORT")]
    pub out_port: Option<u16>,
    /// Frequency (in seconds) to send status dumplings [default: 5].
    #[arg(short = 'f', long, value_name = "SECONDS")]
    pub status_freq: Option<f64>,
    /// Log format on stderr [default: human].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Largest WebSocket message accepted, in bytes [default: 16777216].
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<usize>,
    /// Seconds a new connection has to finish its handshakes and send its
    /// hello [default: 10].
    #[arg(long, value_name = "SECONDS")]
    pub hello_timeout: Option<f64>,
    /// Seconds a shutdown spends writing out the eaters' queues before it
    /// closes them [default: 5].
    #[arg(long, value_name = "SECONDS")]
    pub drain_timeout: Option<f64>,
    /// Dumplings an eater may have waiting before --slow-eater applies
    /// [default: 10000].
    #[arg(long, value_name = "COUNT")]
    pub eater_queue: Option<usize>,
    /// Bytes an eater may have waiting before --slow-eater applies
    /// [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub eater_queue_bytes: Option<usize>,
    /// What to do with an eater whose queue is full [default: drop-oldest].
    #[arg(long, value_enum)]
    pub slow_eater: Option<SlowEaterPolicy>,
    /// Connections held at once on each of the in and out ports; more are
    /// refused with HTTP 503 [default: 1024].
    #[arg(long, value_name = "COUNT")]
    pub max_connections: Option<usize>,
    /// Dumplings per second one kitchen may send on average; a faster one is
    /// slowed down, not cut off. 0: no limit [default: 50000].
    #[arg(long, value_name = "PER_SECOND")]
    pub kitchen_rate: Option<f64>,
    /// Dumplings a kitchen may send at once above --kitchen-rate
    /// [default: 100000].
    #[arg(long, value_name = "COUNT")]
    pub kitchen_burst: Option<f64>,
    /// File of kitchen tokens, one per line (# comments). With tokens set, a
    /// kitchen must present one (Authorization: Bearer TOKEN, or ?token=TOKEN
    /// in the URL) or is closed with code 4103 [default: no tokens: any
    /// kitchen may connect, as in netdumplings].
    #[arg(long, value_name = "FILE")]
    pub kitchen_tokens_file: Option<PathBuf>,
    /// File of eater tokens, one per line, as for kitchens [default: no
    /// tokens: any eater may connect].
    #[arg(long, value_name = "FILE")]
    pub eater_tokens_file: Option<PathBuf>,
    /// Kitchen tokens written in the config file itself (not a flag: a
    /// command line is visible to every user of the machine).
    #[arg(skip)]
    pub kitchen_tokens: Option<Vec<String>>,
    /// Eater tokens written in the config file itself.
    #[arg(skip)]
    pub eater_tokens: Option<Vec<String>>,
    /// PEM certificate chain: serve wss:// (TLS) on the in and out ports.
    /// Needs --tls-key; both are read again on SIGHUP. (Checked after the
    /// command line is laid over the file, not by clap: one of the two may
    /// come from each.)
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve the live dashboard (a web page, itself an eater of this hub) on
    /// this port.
    #[arg(long, value_name = "PORT")]
    pub web: Option<u16>,
    /// Serve /metrics (Prometheus text) and /healthz over HTTP on [HOST:]PORT
    /// (HOST defaults to --address).
    #[arg(long, value_name = "[HOST:]PORT")]
    pub metrics: Option<String>,
    /// Join a cluster of hubs through NATS JetStream at these servers
    /// (nats://HOST:PORT, comma-separated): every hub's eaters get every
    /// hub's kitchens [default: no bus, this hub alone].
    #[arg(long, value_name = "URL[,URL...]")]
    pub nats: Option<String>,
    /// A NATS .creds file (JWT and NKey seed).
    #[arg(long, value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// A file holding the NATS server's token.
    #[arg(long, value_name = "FILE")]
    pub nats_token_file: Option<PathBuf>,
    /// PEM CA bundle: talk TLS to the NATS servers, trusting these roots.
    #[arg(long, value_name = "FILE")]
    pub nats_tls_ca: Option<PathBuf>,
    /// The JetStream stream the hubs share [default: DUMPLINGS].
    #[arg(long, value_name = "NAME")]
    pub nats_stream: Option<String>,
    /// Seconds the stream keeps a dumpling: the history late eaters can ask
    /// for [default: 3600].
    #[arg(long, value_name = "SECONDS")]
    pub nats_max_age: Option<f64>,
    /// Bytes the stream keeps before dropping its oldest [default: 1073741824].
    #[arg(long, value_name = "BYTES")]
    pub nats_max_bytes: Option<u64>,
    /// Copies of the stream in a NATS cluster (1-5) [default: 1].
    #[arg(long, value_name = "COUNT")]
    pub nats_replicas: Option<usize>,
    /// Dumplings of this hub's kitchens kept while NATS has not stored them
    /// (NATS down), published when it is back [default: 100000].
    #[arg(long, value_name = "COUNT")]
    pub nats_buffer: Option<usize>,
    /// This hub's name on the bus [default: the host name].
    #[arg(long, value_name = "NAME")]
    pub hub_name: Option<String>,
}

/// Log format on stderr.
#[derive(clap::ValueEnum, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line (journald, log collectors).
    Json,
}

/// What the hub does when an eater's queue is full.
#[derive(clap::ValueEnum, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SlowEaterPolicy {
    /// Drop the eater's oldest queued dumplings and count them (shown in the
    /// status dumpling and in /metrics).
    #[default]
    DropOldest,
    /// Close the eater's connection (code 1008) with a reason.
    Disconnect,
}

/// A setting that cannot be used, with the key it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML, or has an unknown key or a value
    /// of the wrong type (the message says which line).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("{key}: {message}")]
    Invalid {
        /// The flag/key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Where the TLS certificate and key are (read at start and on reload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Where the HTTP server for /metrics and /healthz listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsListen {
    /// Host to bind; `None` means the hub's `address`.
    pub host: Option<String>,
    /// Port (0 picks a free one).
    pub port: u16,
}

/// Everything that configures a hub, defaults applied and values checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Host name or address to listen on; every address it resolves to is bound.
    pub address: String,
    /// Port for kitchens (0 picks a free port; see [`crate::BoundHub::in_addrs`]).
    pub in_port: u16,
    /// Port for eaters.
    pub out_port: u16,
    /// Time between two `SystemStatusChef` dumplings.
    pub status_freq: Duration,
    /// Largest accepted WebSocket message.
    pub max_message_size: usize,
    /// Deadline for the handshakes plus the hello message.
    pub hello_timeout: Duration,
    /// How long a shutdown writes out the eaters' queues.
    pub drain_timeout: Duration,
    /// Per-eater queue limit, in dumplings.
    pub eater_queue: usize,
    /// Per-eater queue limit, in bytes.
    pub eater_queue_bytes: usize,
    /// What happens when an eater's queue is full.
    pub slow_eater: SlowEaterPolicy,
    /// Connections held at once per port.
    pub max_connections: usize,
    /// Average dumplings/s per kitchen connection; `None`: no limit.
    pub kitchen_rate: Option<f64>,
    /// Burst above `kitchen_rate`.
    pub kitchen_burst: f64,
    /// Tokens a kitchen must present; `None`: kitchens are not
    /// authenticated (netdumplings' behaviour). `Some(empty)` refuses every
    /// kitchen (a token file with no token in it means "nobody", not "anybody").
    pub kitchen_tokens: Option<Vec<String>>,
    /// Tokens an eater must present; `None`: eaters are not authenticated.
    pub eater_tokens: Option<Vec<String>>,
    /// Serve wss:// with this certificate; `None`: plain ws://.
    pub tls: Option<TlsFiles>,
    /// Port for the dashboard page (`--web`), on the same address; none
    /// serves no page.
    pub web_port: Option<u16>,
    /// Where /metrics and /healthz are served; none serves neither.
    pub metrics: Option<MetricsListen>,
    /// The bus to the other hubs; none: this hub alone (the default).
    pub nats: Option<NatsConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Settings::default()
            .resolve()
            .expect("the defaults are valid")
    }
}

impl Config {
    /// Why `new` cannot replace `self` without a restart, if it cannot.
    pub fn restart_needed(&self, new: &Config) -> Option<String> {
        let mut changed = Vec::new();
        if self.address != new.address {
            changed.push("address");
        }
        if self.in_port != new.in_port {
            changed.push("in_port");
        }
        if self.out_port != new.out_port {
            changed.push("out_port");
        }
        if self.web_port != new.web_port {
            changed.push("web");
        }
        if self.metrics != new.metrics {
            changed.push("metrics");
        }
        if self.tls.is_some() != new.tls.is_some() {
            changed.push("TLS on/off");
        }
        if self.nats != new.nats {
            changed.push("nats*/hub_name");
        }
        if changed.is_empty() {
            None
        } else {
            Some(format!(
                "{} changed; restart nd-hub to apply",
                changed.join(", ")
            ))
        }
    }
}

impl Settings {
    /// Reads a `--config` file.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut settings: Settings = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: one_line(&text, &e),
        })?;
        // Relative paths in the file are relative to the file, as users of
        // nginx/systemd-style configs expect, not to the hub's working dir.
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut settings.kitchen_tokens_file,
            &mut settings.eater_tokens_file,
            &mut settings.tls_cert,
            &mut settings.tls_key,
            &mut settings.nats_creds,
            &mut settings.nats_token_file,
            &mut settings.nats_tls_ca,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(settings)
    }

    /// `self` with every value set in `over` replaced by it.
    pub fn merge(self, over: Settings) -> Settings {
        macro_rules! pick {
            ($($f:ident),*) => { Settings { $($f: over.$f.or(self.$f)),* } };
        }
        pick!(
            address,
            in_port,
            out_port,
            status_freq,
            log_format,
            max_message_size,
            hello_timeout,
            drain_timeout,
            eater_queue,
            eater_queue_bytes,
            slow_eater,
            max_connections,
            kitchen_rate,
            kitchen_burst,
            kitchen_tokens_file,
            eater_tokens_file,
            kitchen_tokens,
            eater_tokens,
            tls_cert,
            tls_key,
            web,
            metrics,
            nats,
            nats_creds,
            nats_token_file,
            nats_tls_ca,
            nats_stream,
            nats_max_age,
            nats_max_bytes,
            nats_replicas,
            nats_buffer,
            hub_name
        )
    }

    /// Applies the defaults, checks every value, reads the token files.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let secs = |v: Option<f64>, default: Duration, key: &'static str| match v {
            None => Ok(default),
            Some(v) => match Duration::try_from_secs_f64(v) {
                Ok(d) if !d.is_zero() => Ok(d),
                _ => Err(ConfigError::Invalid {
                    key,
                    message: format!("must be a number of seconds greater than 0, not {v}"),
                }),
            },
        };
        let positive = |v: Option<usize>, default: usize, key: &'static str| match v {
            Some(0) => Err(ConfigError::Invalid {
                key,
                message: "must be greater than 0".into(),
            }),
            v => Ok(v.unwrap_or(default)),
        };
        let kitchen_rate = match self.kitchen_rate {
            None => Some(DEFAULT_KITCHEN_RATE),
            Some(0.0) => None,
            Some(r) if r.is_finite() && r > 0.0 => Some(r),
            Some(r) => {
                return Err(ConfigError::Invalid {
                    key: "kitchen_rate",
                    message: format!("must be a positive number (0: no limit), not {r}"),
                })
            }
        };
        let kitchen_burst = match self.kitchen_burst {
            None => DEFAULT_KITCHEN_BURST,
            Some(b) if b.is_finite() && b >= 1.0 => b,
            Some(b) => {
                return Err(ConfigError::Invalid {
                    key: "kitchen_burst",
                    message: format!("must be at least 1, not {b}"),
                })
            }
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    key: "tls_key",
                    message: "tls_cert is set but tls_key is not".into(),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: "tls_cert",
                    message: "tls_key is set but tls_cert is not".into(),
                })
            }
        };
        let metrics = self
            .metrics
            .as_deref()
            .map(parse_listen)
            .transpose()
            .map_err(|message| ConfigError::Invalid {
                key: "metrics",
                message,
            })?;
        Ok(Config {
            address: self
                .address
                .clone()
                .unwrap_or_else(|| nd_protocol::HUB_HOST.to_string()),
            in_port: self.in_port.unwrap_or(nd_protocol::HUB_IN_PORT),
            out_port: self.out_port.unwrap_or(nd_protocol::HUB_OUT_PORT),
            status_freq: secs(
                self.status_freq,
                Duration::from_secs(nd_protocol::HUB_STATUS_FREQ_SECS),
                "status_freq",
            )?,
            max_message_size: positive(
                self.max_message_size,
                DEFAULT_MAX_MESSAGE_SIZE,
                "max_message_size",
            )?,
            hello_timeout: secs(self.hello_timeout, DEFAULT_HELLO_TIMEOUT, "hello_timeout")?,
            drain_timeout: secs(self.drain_timeout, DEFAULT_DRAIN_TIMEOUT, "drain_timeout")?,
            eater_queue: positive(self.eater_queue, DEFAULT_EATER_QUEUE, "eater_queue")?,
            eater_queue_bytes: positive(
                self.eater_queue_bytes,
                DEFAULT_EATER_QUEUE_BYTES,
                "eater_queue_bytes",
            )?,
            slow_eater: self.slow_eater.unwrap_or_default(),
            max_connections: positive(
                self.max_connections,
                DEFAULT_MAX_CONNECTIONS,
                "max_connections",
            )?,
            kitchen_rate,
            kitchen_burst,
            kitchen_tokens: tokens(
                &self.kitchen_tokens,
                &self.kitchen_tokens_file,
                "kitchen_tokens",
            )?,
            eater_tokens: tokens(&self.eater_tokens, &self.eater_tokens_file, "eater_tokens")?,
            tls,
            web_port: self.web,
            metrics,
            nats: nats::resolve(nats::NatsKeys {
                nats: &self.nats,
                nats_creds: &self.nats_creds,
                nats_token_file: &self.nats_token_file,
                nats_tls_ca: &self.nats_tls_ca,
                nats_stream: &self.nats_stream,
                nats_max_age: self.nats_max_age,
                nats_max_bytes: self.nats_max_bytes,
                nats_replicas: self.nats_replicas,
                nats_buffer: self.nats_buffer,
                hub_name: &self.hub_name,
            })?,
        })
    }
}

mod nats;
mod parse;
#[cfg(test)]
mod tests;

pub use nats::{
    NatsConfig, DEFAULT_NATS_BUFFER, DEFAULT_NATS_DUPLICATE_WINDOW, DEFAULT_NATS_MAX_AGE,
    DEFAULT_NATS_MAX_BYTES, DEFAULT_NATS_STREAM,
};
use parse::{one_line, parse_listen, tokens};
