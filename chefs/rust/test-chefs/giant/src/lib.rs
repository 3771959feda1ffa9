//! Returns a 100 MB payload for every packet: the kitchen must refuse it
//! (the chef's 128 MiB memory cap traps it while it builds the JSON, or the
//! payload cap refuses it) without holding 100 MB itself.
use netdumplings_chef::{export_chef, Chef, Packet, Value};

#[derive(Default)]
pub struct Giant;

impl Chef for Giant {
    const NAME: &'static str = "GiantChef";
    fn packet(&mut self, _packet: &Packet<'_>) -> Option<Value> {
        Some(Value::String("y".repeat(100 << 20)))
    }
}
export_chef!(Giant);
