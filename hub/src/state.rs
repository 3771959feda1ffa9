//! What every connection task shares: the live configuration, the
//! connected kitchens and eaters, the counters, and the fan-out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Instant;

use crate::bus::{self, Bus};
use crate::config::Config;
use crate::filter::Filter;
use crate::metrics::{self, SeriesId};
use crate::queue::{EaterQueue, Queued};
use crate::{auth, tls};

use nd_protocol::status::{EaterStatus, HubSummary, InfoFromHub, KitchenStatus, SystemStatus};
use nd_protocol::subscription::Subscription;
use nd_protocol::Hello;
use tokio::sync::watch;

/// A connected kitchen, as the status dumpling reports it.
pub(crate) struct KitchenEntry {
    /// Its hello, echoed verbatim in status dumplings.
    pub(crate) hello: Hello,
    /// Where it connected from.
    pub(crate) peer: SocketAddr,
}

/// A connected eater.
pub(crate) struct EaterEntry {
    /// Its hello, echoed verbatim in status dumplings.
    pub(crate) hello: Hello,
    /// Where it connected from.
    pub(crate) peer: SocketAddr,
    /// Dumplings waiting to be written to it.
    pub(crate) queue: EaterQueue,
    /// Dumplings written to it (for /metrics).
    pub(crate) written: AtomicU64,
    /// What it asked for, applied before its queue. Locked once per
    /// kitchen run by the fan-out (unless `takes_all`), and by a
    /// `subscribe` message.
    filter: Mutex<Filter>,
    /// Whether `filter` takes everything: the fan-out then pushes the run
    /// as it is, without taking the lock (every eater of netdumplings'
    /// protocol, and ours unless they subscribe).
    takes_all: AtomicBool,
    /// Fed from its own consumer of the bus (it asked for history): the
    /// shared feed ([`State::fan_out_bus`]) skips it.
    pub(crate) own_feed: bool,
}

impl EaterEntry {
    /// A new eater with an empty queue.
    pub(crate) fn new(
        hello: Hello,
        peer: SocketAddr,
        queue: EaterQueue,
        s: Subscription,
        own_feed: bool,
    ) -> EaterEntry {
        EaterEntry {
            own_feed,
            hello,
            peer,
            queue,
            written: AtomicU64::new(0),
            takes_all: AtomicBool::new(s.is_all()),
            filter: Mutex::new(Filter::new(s)),
        }
    }

    /// Replaces the subscription (a `subscribe` message).
    pub(crate) fn resubscribe(&self, s: Subscription) {
        let mut filter = self.filter.lock().unwrap_or_else(|p| p.into_inner());
        self.takes_all.store(s.is_all(), Ordering::Relaxed);
        filter.replace(s);
    }

    /// Pushes what this eater wants of a kitchen's run into its queue.
    pub(crate) fn push_run(
        &self,
        run: &[Queued],
        registry: &metrics::Registry,
        status: SeriesId,
        dropped: &mut u64,
    ) {
        if self.takes_all.load(Ordering::Relaxed) {
            self.queue.push_all(run.iter().cloned(), dropped);
            return;
        }
        let mut filter = self.filter.lock().unwrap_or_else(|p| p.into_inner());
        let wanted = run
            .iter()
            .filter(|q| filter.wants(q, registry, status))
            .cloned();
        self.queue.push_all(wanted, dropped);
    }

    /// The subscription in force now.
    pub(crate) fn subscription(&self) -> Subscription {
        self.filter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .subscription()
            .clone()
    }
}

