//! Printing dumplings the way netdumplings' `nd-print` does.
//!
//! - summary: `datetime.fromtimestamp(t).isoformat()` (local time, with
//!   microseconds only when non-zero), `[packet  ]`/`[interval]`, chef,
//!   `from`, kitchen (`None` for the hub's own dumplings);
//! - payload: `json.dumps(payload, sort_keys=True, indent=4,
//!   separators=(',', ': '))`, which also escapes non-ASCII as `\uXXXX`.

use std::io::{self, Write};

use chrono::{Local, TimeZone};
use nd_protocol::{Driver, Dumpling};
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Python's `datetime.fromtimestamp(t).isoformat()` in local time.
pub fn iso_local(t: f64) -> String {
    if !t.is_finite() {
        return t.to_string();
    }
    let secs = t.floor();
    // CPython's _PyTime_DoubleToDenominator: the fraction times 1e6, rounded
    // half to even (`f64::round` rounds half away from zero, which printed
    // .089437 where Python printed .089436).
    let x = (t - secs) * 1e6;
    let mut rounded = x.round();
    if (x - rounded).abs() == 0.5 {
        rounded = 2.0 * (x / 2.0).round();
    }
    let micros = rounded as u32;
    let (secs, micros) = if micros >= 1_000_000 {
        (secs as i64 + 1, 0)
    } else {
        (secs as i64, micros)
    };
    match Local.timestamp_opt(secs, micros * 1000).single() {
        Some(dt) if micros == 0 => dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        None => t.to_string(),
    }
}

/// The summary line nd-print prints for each dumpling.
pub fn summary(d: &Dumpling, color: bool) -> String {
    let kitchen = d.metadata.kitchen.as_deref().unwrap_or("None");
    let (b, r) = if color { (BOLD, RESET) } else { ("", "") };
    format!(
        "{} [{:8}] {b}{}{r} from {b}{}{r}",
        iso_local(d.metadata.creation_time),
        match d.metadata.driver {
            Driver::Packet => "packet",
            Driver::Interval => "interval",
        },
        d.metadata.chef,
        kitchen,
    )
}

/// A formatter: Python's indent=4 pretty printing with ensure_ascii, and
/// optional ANSI colours for keys and values.
struct PyPretty<'a> {
    inner: PrettyFormatter<'a>,
    color: bool,
    /// True while writing an object key (coloured differently from values).
    in_key: bool,
}

impl Formatter for PyPretty<'_> {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.inner.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.in_key = true;
        self.inner.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.in_key = false;
        self.inner.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object_value(w)
    }
    fn begin_string<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.color {
            w.write_all(if self.in_key {
                b"\x1b[34m"
            } else {
                b"\x1b[32m"
            })?;
        }
        w.write_all(b"\"")
    }
    fn end_string<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\"")?;
        if self.color {
            w.write_all(RESET.as_bytes())?;
        }
        Ok(())
    }
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // ensure_ascii: every non-ASCII character as \uXXXX (UTF-16 units).
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
    fn write_null<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.colored(w, b"null")
    }
    fn write_bool<W: ?Sized + Write>(&mut self, w: &mut W, v: bool) -> io::Result<()> {
        self.colored(w, if v { b"true" } else { b"false" })
    }
    fn write_i64<W: ?Sized + Write>(&mut self, w: &mut W, v: i64) -> io::Result<()> {
        self.colored(w, v.to_string().as_bytes())
    }
    fn write_u64<W: ?Sized + Write>(&mut self, w: &mut W, v: u64) -> io::Result<()> {
        self.colored(w, v.to_string().as_bytes())
    }
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, v: f64) -> io::Result<()> {
        let mut s = Vec::new();
        serde_json::ser::CompactFormatter.write_f64(&mut s, v)?;
        self.colored(w, &s)
    }
    fn write_number_str<W: ?Sized + Write>(&mut self, w: &mut W, v: &str) -> io::Result<()> {
        self.colored(w, v.as_bytes())
    }
}

impl PyPretty<'_> {
    fn colored<W: ?Sized + Write>(&mut self, w: &mut W, text: &[u8]) -> io::Result<()> {
        if self.color {
            w.write_all(b"\x1b[36m")?;
            w.write_all(text)?;
            w.write_all(RESET.as_bytes())
        } else {
            w.write_all(text)
        }
    }
}

/// The payload as netdumplings' `printable_dumpling` prints it.
pub fn payload(d: &Dumpling, color: bool) -> String {
    // Parsing into a Value sorts object keys (serde_json's default map).
    let value = d.payload_value();
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        PyPretty {
            inner: PrettyFormatter::with_indent(b"    "),
            color,
            in_key: false,
        },
    );
    if value.serialize(&mut ser).is_err() {
        return d.payload.get().to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| d.payload.get().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(payload: &str) -> Dumpling {
        let text = nd_protocol::encode_dumpling("C", None, 1.0, Driver::Packet, payload);
        Dumpling::from_json(&text).unwrap()
    }

    #[test]
    fn pretty_matches_python_json_dumps() {
        // python3 -c 'import json; print(json.dumps({"b": [1, 2.5, None], "a": {"é": "ü😀"}, "c": {}}, sort_keys=True, indent=4, separators=(",", ": ")))'
        let expected = "{\n    \"a\": {\n        \"\\u00e9\": \"\\u00fc\\ud83d\\ude00\"\n    },\n    \"b\": [\n        1,\n        2.5,\n        null\n    ],\n    \"c\": {}\n}";
        assert_eq!(
            payload(
                &d(r#"{"b": [1, 2.5, null], "a": {"é": "ü😀"}, "c": {}}"#),
                false
            ),
            expected
        );
    }

    #[test]
    fn summary_says_none_for_hub_dumplings() {
        let s = summary(&d("1"), false);
        assert!(s.ends_with(" [packet  ] C from None"), "{s}");
    }

    #[test]
    fn isoformat_omits_zero_microseconds() {
        assert!(!iso_local(1_700_000_000.0).contains('.'));
        assert!(iso_local(1_700_000_000.25).ends_with(".250000"));
        // 2^-7 s = 7812.5 us exactly: Python rounds half to even.
        assert!(iso_local(1_700_000_000.0078125).ends_with(".007812"));
        assert!(iso_local(1_700_000_000.0234375).ends_with(".023438"));
    }
}
