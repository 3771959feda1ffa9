//! The `SystemStatusChef` dumplings, every `status_freq`.

use std::sync::Arc;

use crate::queue::Queued;
use crate::state::State;
use crate::stopped;

use nd_protocol::Driver;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::error;

/// Sends a status dumpling at start-up (as netdumplings does), then every
/// `status_freq` (re-read each period: a reload may change it).
pub(crate) async fn status_loop(state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let mut reloads = state.reloads.subscribe();
    let mut first = true;
    let mut last = tokio::time::Instant::now();
    loop {
        if !std::mem::take(&mut first) {
            // Re-read after a reload: a new period counts from the last
            // status, not from the end of the old period.
            loop {
                let next = last + state.live().config.status_freq;
                tokio::select! {
                    _ = stopped(&mut stop) => return,
                    _ = tokio::time::sleep_until(next) => break,
                    Ok(()) = reloads.changed() => {}
                }
            }
        }
        last = tokio::time::Instant::now();
        let status = state.status();
        let payload = match serde_json::to_string(&status) {
            Ok(p) => p,
            Err(e) => {
                error!("cannot serialise status: {e}");
                continue;
            }
        };
        let text = nd_protocol::encode_dumpling(
            nd_protocol::SYSTEM_STATUS_CHEF,
            None,
            nd_protocol::now_epoch_secs(),
            Driver::Interval,
            &payload,
        );
        state.fan_out(&[Queued {
            text: Utf8Bytes::from(text),
            series: state.status_series,
        }]);
    }
}
