//! The chef host: compiles chef components, instantiates them in a sandbox,
//! and calls them with limits.
//!
//! # Sandbox
//!
//! Each chef instance gets its own [`Store`] holding:
//! - a WASI context with **nothing granted**: no preopened directories, no
//!   sockets (TCP, UDP and name lookup all refused), no environment, no
//!   arguments, an empty stdin, stdout/stderr captured into the kitchen log,
//!   and frozen clocks (always the epoch) so a chef cannot time anything the
//!   WIT does not give it. Toolchains that import WASI (Rust std,
//!   componentize-py/-js, C with the preview1 adapter) still link.
//! - [`StoreLimits`]: a memory cap per instance (default
//!   [`DEFAULT_MEMORY_LIMIT`]); growing past it traps.
//! - an epoch deadline per call: a ticker thread bumps the engine's epoch
//!   every [`EPOCH_TICK`]; a call that runs past [`Limits::call_deadline`]
//!   traps with "interrupt".
//!
//! # Interests
//!
//! A chef may export `interests` (`wit/chef.wit`); [`ChefInstance::handle_batch`]
//! then hands it only the packets it wants, copied into a smaller batch, and
//! skips the call when none match. The filter runs on the chef's own worker
//! thread, so it costs the capture nothing.
//!
//! Every payload a chef returns is checked: valid JSON, at most
//! [`Limits::max_payload`] bytes. A trap or a bad payload is a [`ChefFault`];
//! the caller (`crate::supervisor`) throws the instance away.
//!
//! # Compilation cache
//!
//! Compiling a component costs milliseconds (small Rust chefs) to ~10 s
//! (componentize-py/-js output). [`ChefHost::load`] keeps precompiled
//! artifacts (`.cwasm`) in a cache directory keyed by the SHA-256 of the
//! component bytes and wasmtime's compatibility hash of this engine's
//! configuration, so a second load, or a hot swap back to a known version,
//! only deserialises.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use crate::batch::Interest;
use crate::bindings::netdumplings::chef::types::{LogLevel, PacketBatch, PacketPayload};
use crate::bindings::{Chef, ChefPre, WitInterest, INTERESTS_EXPORT};
use wasmtime::component::ComponentExportIndex;

/// Default memory cap per chef instance. A JavaScript chef's engine
/// (SpiderMonkey in componentize-js) lets garbage reach ~55 MB before it
/// collects, on top of ~9 MB at start: 64 MiB made healthy JS chefs trap.
pub const DEFAULT_MEMORY_LIMIT: usize = 128 << 20;
/// Default CPU deadline per call into a chef. It exists to stop a runaway
/// chef (a loop), not to pace healthy ones: a batch is up to 256 packets, and
/// a chef written in an interpreted language (CPython or SpiderMonkey inside
/// the component) spends up to ~0.3 ms a packet making payloads, ~80 ms a
/// batch, twice that on a busy machine. 100 ms failed such chefs
/// intermittently; a looping chef now holds its own worker for 1 s (never the
/// capture, which has its own thread) before it is restarted.
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(1);
/// Default deadline for starting a chef (instantiation and `name()`). Much
/// longer than a call's: components that embed an interpreter (Python,
/// JavaScript) copy tens of megabytes of initialised memory at start, once,
/// which takes well over 100 ms on a busy machine. A chef stuck in its start
/// code is still stopped.
pub const DEFAULT_START_DEADLINE: Duration = Duration::from_secs(10);
/// Default cap on one payload's size.
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;
/// Chef log lines allowed per second before the rest are counted and dropped.
pub const DEFAULT_LOG_LINES_PER_SEC: u32 = 100;
/// Period of the epoch ticker; call deadlines are rounded up to it.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);
/// Capacity of a chef's captured stdout/stderr between two drains.
const STDIO_CAPACITY: usize = 1 << 20;

