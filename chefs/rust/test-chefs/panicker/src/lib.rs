//! Panics on every packet.
use netdumplings_chef::{export_chef, Chef, Packet, Value};

#[derive(Default)]
pub struct Panicker;

impl Chef for Panicker {
    const NAME: &'static str = "PanickerChef";
    fn packet(&mut self, packet: &Packet<'_>) -> Option<Value> {
        panic!(
            "PanickerChef refuses a packet of {} bytes",
            packet.data().len()
        );
    }
}
export_chef!(Panicker);
