//! Reloading a running hub (SIGHUP): [`HubHandle::reload`] swaps the
//! configuration whole; each connection task then re-checks its own token
//! with [`recheck`] (the one place that decides "still admitted?").

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::auth;
use crate::config::Config;
use crate::state::{Live, Role, State};

use tracing::{info, warn};

/// Reloads a running hub's configuration (SIGHUP in `nd-hub`).
#[derive(Clone)]
pub struct HubHandle {
    pub(crate) state: Arc<State>,
}

impl HubHandle {
    /// Replaces the tokens, limits, status period and TLS certificate with
    /// those of `config` (what applies to open connections and what to new
    /// ones only: [`config`]'s "What a reload changes"). Disconnects only the
    /// peers whose token `config` revokes. Refused whole (the old
    /// configuration stays) if `config` changes what needs a restart
    /// (addresses, ports) or its TLS files cannot be loaded.
    pub fn reload(&self, config: Config) -> anyhow::Result<()> {
        self.reload_from(|| Ok(config))
    }

    /// [`HubHandle::reload`] with the configuration `load` gives; a `load`
    /// that fails (an unreadable file, say) counts as a failed reload too.
    pub fn reload_from(&self, load: impl FnOnce() -> anyhow::Result<Config>) -> anyhow::Result<()> {
        let result = load().and_then(|config| self.try_reload(config));
        let counter = match result {
            Ok(()) => &self.state.counters.reloads_ok,
            Err(_) => &self.state.counters.reloads_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        *self
            .state
            .last_reload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = result.as_ref().err().map(|e| format!("{e:#}"));
        result
    }

    fn try_reload(&self, config: Config) -> anyhow::Result<()> {
        let _one_at_a_time = self
            .state
            .reloading
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let old = self.state.live();
        if let Some(why) = old.config.restart_needed(&config) {
            anyhow::bail!(why);
        }
        let live = Arc::new(Live::new(config)?);
        announce_auth(&live.config);
        *self.state.live.write().unwrap_or_else(|p| p.into_inner()) = live;
        // Every connection task applies the new configuration itself (new
        // rate, new queue bounds) and closes itself if its token was revoked.
        self.state.reloads.send_replace(());
        Ok(())
    }

    /// `max_connections` as now configured.
    pub fn max_connections(&self) -> usize {
        self.state.live().config.max_connections
    }

    /// The `/metrics` page as it would be served now.
    pub fn metrics(&self) -> String {
        self.state.metrics()
    }
}

/// Logs, once, whether peers must authenticate.
pub(crate) fn announce_auth(config: &Config) {
    match (&config.kitchen_tokens, &config.eater_tokens) {
        (None, None) => warn!(
            "no tokens configured: any kitchen and any eater may connect (as in netdumplings)"
        ),
        (k, e) => {
            let describe = |t: &Option<Vec<String>>| match t {
                None => "not required".to_string(),
                Some(t) if t.is_empty() => "required, but none is valid: all refused".to_string(),
                Some(t) => format!("required ({} accepted)", t.len()),
            };
            info!(
                "kitchen tokens {}; eater tokens {}",
                describe(k),
                describe(e)
            );
        }
    }
}

/// Why a connection is closed after a reload: its token was revoked.
pub(crate) const TOKEN_REVOKED: &str = "token revoked";

/// After a reload, what every connection task runs (whatever it was doing:
/// idle, throttled, or waiting on a write): the configuration now in force
/// if the connection's token is still accepted, `None` if the reload
/// revoked it (the task then closes with 4103 [`TOKEN_REVOKED`]). The
/// caller applies its role's new limits from the returned configuration.
pub(crate) fn recheck(
    state: &State,
    role: Role,
    credential: &auth::Credential,
) -> Option<Arc<Live>> {
    let live = state.live();
    live.admits(role, credential).then_some(live)
}
