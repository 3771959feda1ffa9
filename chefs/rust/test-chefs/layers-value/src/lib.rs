//! Boundary experiment (see `bench/wit/batch-resource.wit`): counts every
//! layer kind of every packet, with the batch passed *by value* through the
//! chef world and the Rust SDK. Its twin `layers-resource` does the same
//! work through a host resource; `nd-bench chef` compares the two.

use netdumplings_chef::{export_chef, json, Chef, Packet, Value};

#[derive(Default)]
pub struct LayersChef {
    /// Count per layer kind, indexed by the kind's position in the WIT enum.
    counts: [u64; 17],
}

impl Chef for LayersChef {
    const NAME: &'static str = "LayersByValueChef";

    fn packet(&mut self, packet: &Packet<'_>) -> Option<Value> {
        for (kind, _) in packet.layers() {
            self.counts[kind as usize] += 1;
        }
        None
    }

    fn interval(&mut self) -> Option<Value> {
        Some(json!(self.counts))
    }
}

export_chef!(LayersChef);
