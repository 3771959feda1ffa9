//! Packet sources: live capture and file replay, both through libpcap.
//!
//! [`Capture::run`] reads packets, decodes them into batches
//! ([`crate::batch`]) and hands each finished batch to a callback. It stops
//! at the end of a file, when the stop flag is set, or on a fatal error.
//! Errors users hit (missing interface, bad filter, no permission, unreadable
//! file) come back as [`CaptureError`] with a message that says what to do.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pcap::{Active, Offline, Precision};

use crate::batch::{BatchBuilder, RawPacket, MAX_BATCH_AGE, MAX_BATCH_PACKETS};
use crate::bindings::netdumplings::chef::types::PacketBatch;
use crate::progress::{Progress, ProgressMode};

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
/// stdio buffer for a replayed file. libpcap reads files with `fread`, and
/// glibc sizes a stream's buffer by the file system's block size: 4 KiB,
/// a `read(2)` per ~27 packets of 150 bytes, which was 8% of a replay
/// pinned to one core. With 1 MiB the syscalls vanish from the profile.
const FILE_BUFFER: usize = 1 << 20;

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
    /// The BPF filter does not compile.
    #[error("invalid filter {filter:?}: {reason}")]
    BadFilter {
        /// The filter.
        filter: String,
        /// libpcap's complaint.
        reason: String,
    },
    /// The file cannot be read as a capture.
    #[error("cannot read capture file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
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
    File(FileCapture),
}

/// An open capture file and the stdio buffer libpcap reads it through.
struct FileCapture {
    /// Declared first so it drops first: `pcap_close` closes the stream,
    /// which must not outlive `_buffer`.
    cap: pcap::Capture<Offline>,
    /// The stream's buffer (see [`FILE_BUFFER`]); a heap allocation, so it
    /// stays put when this struct moves.
    _buffer: Box<[u8]>,
    /// The stream libpcap reads, for its position (replay progress).
    stream: Stream,
}

/// The `FILE*` under a [`FileCapture`]'s libpcap handle.
struct Stream(*mut libc::FILE);

// SAFETY: the stream is only used from the thread that owns the
// `FileCapture` (libpcap's handle, which owns the stream, moves with it).
unsafe impl Send for Stream {}

impl FileCapture {
    /// Bytes of the file libpcap has consumed so far.
    fn position(&self) -> u64 {
        // SAFETY: the stream is open while `cap` is (see `open_file`), and
        // nothing else uses it during this call. ftello accounts for what
        // sits unread in the stdio buffer.
        let pos = unsafe { libc::ftello(self.stream.0) };
        pos.max(0) as u64
    }
}

/// An opened packet source.
pub struct Capture {
    handle: Handle,
    source: Source,
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
                let file_err = |reason: String| CaptureError::File {
                    path: path.display().to_string(),
                    reason,
                };
                let meta = std::fs::metadata(path).map_err(|e| file_err(e.to_string()))?;
                if meta.is_dir() {
                    return Err(file_err("is a directory".into()));
                }
                let file = open_replay(path, filter.as_deref())?;
                let link_type = file.cap.get_datalink().0 as u16;
                Ok(Capture {
                    handle: Handle::File(file),
                    source,
                    link_type,
                    file_size: Some(meta.len()),
                    batch_packets: MAX_BATCH_PACKETS,
                })
            }
        }
    }

    /// The capture's LINKTYPE number.
    pub fn link_type(&self) -> u16 {
        self.link_type
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
                Handle::Live(c) => c.next_packet(),
                Handle::File(f) => f.cap.next_packet(),
            };
            match next {
                Ok(p) => {
                    let ts_secs = p.header.ts.tv_sec.max(0) as u64;
                    let ts_nanos = p.header.ts.tv_usec.max(0) as u32;
                    if realtime {
                        let at = Duration::new(ts_secs, ts_nanos.min(999_999_999));
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
                    stats.packets += 1;
                    stats.bytes += p.data.len() as u64;
                    builder.push(RawPacket {
                        ts_secs,
                        ts_nanos,
                        wire_len: p.header.len,
                        data: p.data,
                    });
                    if builder.is_full() || (!self.source.is_replay() && builder.is_stale()) {
                        progress.update(replay_pos(&self.handle, rounds), stats.packets);
                        if let Some(b) = builder.take() {
                            if !on_batch(b) {
                                break;
                            }
                        }
                    }
                }
                Err(pcap::Error::TimeoutExpired) => {
                    // Nothing to read right now (live captures only).
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
                Err(pcap::Error::NoMorePackets) => {
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
                            self.handle = Handle::File(open_replay(path, filter.as_deref())?);
                            pace = None;
                            continue;
                        }
                    }
                    break;
                }
                Err(e) => {
                    // A truncated file ends the replay like its end would,
                    // after what was read; anything else is reported.
                    if let Handle::File(_) = self.handle {
                        tracing::warn!("capture file ends early: {e}");
                        break;
                    }
                    return Err(CaptureError::Other(e.to_string()));
                }
            }
        }
        if let Some(b) = builder.take() {
            on_batch(b);
        }
        progress.finish(replay_pos(&self.handle, rounds), stats.packets);
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