/// The part of the configuration a reload replaces, ready to use.
pub(crate) struct Live {
    /// The configuration as resolved.
    pub(crate) config: Config,
    /// Accepted kitchen tokens; `None`: kitchens are not authenticated.
    pub(crate) kitchen_tokens: Option<auth::Tokens>,
    /// Accepted eater tokens; `None`: eaters are not authenticated.
    pub(crate) eater_tokens: Option<auth::Tokens>,
    /// TLS for the in and out ports; `None`: plain ws://.
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Live {
    pub(crate) fn new(config: Config) -> anyhow::Result<Live> {
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        Ok(Live {
            kitchen_tokens: config.kitchen_tokens.as_deref().map(auth::Tokens::new),
            eater_tokens: config.eater_tokens.as_deref().map(auth::Tokens::new),
            tls,
            config,
        })
    }

    /// Whether a peer of `role` holding `credential` may be connected
    /// under this configuration.
    pub(crate) fn admits(&self, role: Role, credential: &auth::Credential) -> bool {
        let tokens = match role {
            Role::Kitchen => &self.kitchen_tokens,
            Role::Eater => &self.eater_tokens,
        };
        tokens.as_ref().is_none_or(|t| t.accepts(credential))
    }
}

/// State shared by every connection task.
pub(crate) struct State {
    /// The current configuration; replaced whole by a reload.
    pub(crate) live: RwLock<Arc<Live>>,
    /// Signalled after every reload (once `live` holds the new
    /// configuration). Each connection task subscribes before it checks
    /// its token, so no reload can slip between that check and the task's
    /// first look at this channel; kitchens poll it per message (one atomic
    /// load), and both roles wait on it while idle, to apply new limits and
    /// to close a connection whose token was revoked.
    pub(crate) reloads: watch::Sender<()>,
    /// Held for the whole of a reload, so two reloads (`HubHandle` is
    /// public and cloneable) cannot interleave their checks and swaps.
    pub(crate) reloading: Mutex<()>,
    /// When the hub started, for `server_uptime`.
    pub(crate) started: Instant,
    /// Source of connection ids (map keys, so status lists are in connect order).
    pub(crate) next_id: AtomicU64,
    /// Valid dumplings received from kitchens.
    pub(crate) dumplings_in: AtomicU64,
    /// Dumplings written to eaters (status dumplings included, as netdumplings counts).
    pub(crate) dumplings_out: AtomicU64,
    /// Dumplings dropped because an eater was too slow, summed over eaters
    /// (including eaters that have since left).
    pub(crate) dumplings_dropped: AtomicU64,
    /// Invalid messages received from kitchens.
    pub(crate) dumplings_invalid: AtomicU64,
    /// True while the accept loops serve (from start-up until a shutdown
    /// begins): what `/healthz` calls ready.
    pub(crate) serving: AtomicBool,
    /// Why the last reload failed; `None` if it succeeded (or none was
    /// tried). The hub then runs on the configuration before it.
    pub(crate) last_reload_error: Mutex<Option<String>>,
    /// Dumplings queued for eaters that a shutdown's drain could not write
    /// within `drain_timeout` (summed over eaters; logged per eater).
    pub(crate) undelivered_at_shutdown: AtomicU64,
    /// Open connections per role (index `Role as usize`), for `max_connections`.
    pub(crate) open: [AtomicUsize; 2],
    /// Connected kitchens by connection id.
    pub(crate) kitchens: Mutex<BTreeMap<u64, KitchenEntry>>,
    /// Connected eaters by connection id. Read-locked on every dumpling
    /// (fan-out), write-locked only on connect/disconnect.
    pub(crate) eaters: RwLock<BTreeMap<u64, Arc<EaterEntry>>>,
    /// Per (kitchen, chef) dumpling counters.
    pub(crate) registry: metrics::Registry,
    /// Refusals, throttling, reloads.
    pub(crate) counters: metrics::Counters,
    /// The series of the hub's own status dumplings.
    pub(crate) status_series: SeriesId,
    /// The bus to the other hubs (`--nats`), set once at start-up; unset:
    /// this hub alone, and kitchens hand their runs straight to the eaters.
    pub(crate) bus: OnceLock<Arc<Bus>>,
}

/// The bus's way back into the hub: it delivers to the eaters through
/// this, without depending on `State` (which holds the bus: hence `Weak`).
pub(crate) struct BusSink(pub(crate) Weak<State>);

impl bus::Sink for BusSink {
    fn series(&self, kitchen: &str, chef: &str) -> SeriesId {
        self.0
            .upgrade()
            .map_or(0, |s| s.registry.series(kitchen, chef).0)
    }

    fn deliver(&self, run: &[Queued]) {
        if let Some(s) = self.0.upgrade() {
            s.fan_out_bus(run);
        }
    }

    fn summary(&self) -> HubSummary {
        let Some(s) = self.0.upgrade() else {
            return HubSummary {
                hub_name: String::new(),
                bus: String::new(),
                kitchens: Vec::new(),
                eater_count: 0,
                dumplings_in: 0,
                dumplings_out: 0,
                uptime: 0.0,
            };
        };
        let kitchens = s
            .kitchens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|k| k.hello.name.clone())
            .collect();
        let eater_count = s.eaters.read().unwrap_or_else(|p| p.into_inner()).len();
        HubSummary {
            hub_name: String::new(),
            bus: String::new(),
            kitchens,
            eater_count,
            dumplings_in: s.dumplings_in.load(Ordering::Relaxed),
            dumplings_out: s.dumplings_out.load(Ordering::Relaxed),
            uptime: s.started.elapsed().as_secs_f64(),
        }
    }
}

impl State {
    pub(crate) fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Pushes a kitchen's run of dumplings, in order, into every eater's
    /// queue (one lock and one wake-up per eater for the run).
    pub(crate) fn fan_out(&self, run: &[Queued]) {
        self.fan_out_to(run, false);
    }

    /// [`State::fan_out`] for what the bus's shared feed delivers: not to
    /// eaters fed by their own consumer (history).
    pub(crate) fn fan_out_bus(&self, run: &[Queued]) {
        self.fan_out_to(run, true);
    }

