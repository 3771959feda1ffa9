//! Small parsers behind [`super::Settings::resolve`] and
//! [`super::Settings::from_file`].

use std::path::PathBuf;

use super::{ConfigError, MetricsListen};

/// toml's error on one line ("line L, column C: message"): its own Display
/// draws the offending line with a caret over several lines, which reads
/// badly in a log (one event per line, JSON for journald).
pub(super) fn one_line(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// `PORT` or `HOST:PORT` (`[v6]:PORT` for an IPv6 literal).
pub(super) fn parse_listen(s: &str) -> Result<MetricsListen, String> {
    let bad = || format!("{s:?} is not PORT or HOST:PORT");
    if let Ok(port) = s.parse::<u16>() {
        return Ok(MetricsListen { host: None, port });
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse::<u16>().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok(MetricsListen {
        host: Some(host.to_string()),
        port,
    })
}

/// The tokens from the file's list and the token file together; `None`
/// when neither is set.
pub(super) fn tokens(
    inline: &Option<Vec<String>>,
    file: &Option<PathBuf>,
    key: &'static str,
) -> Result<Option<Vec<String>>, ConfigError> {
    if inline.is_none() && file.is_none() {
        return Ok(None);
    }
    let mut all: Vec<String> = inline.clone().unwrap_or_default();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        all.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    if let Some(bad) = all.iter().find(|t| t.chars().any(char::is_whitespace)) {
        return Err(ConfigError::Invalid {
            key,
            message: format!(
                "a token cannot contain whitespace (one of {} chars does)",
                bad.len()
            ),
        });
    }
    Ok(Some(all))
}
