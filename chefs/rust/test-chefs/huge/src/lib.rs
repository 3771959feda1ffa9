//! Returns a 2 MB payload for every 100th packet: over the kitchen's 1 MiB
//! payload cap, under the chef's memory cap, so the payload cap is what
//! refuses it. (`giant` is the 100 MB case.)
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
}
export_chef!(Huge);
