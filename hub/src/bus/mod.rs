//! The bus between hubs: NATS JetStream (`--nats`). Absent without it,
//! and then nothing here runs: one hub alone is exactly as before.
//!
//! # Design
//!
//! Every hub publishes each valid dumpling of its own kitchens, bytes
//! unchanged, to one stream (`subject`: `dumplings.<kitchen>.<chef>`),
//! named by its kitchen's instance and sequence number (`Nats-Msg-Id`), so
//! a dumpling a kitchen re-sends to a second hub after losing the first
//! is stored once. Every hub reads the stream back through one ordered
//! consumer (`consume`) whose filter covers what its eaters want, and
//! delivers what it reads to its eaters: the other hubs' dumplings and its
//! own. Its own come back through the stream too, so that a dumpling's
//! place in the stream is its place at every eater of every hub: one
//! order for everyone, and a kitchen that fails over from hub A to hub B
//! is still one ordered sequence at the eaters (A's part, then B's).
//!
//! The hub keeps its own kitchens' dumplings in a bounded `log` until
//! the stream stored them and it delivered them. When the bus is down or
//! slow (a dumpling not back within [`ECHO_TIMEOUT`]) the hub delivers
//! straight from the log (degraded: its eaters keep getting its kitchens,
//! not the others'), keeps publishing as the client reconnects, and goes
//! back to the stream once its dumplings come back quickly again. Either
//! way `seen` lets each dumpling through once.
//!
//! # Guarantees and their limits
//!
//! - Once: per (instance, seq), within `seen::WINDOW` numbers and the
//!   stream's duplicate window (two minutes) for a re-sent dumpling.
//! - In per-kitchen order: the stream's order. A publish that fails and
//!   is retried while later ones got through (a NATS node lost mid-write)
//!   lands after them: it is still delivered, once, late.
//! - Nothing lost while the bus is up or comes back within the log's bound
//!   (`nats_buffer`); past it the oldest unstored dumplings are given up,
//!   counted and logged (this hub's eaters had them).
//! - A kitchen's ping is answered once the stream stored what it sent
//!   (within [`PING_ACK_WAIT`]; with the bus down, at once: the log holds
//!   it, and this hub dying before the bus returns would lose it).

mod cluster;
mod consume;
pub(crate) mod history;
mod log;
mod publish;
mod reader;
mod seen;
pub(crate) mod subject;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use crate::config::{NatsConfig, DEFAULT_NATS_DUPLICATE_WINDOW};
use crate::metrics::SeriesId;
use crate::queue::Queued;

/// A dumpling of this hub's kitchens not back from the stream after this
/// long puts the hub in degraded mode (delivering from its log). A NATS
/// round trip on a LAN is well under a millisecond; a second is "down".
pub(crate) const ECHO_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a kitchen's ping waits for the stream to store what the
/// kitchen sent before it is answered anyway.
pub(crate) const PING_ACK_WAIT: Duration = Duration::from_secs(2);
/// How often the degraded-mode check runs.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Where the bus delivers: the hub's eaters. Implemented by the hub's
/// state (which holds the bus), so the bus does not depend on it.
pub(crate) trait Sink: Send + Sync + 'static {
    /// The metrics series of a (kitchen, chef) pair.
    fn series(&self, kitchen: &str, chef: &str) -> SeriesId;
    /// Pushes a run into the eaters' queues, in order.
    fn deliver(&self, run: &[Queued]);
    /// This hub's summary for the cluster's status (name and bus link
    /// are filled in by the bus). It takes the state's kitchen and eater
    /// locks: never ask the bus for `cluster()` while holding them.
    fn summary(&self) -> nd_protocol::status::HubSummary;
}

/// Who sent a run: a kitchen connected to this hub.
pub(crate) struct Origin {
    /// Its hello's name.
    pub(crate) kitchen: Arc<str>,
    /// Its hello's `instance`, if it sent one (nd-sniff does).
    pub(crate) instance: Option<Arc<str>>,
    /// The stand-in instance for dumplings that lack an (instance, seq):
    /// this hub's run id and the connection id, unique in the cluster.
    pub(crate) local: Arc<str>,
}

