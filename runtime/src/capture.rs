//! Packet sources: live capture through libpcap, file replay through
//! [`nd_replay`] (pure Rust; see there why not libpcap).
//!
//! [`Capture::run`] reads packets, decodes them into batches
//! ([`crate::batch`]) and hands each finished batch to a callback. It stops
//! at the end of a file, when the stop flag is set, or on a fatal error.
//! Errors users hit (missing interface, bad filter, no permission, unreadable
//! file) come back as [`CaptureError`] with a message that says what to do.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pcap::{Active, Precision};

use crate::batch::{BatchBuilder, RawPacket, MAX_BATCH_AGE, MAX_BATCH_PACKETS};
use crate::bindings::netdumplings::chef::types::PacketBatch;
use crate::progress::{Progress, ProgressMode};
use nd_replay::{FileReader, Read, ReplayError};

/// Default BPF filter, as netdumplings' nd-sniff.
pub const DEFAULT_FILTER: &str = "tcp or udp or arp";
/// Bytes captured per packet on live interfaces.
pub const SNAPLEN: i32 = 65535;
/// Kernel ring buffer for a live capture. libpcap packs packets densely into
/// TPACKET_V3 blocks, so this holds tens of thousands of small packets: a
/// burst while the loop is busy waits here instead of being dropped.
/// (Immediate mode would switch libpcap to TPACKET_V2, one 128 KiB slot per
/// packet at this snaplen: 16 packets in libpcap's default 2 MiB, and a
/// burst of 20 DNS queries on `lo` lost 6 of them.)
pub const CAPTURE_BUFFER: i32 = 16 << 20;
/// libpcap's buffer timeout on live interfaces: the kernel hands over a
/// partly filled buffer after this long (TPACKET_V3 block retirement), so a
/// packet reaches the loop within about a millisecond.
const READ_TIMEOUT_MS: i32 = 1;
/// Longest an idle live capture sleeps before it looks at the stop flag.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Where packets come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A live interface (`None`: every interface, libpcap's `any`).
    Live {
        /// Interface name.
        interface: Option<String>,
        /// BPF filter.
        filter: String,
    },
    /// A pcap or pcapng file.
    File {
        /// The file.
        path: PathBuf,
        /// Optional BPF filter applied to the file.
        filter: Option<String>,
        /// Replay at the pace of the capture's timestamps instead of as fast as possible.
        realtime: bool,
        /// Replay the file this many times in a row (soak tests, benchmarks).
        repeat: u32,
    },
}

impl Source {
    /// Whether this is a replay (which must lose nothing: backpressure instead of drops).
    pub fn is_replay(&self) -> bool {
        matches!(self, Source::File { .. })
    }

    /// What the kitchen hello calls the interface.
    pub fn interface_label(&self) -> String {
        match self {
            Source::Live {
                interface: None, ..
            } => "all".into(),
            Source::Live {
                interface: Some(i), ..
            } => i.clone(),
            Source::File { path, .. } => path.display().to_string(),
        }
    }

    /// The filter, as the kitchen hello reports it.
    pub fn filter_label(&self) -> String {
        match self {
            Source::Live { filter, .. } => filter.clone(),
            Source::File { filter, .. } => filter.clone().unwrap_or_default(),
        }
    }
}

/// A capture problem, with advice.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The interface does not exist.
    #[error("no such interface {name:?} (available: {available})")]
    NoSuchInterface {
        /// What was asked for.
        name: String,
        /// What exists.
        available: String,
    },
    /// Capturing needs privileges.
    #[error("no permission to capture on {0}: run nd-sniff as root, or grant it CAP_NET_RAW and CAP_NET_ADMIN (sudo setcap cap_net_raw,cap_net_admin=eip $(which nd-sniff))")]
    Permission(String),
    /// The BPF filter does not compile (live capture).
    #[error("invalid filter {filter:?}: {reason}")]
    BadFilter {
        /// The filter.
        filter: String,
        /// libpcap's complaint.
        reason: String,
    },
    /// A replay's problem: the file, or its filter.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// Anything else libpcap reports.
    #[error("capture failed: {0}")]
    Other(String),
}

/// What a capture saw, for the summary and the kitchen status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets read from libpcap.
    pub packets: u64,
    /// Bytes captured.
    pub bytes: u64,
    /// Packets the kernel received (live capture only).
    pub kernel_received: u64,
    /// Packets dropped because libpcap's buffer was full (live only).
    pub kernel_dropped: u64,
    /// Packets dropped by the interface/driver (live only).
    pub interface_dropped: u64,
}

enum Handle {
    Live(pcap::Capture<Active>),
    File(FileReader),
}

