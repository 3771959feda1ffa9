//! Boundary experiment (see `bench/wit/batch-resource.wit`): counts every
//! layer kind of every packet, asking the host for each packet's layers
//! through the `packet-batch` resource. Its twin `layers-value` gets the
//! same batch by value; `nd-bench chef` compares the two.

use std::cell::RefCell;

wit_bindgen::generate!({
    path: "../../../../bench/wit/batch-resource.wit",
    world: "experiment",
});

use exports::netdumplings::experiment::handlers::Guest;
use netdumplings::experiment::types::PacketBatch;

thread_local! {
    /// Count per layer kind, indexed by the kind's position in the WIT enum.
    static COUNTS: RefCell<[u64; 17]> = const { RefCell::new([0; 17]) };
}

struct LayersChef;

impl Guest for LayersChef {
    fn handle_batch(batch: &PacketBatch) {
        COUNTS.with_borrow_mut(|counts| {
            for i in 0..batch.len() {
                for layer in batch.layers(i) {
                    counts[layer.kind as usize] += 1;
                }
            }
        });
    }

    fn counts() -> String {
        COUNTS.with_borrow(|counts| {
            let items: Vec<String> = counts.iter().map(|c| c.to_string()).collect();
            format!("[{}]", items.join(","))
        })
    }
}

export!(LayersChef);
