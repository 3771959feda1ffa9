//! A stand-in kitchen for `just demo` until nd-sniff lands: sends the
//! netdumplings kitchen hello and a few PacketCountChef-shaped dumplings.

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let hub = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:11347".into());
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{hub}")).await?;
    let hello = serde_json::json!({"kitchen_name": "synthetic_kitchen", "interface": "none",
        "filter": "", "chefs": ["PacketCountChef"], "poke_interval": 1.0});
    ws.send(Message::Text(hello.to_string().into())).await?;
    for i in 1..=3u64 {
        let payload =
            serde_json::json!({"packet_counts": {"Ethernet": 10 * i, "IP": 9 * i, "UDP": 4 * i}});
        let text = nd_protocol::encode_dumpling(
            "PacketCountChef",
            Some("synthetic_kitchen"),
            nd_protocol::now_epoch_secs(),
            nd_protocol::Driver::Interval,
            &payload.to_string(),
        );
        ws.send(Message::Text(text.into())).await?;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    ws.close(None).await?;
    Ok(())
}
