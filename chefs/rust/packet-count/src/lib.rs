//! PacketCountChef: counts every layer of every packet by scapy's layer
//! name, as netdumplings' PacketCountChef. No packet dumplings; the interval
//! payload is `{"packet_counts": {layer: count}}`.

use std::collections::BTreeMap;

use netdumplings_chef::{export_chef, json, serde_json, Chef, Packet, Value};

use nd_dissect::{ScapyLayer, SCAPY_LAYERS};

#[derive(Default)]
pub struct PacketCountChef {
    /// Counts up to the last interval, by layer name (what it reports).
    packet_counts: BTreeMap<String, u64>,
    /// Counts since then, indexed by `ScapyLayer`: the per-packet path is
    /// an array increment per layer (no allocation, no name lookup).
    /// Folded into `packet_counts` at every interval.
    recent: Recent,
}

/// Counts by [`ScapyLayer`] (`Default` is not derived for arrays this long).
struct Recent([u64; SCAPY_LAYERS]);

impl Default for Recent {
    fn default() -> Self {
        Recent([0; SCAPY_LAYERS])
    }
}

impl PacketCountChef {
    /// Counts the packet's layers.
    fn count(&mut self, packet: &Packet<'_>) {
        let recent = &mut self.recent.0;
        nd_dissect::scapy_layers(packet, |layer| {
            // Always in bounds (`SCAPY_LAYERS` is the number of variants);
            // `get_mut` keeps a panic out of the code anyway.
            if let Some(n) = recent.get_mut(layer as usize) {
                *n += 1;
            }
        });
    }

    /// Every count so far.
    fn totals(&self) -> BTreeMap<String, u64> {
        let mut totals = self.packet_counts.clone();
        for (layer, n) in ScapyLayer::ALL.iter().zip(self.recent.0) {
            if n > 0 {
                *totals.entry(layer.name().to_string()).or_insert(0) += n;
            }
        }
        totals
    }
}

impl Chef for PacketCountChef {
    const NAME: &'static str = "PacketCountChef";

    fn packet(&mut self, packet: &Packet<'_>) -> Option<Value> {
        self.count(packet);
        None
    }

    // The SDK's default would call `packet` and drop its `None` `Value`,
    // a call per packet for nothing (1% of a kitchen's time).
    fn packet_json(&mut self, packet: &Packet<'_>) -> Option<String> {
        self.count(packet);
        None
    }

    fn interval(&mut self) -> Option<Value> {
        self.packet_counts = self.totals();
        self.recent = Recent::default();
        Some(json!({ "packet_counts": self.packet_counts }))
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(&self.totals()).ok()
    }

    fn import_state(&mut self, state: &[u8]) -> Result<(), String> {
        self.packet_counts = serde_json::from_slice(state).map_err(|e| e.to_string())?;
        self.recent = Recent::default();
        Ok(())
    }
}

export_chef!(PacketCountChef);
