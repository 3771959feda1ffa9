//! One worker thread per chef: feeds it batches and pokes, contains its
//! faults, and swaps its versions.
//!
//! Batches, pokes and the final call arrive on one FIFO channel
//! ([`Command`]). A new version arrives out of band, in a one-slot mailbox
//! ([`ChefWorker::swap`]) that the worker checks before every command: the
//! swap lands exactly between two batches, so every packet is handled by
//! exactly one version (none lost, none doubled), and it does not wait
//! behind the up to [`CHEF_QUEUE`] batches already queued (a replay keeps
//! the queue full; waiting would add milliseconds to every swap). If two
//! versions arrive before the worker looks, the newer one wins.
//!
//! # Faults
//!
//! A trap, a timeout, an invalid or oversized payload throws the instance
//! away. The worker logs the chef's name and the reason, waits
//! (exponential backoff from [`RESTART_BACKOFF_MIN`]), then starts a fresh
//! instance of the same version. Batches arriving meanwhile are counted as
//! skipped. After [`MAX_CONSECUTIVE_FAULTS`] faults with no successful call
//! in between, the chef is *parked*: it gets no more packets until a new
//! version of its file arrives. Other chefs never notice (own thread, own
//! store, own limits).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use nd_protocol::Driver;

use crate::bindings::netdumplings::chef::types::PacketBatch;
use crate::host::{ChefComponent, ChefHost, ChefInstance};
use crate::latency::Latency;
use crate::relay::{DumplingTx, Outgoing};

/// First wait before restarting a faulted chef.
pub const RESTART_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between restarts.
pub const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Faults in a row (without a successful call) before a chef is parked.
pub const MAX_CONSECUTIVE_FAULTS: u32 = 5;
/// Batches queued for one chef before the capture side waits (replay) or
/// skips this chef (live).
pub const CHEF_QUEUE: usize = 64;

/// Something for a chef worker to do.
pub enum Command {
    /// Handle a batch.
    Batch(Arc<PacketBatch>),
    /// Call the interval handler.
    Interval,
    /// Nothing but a wake-up, so an idle worker looks at its swap mailbox.
    Wake,
    /// Call the interval handler one last time and exit.
    Finish,
}

/// Where a chef stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChefState {
    /// Handling packets.
    Running,
    /// Faulted; waiting to restart.
    Restarting,
    /// Faulted too often; waiting for a new version.
    Parked,
    /// Finished (end of replay, or its file was removed).
    Retired,
}

/// A chef's counters, shared with the kitchen for status and tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChefStatus {
    /// The chef's name.
    pub name: String,
    /// The file it was loaded from.
    pub file: String,
    /// SHA-256 of the running version.
    pub digest: String,
    /// Where it stands.
    pub state: ChefState,
    /// Packets offered to it (handed over, or filtered out by its interests).
    pub packets: u64,
    /// Of those, packets it wanted and was handed (all of them unless the
    /// chef exports `interests`).
    pub packets_wanted: u64,
    /// Packets it did not see (restarting, parked, or its queue was full).
    pub packets_skipped: u64,
    /// Payloads it made.
    pub payloads: u64,
    /// Faults so far.
    pub faults: u64,
    /// Fresh instances started after faults.
    pub restarts: u64,
    /// Versions swapped in.
    pub swaps: u64,
    /// The last fault, if any.
    pub last_fault: Option<String>,
    /// Latency of the last swap: file change noticed -> new version running, in ms.
    pub last_swap_ms: Option<f64>,
    /// How long its calls took (batches and interval pokes, faulted ones too).
    pub call_latency: Latency,
}

/// A new version waiting to be swapped in, and when its file change was
/// noticed (for the swap latency).
type SwapMailbox = Arc<Mutex<Option<(ChefComponent, Instant)>>>;

