//! The reader's errors.

/// Why a file cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The BPF filter does not compile (for one of the file's link types).
    #[error("invalid filter {filter:?}: {reason}")]
    BadFilter {
        /// The filter.
        filter: String,
        /// libpcap's complaint.
        reason: String,
    },
    /// The file is no capture, or its structure is broken.
    #[error("cannot read capture file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why, and where (the record and its byte offset).
        reason: String,
    },
}
