//! The kitchen (`nd-sniff`) and the chef host.
//!
//! # Layout
//!
//! - [`decode`]: raw bytes -> layer summary (etherparse + link types).
//! - [`batch`]: packets -> the column batches that cross into chefs.
//! - [`capture`]: libpcap live capture and file replay.
//! - [`bindings`]: wasmtime `bindgen!` of `wit/chef.wit`.
//! - [`host`]: compiling, caching, sandboxing and calling chef components.
//! - [`supervisor`]: one worker thread per chef: faults, restarts, hot swap.
//! - [`watch`]: the chef directory watcher.
//! - [`relay`]: dumplings to the hub (reconnect, buffer, acknowledgements) or stdout.
//! - [`kitchen`]: wires it all together.

pub mod batch;
pub mod bindings;
pub mod capture;
pub mod decode;
pub mod host;
pub mod kitchen;
pub mod relay;
pub mod supervisor;
pub mod watch;
