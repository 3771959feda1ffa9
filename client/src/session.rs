//! What every end of a dumpling WebSocket does alike: closing with a
//! reason and a grace period, and waiting between reconnect attempts.
//! Kitchens (`nd-runtime`'s relay), eaters (`nd-eater`) and the hub use
//! these; one copy, so a fix reaches all three.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::WebSocketStream;

/// First wait before reconnecting to a hub.
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Longest wait between reconnect attempts: a hub restart is noticed
/// within this, and a hub that is down long is not hammered.
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// How long a closing client waits for the hub to answer its close frame.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Longest close reason RFC 6455 allows (a control frame carries at most
/// 125 bytes, two of them the code).
pub const MAX_CLOSE_REASON: usize = 123;

/// Exponential backoff between reconnect attempts: [`RECONNECT_MIN`],
/// doubled after every failure, capped at [`RECONNECT_MAX`].
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The wait [`Backoff::next_wait`] returns next.
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: RECONNECT_MIN,
        }
    }
}

impl Backoff {
    /// The wait before the next attempt; the one after is twice as long.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(RECONNECT_MAX);
        wait
    }

    /// A connection succeeded: start from [`RECONNECT_MIN`] again.
    pub fn reset(&mut self) {
        self.next = RECONNECT_MIN;
    }

    /// Waits longest from now on (a hub that refused our token: an
    /// operator may fix it, but retrying fast cannot).
    pub fn slow_down(&mut self) {
        self.next = RECONNECT_MAX;
    }

    /// Whether no attempt has failed since the last reset.
    pub fn is_fresh(&self) -> bool {
        self.next == RECONNECT_MIN
    }
}

/// A close frame for `code` and `reason`, the reason cut to
/// [`MAX_CLOSE_REASON`] bytes on a character boundary.
pub fn close_frame(code: u16, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code: WsCloseCode::from(code),
        reason: reason[..end].to_string().into(),
    }
}

/// Sends a close frame and waits up to `grace` for the peer's close in
/// answer, discarding whatever it sends meanwhile. Errors are ignored: the
/// connection is over either way.
pub async fn close_gracefully<S>(
    ws: &mut WebSocketStream<S>,
    code: u16,
    reason: &str,
    grace: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = close_frame(code, reason);
    let _ = tokio::time::timeout(grace, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::default();
        assert!(b.is_fresh());
        let waits: Vec<u128> = (0..8).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert!(!b.is_fresh());
        b.reset();
        assert_eq!(b.next_wait(), RECONNECT_MIN);
        b.slow_down();
        assert_eq!(b.next_wait(), RECONNECT_MAX);
    }

    #[test]
    fn close_reasons_are_cut_on_a_character_boundary() {
        let f = close_frame(1001, "hub shutting down");
        assert_eq!(
            (u16::from(f.code), f.reason.as_str()),
            (1001, "hub shutting down")
        );
        let ascii = "x".repeat(200);
        assert_eq!(close_frame(1008, &ascii).reason.len(), MAX_CLOSE_REASON);
        // 'é' is two bytes: 61 of them are 122 bytes, a 62nd would pass 123.
        let accents = "é".repeat(100);
        let cut = close_frame(1008, &accents);
        assert_eq!(cut.reason.len(), 122);
        assert!(cut.reason.chars().all(|c| c == 'é'));
        assert_eq!(u16::from(close_frame(4103, "").code), 4103);
    }
}
