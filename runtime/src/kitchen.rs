//! The kitchen: capture -> batches -> chef workers -> relay, plus the chef
//! directory watcher (hot swap) and the interval poker.
//!
//! Threads:
//!
//! ```text
//! capture (caller's thread) --Arc<batch>--> chef-<name> (one per chef) --payload--> relay
//! poker: every poke interval, Command::Interval to every chef
//! watcher: notify events on the chef directory -> load/compile -> ChefWorker::swap / new worker / retire
//! relay: a tokio current-thread runtime (WebSocket) or a stdout writer (--print)
//! ```
//!
//! Invariants:
//! - Compilation happens on the watcher thread, never on the capture path.
//! - A swap is a command in the chef's FIFO, so it lands between two batches.
//! - A replay loses nothing (every queue waits for room); live capture never
//!   waits on a chef or the hub (full queues skip and count).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nd_protocol::KitchenHello;

use crate::capture::{Capture, CaptureStats, Source};
use crate::chefs::{file_label, start_worker, wasm_files, Workers};
use crate::host::{ChefHost, Limits};
use crate::metrics::{RelaySnapshot, Snapshot};
use crate::relay::{self, RelayConfig, RelayCounters, RelayStats};
use crate::supervisor::{ChefStatus, ChefWorker};

/// Where dumplings go.
#[derive(Debug, Clone)]
pub enum Output {
    /// To a hub, buffering up to `buffer`.
    Hub {
        /// The hubs' in ports (URL, see [`nd_client::hub_url`]; CA file;
        /// token), in failover order.
        endpoints: Vec<nd_client::HubEndpoint>,
        /// Relay buffer, in dumplings.
        buffer: usize,
    },
    /// JSON lines on stdout.
    Print,
}

/// Everything that configures a kitchen.
#[derive(Debug, Clone)]
pub struct KitchenConfig {
    /// `--kitchen-name`.
    pub name: String,
    /// Live interface or file.
    pub source: Source,
    /// Directory of chef components (`*.wasm`).
    pub chef_dir: PathBuf,
    /// Only these chefs (by name); empty means all.
    pub chefs: Vec<String>,
    /// Time between interval pokes.
    pub poke_interval: Duration,
    /// Where dumplings go.
    pub output: Output,
    /// Sandbox limits.
    pub limits: Limits,
    /// Compilation cache directory.
    pub cache_dir: Option<PathBuf>,
    /// Watch the chef directory and hot-swap.
    pub watch: bool,
    /// How replay progress is shown (a bar on a terminal, lines for scripts).
    pub progress: crate::progress::ProgressMode,
    /// Where to serve `/metrics` and `/healthz` (`--metrics ADDR`), if anywhere.
    pub metrics: Option<String>,
}

/// What a kitchen run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct KitchenReport {
    /// Packets read and capture drop counters.
    pub packets: u64,
    /// Kernel/libpcap drops (live).
    pub kernel_dropped: u64,
    /// Interface drops (live).
    pub interface_dropped: u64,
    /// Every chef's final counters.
    pub chefs: Vec<ChefStatus>,
    /// Relay counters (hub output).
    pub relay: Option<RelayStats>,
    /// Dumplings printed (print output).
    pub printed: u64,
    /// Dumplings dropped between chefs and relay (live).
    pub dropped_before_relay: u64,
    /// The kitchen process's peak resident memory (getrusage `ru_maxrss`),
    /// in bytes: what the reliability tests bound under hostile chefs.
    pub peak_rss_bytes: u64,
}

