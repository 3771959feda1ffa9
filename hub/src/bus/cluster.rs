//! Status across hubs: every hub publishes a summary of itself on core
//! NATS (`ndhub.status.<run id>`, not the stream: a status is worth
//! nothing once the next one is out) every [`EVERY`], and keeps the
//! others' last. The `SystemStatusChef` dumpling adds them as `cluster`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nd_protocol::status::{ClusterStatus, HubSummary};
use tokio::sync::watch;
use tracing::debug;

use super::Bus;

/// How often each hub publishes its summary.
pub(crate) const EVERY: Duration = Duration::from_secs(2);
/// A hub not heard from for this long is left out (gone, or cut off).
const FORGET_AFTER: Duration = Duration::from_secs(6);
/// The subjects' prefix.
const PREFIX: &str = "ndhub.status";
/// Largest summary read (a hub with thousands of kitchens is a few
/// hundred KiB); bigger ones are ignored.
const MAX_SUMMARY: usize = 1 << 20;
/// Hubs remembered at most (a bus shared with something that floods the
/// subject cannot grow this without bound).
const MAX_HUBS: usize = 1024;

/// The other hubs' last summaries, by run id.
#[derive(Default)]
pub(crate) struct Peers(Mutex<HashMap<String, (HubSummary, Instant)>>);

impl Peers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (HubSummary, Instant)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Bus {
    /// This hub's link to the bus, as the status says it.
    pub(crate) fn link(&self) -> &'static str {
        if !self.is_connected() {
            "down"
        } else if self.shared().degraded {
            "degraded"
        } else {
            "connected"
        }
    }

    /// This hub's summary, now.
    fn summary(&self) -> HubSummary {
        let mut s = self.sink.summary();
        s.hub_name = self.config.hub_name.clone();
        s.bus = self.link().to_string();
        s
    }

    /// The cluster as this hub sees it: itself, and every hub heard from
    /// within [`FORGET_AFTER`], by name.
    pub(crate) fn cluster(&self) -> ClusterStatus {
        let mut hubs = vec![self.summary()];
        hubs.extend(
            self.peers
                .lock()
                .values()
                .filter(|(_, at)| at.elapsed() < FORGET_AFTER)
                .map(|(s, _)| s.clone()),
        );
        hubs.sort_by(|a, b| a.hub_name.cmp(&b.hub_name));
        ClusterStatus {
            bus: self.link().to_string(),
            hub_count: hubs.len(),
            total_kitchens: hubs.iter().map(|h| h.kitchens.len()).sum(),
            total_eaters: hubs.iter().map(|h| h.eater_count).sum(),
            total_dumplings_in: hubs.iter().map(|h| h.dumplings_in).sum(),
            hubs,
        }
    }
}

/// Publishes this hub's summary every [`EVERY`]; keeps the others'.
pub(crate) async fn run(bus: Arc<Bus>, mut stop: watch::Receiver<bool>) {
    // The client re-subscribes by itself after a reconnect.
    let mut sub = match bus.client.subscribe(format!("{PREFIX}.*")).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(hub = %bus.config.hub_name, "cannot subscribe to the cluster's status: {e}");
            None
        }
    };
    let subject = format!("{PREFIX}.{}", bus.run);
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            _ = tick.tick() => {
                let Ok(json) = serde_json::to_vec(&bus.summary()) else { continue };
                // Best effort: a status missed is replaced by the next.
                if let Err(e) = bus.client.publish(subject.clone(), json.into()).await {
                    debug!("cluster status not sent: {e}");
                }
            }
            Some(m) = async { match &mut sub { Some(s) => s.next().await, None => None } } => {
                let Some(run) = m.subject.as_str().strip_prefix(PREFIX).and_then(|s| s.strip_prefix('.')) else { continue };
                if run == bus.run || m.payload.len() > MAX_SUMMARY {
                    continue;
                }
                let Ok(summary) = serde_json::from_slice::<HubSummary>(&m.payload) else {
                    debug!("not a hub summary on {}", m.subject);
                    continue;
                };
                let mut peers = bus.peers.lock();
                peers.retain(|_, (_, at)| at.elapsed() < FORGET_AFTER);
                if peers.len() < MAX_HUBS || peers.contains_key(run) {
                    peers.insert(run.to_string(), (summary, Instant::now()));
                }
            }
        }
    }
}
