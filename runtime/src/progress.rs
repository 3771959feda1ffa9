//! Replay progress: a bar for a person at a terminal, or plain lines for
//! scripts (`nd-sniff --progress lines`).
//!
//! Position is the byte offset of the file actually open, as its stdio
//! stream reports it (`ftello`), plus one file size per finished `--repeat`
//! round, out of `size x repeat`. It counts what libpcap has consumed, not
//! what the kitchen thinks it has: right for pcapng's variable block sizes,
//! for records a BPF filter skipped, and across repeats (the old estimate,
//! 24 + 16 bytes + caplen per packet delivered, was none of these).

/// How replay progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Nothing (live captures, `--print` on a terminal, stderr not a terminal).
    Off,
    /// An indicatif bar on stderr, cleared at the end.
    Bar,
    /// A line on stderr each time the whole percentage grows, and a last
    /// one at the end: `progress: 42% 500000/1190000 bytes 5376 packets`.
    Lines,
}

/// Progress of one replay (all its repeats).
pub struct Progress {
    mode: ProgressMode,
    /// Bytes of the whole replay: the file's size times the repeat count.
    total: u64,
    bar: Option<indicatif::ProgressBar>,
    /// Last percentage written in [`ProgressMode::Lines`].
    last_percent: Option<u64>,
}

impl Progress {
    /// Progress over `repeat` replays of a file of `file_size` bytes.
    pub fn new(mode: ProgressMode, file_size: u64, repeat: u32) -> Progress {
        let total = file_size.saturating_mul(u64::from(repeat.max(1)));
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {msg} ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            mode,
            total,
            bar,
            last_percent: None,
        }
    }

    /// Records that `pos` bytes of the replay have been read, `packets` packets delivered.
    pub fn update(&mut self, pos: u64, packets: u64) {
        let pos = pos.min(self.total);
        match self.mode {
            ProgressMode::Off => {}
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(pos);
                    bar.set_message(format!("{packets} packets"));
                }
            }
            ProgressMode::Lines => {
                let percent = percent(pos, self.total);
                if self.last_percent.is_none_or(|last| percent > last) {
                    self.last_percent = Some(percent);
                    eprintln!("{}", line(pos, self.total, packets));
                }
            }
        }
    }

    /// The replay ended (or stopped) at `pos`: a last line, or the bar cleared.
    pub fn finish(&mut self, pos: u64, packets: u64) {
        let pos = pos.min(self.total);
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.mode == ProgressMode::Lines {
            eprintln!("{}", line(pos, self.total, packets));
        }
    }
}

/// Whole percent of `total`, 100 for an empty file.
fn percent(pos: u64, total: u64) -> u64 {
    if total == 0 {
        100
    } else {
        (u128::from(pos) * 100 / u128::from(total)) as u64
    }
}

fn line(pos: u64, total: u64, packets: u64) -> String {
    format!(
        "progress: {}% {pos}/{total} bytes {packets} packets",
        percent(pos, total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_whole_and_bounded() {
        assert_eq!(percent(0, 1000), 0);
        assert_eq!(percent(999, 1000), 99);
        assert_eq!(percent(1000, 1000), 100);
        assert_eq!(percent(0, 0), 100);
        // No overflow near u64::MAX.
        assert_eq!(percent(u64::MAX / 2, u64::MAX), 49);
    }

    #[test]
    fn lines_name_position_total_and_packets() {
        assert_eq!(line(500, 2000, 7), "progress: 25% 500/2000 bytes 7 packets");
    }
}
