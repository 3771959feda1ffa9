//! scapy 2.4.5's view of a packet (what netdumplings 0.5.1's chefs saw):
//! its layers' names, computed by the kitchen, and its DNS message.

use std::cell::OnceCell;
use std::sync::OnceLock;

use crate::bindings::netdumplings::chef::types::PacketBatch;
use crate::Packet;

/// One layer as scapy 2.4.5 names it. [`ScapyName::name`] is the name; the
/// id is a small number for counting in an array, valid for the life of
/// the kitchen (report names, never ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScapyName(u16);

impl ScapyName {
    /// The id: an index below [`scapy_name_count`].
    pub fn id(self) -> u16 {
        self.0
    }

    /// scapy's name (`"Ethernet"`, `"DNS"`, ...); `"?"` for an id the
    /// kitchen did not list (it never sends one).
    pub fn name(self) -> &'static str {
        scapy_name(self.0).unwrap_or("?")
    }
}

/// How many names there are: a counter array of this length has a slot for
/// every [`ScapyName::id`].
pub fn scapy_name_count() -> usize {
    table().len()
}

/// The name with id `id`.
pub fn scapy_name(id: u16) -> Option<&'static str> {
    table().get(id as usize).map(String::as_str)
}

/// Every name, fetched from the kitchen once.
fn table() -> &'static [String] {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        #[cfg(target_arch = "wasm32")]
        {
            crate::bindings::netdumplings::chef::scapy::names()
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            nd_scapy::ScapyLayer::ALL
                .iter()
                .map(|l| l.name().to_string())
                .collect()
        }
    })
}

/// The names of a batch's layers, fetched on the first packet that asks.
#[derive(Default)]
pub(crate) struct BatchNames {
    names: OnceCell<(Vec<u32>, Vec<u16>)>,
}

impl BatchNames {
    /// Packet `index`'s name ids.
    pub(crate) fn of(&self, batch: &PacketBatch, index: usize) -> &[u16] {
        let (starts, ids) = self.names.get_or_init(|| fetch(batch));
        let at = |i: usize| starts.get(i).map(|s| *s as usize);
        match (at(index), at(index + 1)) {
            (Some(s), Some(e)) => ids.get(s..e).unwrap_or_default(),
            _ => &[],
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn fetch(_batch: &PacketBatch) -> (Vec<u32>, Vec<u16>) {
    let n = crate::bindings::netdumplings::chef::scapy::name_batch();
    (n.starts, n.ids)
}

/// Natively (tests, the benchmarks' native reference) there is no kitchen
/// to ask: the same `nd-scapy` code runs here instead.
#[cfg(not(target_arch = "wasm32"))]
fn fetch(batch: &PacketBatch) -> (Vec<u32>, Vec<u16>) {
    let (mut starts, mut ids) = (Vec::new(), Vec::new());
    columns(batch).name(&mut starts, &mut ids);
    (starts, ids)
}

/// `batch`'s columns as `nd-scapy` reads them.
pub(crate) fn columns(batch: &PacketBatch) -> nd_scapy::Batch<'_> {
    nd_scapy::batch_view!(batch)
}

impl<'a> Packet<'a> {
    /// The packet's layers as scapy 2.4.5 named them, outermost first
    /// (what netdumplings' PacketCountChef counted). Computed by the
    /// kitchen, once per batch, when the first packet asks.
    pub fn scapy_names(&self) -> impl Iterator<Item = ScapyName> + 'a {
        self.names
            .of(self.batch, self.index)
            .iter()
            .map(|id| ScapyName(*id))
    }

    /// The DNS message the packet carries, if scapy would have dissected
    /// one (UDP 53/5353, TCP 53 after its length prefix; the rule is
    /// `nd_scapy::dns_message`).
    pub fn dns_message(&self) -> Option<&'a [u8]> {
        nd_scapy::dns_message(&columns(self.batch).packet(self.index)?)
    }
}