/// Resource limits applied to every chef instance.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory an instance may grow to.
    pub memory: usize,
    /// Longest a single call (a batch, an interval, a state hand-over) may run.
    pub call_deadline: Duration,
    /// Longest starting a chef (instantiation, then `name()`) may take.
    pub start_deadline: Duration,
    /// Largest payload a chef may return.
    pub max_payload: usize,
    /// Log lines per second a chef may write (the rest are counted).
    pub log_lines_per_sec: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: DEFAULT_MEMORY_LIMIT,
            call_deadline: DEFAULT_CALL_DEADLINE,
            start_deadline: DEFAULT_START_DEADLINE,
            max_payload: DEFAULT_MAX_PAYLOAD,
            log_lines_per_sec: DEFAULT_LOG_LINES_PER_SEC,
        }
    }
}

/// Why a chef call failed. The instance must not be used again.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChefFault {
    /// The call ran past its deadline.
    #[error("ran longer than {0:?} (CPU deadline)")]
    Timeout(Duration),
    /// The guest trapped (panic, out of memory, stack overflow, ...).
    #[error("trapped: {0}")]
    Trap(String),
    /// A payload was not JSON.
    #[error("returned a payload that is not JSON: {0}")]
    InvalidJson(String),
    /// A payload was too big.
    #[error("returned a {size}-byte payload (limit {limit})")]
    Oversized {
        /// Size returned.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A payload pointed at a packet index outside the batch.
    #[error("returned a payload for packet {index} of a {len}-packet batch")]
    BadIndex {
        /// Index returned.
        index: u32,
        /// Packets in the batch.
        len: usize,
    },
}

/// Per-instance state living in the store.
pub struct ChefState {
    /// The WASI context (nothing granted).
    wasi: WasiCtx,
    /// WASI resources (streams) the guest holds.
    table: ResourceTable,
    /// Memory/instance caps.
    limits: StoreLimits,
    /// The chef's name for log lines (file name until the chef says its name).
    name: String,
    /// Captured stdout and stderr, and how much of each was logged already.
    stdout: (MemoryOutputPipe, usize),
    stderr: (MemoryOutputPipe, usize),
    /// Log rate limiting: the current one-second window, lines in it, and
    /// lines suppressed so far.
    log_window: Instant,
    /// Lines in the current window from `log`, stdout and stderr (separate
    /// budgets, so a flood on one cannot hide the others).
    log_lines: [u32; 3],
    log_max: u32,
    /// Log lines dropped by the rate limit.
    pub log_suppressed: u64,
    /// The batch being handled, during a `handle-batch` call only: what
    /// the `scapy.name-batch` import names (`crate::names`).
    pub(crate) current: Option<Arc<PacketBatch>>,
}

/// Where a chef's log line came from (each has its own rate budget).
#[derive(Clone, Copy)]
enum LogSource {
    Log = 0,
    Stdout = 1,
    Stderr = 2,
}

impl Drop for ChefState {
    fn drop(&mut self) {
        // Report the last window's suppressed lines too.
        let over: u32 = self
            .log_lines
            .iter()
            .map(|n| n.saturating_sub(self.log_max))
            .sum();
        if over > 0 {
            tracing::warn!(chef = %self.name, "{over} log lines suppressed in the last second (limit {}/s)", self.log_max);
        }
    }
}

