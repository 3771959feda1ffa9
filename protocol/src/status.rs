//! The `SystemStatusChef` payload the hub sends to every eater.
//!
//! The keys are netdumplings 0.5.1's; the Python `nd-hubstatus` and
//! `nd-hubdetails` read them. Keys this project adds (dropped-dumpling
//! counts, queue depths) are extra keys that Python eaters ignore.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The payload of a `SystemStatusChef` dumpling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// Valid dumplings received from kitchens since the hub started.
    pub total_dumplings_in: u64,
    /// Dumplings written to eaters since the hub started (status dumplings included).
    pub total_dumplings_out: u64,
    /// Seconds since the hub started.
    pub server_uptime: f64,
    /// Number of connected kitchens.
    pub dumpling_kitchen_count: usize,
    /// Number of connected eaters.
    pub dumpling_eater_count: usize,
    /// One entry per connected kitchen.
    pub dumpling_kitchens: Vec<KitchenStatus>,
    /// One entry per connected eater.
    pub dumpling_eaters: Vec<EaterStatus>,
    /// Extra (not in netdumplings): dumplings dropped for slow eaters, in total.
    #[serde(default)]
    pub total_dumplings_dropped: u64,
    /// Extra, from a hub on a bus (`--nats`): every hub of the cluster.
    /// The keys above stay this hub's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}

/// The hubs of a cluster, as one hub sees them on the bus (each hub
/// publishes its summary every few seconds; one not heard from for three
/// periods is left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// This hub's link to the bus: `connected`, `degraded` (connected,
    /// but the stream is slow: its eaters get its own kitchens directly)
    /// or `down` (the same, disconnected).
    pub bus: String,
    /// Every hub heard from, this one included, by name.
    pub hubs: Vec<HubSummary>,
    /// Hubs heard from.
    pub hub_count: usize,
    /// Kitchens connected to any hub.
    pub total_kitchens: usize,
    /// Eaters connected to any hub.
    pub total_eaters: usize,
    /// Valid dumplings all hubs received from their kitchens.
    pub total_dumplings_in: u64,
}

/// One hub of a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubSummary {
    /// Its `hub_name`.
    pub hub_name: String,
    /// Its link to the bus (as [`ClusterStatus::bus`]).
    pub bus: String,
    /// Names of the kitchens connected to it.
    pub kitchens: Vec<String>,
    /// Eaters connected to it.
    pub eater_count: usize,
    /// Valid dumplings it received from its kitchens.
    pub dumplings_in: u64,
    /// Dumplings it wrote to its eaters.
    pub dumplings_out: u64,
    /// Seconds since it started.
    pub uptime: f64,
}

/// Where a peer connected from, as the hub saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfoFromHub {
    /// Peer IP address.
    pub host: String,
    /// Peer TCP port.
    pub port: u16,
    /// Extra (eaters only): dumplings dropped because this eater fell behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dumplings_dropped: Option<u64>,
    /// Extra (eaters only): dumplings waiting in this eater's queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_depth: Option<usize>,
}

/// A kitchen in the status payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KitchenStatus {
    /// The kitchen's hello, verbatim.
    pub info_from_kitchen: Map<String, Value>,
    /// Where it connected from.
    pub info_from_hub: InfoFromHub,
}

/// An eater in the status payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EaterStatus {
    /// The eater's hello, verbatim.
    pub info_from_eater: Map<String, Value>,
    /// Where it connected from, and how far behind it is.
    pub info_from_hub: InfoFromHub,
    /// What it subscribed to (ours; netdumplings' hub has no
    /// subscriptions, and its clients ignore the key). `None` when read
    /// from a hub that does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<crate::subscription::Subscription>,
}
