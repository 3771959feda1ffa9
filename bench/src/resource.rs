//! The other way to hand a batch to a chef: as a host resource the chef
//! queries (`bench/wit/batch-resource.wit`), instead of by value
//! (`wit/chef.wit`). Only [`crate::chef`] uses this, to measure both.
//!
//! The host keeps the batch in the store; the chef gets a borrowed handle
//! and calls `layers(i)` / `data(i)` per packet. The handle's
//! representation is unused: one batch is live at a time.

use nd_runtime::bindings::netdumplings::chef::types as host;
use wasmtime::component::{Component, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/batch-resource.wit",
        world: "experiment",
    });
}

use bindings::netdumplings::experiment::types as exp;

/// The host type behind the `packet-batch` resource (bindgen's own
/// placeholder: the batch itself is [`State::batch`]).
use exp::PacketBatch as BatchHandle;

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The batch the chef is handling.
    batch: host::PacketBatch,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl exp::Host for State {}

impl exp::HostPacketBatch for State {
    fn len(&mut self, _: Resource<BatchHandle>) -> u32 {
        nd_runtime::batch::batch_len(&self.batch) as u32
    }

    fn layers(&mut self, _: Resource<BatchHandle>, index: u32) -> Vec<exp::Layer> {
        let b = &self.batch;
        let i = index as usize;
        let (Some(&start), Some(&end)) = (b.layer_starts.get(i), b.layer_starts.get(i + 1)) else {
            return Vec::new();
        };
        (start as usize..end as usize)
            .map(|j| exp::Layer {
                kind: b.layer_kinds[j],
                offset: b.layer_offsets[j],
                length: b.layer_lengths[j],
            })
            .collect()
    }

    fn data(&mut self, _: Resource<BatchHandle>, index: u32) -> Vec<u8> {
        let b = &self.batch;
        let i = index as usize;
        let (Some(&start), Some(&end)) = (b.data_offsets.get(i), b.data_offsets.get(i + 1)) else {
            return Vec::new();
        };
        b.data[start as usize..end as usize].to_vec()
    }

    fn drop(&mut self, _: Resource<BatchHandle>) -> wasmtime::Result<()> {
        Ok(())
    }
}

/// An instance of a chef built against the experiment world.
pub struct ResourceChef {
    store: Store<State>,
    chef: bindings::Experiment,
}

impl ResourceChef {
    /// Compiles and instantiates `path` (configured like the kitchen's host:
    /// synchronous calls, no component-model concurrency).
    pub fn load(path: &std::path::Path) -> anyhow::Result<ResourceChef> {
        let mut config = Config::new();
        config.concurrency_support(false);
        let engine = Engine::new(&config)?;
        let component = Component::from_file(&engine, path)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        bindings::Experiment::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        let state = State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            batch: nd_runtime::batch::empty_batch(1, 0),
        };
        let mut store = Store::new(&engine, state);
        let chef = bindings::Experiment::instantiate(&mut store, &component, &linker)?;
        Ok(ResourceChef { store, chef })
    }

    /// Lends the batch to the chef for one call.
    pub fn handle_batch(&mut self, batch: host::PacketBatch) -> anyhow::Result<()> {
        self.store.data_mut().batch = batch;
        Ok(self
            .chef
            .netdumplings_experiment_handlers()
            .call_handle_batch(&mut self.store, Resource::new_borrow(0))?)
    }

    /// The chef's counts, as JSON.
    pub fn counts(&mut self) -> anyhow::Result<String> {
        Ok(self
            .chef
            .netdumplings_experiment_handlers()
            .call_counts(&mut self.store)?)
    }
}
