//! Returns a 100 MB payload from its interval handler and a 2 MB one for
//! every 100th packet (the kitchen's payload cap must refuse both).
use netdumplings_chef::{export_chef, Chef, Packet, Value};

#[derive(Default)]
pub struct Huge {
    seen: u64,
}

impl Chef for Huge {
    const NAME: &'static str = "HugeChef";
    fn packet(&mut self, _packet: &Packet<'_>) -> Option<Value> {
        self.seen += 1;
        self.seen
            .is_multiple_of(100)
            .then(|| Value::String("x".repeat(2 << 20)))
    }
    fn interval(&mut self) -> Option<Value> {
        Some(Value::String("y".repeat(100 << 20)))
    }
}
export_chef!(Huge);