/// An opened packet source.
pub struct Capture {
    handle: Handle,
    source: Source,
    /// The live interface's link type (a file's come with its packets).
    link_type: u16,
    /// Size of the file, for the progress bar.
    file_size: Option<u64>,
    /// Packets per batch (see [`Capture::set_batch_packets`]).
    batch_packets: usize,
}

impl Capture {
    /// Opens the source (and compiles its filter).
    pub fn open(source: Source) -> Result<Capture, CaptureError> {
        match &source {
            Source::Live { interface, filter } => {
                let name = interface.clone().unwrap_or_else(|| "any".into());
                let devices = pcap::Device::list().unwrap_or_default();
                if interface.is_some() && !devices.iter().any(|d| d.name == name) {
                    return Err(CaptureError::NoSuchInterface {
                        name,
                        available: devices
                            .iter()
                            .map(|d| d.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                let inactive = pcap::Capture::from_device(name.as_str())
                    .map_err(|e| CaptureError::Other(e.to_string()))?
                    .promisc(true)
                    .snaplen(SNAPLEN)
                    .buffer_size(CAPTURE_BUFFER)
                    .timeout(READ_TIMEOUT_MS)
                    .precision(Precision::Nano);
                // Non-blocking: with TPACKET_V3, libpcap's own read blocks
                // until a packet arrives however long that takes, and an
                // unfinished batch would wait with it. The loop polls the
                // descriptor itself, with a timeout (see `wait_readable`).
                let mut cap = inactive
                    .open()
                    .and_then(|c| c.setnonblock())
                    .map_err(|e| live_error(&name, e))?;
                cap.filter(filter, true)
                    .map_err(|e| CaptureError::BadFilter {
                        filter: filter.clone(),
                        reason: e.to_string(),
                    })?;
                let link_type = cap.get_datalink().0 as u16;
                Ok(Capture {
                    handle: Handle::Live(cap),
                    source,
                    link_type,
                    file_size: None,
                    batch_packets: MAX_BATCH_PACKETS,
                })
            }
            Source::File { path, filter, .. } => {
                let file_err = |reason: String| ReplayError::File {
                    path: path.display().to_string(),
                    reason,
                };
                let meta = std::fs::metadata(path).map_err(|e| file_err(e.to_string()))?;
                if meta.is_dir() {
                    return Err(file_err("is a directory".into()).into());
                }
                let file = FileReader::open(path, filter.as_deref())?;
                Ok(Capture {
                    handle: Handle::File(file),
                    source,
                    link_type: 1,
                    file_size: Some(meta.len()),
                    batch_packets: MAX_BATCH_PACKETS,
                })
            }
        }
    }

    /// Flushes batches every `n` packets instead of [`MAX_BATCH_PACKETS`]
    /// (benchmarks use 1 to measure a call per packet).
    pub fn set_batch_packets(&mut self, n: usize) {
        self.batch_packets = n;
    }

    /// Reads until the end (file), `stop`, or an error, calling `on_batch`
    /// with every finished batch. `on_batch` returning `false` stops too.
    /// `progress` applies to replays (a live capture has no end to show).
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        progress: ProgressMode,
        mut on_batch: impl FnMut(PacketBatch) -> bool,
    ) -> Result<CaptureStats, CaptureError> {
        let mut builder = BatchBuilder::with_max_packets(self.link_type, self.batch_packets);
        let mut stats = CaptureStats::default();
        let file_size = self.file_size.unwrap_or(0);
        let mut progress = match &self.source {
            Source::File { repeat, .. } => Progress::new(progress, file_size, *repeat),
            Source::Live { .. } => Progress::new(ProgressMode::Off, 0, 1),
        };
        let realtime = matches!(self.source, Source::File { realtime: true, .. });
        // A read error: the packets before it are handed on first.
        let mut failed: Option<CaptureError> = None;
        // Realtime replay: capture time of the first packet and when we read it.
        let mut pace: Option<(Duration, Instant)> = None;
        // Finished --repeat rounds.
        let mut rounds: u32 = 0;
        // Bytes of the replay read so far (all rounds).
        let replay_pos = |handle: &Handle, rounds: u32| match handle {
            Handle::File(f) => u64::from(rounds) * file_size + f.position(),
            Handle::Live(_) => 0,
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let next = match &mut self.handle {
                Handle::Live(c) => match c.next_packet() {
                    Ok(p) => Next::Packet(
                        self.link_type,
                        RawPacket {
                            ts_secs: p.header.ts.tv_sec.max(0) as u64,
                            // Nanosecond precision (see `open`).
                            ts_nanos: p.header.ts.tv_usec.max(0) as u32,
                            wire_len: p.header.len,
                            data: p.data,
                        },
                    ),
                    // Nothing to read right now.
                    Err(pcap::Error::TimeoutExpired) => Next::Idle,
                    Err(e) => {
                        failed = Some(CaptureError::Other(e.to_string()));
                        Next::End
                    }
                },
                Handle::File(f) => match f.next_packet().map_err(CaptureError::from) {
                    Ok(Read::Packet(p)) => Next::Packet(
                        p.link_type,
                        RawPacket {
                            ts_secs: p.ts_secs,
                            ts_nanos: p.ts_nanos,
                            wire_len: p.wire_len,
                            data: p.data,
                        },
                    ),
                    Ok(Read::End) => Next::End,
                    Ok(Read::CutShort(why)) => {
                        // What was captured before the cut is good: the
                        // replay ends after it, as at the end.
                        tracing::warn!("capture file ends early: {why}");
                        Next::End
                    }
                    Err(e) => {
                        failed = Some(e);
                        Next::End
                    }
                },
            };
            match next {
                Next::Packet(link_type, p) => {
                    if realtime {
                        let at = Duration::new(p.ts_secs, p.ts_nanos.min(999_999_999));
                        let (first, started) = *pace.get_or_insert((at, Instant::now()));
                        if let Some(wait) = at
                            .checked_sub(first)
                            .and_then(|d| d.checked_sub(started.elapsed()))
                        {
                            // Flush what we have before sleeping: realtime means low latency.
                            if let Some(b) = builder.take() {
                                if !on_batch(b) {
                                    break;
                                }
                            }
                            std::thread::sleep(wait);
                        }
                    }
                    // A batch has one link type: a packet of another
                    // interface's (a pcapng of several) starts a new one.
                    if link_type != builder.link_type() {
                        if let Some(b) = builder.take() {
                            if !on_batch(b) {
                                break;
                            }
                        }
                        builder.set_link_type(link_type);
                    }
                    stats.packets += 1;
                    stats.bytes += p.data.len() as u64;
                    builder.push(p);
                    if builder.is_full() || (!self.source.is_replay() && builder.is_stale()) {
                        progress.update(replay_pos(&self.handle, rounds), stats.packets);
                        if let Some(b) = builder.take() {
                            if !on_batch(b) {
                                break;
                            }
                        }
                    }
                }
                Next::Idle => {
                    if builder.is_stale() {
                        if let Some(b) = builder.take() {
                            if !on_batch(b) {
                                break;
                            }
                        }
                    }
                    if let Handle::Live(c) = &self.handle {
                        // Sleep until a packet comes, the unfinished batch
                        // is due, or it is time to look at the stop flag.
                        let wait = builder
                            .age()
                            .map_or(IDLE_WAIT, |age| MAX_BATCH_AGE.saturating_sub(age));
                        wait_readable(c, wait);
                    }
                }
                Next::End if failed.is_some() => break,
                Next::End => {
                    if let Source::File {
                        path,
                        repeat,
                        filter,
                        ..
                    } = &self.source
                    {
                        if *repeat > 1 && rounds + 1 < *repeat {
                            rounds += 1;
                            progress.update(u64::from(rounds) * file_size, stats.packets);
                            self.handle = Handle::File(FileReader::open(path, filter.as_deref())?);
                            pace = None;
                            continue;
                        }
                    }
                    break;
                }
            }
        }
        if let Some(b) = builder.take() {
            on_batch(b);
        }
        progress.finish(replay_pos(&self.handle, rounds), stats.packets);
        if let Some(e) = failed {
            return Err(e);
        }
        if let Handle::Live(c) = &mut self.handle {
            if let Ok(s) = c.stats() {
                stats.kernel_received = s.received as u64;
                stats.kernel_dropped = s.dropped as u64;
                stats.interface_dropped = s.if_dropped as u64;
            }
        }
        Ok(stats)
    }
}

/// What the source had next.
enum Next<'a> {
    /// A packet and its link type.
    Packet(u16, RawPacket<'a>),
    /// Nothing right now (a live capture).
    Idle,
    /// The end of the file.
    End,
}

/// Waits until `cap` has something to read or `timeout` passes.
fn wait_readable(cap: &pcap::Capture<Active>, timeout: Duration) {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: cap.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // Round up: a zero timeout would spin until the batch is due.
    let ms = timeout
        .as_micros()
        .div_ceil(1000)
        .clamp(1, i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd, for the duration of the call. An error
    // (EINTR) only means the loop reads again sooner.
    unsafe {
        libc::poll(&mut fd, 1, ms);
    }
}

fn live_error(name: &str, e: pcap::Error) -> CaptureError {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        CaptureError::Permission(name.to_string())
    } else if lower.contains("no such device") {
        CaptureError::NoSuchInterface {
            name: name.to_string(),
            available: pcap::Device::list()
                .map(|d| d.into_iter().map(|d| d.name).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        }
    } else {
        CaptureError::Other(format!("{name}: {text}"))
    }
}
