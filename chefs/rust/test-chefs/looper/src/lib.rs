//! Loops forever on the 10th packet it sees (the kitchen's CPU deadline must stop it).
use netdumplings_chef::{export_chef, Chef, Packet, Value};

#[derive(Default)]
pub struct Looper {
    seen: u64,
}

impl Chef for Looper {
    const NAME: &'static str = "LooperChef";
    fn packet(&mut self, _packet: &Packet<'_>) -> Option<Value> {
        self.seen += 1;
        if self.seen >= 10 {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        None
    }
}
export_chef!(Looper);
