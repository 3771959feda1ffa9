//! Prints to stdout and stderr and floods the kitchen log on every packet.
use netdumplings_chef::{export_chef, log, Chef, LogLevel, Packet, Value};

#[derive(Default)]
pub struct Chatty {
    seen: u64,
}

impl Chef for Chatty {
    const NAME: &'static str = "ChattyChef";
    fn packet(&mut self, _packet: &Packet<'_>) -> Option<Value> {
        self.seen += 1;
        println!("chatty stdout line {}", self.seen);
        eprintln!("chatty stderr line {}", self.seen);
        for i in 0..10 {
            log(
                LogLevel::Info,
                &format!("chatty log flood {} {i}", self.seen),
            );
        }
        None
    }
    fn interval(&mut self) -> Option<Value> {
        Some(self.seen.into())
    }
}
export_chef!(Chatty);
