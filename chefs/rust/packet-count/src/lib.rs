//! PacketCountChef: counts every layer of every packet by scapy's layer
//! name, as netdumplings' PacketCountChef. No packet dumplings; the interval
//! payload is `{"packet_counts": {layer: count}}`. The names come from the
//! kitchen (`Packet::scapy_names`), as in every language's PacketCountChef.

use std::collections::BTreeMap;

use netdumplings_chef::{
    export_chef, json, scapy_name, scapy_name_count, serde_json, Chef, Packet, Value,
};

#[derive(Default)]
pub struct PacketCountChef {
    /// Counts up to the last interval, by layer name (what it reports).
    packet_counts: BTreeMap<String, u64>,
    /// Counts since then, indexed by name id: the per-packet path is an
    /// array increment per layer (no allocation, no name lookup). Folded
    /// into `packet_counts` at every interval.
    recent: Vec<u64>,
}

impl PacketCountChef {
    /// Counts the packet's layers.
    fn count(&mut self, packet: &Packet<'_>) {
        if self.recent.is_empty() {
            self.recent = vec![0; scapy_name_count()];
        }
        for name in packet.scapy_names() {
            // Ids are below `scapy_name_count`; `get_mut` keeps a panic
            // out of the code anyway.
            if let Some(n) = self.recent.get_mut(name.id() as usize) {
                *n += 1;
            }
        }
    }

    /// Every count so far.
    fn totals(&self) -> BTreeMap<String, u64> {
        let mut totals = self.packet_counts.clone();
        for (id, n) in self.recent.iter().enumerate() {
            if let (true, Some(name)) = (*n > 0, scapy_name(id as u16)) {
                *totals.entry(name.to_string()).or_insert(0) += n;
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
        self.recent.fill(0);
        Some(json!({ "packet_counts": self.packet_counts }))
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(&self.totals()).ok()
    }

    fn import_state(&mut self, state: &[u8]) -> Result<(), String> {
        self.packet_counts = serde_json::from_slice(state).map_err(|e| e.to_string())?;
        self.recent.fill(0);
        Ok(())
    }
}

export_chef!(PacketCountChef);
