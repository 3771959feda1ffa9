//! The kitchen (`nd-sniff`) and the chef host.
//!
//! # Layout
//!
//! - [`decode`]: raw bytes -> layer summary (etherparse + link types).
//! - [`batch`]: packets -> the column batches that cross into chefs.
//! - [`capture`]: libpcap live capture and file replay.
//! - [`progress`]: replay progress (a bar, or lines for scripts).
//! - [`bindings`]: wasmtime `bindgen!` of `wit/chef.wit`.
//! - [`host`]: compiling, caching, sandboxing and calling chef components.
//! - [`names`]: the `scapy` import, scapy's layer names of a chef's batch.
//! - [`supervisor`]: one worker thread per chef: faults, restarts, hot swap.
//! - [`chefs`]: the chef directory and the set of running chef workers.
//! - [`watch`]: the chef directory watcher.
//! - [`outbox`]: the relay's unacknowledged dumplings, one drop policy.
//! - [`relay`]: dumplings to the hub (reconnect, buffer, acknowledgements) or stdout.
//! - [`standard_chefs`]: the standard chefs built into `nd-sniff` (`build.rs`).
//! - [`kitchen`]: wires it all together.
//! - [`latency`]: the call-latency histogram of each chef.
//! - [`metrics`]: `nd-sniff --metrics`: Prometheus text of the chefs, the
//!   capture and the relay, and `/healthz`.

// Unsafe code only where it is needed, module by module: `capture`
// (libpcap's stdio stream, poll), `host` (wasmtime's deserialisation of
// our own compiled cache), `kitchen` (getrusage).
#![deny(unsafe_code)]

pub mod batch;
pub mod bindings;
#[allow(unsafe_code)]
pub mod capture;
pub mod chefs;
/// The native decoder (its own crate, `nd-decode`, so it can be fuzzed without wasmtime).
pub use nd_decode as decode;
#[allow(unsafe_code)]
pub mod host;
#[allow(unsafe_code)]
pub mod kitchen;
pub mod latency;
pub mod metrics;
pub mod names;
pub mod outbox;
pub mod progress;
pub mod relay;
pub mod standard_chefs;
pub mod supervisor;
pub mod watch;

#[cfg(test)]
mod tests {
    /// `nd_decode::LayerKind` and the WIT `layer-kind` enum agree case for
    /// case: batches carry the decoder's discriminants as WIT positions.
    #[test]
    fn decoder_layer_kinds_are_the_wit_enum() {
        use crate::bindings::netdumplings::chef::types::LayerKind as Wit;
        use nd_decode::LayerKind as K;
        for k in K::ALL {
            // Exhaustive: a new case in either enum fails to compile here.
            let wit = match k {
                K::Ethernet => Wit::Ethernet,
                K::Ieee8023 => Wit::Ieee8023,
                K::LinuxSll => Wit::LinuxSll,
                K::Loopback => Wit::Loopback,
                K::Vlan => Wit::Vlan,
                K::Qinq => Wit::Qinq,
                K::Arp => Wit::Arp,
                K::Ipv4 => Wit::Ipv4,
                K::Ipv6 => Wit::Ipv6,
                K::Ipv6Extension => Wit::Ipv6Extension,
                K::Ipv6Fragment => Wit::Ipv6Fragment,
                K::Tcp => Wit::Tcp,
                K::Udp => Wit::Udp,
                K::Icmpv4 => Wit::Icmpv4,
                K::Icmpv6 => Wit::Icmpv6,
                K::Payload => Wit::Payload,
                K::Padding => Wit::Padding,
                K::Vxlan => Wit::Vxlan,
                K::Gre => Wit::Gre,
                K::PppoeDiscovery => Wit::PppoeDiscovery,
                K::PppoeSession => Wit::PppoeSession,
                K::Ppp => Wit::Ppp,
                K::QuotedIpv4 => Wit::QuotedIpv4,
                K::QuotedIpv6 => Wit::QuotedIpv6,
                K::QuotedTcp => Wit::QuotedTcp,
                K::QuotedUdp => Wit::QuotedUdp,
                K::QuotedIcmpv4 => Wit::QuotedIcmpv4,
                K::QuotedIcmpv6 => Wit::QuotedIcmpv6,
            };
            assert_eq!(k as u8, wit as u8, "{k:?}");
        }
        assert_eq!(K::ALL.len(), 28);
    }
}