/// Opens a capture file (see [`open_file`]) and applies its BPF filter.
fn open_replay(path: &Path, filter: Option<&str>) -> Result<FileCapture, CaptureError> {
    let mut file = open_file(path).map_err(|reason| CaptureError::File {
        path: path.display().to_string(),
        reason,
    })?;
    if let Some(f) = filter {
        file.cap
            .filter(f, true)
            .map_err(|e| CaptureError::BadFilter {
                filter: f.to_string(),
                reason: e.to_string(),
            })?;
    }
    Ok(file)
}

/// Opens a capture file for libpcap, read through a [`FILE_BUFFER`]-sized
/// stdio buffer, with nanosecond timestamps.
///
/// What `pcap::Capture::from_file_with_precision` does, except that the
/// stream is opened here so `setvbuf` can give it a buffer before its first
/// read (the only time C allows it); the `pcap` crate has no way to. The
/// buffer must be ours: glibc ignores setvbuf's size when it allocates.
fn open_file(path: &Path) -> Result<FileCapture, String> {
    use std::ffi::{c_char, c_uint, c_void, CStr, CString};
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        // libpcap >= 1.5 (pcap/pcap.h); the `pcap` crate links libpcap.
        fn pcap_fopen_offline_with_tstamp_precision(
            fp: *mut libc::FILE,
            precision: c_uint,
            errbuf: *mut c_char,
        ) -> *mut c_void;
    }
    /// PCAP_TSTAMP_PRECISION_NANO.
    const NANO: c_uint = 1;
    /// PCAP_ERRBUF_SIZE.
    const ERRBUF_SIZE: usize = 256;

    let name = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated path and mode.
    let fp = unsafe { libc::fopen(name.as_ptr(), c"rb".as_ptr()) };
    if fp.is_null() {
        return Err(std::io::Error::last_os_error().to_string());
    }
    let mut buffer = vec![0u8; FILE_BUFFER].into_boxed_slice();
    let mut errbuf = [0 as c_char; ERRBUF_SIZE];
    // SAFETY: `fp` is an open stream nothing has read yet, so setvbuf may
    // run; `buffer` outlives the stream (see `FileCapture`). A setvbuf
    // failure leaves glibc's own buffer, which only costs speed. libpcap
    // takes the stream over on success (pcap_close closes it); on failure
    // it is still ours to close. `errbuf` has PCAP_ERRBUF_SIZE bytes, which
    // libpcap NUL-terminates.
    let handle = unsafe {
        libc::setvbuf(fp, buffer.as_mut_ptr().cast(), libc::_IOFBF, buffer.len());
        let handle = pcap_fopen_offline_with_tstamp_precision(fp, NANO, errbuf.as_mut_ptr());
        if handle.is_null() {
            libc::fclose(fp);
            return Err(CStr::from_ptr(errbuf.as_ptr())
                .to_string_lossy()
                .into_owned());
        }
        handle
    };
    // The crate's `From<NonNull<pcap_t>>` owns the handle from here (its
    // drop calls pcap_close); the cast's target, the crate's `pcap_t`, is
    // inferred from that impl.
    let cap = pcap::Capture::from(std::ptr::NonNull::new(handle.cast()).ok_or("no handle")?);
    Ok(FileCapture {
        cap,
        _buffer: buffer,
        stream: Stream(fp),
    })
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