/// Runs a kitchen until the capture ends (replay) or `stop` is set.
pub fn run(mut config: KitchenConfig, stop: Arc<AtomicBool>) -> anyhow::Result<KitchenReport> {
    // Chefs are known by path: the watcher's events carry absolute paths,
    // so the directory must be absolute too, or a changed chef would look
    // like a new one (and run twice).
    config.chef_dir = std::fs::canonicalize(&config.chef_dir).with_context(|| {
        format!(
            "cannot read the chef directory {}",
            config.chef_dir.display()
        )
    })?;
    let host = Arc::new(ChefHost::new(
        config.limits.clone(),
        config.cache_dir.clone(),
    )?);
    let replay = config.source.is_replay();

    // Open the source first: a bad interface or file is reported before
    // anything connects anywhere.
    let mut capture = Capture::open(config.source.clone())?;

    let (tx, rx) = relay::channel(replay);
    let workers: Workers = Arc::new(Mutex::new(BTreeMap::new()));
    let mut chef_names = Vec::new();
    for path in wasm_files(&config.chef_dir)? {
        match start_worker(&host, &path, &config.chefs, &tx) {
            Ok(Some(w)) => {
                chef_names.push(format!("{}.{}", file_label(&path), w.name()));
                workers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(path, w);
            }
            Ok(None) => {}
            Err(e) => tracing::error!("{e:#}"),
        }
    }
    for wanted in &config.chefs {
        if !chef_names
            .iter()
            .any(|n| n.ends_with(&format!(".{wanted}")))
        {
            tracing::warn!(
                "{}: chef {wanted} not found in {}",
                config.name,
                config.chef_dir.display()
            );
        }
    }
    if chef_names.is_empty() {
        anyhow::bail!(
            "{}: no valid chefs found in {}; not starting the sniffer",
            config.name,
            config.chef_dir.display()
        );
    }
    tracing::info!("{}: chefs {}", config.name, chef_names.join(", "));

    // Output.
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let relay_counters = match config.output {
        Output::Hub { .. } => Some(Arc::new(RelayCounters::default())),
        Output::Print => None,
    };
    let output = match &config.output {
        Output::Print => {
            let kitchen = config.name.clone();
            std::thread::Builder::new()
                .name("printer".into())
                .spawn(move || OutputResult::Printed(relay::print_blocking(&kitchen, rx)))?
        }
        Output::Hub { endpoints, buffer } => {
            let relay_config = RelayConfig {
                endpoints: endpoints.clone(),
                kitchen: config.name.clone(),
                hello: KitchenHello {
                    kitchen_name: config.name.clone(),
                    interface: config.source.interface_label(),
                    filter: config.source.filter_label(),
                    chefs: chef_names.clone(),
                    poke_interval: config.poke_interval.as_secs_f64(),
                    instance: Some(relay::new_instance()),
                },
                buffer: *buffer,
                wait: replay,
            };
            let relay_counters = relay_counters.clone().unwrap_or_default();
            std::thread::Builder::new()
                .name("relay".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    match rt {
                        Ok(rt) => OutputResult::Relayed(rt.block_on(relay::run(
                            relay_config,
                            rx,
                            cancel_rx,
                            relay_counters,
                        ))),
                        Err(e) => {
                            tracing::error!("cannot start the relay runtime: {e}");
                            OutputResult::Relayed(RelayStats::default())
                        }
                    }
                })?
        }
    };

    // Poker and watcher.
    let done = Arc::new(AtomicBool::new(false));
    let poker = {
        let workers = workers.clone();
        let done = done.clone();
        let period = config.poke_interval;
        std::thread::Builder::new()
            .name("poker".into())
            .spawn(move || {
                let mut next = Instant::now() + period;
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20).min(period));
                    if Instant::now() >= next {
                        next += period;
                        for w in workers.lock().unwrap_or_else(|p| p.into_inner()).values() {
                            // A missed poke is harmless; never block here.
                            w.poke();
                        }
                    }
                }
            })?
    };
    let watcher = if config.watch {
        Some(crate::watch::spawn(
            config.chef_dir.clone(),
            host.clone(),
            workers.clone(),
            config.chefs.clone(),
            tx.clone(),
            done.clone(),
        )?)
    } else {
        None
    };

    // Metrics: snapshots of the counters above, taken per request.
    let packets_read = Arc::new(AtomicU64::new(0));
    let metrics = match &config.metrics {
        Some(addr) => {
            let (workers, packets, relay, tx) = (
                workers.clone(),
                packets_read.clone(),
                relay_counters.clone(),
                tx.clone(),
            );
            let (name, started) = (config.name.clone(), Instant::now());
            let snapshot = move || Snapshot {
                kitchen: name.clone(),
                uptime_secs: started.elapsed().as_secs_f64(),
                packets: packets.load(Ordering::Relaxed),
                chefs: workers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .map(ChefWorker::status)
                    .collect(),
                relay: relay.as_ref().map(|r| RelaySnapshot {
                    stats: r.snapshot(),
                    connected: r.connected.load(Ordering::Relaxed),
                    held: r.held.load(Ordering::Relaxed),
                }),
                dropped_before_relay: tx.dropped(),
            };
            Some(crate::metrics::serve(addr, snapshot)?)
        }
        None => None,
    };

    // Capture on this thread.
    let progress = config.progress;
    let result = capture.run(&stop, progress, |batch| {
        packets_read.fetch_add(crate::batch::batch_len(&batch) as u64, Ordering::Relaxed);
        let batch = Arc::new(batch);
        for w in workers.lock().unwrap_or_else(|p| p.into_inner()).values() {
            w.send_batch(&batch, replay);
        }
        true
    });

    // Wind down: stop watcher and poker, finish chefs (final interval),
    // close the relay's input, wait for it to flush.
    done.store(true, Ordering::Relaxed);
    if let Some(w) = watcher {
        let _ = w.join();
    }
    let _ = poker.join();
    let finished: Vec<ChefWorker> =
        std::mem::take(&mut *workers.lock().unwrap_or_else(|p| p.into_inner()))
            .into_values()
            .collect();
    let mut report = KitchenReport::default();
    for w in finished {
        report.chefs.push(w.finish());
    }
    report.dropped_before_relay = tx.dropped();
    drop(tx);
    // Interrupted, now or while the relay still delivers the end of a
    // replay (to a hub that may never come back): the relay gets 2 s to
    // flush, then closes with 4101. Without the wait for a later signal, a
    // finished replay whose hub is unreachable ignored SIGTERM and SIGINT.
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_secs(2));
        let _ = cancel_tx.send(true);
    });
    match output.join() {
        Ok(OutputResult::Printed(n)) => report.printed = n,
        Ok(OutputResult::Relayed(s)) => report.relay = Some(s),
        Err(_) => tracing::error!("the output thread panicked"),
    }
    let stats: CaptureStats = result?;
    report.packets = stats.packets;
    report.kernel_dropped = stats.kernel_dropped;
    report.interface_dropped = stats.interface_dropped;
    report.peak_rss_bytes = peak_rss_bytes();
    if let Some(m) = metrics {
        m.stop();
    }
    Ok(report)
}

/// This process's peak RSS so far, in bytes (0 if unavailable).
fn peak_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the call's duration.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    // Linux reports kilobytes.
    (usage.ru_maxrss.max(0) as u64) * 1024
}

enum OutputResult {
    Printed(u64),
    Relayed(RelayStats),
}
