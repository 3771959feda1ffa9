//! Hot swap: watches the chef directory and loads what changes.
//!
//! - a new `.wasm` appears -> loaded, started;
//! - an existing one is replaced -> the new version is compiled here (never
//!   on the packet path) and handed to the chef's worker (`ChefWorker::swap`);
//! - one is removed -> its worker finishes (final interval) and is retired.
//!
//! Partial writes: editors and `cp` write in steps, and each step raises an
//! event. A component that is cut short does not validate, so every event
//! simply tries to load the file: the attempt after the last write succeeds.
//! A failure is only reported once the file has been quiet for
//! [`QUIET_BEFORE_REJECT`]; a version whose bytes did not change is ignored.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};

use crate::chefs::{start_loaded, Workers};
use crate::host::ChefHost;
use crate::relay::DumplingTx;

/// After a failed load, how long a file must stay unchanged before the
/// failure is reported (a copy in progress fails to load, then succeeds).
pub const QUIET_BEFORE_REJECT: Duration = Duration::from_millis(300);

/// Per-file bookkeeping.
struct Seen {
    /// Last event for this file.
    last_event: Instant,
    /// First event of the current burst (the swap latency clock starts here).
    burst_start: Instant,
    /// Whether a load attempt is due.
    dirty: bool,
    /// Whether loading failed since the last change event (then it is
    /// retried only once the file is quiet, to report the failure).
    tried: bool,
    /// Digest of the bytes last loaded (or rejected) for this file.
    digest: Option<[u8; 32]>,
}

/// Starts the watcher thread. It stops when `done` is set.
pub fn spawn(
    dir: PathBuf,
    host: Arc<ChefHost>,
    workers: Workers,
    only: Vec<String>,
    tx: DumplingTx,
    done: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let (ev_tx, ev_rx) = crossbeam_channel::unbounded();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let _ = ev_tx.send(res);
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
    // Files already running count as loaded, unless they changed between
    // their loading and now (before the watch began): those are due.
    for (path, worker) in workers.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let current: Option<[u8; 32]> = std::fs::read(path).ok().map(|b| Sha256::digest(&b).into());
        let changed = current.is_some_and(|d| crate::host::hex(&d) != worker.status().digest);
        let now = Instant::now();
        seen.insert(
            path.clone(),
            Seen {
                last_event: now,
                burst_start: now,
                dirty: changed,
                tried: false,
                digest: if changed { None } else { current },
            },
        );
    }
    let handle = std::thread::Builder::new()
        .name("chef-watcher".into())
        .spawn(move || {
            let _watcher = watcher; // dropping it stops the events
            while !done.load(Ordering::Relaxed) {
                match ev_rx.recv_timeout(Duration::from_millis(20)) {
                    // Reading a file raises access events (open/close): our
                    // own reads would keep the file "busy" forever.
                    // Reading a file raises access events (open/close) and may
                    // touch its atime (metadata): our own reads would keep the
                    // file "busy" forever. Only content and name changes count.
                    Ok(Ok(event))
                        if matches!(
                            event.kind,
                            notify::EventKind::Access(_)
                                | notify::EventKind::Modify(notify::event::ModifyKind::Metadata(_))
                        ) => {}
                    Ok(Ok(event)) => {
                        let now = Instant::now();
                        for path in event.paths {
                            if path.extension().is_none_or(|e| e != "wasm") {
                                continue;
                            }
                            let s = seen.entry(path).or_insert(Seen {
                                last_event: now,
                                burst_start: now,
                                dirty: true,
                                tried: false,
                                digest: None,
                            });
                            if !s.dirty {
                                s.burst_start = now;
                            }
                            s.dirty = true;
                            s.tried = false;
                            s.last_event = now;
                        }
                    }
                    Ok(Err(e)) => tracing::warn!("chef directory watch error: {e}"),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
                let due: Vec<PathBuf> = seen
                    .iter()
                    .filter(|(_, s)| {
                        s.dirty && (!s.tried || s.last_event.elapsed() >= QUIET_BEFORE_REJECT)
                    })
                    .map(|(p, _)| p.clone())
                    .collect();
                for path in due {
                    attempt(&path, &mut seen, &host, &workers, &only, &tx);
                }
            }
        })?;
    Ok(handle)
}

fn attempt(
    path: &PathBuf,
    seen: &mut HashMap<PathBuf, Seen>,
    host: &Arc<ChefHost>,
    workers: &Workers,
    only: &[String],
    tx: &DumplingTx,
) {
    let Some(s) = seen.get_mut(path) else { return };
    let quiet = s.last_event.elapsed() >= QUIET_BEFORE_REJECT;
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(_) if !path.exists() => {
            s.dirty = false;
            s.digest = None;
            let removed = workers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(path);
            if let Some(w) = removed {
                let name = w.name();
                let status = w.finish();
                tracing::info!(chef = %name, "retired: {} was removed ({} packets handled)", path.display(), status.packets);
            }
            return;
        }
        Err(e) => {
            if quiet {
                tracing::warn!("cannot read {}: {e}", path.display());
                s.dirty = false;
            }
            return;
        }
    };
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    if s.digest == Some(digest) {
        s.dirty = false; // same bytes as what runs (or was rejected)
        return;
    }
    tracing::debug!("loading {} ({} bytes)", path.display(), bytes.len());
    let component = match host.load_bytes(path, &bytes) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("cannot load {} yet: {e:#}", path.display());
            s.tried = true;
            if quiet {
                tracing::error!("rejected {}: {e:#}", path.display());
                s.dirty = false;
                s.digest = Some(digest);
            }
            return; // maybe a partial write; the next event tries again
        }
    };
    s.dirty = false;
    s.digest = Some(digest);
    let noticed = s.burst_start;
    let map = workers.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(w) = map.get(path) {
        // Lands between two batches (see `crate::supervisor`).
        w.swap(component, noticed);
        return;
    }
    drop(map);
    match start_loaded(host, path, component, only, tx) {
        Ok(Some(w)) => {
            tracing::info!("new chef {} from {}", w.name(), path.display());
            workers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(path.clone(), w);
        }
        Ok(None) => {}
        Err(e) => tracing::error!("rejected {}: {e:#}", path.display()),
    }
}
