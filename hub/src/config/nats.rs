//! The `--nats*` settings: where the bus is, how to log in to it, and the
//! JetStream stream every hub of a cluster shares.
//!
//! Kept apart from the rest of [`super`] because none of it matters to a
//! hub without `--nats` (the embedded default), and because these keys
//! are all "restart needed": a hub joins a bus once, at start-up.

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;

/// The stream every hub of a cluster publishes to and reads from.
pub const DEFAULT_NATS_STREAM: &str = "DUMPLINGS";
/// How long the stream keeps a dumpling (the history a late eater can
/// ask for). An hour of a busy kitchen is a few hundred MB, under
/// [`DEFAULT_NATS_MAX_BYTES`].
pub const DEFAULT_NATS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Bytes the stream may hold before it drops its oldest dumplings.
pub const DEFAULT_NATS_MAX_BYTES: i64 = 1 << 30;
/// Dumplings of this hub's own kitchens it keeps while the bus has not
/// stored them (NATS down or slow), to publish once it is back. Past it
/// the oldest are given up (they were delivered to this hub's eaters; the
/// other hubs never see them) and counted.
pub const DEFAULT_NATS_BUFFER: usize = 100_000;
/// JetStream's duplicate window for the stream: a kitchen re-sending what
/// a lost hub had not acknowledged (nd-sniff's failover) is stored once if
/// it re-sends within this long. nd-sniff reconnects within seconds.
pub const DEFAULT_NATS_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The bus, resolved: present only with `--nats`.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsConfig {
    /// Server URLs (`nats://host:4222`, comma-separated in the flag); the
    /// client moves between them as servers come and go.
    pub urls: Vec<String>,
    /// A `.creds` file (JWT + NKey seed), for an operator-mode server.
    pub creds: Option<PathBuf>,
    /// A file holding the server's token (not a flag: a command line is
    /// visible to every user of the machine).
    pub token_file: Option<PathBuf>,
    /// A PEM CA bundle: talk TLS to the servers, trusting these roots.
    pub tls_ca: Option<PathBuf>,
    /// The JetStream stream's name (shared by every hub of the cluster).
    pub stream: String,
    /// Retention: the oldest dumplings go after this long...
    pub max_age: Duration,
    /// ... or once the stream holds this many bytes.
    pub max_bytes: i64,
    /// Copies of the stream across a NATS cluster (1 for one server; 3
    /// survives the loss of one node of three).
    pub replicas: usize,
    /// See [`DEFAULT_NATS_BUFFER`].
    pub buffer: usize,
    /// This hub's name on the bus (status, logs); by default the host name.
    /// Two hubs may share a name: the bus tells them apart by a random id
    /// drawn at start-up.
    pub hub_name: String,
}

/// The `nats*` and `hub_name` keys as given (flags or file).
pub(super) struct NatsKeys<'a> {
    pub(super) nats: &'a Option<String>,
    pub(super) nats_creds: &'a Option<PathBuf>,
    pub(super) nats_token_file: &'a Option<PathBuf>,
    pub(super) nats_tls_ca: &'a Option<PathBuf>,
    pub(super) nats_stream: &'a Option<String>,
    pub(super) nats_max_age: Option<f64>,
    pub(super) nats_max_bytes: Option<u64>,
    pub(super) nats_replicas: Option<usize>,
    pub(super) nats_buffer: Option<usize>,
    pub(super) hub_name: &'a Option<String>,
}

/// Resolves the bus settings; `None` without `nats` (the other keys are
/// then ignored, as a commented-out `nats =` line should make them).
pub(super) fn resolve(k: NatsKeys<'_>) -> Result<Option<NatsConfig>, ConfigError> {
    let invalid = |key, message: String| ConfigError::Invalid { key, message };
    let Some(urls) = k.nats else {
        return Ok(None);
    };
    let urls: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    if urls.is_empty() {
        return Err(invalid("nats", "names no server".into()));
    }
    for u in &urls {
        if let Err(e) = u.parse::<async_nats::ServerAddr>() {
            return Err(invalid("nats", format!("{u:?} is not a NATS URL: {e}")));
        }
    }
    let stream = k
        .nats_stream
        .clone()
        .unwrap_or_else(|| DEFAULT_NATS_STREAM.to_string());
    // JetStream stream names: no whitespace, '.', '*', '>', path separators.
    if stream.is_empty()
        || stream
            .chars()
            .any(|c| c.is_whitespace() || ".*>/\\".contains(c))
    {
        return Err(invalid(
            "nats_stream",
            format!("{stream:?} is not a stream name (no spaces, '.', '*', '>', '/', '\\')"),
        ));
    }
    let max_age = match k.nats_max_age {
        None => DEFAULT_NATS_MAX_AGE,
        Some(s) => match Duration::try_from_secs_f64(s) {
            Ok(d) if d >= Duration::from_secs(1) => d,
            _ => {
                return Err(invalid(
                    "nats_max_age",
                    format!("must be at least 1 second, not {s}"),
                ))
            }
        },
    };
    let max_bytes = match k.nats_max_bytes {
        None => DEFAULT_NATS_MAX_BYTES,
        Some(b) if (1 << 20..=i64::MAX as u64).contains(&b) => b as i64,
        Some(b) => {
            return Err(invalid(
                "nats_max_bytes",
                format!("must be at least 1 MiB, not {b}"),
            ))
        }
    };
    let replicas = match k.nats_replicas {
        None => 1,
        Some(r @ 1..=5) => r,
        Some(r) => return Err(invalid("nats_replicas", format!("must be 1 to 5, not {r}"))),
    };
    let buffer = match k.nats_buffer {
        None => DEFAULT_NATS_BUFFER,
        Some(0) => return Err(invalid("nats_buffer", "must be greater than 0".into())),
        Some(b) => b,
    };
    let hub_name = match k.hub_name {
        Some(n) if n.trim().is_empty() => {
            return Err(invalid("hub_name", "must not be empty".into()))
        }
        Some(n) => n.clone(),
        None => host_name(),
    };
    Ok(Some(NatsConfig {
        urls,
        creds: k.nats_creds.clone(),
        token_file: k.nats_token_file.clone(),
        tls_ca: k.nats_tls_ca.clone(),
        stream,
        max_age,
        max_bytes,
        replicas,
        buffer,
        hub_name,
    }))
}

/// The machine's host name (Linux), else "nd-hub".
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "nd-hub".to_string())
}
