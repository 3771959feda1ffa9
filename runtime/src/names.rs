//! The `scapy` import (`wit/chef.wit`): scapy 2.4.5's names for the layers
//! of the batch a chef is handling, computed here with `nd-scapy`.
//!
//! Lazily: the batch being handled sits in the chef's store
//! (`ChefState::current`) for the length of its `handle-batch` call (an
//! `Arc`, so that costs a reference count), and is named only when the
//! chef calls `name-batch`. Chefs that never ask (DNS, ARP) pay nothing.

use std::sync::Arc;

use nd_scapy::ScapyLayer;

use crate::bindings::netdumplings::chef::scapy::{BatchNames, Host};
use crate::bindings::netdumplings::chef::types::PacketBatch;
use crate::host::ChefState;

impl Host for ChefState {
    fn names(&mut self) -> Vec<String> {
        ScapyLayer::ALL
            .iter()
            .map(|l| l.name().to_string())
            .collect()
    }

    fn name_batch(&mut self) -> BatchNames {
        let mut out = BatchNames {
            starts: Vec::new(),
            ids: Vec::new(),
        };
        match &self.current {
            Some(batch) => columns(batch).name(&mut out.starts, &mut out.ids),
            None => out.starts.push(0),
        }
        out
    }
}

/// `batch`'s columns as `nd-scapy` reads them.
pub fn columns(batch: &PacketBatch) -> nd_scapy::Batch<'_> {
    nd_scapy::batch_view!(batch)
}

/// Keeps `batch` in the store for one call, so `name-batch` can see it.
pub(crate) fn lend(state: &mut ChefState, batch: &Arc<PacketBatch>) {
    state.current = Some(Arc::clone(batch));
}