/// One dumpling of a run, as the kitchen's task read it.
pub(crate) struct Item {
    pub(crate) q: Queued,
    /// Its subject (the kitchen task caches it per chef).
    pub(crate) subject: Arc<str>,
    /// `metadata.seq`, if the dumpling had one.
    pub(crate) seq: Option<u64>,
    /// The connection's own count, used with `Origin::local` when the
    /// dumpling has no seq (or its kitchen no instance).
    pub(crate) local_seq: u64,
}

/// Counters for /metrics and the status dumpling.
#[derive(Default)]
pub(crate) struct Counters {
    /// Dumplings the stream stored (duplicates included).
    pub(crate) published: AtomicU64,
    /// ... of which the stream already had (a re-send after a failover).
    pub(crate) publish_duplicates: AtomicU64,
    /// Publishes that failed and were retried.
    pub(crate) publish_errors: AtomicU64,
    /// Dumplings from the stream delivered to this hub's eaters.
    pub(crate) delivered: AtomicU64,
    /// Dumplings delivered straight from the log (degraded mode).
    pub(crate) delivered_direct: AtomicU64,
    /// Dumplings not delivered because this hub had delivered them already.
    pub(crate) duplicates: AtomicU64,
    /// Messages on the stream that are not dumplings (not UTF-8, not
    /// valid): skipped.
    pub(crate) invalid: AtomicU64,
    /// Own dumplings given up unstored because the log was full.
    pub(crate) given_up: AtomicU64,
    /// Consumer errors (recreated).
    pub(crate) consume_errors: AtomicU64,
    /// Messages the stream still has for this hub's consumer (its lag).
    pub(crate) lag: AtomicU64,
}

/// A snapshot for /metrics.
pub(crate) struct Sample {
    pub(crate) connected: bool,
    pub(crate) degraded: bool,
    pub(crate) buffered: usize,
    pub(crate) counters: [(&'static str, &'static str, u64); 9],
    pub(crate) lag: u64,
}

/// What the log, the windows and the mode share; one lock, so that every
/// delivery (from the stream, from the log) is ordered with the others.
struct Shared {
    log: log::Log,
    seen: seen::Seen,
    /// Delivering from the log (the bus is down or slow).
    degraded: bool,
    /// The covering filter of the eaters' subscriptions.
    filter: String,
}

/// A hub's connection to the bus.
pub(crate) struct Bus {
    config: NatsConfig,
    /// This hub process's id on the bus (random): tells its own dumplings
    /// apart from another hub's even if two hubs share a name.
    run: String,
    client: async_nats::Client,
    js: jetstream::Context,
    shared: Mutex<Shared>,
    /// Wakes the publisher when the log grows.
    publish_wake: Notify,
    /// The log's acknowledgement cursor, for kitchens' pings.
    acked_to: watch::Sender<u64>,
    /// The covering filter, for the consumer (restarts it when it changes).
    filter: watch::Sender<String>,
    sink: Arc<dyn Sink>,
    pub(crate) counters: Counters,
    /// Stops the bus's tasks ([`Bus::shutdown`]).
    stop: watch::Sender<bool>,
    /// The other hubs' status (`cluster`).
    peers: cluster::Peers,
}