impl WasiView for ChefState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ChefState {
    fn log_line(&mut self, level: LogLevel, message: &str, source: LogSource) {
        let now = Instant::now();
        if now.duration_since(self.log_window) >= Duration::from_secs(1) {
            let over: u32 = self
                .log_lines
                .iter()
                .map(|n| n.saturating_sub(self.log_max))
                .sum();
            if over > 0 {
                tracing::warn!(
                    chef = %self.name,
                    "{over} log lines suppressed in the last second (limit {}/s)",
                    self.log_max
                );
            }
            self.log_window = now;
            self.log_lines = [0, 0, 0];
        }
        let budget = &mut self.log_lines[source as usize];
        *budget = budget.saturating_add(1);
        if *budget > self.log_max {
            self.log_suppressed += 1;
            return;
        }
        // Keep a single line short: a chef must not fill the disk via one call.
        let message = truncate(message, 4096);
        let chef = self.name.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(target: "chef", chef, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "chef", chef, "{message}"),
            LogLevel::Info => tracing::info!(target: "chef", chef, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "chef", chef, "{message}"),
            LogLevel::Error => tracing::error!(target: "chef", chef, "{message}"),
        }
    }

    /// Logs what the guest printed since the last drain.
    fn drain_stdio(&mut self) {
        for is_err in [false, true] {
            let (pipe, seen) = if is_err { &self.stderr } else { &self.stdout };
            let contents = pipe.contents();
            if contents.len() <= *seen {
                continue;
            }
            let new = contents.slice(*seen..);
            if is_err {
                self.stderr.1 = contents.len();
            } else {
                self.stdout.1 = contents.len();
            }
            let text = String::from_utf8_lossy(&new).into_owned();
            let level = if is_err {
                LogLevel::Warn
            } else {
                LogLevel::Info
            };
            for line in text.lines().filter(|l| !l.is_empty()) {
                self.log_line(
                    level,
                    line,
                    if is_err {
                        LogSource::Stderr
                    } else {
                        LogSource::Stdout
                    },
                );
            }
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl crate::bindings::netdumplings::chef::host::Host for ChefState {
    fn log(&mut self, level: LogLevel, message: String) {
        self.log_line(level, &message, LogSource::Log);
    }
}

impl crate::bindings::netdumplings::chef::types::Host for ChefState {}

/// A clock frozen at the Unix epoch: chefs get time only from packets.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Owns the engine, the linker and the epoch ticker. Shared by every chef.
pub struct ChefHost {
    engine: Engine,
    linker: Linker<ChefState>,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    /// Stops the epoch ticker thread when the host is dropped.
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for ChefHost {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// A compiled chef, ready to instantiate any number of times.
#[derive(Clone)]
pub struct ChefComponent {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// SHA-256 of the component bytes (hex), to tell versions apart.
    pub digest: String,
    /// Whether it came from the compilation cache.
    pub from_cache: bool,
    pre: ChefPre<ChefState>,
    /// Its `interests.wants` function, if it exports one.
    wants: Option<ComponentExportIndex>,
}

/// A live chef instance: a store plus its exports.
pub struct ChefInstance {
    store: Store<ChefState>,
    chef: Chef,
    deadline_ticks: u64,
    call_deadline: Duration,
    max_payload: usize,
    /// The chef's name, from its `name` export.
    pub name: String,
    /// What its `interests.wants` said, unless that is "every packet".
    interest: Option<Interest>,
    /// The batch of wanted packets, reused from call to call (`None` only
    /// while lent to a call).
    selected: Option<Arc<PacketBatch>>,
    /// Packets handed to the chef (after its interest's filter).
    delivered: u64,
}

impl ChefHost {
    /// Creates a host. `cache_dir` (created if missing) keeps compiled chefs.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> anyhow::Result<ChefHost> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Synchronous typed calls only: without the component-model
        // concurrency machinery a call is ~2x cheaper (see ARCHITECTURE.md).
        config.concurrency_support(false);
        // `ND_CHEF_PROFILE=perfmap`: name chefs' compiled functions for
        // `perf` (in /tmp/perf-PID.map), to see where a chef spends its time.
        // `ND_CHEF_PROFILE=jitdump`: also their code, for `perf annotate`
        // (`perf record -k mono`, then `perf inject --jit`).
        match std::env::var("ND_CHEF_PROFILE").as_deref() {
            Ok("perfmap") => {
                config.profiler(wasmtime::ProfilingStrategy::PerfMap);
            }
            Ok("jitdump") => {
                config.profiler(wasmtime::ProfilingStrategy::JitDump);
            }
            _ => {}
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Chef::add_to_linker::<ChefState, HasSelf<ChefState>>(&mut linker, |s| s)?;
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the chef cache directory {}", dir.display())
            })?;
        }
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("epoch-ticker".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })?;
        }
        Ok(ChefHost {
            engine,
            linker,
            limits,
            cache_dir,
            ticker_stop,
        })
    }

    /// The limits every instance gets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The default cache directory: `$XDG_CACHE_HOME/netdumplings/chefs` or
    /// `~/.cache/netdumplings/chefs`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("netdumplings").join("chefs"))
    }

    /// Loads (compiling, or deserialising from the cache) a chef component.
    pub fn load(&self, path: &Path) -> anyhow::Result<ChefComponent> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        self.load_bytes(path, &bytes)
    }

    /// Like [`ChefHost::load`], for bytes already read.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8]) -> anyhow::Result<ChefComponent> {
        let digest = hex(&Sha256::digest(bytes));
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let cache_file = self
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{digest}-{:016x}.cwasm", engine_hash.finish())));
        let mut from_cache = false;
        let mut component = None;
        if let Some(file) = cache_file.as_ref().filter(|f| f.exists()) {
            // SAFETY: the file was written by `Component::serialize` of an
            // engine with the same compatibility hash (it is in the name),
            // into a directory owned by this user. A corrupt file is rejected
            // by wasmtime's header checks and recompiled below.
            match unsafe { Component::deserialize_file(&self.engine, file) } {
                Ok(c) => {
                    component = Some(c);
                    from_cache = true;
                }
                Err(e) => tracing::warn!("ignoring cached {}: {e}", file.display()),
            }
        }
        let component = match component {
            Some(c) => c,
            None => {
                let c = Component::new(&self.engine, bytes).map_err(|e| {
                    anyhow::anyhow!("{} is not a valid chef component: {e:#}", path.display())
                })?;
                if let Some(file) = &cache_file {
                    if let Err(e) = c.serialize().and_then(|b| {
                        // Write then rename: a reader never sees half a file.
                        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
                        std::fs::write(&tmp, b)?;
                        std::fs::rename(&tmp, file)?;
                        Ok(())
                    }) {
                        tracing::debug!("cannot cache {}: {e}", path.display());
                    }
                }
                c
            }
        };
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            anyhow::anyhow!(
                "{} does not fit the chef world (wit/chef.wit): {e:#}",
                path.display()
            )
        })?;
        let pre = ChefPre::new(pre).map_err(|e| {
            anyhow::anyhow!("{} does not export the chef world: {e:#}", path.display())
        })?;
        let wants = component
            .get_export_index(None, INTERESTS_EXPORT)
            .and_then(|i| component.get_export_index(Some(&i), "wants"));
        Ok(ChefComponent {
            path: path.to_path_buf(),
            digest,
            from_cache,
            pre,
            wants,
        })
    }

    /// Instantiates a chef in a fresh sandbox and asks its name.
    pub fn instantiate(
        &self,
        component: &ChefComponent,
        label: &str,
    ) -> anyhow::Result<ChefInstance> {
        let stdout = MemoryOutputPipe::new(STDIO_CAPACITY);
        let stderr = MemoryOutputPipe::new(STDIO_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .build();
        let state = ChefState {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory)
                .trap_on_grow_failure(true)
                .build(),
            name: label.to_string(),
            stdout: (stdout, 0),
            stderr: (stderr, 0),
            log_window: Instant::now(),
            log_lines: [0, 0, 0],
            log_max: self.limits.log_lines_per_sec,
            log_suppressed: 0,
            current: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = |d: Duration| d.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1) as u64;
        store.set_epoch_deadline(ticks(self.limits.start_deadline));
        store.epoch_deadline_trap();
        let cannot = |e: wasmtime::Error| {
            anyhow::anyhow!("cannot instantiate {}: {e:#}", component.path.display())
        };
        let raw = component
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .map_err(cannot)?;
        let chef = Chef::new(&mut store, &raw).map_err(cannot)?;
        let wants = match &component.wants {
            Some(i) => Some(
                raw.get_typed_func::<(), (WitInterest,)>(&mut store, i)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "{}: its interests.wants has the wrong type: {e:#}",
                            component.path.display()
                        )
                    })?,
            ),
            None => None,
        };
        let mut instance = ChefInstance {
            store,
            chef,
            deadline_ticks: ticks(self.limits.start_deadline),
            call_deadline: self.limits.start_deadline,
            max_payload: self.limits.max_payload,
            name: String::new(),
            interest: None,
            selected: None,
            delivered: 0,
        };
        let name = instance
            .call(|chef, store| chef.netdumplings_chef_handlers().call_name(store))
            .map_err(|e| anyhow::anyhow!("{}: name() {e}", component.path.display()))?;
        instance.store.data_mut().name = name.clone();
        instance.name = name;
        if let Some(wants) = wants {
            let (w,) = instance
                .call(|_, store| wants.call(store, ()))
                .map_err(|e| anyhow::anyhow!("{}: wants() {e}", component.path.display()))?;
            let interest = Interest::new(&w.any_layer, &w.any_port);
            if !interest.is_everything() {
                tracing::debug!(chef = %instance.name, "wants only {interest:?}");
                instance.selected = Some(Arc::new(crate::batch::empty_batch(0, 0)));
                instance.interest = Some(interest);
            }
        }
        // Started: every later call gets the (short) call deadline.
        instance.deadline_ticks = ticks(self.limits.call_deadline);
        instance.call_deadline = self.limits.call_deadline;
        Ok(instance)
    }
}