/// The kitchen's handle on one chef worker.
pub struct ChefWorker {
    /// Commands in, FIFO.
    tx: Sender<Command>,
    /// The next version to run, checked by the worker before every command.
    swap: SwapMailbox,
    /// Counters, updated by the worker.
    status: Arc<Mutex<ChefStatus>>,
    /// Packets skipped because the queue was full (live capture).
    queue_skipped: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ChefWorker {
    /// Starts a worker for an already-instantiated chef.
    pub fn spawn(
        host: Arc<ChefHost>,
        component: ChefComponent,
        instance: ChefInstance,
        out: DumplingTx,
    ) -> ChefWorker {
        let (tx, rx) = crossbeam_channel::bounded(CHEF_QUEUE);
        let status = Arc::new(Mutex::new(ChefStatus {
            name: instance.name.clone(),
            file: component.path.display().to_string(),
            digest: component.digest.clone(),
            state: ChefState::Running,
            packets: 0,
            packets_wanted: 0,
            packets_skipped: 0,
            payloads: 0,
            faults: 0,
            restarts: 0,
            swaps: 0,
            last_fault: None,
            last_swap_ms: None,
            call_latency: Latency::default(),
        }));
        let swap: SwapMailbox = Arc::default();
        let worker = Worker {
            name: Arc::from(instance.name.as_str()),
            swap: swap.clone(),
            host,
            component,
            instance: Some(instance),
            status: status.clone(),
            out,
            consecutive_faults: 0,
            restart_at: None,
        };
        let thread = std::thread::Builder::new()
            .name(format!("chef-{}", worker.name))
            .spawn(move || worker.run(rx))
            .expect("spawn a chef thread");
        ChefWorker {
            tx,
            swap,
            status,
            queue_skipped: Arc::new(AtomicU64::new(0)),
            thread: Some(thread),
        }
    }

    /// The chef's name.
    pub fn name(&self) -> String {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .name
            .clone()
    }

    /// Asks for an interval payload; a poke the worker has no room for is
    /// dropped (the next one comes), the poker never blocks.
    pub fn poke(&self) {
        let _ = self.tx.try_send(Command::Interval);
    }

    /// A copy of its counters.
    pub fn status(&self) -> ChefStatus {
        let mut s = self
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        s.packets_skipped += self.queue_skipped.load(Ordering::Relaxed);
        s
    }

    /// Sends a batch: waits for room when `wait` (replays lose nothing), or
    /// counts it as skipped when the queue is full (live capture never stalls).
    pub fn send_batch(&self, batch: &Arc<PacketBatch>, wait: bool) {
        let cmd = Command::Batch(batch.clone());
        if wait {
            let _ = self.tx.send(cmd);
        } else if self.tx.try_send(cmd).is_err() {
            self.queue_skipped
                .fetch_add(crate::batch::batch_len(batch) as u64, Ordering::Relaxed);
        }
    }

    /// Hands the worker a new version (state handed over if it exports any).
    /// It is swapped in before the next batch the worker handles; `noticed`
    /// is when the file change was seen (the swap latency clock).
    pub fn swap(&self, component: ChefComponent, noticed: Instant) {
        *self.swap.lock().unwrap_or_else(|p| p.into_inner()) = Some((component, noticed));
        // A full queue means the worker is busy and looks at the mailbox
        // before its next command anyway.
        let _ = self.tx.try_send(Command::Wake);
    }

    /// Asks the worker to finish (final interval) and waits for it.
    pub fn finish(mut self) -> ChefStatus {
        let _ = self.tx.send(Command::Finish);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.status()
    }
}

struct Worker {
    name: Arc<str>,
    /// Where [`ChefWorker::swap`] leaves a new version.
    swap: SwapMailbox,
    host: Arc<ChefHost>,
    /// The running version (restarts instantiate it again).
    component: ChefComponent,
    /// `None` while restarting or parked.
    instance: Option<ChefInstance>,
    status: Arc<Mutex<ChefStatus>>,
    out: DumplingTx,
    consecutive_faults: u32,
    /// When to try a fresh instance (restarting state).
    restart_at: Option<Instant>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Command>) {
        while let Ok(cmd) = rx.recv() {
            let next = self.swap.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some((component, noticed)) = next {
                self.swap_in(component, noticed);
            }
            match cmd {
                Command::Batch(batch) => self.batch(&batch),
                Command::Interval => self.interval(),
                Command::Wake => {}
                Command::Finish => {
                    self.interval();
                    self.with_status(|s| s.state = ChefState::Retired);
                    return;
                }
            }
        }
    }