impl Bus {
    /// Connects (in the background if the servers are not reachable yet:
    /// the hub starts anyway) and starts the publisher and consumer.
    pub(crate) async fn start(config: NatsConfig, sink: Arc<dyn Sink>) -> anyhow::Result<Arc<Bus>> {
        let run = random_id();
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("nd-hub {}", config.hub_name))
            .retry_on_initial_connect()
            .max_reconnects(None)
            // Bounded: past it a publish waits (the log holds the rest).
            .client_capacity(8192)
            .event_callback({
                let hub = config.hub_name.clone();
                move |event| {
                    let hub = hub.clone();
                    async move {
                        match event {
                            async_nats::Event::Connected => {
                                info!(hub = %hub, "NATS connected");
                            }
                            async_nats::Event::Disconnected => {
                                warn!(hub = %hub, "NATS disconnected; this hub's eaters get its own kitchens meanwhile, the rest is buffered and sent on reconnect");
                            }
                            other => info!(hub = %hub, "NATS: {other}"),
                        }
                    }
                }
            });
        if let Some(path) = &config.creds {
            options = options
                .credentials_file(path)
                .await
                .map_err(|e| anyhow::anyhow!("nats_creds {}: {e}", path.display()))?;
        }
        if let Some(path) = &config.token_file {
            let token = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("nats_token_file {}: {e}", path.display()))?;
            options = options.token(token.trim().to_string());
        }
        if let Some(path) = &config.tls_ca {
            if !path.is_file() {
                anyhow::bail!("nats_tls_ca {}: no such file", path.display());
            }
            options = options
                .add_root_certificates(path.clone())
                .require_tls(true);
        }
        let client = options
            .connect(config.urls.clone())
            .await
            .map_err(|e| anyhow::anyhow!("nats {}: {e}", config.urls.join(",")))?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .build(client.clone());
        let bus = Arc::new(Bus {
            run,
            client,
            js,
            shared: Mutex::new(Shared {
                log: log::Log::default(),
                seen: seen::Seen::default(),
                degraded: false,
                filter: subject::ALL.to_string(),
            }),
            publish_wake: Notify::new(),
            acked_to: watch::Sender::new(0),
            filter: watch::Sender::new(subject::ALL.to_string()),
            sink,
            counters: Counters::default(),
            stop: watch::Sender::new(false),
            peers: cluster::Peers::default(),
            config,
        });
        let stop = bus.stop.subscribe();
        tokio::spawn(publish::run(bus.clone(), stop.clone()));
        tokio::spawn(consume::run(bus.clone(), stop.clone()));
        tokio::spawn(cluster::run(bus.clone(), stop.clone()));
        tokio::spawn(watch_health(bus.clone(), stop));
        Ok(bus)
    }

    /// At shutdown, once the kitchens are closed: waits (bounded) for the
    /// stream to store what they sent, delivers to this hub's eaters what
    /// has not come back yet, and stops the bus's tasks.
    pub(crate) async fn shutdown(&self) {
        let end = self.shared().log.end();
        self.wait_stored(end).await;
        // A moment for the echoes of the last runs.
        let _ = tokio::time::timeout(PING_ACK_WAIT, async {
            while self.shared().log.oldest_undelivered().is_some() {
                tokio::time::sleep(CHECK_EVERY / 4).await;
            }
        })
        .await;
        let mut shared = self.shared();
        let s = &mut *shared;
        self.deliver_direct(s);
        let unstored = s.log.end() - s.log.acked_to();
        if unstored > 0 {
            warn!(hub = %self.config.hub_name, "{unstored} dumplings of this hub's kitchens were not stored by the bus before shutdown (this hub's eaters had them)");
        }
        self.stop.send_replace(true);
    }

    /// Delivers to this hub's eaters, in order and once each, every
    /// dumpling of its kitchens the stream has not brought back (the bus
    /// down or slow, or the hub shutting down). Called under the lock.
    fn deliver_direct(&self, s: &mut Shared) {
        let mut direct = Vec::new();
        while let Some((idx, e)) = s.log.oldest_undelivered() {
            if s.seen.first(&e.instance.clone(), e.seq) {
                direct.push(e.q.clone());
            }
            s.log.delivered(idx);
        }
        if !direct.is_empty() {
            self.counters
                .delivered_direct
                .fetch_add(direct.len() as u64, Ordering::Relaxed);
            self.sink.deliver(&direct);
        }
    }

    /// Whether the client is connected to a NATS server now.
    fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The stand-in instance for a connection's dumplings without one.
    pub(crate) fn local_instance(&self, connection: u64) -> Arc<str> {
        format!("{}/{connection}", self.run).into()
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a kitchen's run: into the log, to be published and (once it
    /// is back from the stream, or at once when degraded) delivered.
    /// Returns the log position after it, for [`Bus::wait_stored`].
    pub(crate) fn submit(&self, origin: &Origin, run: Vec<Item>) -> u64 {
        let now = Instant::now();
        let mut direct = Vec::new();
        let end = {
            let mut shared = self.shared();
            let s = &mut *shared;
            for item in run {
                let (instance, seq) = match (&origin.instance, item.seq) {
                    (Some(i), Some(seq)) => (i.clone(), seq),
                    _ => (origin.local.clone(), item.local_seq),
                };
                // Not covered by the consumer's filter: it will not come
                // back, and no eater wants it; the eaters' own filters
                // settle it now.
                let passing = s.degraded || !subject::matches(&s.filter, &item.subject);
                if passing && s.seen.first(&instance, seq) {
                    direct.push(item.q.clone());
                }
                if s.log.len() >= self.config.buffer {
                    self.give_up_oldest(s, &mut direct);
                }
                s.log.push(log::Entry {
                    instance,
                    seq,
                    subject: item.subject,
                    kitchen: origin.kitchen.clone(),
                    q: item.q,
                    at: now,
                    acked: false,
                    delivered: passing,
                });
            }
            if !direct.is_empty() {
                self.counters
                    .delivered_direct
                    .fetch_add(direct.len() as u64, Ordering::Relaxed);
                self.sink.deliver(&direct);
            }
            s.log.end()
        };
        self.publish_wake.notify_one();
        end
    }

    /// Drops the log's oldest entry to make room, delivering it first if
    /// it was not (into `direct`, which the caller delivers in order).
    fn give_up_oldest(&self, s: &mut Shared, direct: &mut Vec<Queued>) {
        if let Some(e) = s.log.evict() {
            if !e.delivered && s.seen.first(&e.instance, e.seq) {
                direct.push(e.q.clone());
            }
            if !e.acked {
                let n = self.counters.given_up.fetch_add(1, Ordering::Relaxed);
                if n.is_multiple_of(10_000) {
                    warn!(
                        hub = %self.config.hub_name,
                        "the bus buffer is full (nats_buffer = {}): giving up the oldest unsent dumplings ({} so far); this hub's eaters had them, the other hubs' will not",
                        self.config.buffer,
                        n + 1
                    );
                }
            }
        }
        self.acked_to.send_replace(s.log.acked_to());
    }

    /// Waits until the stream stored everything before log position
    /// `end`, at most [`PING_ACK_WAIT`]; at once when degraded.
    pub(crate) async fn wait_stored(&self, end: u64) {
        if self.shared().degraded {
            return;
        }
        let mut rx = self.acked_to.subscribe();
        let _ = tokio::time::timeout(PING_ACK_WAIT, rx.wait_for(|&a| a >= end)).await;
    }

    /// Sets the consumer's filter to cover `subs` (the eaters' subscriptions).
    pub(crate) fn set_filter(&self, filter: String) {
        let mut shared = self.shared();
        if shared.filter == filter {
            return;
        }
        shared.filter = filter.clone();
        drop(shared);
        info!(hub = %self.config.hub_name, %filter, "bus consumer filter");
        self.filter.send_replace(filter);
    }

    /// A snapshot for /metrics.
    pub(crate) fn sample(&self) -> Sample {
        let (degraded, buffered) = {
            let s = self.shared();
            (s.degraded, s.log.len())
        };
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Sample {
            connected: self.is_connected(),
            degraded,
            buffered,
            counters: [
                ("published", "Dumplings of this hub's kitchens the stream stored (duplicates included)", get(&c.published)),
                ("publish_duplicates", "Of those, dumplings the stream already had (a kitchen's re-send after a failover)", get(&c.publish_duplicates)),
                ("publish_errors", "Publishes that failed and were retried", get(&c.publish_errors)),
                ("delivered", "Dumplings from the stream delivered to this hub's eaters", get(&c.delivered)),
                ("delivered_direct", "Dumplings of this hub's kitchens delivered without the stream (bus down or slow, or wanted by no eater)", get(&c.delivered_direct)),
                ("duplicates", "Dumplings not delivered again (this hub had delivered them)", get(&c.duplicates)),
                ("invalid", "Messages on the stream that are not valid dumplings", get(&c.invalid)),
                ("given_up", "Dumplings of this hub's kitchens never stored (the buffer was full)", get(&c.given_up)),
                ("consume_errors", "Errors reading the stream (the consumer is recreated)", get(&c.consume_errors)),
            ],
            lag: get(&c.lag),
        }
    }
}