impl ChefInstance {
    /// Runs one call with a fresh deadline, then logs the guest's output.
    fn call<R>(
        &mut self,
        f: impl FnOnce(&Chef, &mut Store<ChefState>) -> wasmtime::Result<R>,
    ) -> Result<R, ChefFault> {
        self.store.set_epoch_deadline(self.deadline_ticks);
        let result = f(&self.chef, &mut self.store);
        self.store.data_mut().drain_stdio();
        result.map_err(|e| match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => ChefFault::Timeout(self.call_deadline),
            _ => ChefFault::Trap(format!("{e:#}")),
        })
    }

    fn check_payload(&self, json: &str) -> Result<(), ChefFault> {
        if json.len() > self.max_payload {
            return Err(ChefFault::Oversized {
                size: json.len(),
                limit: self.max_payload,
            });
        }
        serde_json::from_str::<serde::de::IgnoredAny>(json)
            .map(|_| ())
            .map_err(|e| ChefFault::InvalidJson(e.to_string()))
    }

    /// Hands a batch to the chef (only the packets it wants, see
    /// [`Interest`]); returns its payloads (checked), whose indexes count
    /// within what it was handed.
    pub fn handle_batch(
        &mut self,
        batch: &Arc<PacketBatch>,
    ) -> Result<Vec<PacketPayload>, ChefFault> {
        let Some(interest) = &self.interest else {
            return self.handle(batch);
        };
        let mut selected = self
            .selected
            .take()
            .unwrap_or_else(|| Arc::new(crate::batch::empty_batch(0, 0)));
        // Unshared between calls (the store lets go of it after each), so
        // this reuses the allocation rather than cloning.
        let wanted = interest.select(batch, Arc::make_mut(&mut selected));
        let result = match wanted {
            0 => Ok(Vec::new()),
            _ => self.handle(&selected),
        };
        self.selected = Some(selected);
        result
    }

    /// Packets handed to the chef so far (fewer than offered when it
    /// exports `interests`).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    fn handle(&mut self, batch: &Arc<PacketBatch>) -> Result<Vec<PacketPayload>, ChefFault> {
        crate::names::lend(self.store.data_mut(), batch);
        let out = self.call(|chef, store| {
            chef.netdumplings_chef_handlers()
                .call_handle_batch(&mut *store, batch)
        });
        self.store.data_mut().current = None;
        let out = out?;
        let len = crate::batch::batch_len(batch);
        self.delivered += len as u64;
        for p in &out {
            if p.index as usize >= len {
                return Err(ChefFault::BadIndex {
                    index: p.index,
                    len,
                });
            }
            self.check_payload(&p.json)?;
        }
        Ok(out)
    }

    /// Pokes the chef's interval handler.
    pub fn interval(&mut self) -> Result<Option<String>, ChefFault> {
        let out =
            self.call(|chef, store| chef.netdumplings_chef_handlers().call_interval(store))?;
        if let Some(json) = &out {
            self.check_payload(json)?;
        }
        Ok(out)
    }

    /// Asks the chef for its state (for a hot swap).
    pub fn export_state(&mut self) -> Result<Option<Vec<u8>>, ChefFault> {
        self.call(|chef, store| chef.netdumplings_chef_handlers().call_export_state(store))
    }

    /// Gives the chef its predecessor's state. `Ok(Err(_))` is the chef refusing it.
    pub fn import_state(&mut self, state: &[u8]) -> Result<Result<(), String>, ChefFault> {
        self.call(|chef, store| {
            chef.netdumplings_chef_handlers()
                .call_import_state(store, state)
        })
    }

    /// Log lines dropped by the rate limit so far.
    pub fn log_suppressed(&self) -> u64 {
        self.store.data().log_suppressed
    }
}

/// Lower-case hex of `bytes` (component digests).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
