//! A tiny eater written with `nd-eater`: the most looked-up hostnames, from
//! DNSLookupChef's packet dumplings, printed after every N lookups.
//!
//! ```sh
//! just build rust-chefs
//! target/debug/nd-hub &
//! cargo run -p nd-eater --example dns_top -- localhost:11348 5 &
//! target/debug/nd-sniff --read testdata/pcaps/dns_tcp.pcap --chef-dir target/chefs
//! ```
//!
//! For a hub with TLS or eater tokens: give a `wss://` address, and the
//! token and CA file in `ND_HUB_TOKEN` and `ND_HUB_CA_FILE`.

use std::collections::HashMap;

use nd_eater::{CloseCode, Driver, Eater, EaterConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let hub = args.next().unwrap_or_else(|| "localhost:11348".into());
    let every: u64 = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(10)
        .max(1);

    // Only DNSLookupChef's dumplings reach us; reconnect if the hub restarts.
    let config = EaterConfig::new(hub, "dns_top")
        .chef("DNSLookupChef")
        .reconnect(true)
        .token(std::env::var("ND_HUB_TOKEN").ok())
        .ca_file(std::env::var_os("ND_HUB_CA_FILE").map(Into::into));
    let mut eater = Eater::connect(config).await?;
    println!("eating from {}", eater.url());

    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut lookups = 0u64;
    loop {
        let dumpling = tokio::select! {
            d = eater.next() => d,
            _ = tokio::signal::ctrl_c() => {
                // 4101 "connection cancelled", as netdumplings' eaters say.
                eater.close(CloseCode::ConnectionCancelled).await;
                return Ok(());
            }
        };
        let Some(dumpling) = dumpling else {
            return Ok(()); // the hub closed the connection
        };
        let dumpling = dumpling?;
        if dumpling.metadata.driver != Driver::Packet {
            continue; // the interval summary; we keep our own
        }
        // {"lookup": {"hostname": ..., "when": ...}}
        let payload = dumpling.payload_value();
        let Some(host) = payload["lookup"]["hostname"].as_str() else {
            continue;
        };
        *counts.entry(host.to_string()).or_default() += 1;
        lookups += 1;
        if lookups.is_multiple_of(every) {
            let mut top: Vec<_> = counts.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            println!("after {lookups} lookups:");
            for (host, n) in top.into_iter().take(5) {
                println!("  {n:>6}  {host}");
            }
        }
    }
}