impl Sample {
    /// Appends the bus's families to a /metrics page.
    pub(crate) fn render(&self, o: &mut String) {
        use nd_http::prometheus::family;
        use std::fmt::Write;
        family(
            o,
            "nd_hub_bus_connected",
            "gauge",
            "1 while connected to NATS.",
        );
        let _ = writeln!(o, "nd_hub_bus_connected {}", u8::from(self.connected));
        family(
            o,
            "nd_hub_bus_degraded",
            "gauge",
            "1 while this hub delivers its own kitchens straight to its eaters (the bus is down or slow).",
        );
        let _ = writeln!(o, "nd_hub_bus_degraded {}", u8::from(self.degraded));
        family(
            o,
            "nd_hub_bus_buffered",
            "gauge",
            "Dumplings of this hub's kitchens not yet both stored by the stream and delivered here.",
        );
        let _ = writeln!(o, "nd_hub_bus_buffered {}", self.buffered);
        family(
            o,
            "nd_hub_bus_lag",
            "gauge",
            "Messages the stream holds for this hub's consumer that it has not read yet.",
        );
        let _ = writeln!(o, "nd_hub_bus_lag {}", self.lag);
        for (name, help, value) in self.counters {
            let name = format!("nd_hub_bus_{name}_total");
            family(o, &name, "counter", help);
            let _ = writeln!(o, "{name} {value}");
        }
    }
}

