//! The chefs a kitchen runs: the chef directory, and the set of workers
//! (one per chef file) that the capture loop, the poker and the watcher
//! share. Both the kitchen's start-up and the watcher start workers here,
//! the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use crate::host::{ChefComponent, ChefHost, Limits};
use crate::relay::DumplingTx;
use crate::supervisor::ChefWorker;

/// The running chefs by file (absolute path).
pub type Workers = Arc<Mutex<BTreeMap<PathBuf, ChefWorker>>>;

/// A chef found in the chef directory.
pub struct FoundChef {
    /// The file.
    pub path: PathBuf,
    /// Its name, or why it could not be loaded.
    pub name: Result<String, String>,
}

/// Lists the chefs in `dir` (`--chef-list`).
pub fn list_chefs(
    dir: &Path,
    limits: Limits,
    cache_dir: Option<PathBuf>,
) -> anyhow::Result<Vec<FoundChef>> {
    let host = ChefHost::new(limits, cache_dir)?;
    Ok(wasm_files(dir)?
        .into_iter()
        .map(|path| {
            let name = host
                .load(&path)
                .and_then(|c| host.instantiate(&c, &file_label(&path)))
                .map(|i| i.name)
                .map_err(|e| format!("{e:#}"));
            FoundChef { path, name }
        })
        .collect())
}

/// The `*.wasm` files in `dir`, sorted.
pub fn wasm_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the chef directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_wasm(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Whether `p` names a chef component file.
pub fn is_wasm(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "wasm")
}

/// A chef file's stem: its label in logs and in the kitchen hello.
pub fn file_label(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Loads, instantiates and starts a worker for one chef file; `None` if the
/// chef filter (`only`, by chef name) excludes it.
pub fn start_worker(
    host: &Arc<ChefHost>,
    path: &Path,
    only: &[String],
    tx: &DumplingTx,
) -> anyhow::Result<Option<ChefWorker>> {
    let component = host.load(path)?;
    let cached = component.from_cache;
    let worker = start_loaded(host, path, component, only, tx)?;
    if let Some(w) = &worker {
        let how = if cached { " (cached)" } else { "" };
        tracing::info!("loaded chef {} from {}{how}", w.name(), path.display());
    }
    Ok(worker)
}

/// [`start_worker`] for a component already loaded (the watcher has read
/// and compiled the new file itself).
pub fn start_loaded(
    host: &Arc<ChefHost>,
    path: &Path,
    component: ChefComponent,
    only: &[String],
    tx: &DumplingTx,
) -> anyhow::Result<Option<ChefWorker>> {
    let instance = host.instantiate(&component, &file_label(path))?;
    if !only.is_empty() && !only.contains(&instance.name) {
        return Ok(None);
    }
    Ok(Some(ChefWorker::spawn(
        host.clone(),
        component,
        instance,
        tx.clone(),
    )))
}
