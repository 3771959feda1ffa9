//! PacketCountChef: counts every layer of every packet by scapy's layer
//! name, as netdumplings' PacketCountChef. No packet dumplings; the interval
//! payload is `{"packet_counts": {layer: count}}`.

use std::collections::BTreeMap;

use netdumplings_chef::{export_chef, json, serde_json, Chef, Packet, Value};

#[derive(Default)]
pub struct PacketCountChef {
    packet_counts: BTreeMap<String, u64>,
}

impl Chef for PacketCountChef {
    const NAME: &'static str = "PacketCountChef";

    fn packet(&mut self, packet: &Packet<'_>) -> Option<Value> {
        nd_dissect::scapy_layer_names(packet, |name| match self.packet_counts.get_mut(name) {
            Some(n) => *n += 1,
            None => {
                self.packet_counts.insert(name.to_string(), 1);
            }
        });
        None
    }

    fn interval(&mut self) -> Option<Value> {
        Some(json!({ "packet_counts": self.packet_counts }))
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(&self.packet_counts).ok()
    }

    fn import_state(&mut self, state: &[u8]) -> Result<(), String> {
        self.packet_counts = serde_json::from_slice(state).map_err(|e| e.to_string())?;
        Ok(())
    }
}

export_chef!(PacketCountChef);
