// Shared by counter-v1 and counter-v2 (each sets VERSION and includes this).
// Counts packets per chef version; the state (counts so far) passes from one
// version to the next on a hot swap, so after any number of swaps the counts
// sum to the number of packets the kitchen handled, and each version's share
// shows which packets it saw.
use std::collections::BTreeMap;

use netdumplings_chef::{export_chef, json, serde_json, Chef, Packet, Value};

#[derive(Default)]
pub struct Counter {
    /// "v1"/"v2" -> packets seen by that version.
    by_version: BTreeMap<String, u64>,
    /// Swaps this state has been through.
    imports: u64,
}

impl Chef for Counter {
    const NAME: &'static str = "CounterChef";

    fn packet(&mut self, _packet: &Packet<'_>) -> Option<Value> {
        *self.by_version.entry(format!("v{VERSION}")).or_insert(0) += 1;
        None
    }

    fn interval(&mut self) -> Option<Value> {
        let total: u64 = self.by_version.values().sum();
        Some(json!({ "version": VERSION, "total": total, "by_version": self.by_version, "imports": self.imports }))
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(&(&self.by_version, self.imports)).ok()
    }

    fn import_state(&mut self, state: &[u8]) -> Result<(), String> {
        let (by_version, imports): (BTreeMap<String, u64>, u64) =
            serde_json::from_slice(state).map_err(|e| e.to_string())?;
        self.by_version = by_version;
        self.imports = imports + 1;
        Ok(())
    }
}

export_chef!(Counter);
