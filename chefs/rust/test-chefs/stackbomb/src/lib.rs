//! Recurses without bound on every packet (wasmtime's stack limit must stop it).
use netdumplings_chef::{export_chef, Chef, Packet, Value};

#[derive(Default)]
pub struct StackBomb;

#[inline(never)]
#[allow(unconditional_recursion)] // the point of this chef
fn deeper(n: u64) -> u64 {
    let pad = std::hint::black_box([n; 16]);
    deeper(pad[3] + 1) + pad[7]
}

impl Chef for StackBomb {
    const NAME: &'static str = "StackBombChef";
    fn packet(&mut self, packet: &Packet<'_>) -> Option<Value> {
        Some(deeper(packet.wire_length() as u64).into())
    }
}
export_chef!(StackBomb);