/// Enters degraded mode when the client is disconnected or a dumpling
/// of this hub's kitchens is not back within [`ECHO_TIMEOUT`] (and
/// delivers what is waiting, in order); leaves it once connected with
/// every dumpling stored, or when the consumer sees one come back within
/// half of it (see `consume`).
async fn watch_health(bus: Arc<Bus>, mut stop: watch::Receiver<bool>) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            _ = tick.tick() => {}
        }
        // Not connected yet at start-up is not "down" (the first connect
        // takes a moment); after a grace of ECHO_TIMEOUT it is.
        let connected = bus.is_connected() || started.elapsed() < ECHO_TIMEOUT;
        let mut shared = bus.shared();
        let s = &mut *shared;
        if s.degraded {
            // Back once connected with the backlog stored: from then on
            // the stream is the path again (a slow echo would bring the
            // hub back here within ECHO_TIMEOUT).
            if connected && s.log.acked_to() == s.log.end() {
                s.degraded = false;
                info!(hub = %bus.config.hub_name, "the bus is back and has everything: delivering from the stream again");
            }
            continue;
        }
        let late = s
            .log
            .oldest_undelivered()
            .is_some_and(|(_, e)| e.at.elapsed() > ECHO_TIMEOUT);
        if !late && connected {
            continue;
        }
        s.degraded = true;
        warn!(
            hub = %bus.config.hub_name,
            "{}: delivering this hub's kitchens straight to its eaters until the bus is back",
            if connected { "the bus is slow (dumplings not back within a second)" } else { "the bus is down" }
        );
        bus.deliver_direct(s);
    }
}

/// 64 random bits as hex.
fn random_id() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No entropy source: the clock and pid still tell runs apart.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        b = (t ^ (u64::from(std::process::id()) << 32)).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The stream's configuration from the hub's.
fn stream_config(c: &NatsConfig) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: c.stream.clone(),
        subjects: vec![subject::ALL.to_string()],
        max_age: c.max_age,
        max_bytes: c.max_bytes,
        num_replicas: c.replicas,
        duplicate_window: DEFAULT_NATS_DUPLICATE_WINDOW,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    }
}