    fn with_status(&self, f: impl FnOnce(&mut ChefStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Restarts a faulted chef once its backoff is over.
    fn ready(&mut self) -> bool {
        if self.instance.is_some() {
            return true;
        }
        match self.restart_at {
            Some(at) if Instant::now() >= at => {}
            _ => return false,
        }
        match self.host.instantiate(&self.component, &self.name) {
            Ok(i) => {
                tracing::info!(chef = %self.name, "restarted from a fresh instance");
                self.instance = Some(i);
                self.restart_at = None;
                self.with_status(|s| {
                    s.restarts += 1;
                    s.state = ChefState::Running;
                });
                true
            }
            Err(e) => {
                self.fault(format!("cannot restart: {e:#}"));
                false
            }
        }
    }

    fn fault(&mut self, reason: String) {
        self.instance = None;
        self.consecutive_faults += 1;
        let parked = self.consecutive_faults >= MAX_CONSECUTIVE_FAULTS;
        if parked {
            tracing::error!(
                chef = %self.name,
                "chef {} {reason}; parked after {} faults in a row (replace its file to try again)",
                self.name, self.consecutive_faults
            );
            self.restart_at = None;
        } else {
            let backoff = (RESTART_BACKOFF_MIN * 2u32.pow(self.consecutive_faults - 1))
                .min(RESTART_BACKOFF_MAX);
            tracing::error!(chef = %self.name, "chef {} {reason}; restarting in {backoff:?}", self.name);
            self.restart_at = Some(Instant::now() + backoff);
        }
        self.with_status(|s| {
            s.faults += 1;
            s.last_fault = Some(reason);
            s.state = if parked {
                ChefState::Parked
            } else {
                ChefState::Restarting
            };
        });
    }

    fn emit(&self, driver: Driver, payload: String) {
        self.out.send(Outgoing {
            chef: self.name.clone(),
            driver,
            payload,
            created: nd_protocol::now_epoch_secs(),
        });
    }

    fn batch(&mut self, batch: &Arc<PacketBatch>) {
        let n = crate::batch::batch_len(batch) as u64;
        if !self.ready() {
            self.with_status(|s| s.packets_skipped += n);
            return;
        }
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        let delivered = instance.delivered();
        let started = Instant::now();
        let result = instance.handle_batch(batch);
        let took = started.elapsed();
        match result {
            Ok(payloads) => {
                self.consecutive_faults = 0;
                let made = payloads.len() as u64;
                let wanted = instance.delivered() - delivered;
                for p in payloads {
                    self.emit(Driver::Packet, p.json);
                }
                self.with_status(|s| {
                    s.packets += n;
                    s.packets_wanted += wanted;
                    s.payloads += made;
                    s.call_latency.observe(took);
                });
            }
            Err(fault) => {
                self.with_status(|s| {
                    s.packets_skipped += n;
                    s.call_latency.observe(took);
                });
                self.fault(fault.to_string());
            }
        }
    }

    fn interval(&mut self) {
        if !self.ready() {
            return;
        }
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        let started = Instant::now();
        let result = instance.interval();
        let took = started.elapsed();
        self.with_status(|s| s.call_latency.observe(took));
        match result {
            Ok(Some(json)) => {
                self.emit(Driver::Interval, json);
                self.with_status(|s| s.payloads += 1);
            }
            Ok(None) => {}
            Err(fault) => self.fault(fault.to_string()),
        }
    }

    fn swap_in(&mut self, component: ChefComponent, noticed: Instant) {
        let mut fresh = match self.host.instantiate(&component, &self.name) {
            Ok(i) => i,
            Err(e) => {
                tracing::error!(
                    chef = %self.name,
                    "rejected new version of {}: {e:#}; the running version keeps going",
                    component.path.display()
                );
                return;
            }
        };
        // Hand the state over, if the old version is alive and exports one.
        if let Some(old) = self.instance.as_mut() {
            match old.export_state() {
                Ok(Some(state)) => match fresh.import_state(&state) {
                    Ok(Ok(())) => {}
                    Ok(Err(why)) => {
                        tracing::warn!(chef = %self.name, "new version refused the state: {why}; starting fresh")
                    }
                    Err(fault) => {
                        tracing::error!(
                            chef = %self.name,
                            "rejected new version: import-state {fault}; the running version keeps going"
                        );
                        return;
                    }
                },
                Ok(None) => {}
                Err(fault) => {
                    tracing::warn!(chef = %self.name, "old version could not export its state ({fault}); new version starts fresh")
                }
            }
        }
        let ms = noticed.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            chef = %self.name,
            "swapped in {} ({}) in {ms:.2} ms",
            component.path.display(),
            &component.digest[..12]
        );
        if fresh.name != *self.name {
            tracing::warn!(chef = %self.name, "the new version calls itself {}", fresh.name);
        }
        self.instance = Some(fresh);
        self.consecutive_faults = 0;
        self.restart_at = None;
        self.with_status(|s| {
            s.digest = component.digest.clone();
            s.swaps += 1;
            s.state = ChefState::Running;
            s.last_swap_ms = Some(ms);
        });
        self.component = component;
    }
}
