//! Returns text that is not JSON for every packet, using the raw WIT
//! bindings (the SDK would only ever produce valid JSON).
use netdumplings_chef::bindings::exports::netdumplings::chef::handlers::Guest;
use netdumplings_chef::bindings::netdumplings::chef::types::{PacketBatch, PacketPayload};

struct BadJson;

impl Guest for BadJson {
    fn name() -> String {
        "BadJsonChef".into()
    }
    fn handle_batch(batch: PacketBatch) -> Vec<PacketPayload> {
        (0..batch.data_offsets.len().saturating_sub(1) as u32)
            .map(|index| PacketPayload {
                index,
                json: "{not json".into(),
            })
            .collect()
    }
    fn interval() -> Option<String> {
        Some("[1, 2,".into())
    }
    fn export_state() -> Option<Vec<u8>> {
        None
    }
    fn import_state(_state: Vec<u8>) -> Result<(), String> {
        Ok(())
    }
}

impl netdumplings_chef::bindings::exports::netdumplings::chef::interests::Guest for BadJson {
    fn wants() -> netdumplings_chef::bindings::exports::netdumplings::chef::interests::Interest {
        netdumplings_chef::bindings::exports::netdumplings::chef::interests::Interest {
            any_layer: Vec::new(),
            any_port: Vec::new(),
        }
    }
}

netdumplings_chef::bindings::export!(BadJson with_types_in netdumplings_chef::bindings);
