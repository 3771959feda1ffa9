//! Allocates 1 MiB more on every packet and keeps it (the memory cap must stop it).
use netdumplings_chef::{export_chef, Chef, Packet, Value};

#[derive(Default)]
pub struct MemBomb {
    hoard: Vec<Vec<u8>>,
}

impl Chef for MemBomb {
    const NAME: &'static str = "MemBombChef";
    fn packet(&mut self, _packet: &Packet<'_>) -> Option<Value> {
        self.hoard.push(vec![1u8; 1 << 20]);
        None
    }
}
export_chef!(MemBomb);