    /// Pushes a run into one eater's queue (a history feed).
    pub(crate) fn push_to(&self, eater: &EaterEntry, run: &[Queued]) {
        let mut dropped = 0;
        eater.push_run(run, &self.registry, self.status_series, &mut dropped);
        if dropped > 0 {
            self.dumplings_dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    fn fan_out_to(&self, run: &[Queued], skip_own_feeds: bool) {
        if run.is_empty() {
            return;
        }
        let eaters = self.eaters.read().unwrap_or_else(|p| p.into_inner());
        let mut dropped = 0;
        for eater in eaters.values() {
            if skip_own_feeds && eater.own_feed {
                continue;
            }
            eater.push_run(run, &self.registry, self.status_series, &mut dropped);
        }
        if dropped > 0 {
            self.dumplings_dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// Tells the bus (if any) what the eaters now want, after an eater
    /// connected, left or changed its subscription.
    pub(crate) fn eaters_changed(&self) {
        let Some(bus) = self.bus.get() else { return };
        let subs: Vec<Subscription> = self
            .eaters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|e| !e.own_feed)
            .map(|e| e.subscription())
            .collect();
        bus.set_filter(bus::subject::covering(&subs));
    }

    pub(crate) fn status(&self) -> SystemStatus {
        // Before the locks below: the bus's summary of this hub takes them.
        let cluster = self.bus.get().map(|b| b.cluster());
        let kitchens = self.kitchens.lock().unwrap_or_else(|p| p.into_inner());
        let eaters = self.eaters.read().unwrap_or_else(|p| p.into_inner());
        SystemStatus {
            total_dumplings_in: self.dumplings_in.load(Ordering::Relaxed),
            total_dumplings_out: self.dumplings_out.load(Ordering::Relaxed),
            server_uptime: self.started.elapsed().as_secs_f64(),
            dumpling_kitchen_count: kitchens.len(),
            dumpling_eater_count: eaters.len(),
            dumpling_kitchens: kitchens
                .values()
                .map(|k| KitchenStatus {
                    info_from_kitchen: k.hello.info.clone(),
                    info_from_hub: InfoFromHub {
                        host: k.peer.ip().to_string(),
                        port: k.peer.port(),
                        dumplings_dropped: None,
                        queue_depth: None,
                    },
                })
                .collect(),
            dumpling_eaters: eaters
                .values()
                .map(|e| EaterStatus {
                    info_from_eater: e.hello.info.clone(),
                    info_from_hub: InfoFromHub {
                        host: e.peer.ip().to_string(),
                        port: e.peer.port(),
                        dumplings_dropped: Some(e.queue.dropped()),
                        queue_depth: Some(e.queue.len()),
                    },
                    subscription: Some(e.subscription()),
                })
                .collect(),
            total_dumplings_dropped: self.dumplings_dropped.load(Ordering::Relaxed),
            cluster,
        }
    }

    /// `/healthz`: whether the hub is ready (serving), and a few lines
    /// saying what it is doing.
    pub(crate) fn health(&self) -> (bool, String) {
        let serving = self.serving.load(Ordering::Relaxed);
        let reload = match &*self
            .last_reload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        {
            None => "ok".to_string(),
            Some(why) => format!("failed, running the previous configuration: {why}"),
        };
        let text = format!(
            "{}\nlisteners: {}\nkitchens: {}\neaters: {}\nlast reload: {reload}",
            if serving { "ok" } else { "shutting down" },
            if serving {
                "serving"
            } else {
                "closed, draining eaters"
            },
            self.open[Role::Kitchen as usize].load(Ordering::Relaxed),
            self.open[Role::Eater as usize].load(Ordering::Relaxed),
        );
        (serving, text)
    }

    /// The `/metrics` page.
    pub(crate) fn metrics(&self) -> String {
        let live = self.live();
        let eaters: Vec<metrics::EaterSample> = self
            .eaters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|e| {
                let sub = e.subscription();
                metrics::EaterSample {
                    name: e.hello.name.clone(),
                    peer: e.peer.to_string(),
                    queue_depth: e.queue.len(),
                    queue_bytes: e.queue.bytes(),
                    dropped: e.queue.dropped(),
                    written: e.written.load(Ordering::Relaxed),
                    chefs: sub.chefs.join(","),
                    kitchens: sub.kitchens.join(","),
                    status: sub.status,
                }
            })
            .collect();
        let gauges = metrics::Gauges {
            uptime_secs: self.started.elapsed().as_secs_f64(),
            kitchens: self
                .kitchens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
            eaters,
            open_in: self.open[Role::Kitchen as usize].load(Ordering::Relaxed),
            open_out: self.open[Role::Eater as usize].load(Ordering::Relaxed),
            invalid: self.dumplings_invalid.load(Ordering::Relaxed),
            dropped: self.dumplings_dropped.load(Ordering::Relaxed),
            tokens_kitchen: live.kitchen_tokens.is_some(),
            tokens_eater: live.eater_tokens.is_some(),
            tls: live.tls.is_some(),
        };
        let mut page = metrics::render(&self.registry, &self.counters, &gauges);
        if let Some(bus) = self.bus.get() {
            bus.sample().render(&mut page);
        }
        page
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Kitchen = 0,
    Eater = 1,
}

impl Role {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Kitchen => "kitchen",
            Role::Eater => "eater",
        }
    }
}
