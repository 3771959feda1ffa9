//! The layer-name rules over hand-built columns, case for case as the
//! JavaScript SDK's `dissect.test.mjs` had them (its copy of these rules is
//! gone; the kitchen's names come from here).

// The BOOTP, NBNS, DHCPv6 and binding-order expectations below are what
// scapy 2.4.5 (the peer's venv) names the same bytes as, checked once by
// dissecting `Ether()/IP()/UDP(sport, dport)/Raw(payload)` with it.
use nd_decode::LayerKind as K;

use crate::{dns_message, scapy_layers, Packet};

/// One packet's columns, as `batch.mjs`'s `makeBatch` took them: no ports
/// (`[0, 0]`) and no fragment offset unless a case sets them.
#[derive(Debug, Clone, Default)]
struct Columns {
    data: Vec<u8>,
    layers: Vec<(K, u32, u32)>,
    ports: [u16; 2],
    fragment_offset: Option<u32>,
}

impl Columns {
    fn new(data: Vec<u8>, layers: &[(K, u32, u32)]) -> Columns {
        Columns {
            data,
            layers: layers.to_vec(),
            ..Columns::default()
        }
    }

    fn fragment(mut self, offset: u32) -> Columns {
        self.fragment_offset = Some(offset);
        self
    }

    fn names(&self) -> Vec<String> {
        names(&self.layers, &self.data, self.ports, self.fragment_offset)
    }

    fn dns_message(&self) -> Option<Vec<u8>> {
        with_packet(
            &self.layers,
            &self.data,
            self.ports,
            self.fragment_offset,
            |p| dns_message(p).map(<[u8]>::to_vec),
        )
    }
}

/// Calls `f` with the [`Packet`] view of the given columns.
fn with_packet<R>(
    layers: &[(K, u32, u32)],
    data: &[u8],
    ports: [u16; 2],
    fragment_offset: Option<u32>,
    f: impl FnOnce(&Packet<'_>) -> R,
) -> R {
    let kinds: Vec<u8> = layers.iter().map(|l| l.0 as u8).collect();
    let offsets: Vec<u32> = layers.iter().map(|l| l.1).collect();
    let lengths: Vec<u32> = layers.iter().map(|l| l.2).collect();
    f(&Packet {
        data,
        kinds: &kinds,
        offsets: &offsets,
        lengths: &lengths,
        ports,
        fragment_offset,
    })
}

/// scapy's names for the packet with these columns, outermost first.
fn names(
    layers: &[(K, u32, u32)],
    data: &[u8],
    ports: [u16; 2],
    fragment_offset: Option<u32>,
) -> Vec<String> {
    with_packet(layers, data, ports, fragment_offset, |p| {
        let mut out = Vec::new();
        scapy_layers(p, |l| out.push(l.name().to_string()));
        out
    })
}

/// `batch.mjs`'s `udpPacket`: 42 zero bytes (Ethernet 14, IPv4 20, UDP 8),
/// then `payload`.
fn udp_packet(payload: &[u8], src: u16, dst: u16) -> Columns {
    transport_packet(K::Udp, 8, payload, [src, dst])
}

/// `batch.mjs`'s `tcpPacket`: 54 zero bytes (Ethernet 14, IPv4 20, TCP 20),
/// then `payload`.
fn tcp_packet(payload: &[u8], src: u16, dst: u16) -> Columns {
    transport_packet(K::Tcp, 20, payload, [src, dst])
}

/// Zeros for Ethernet, IPv4 and a `header`-byte transport of `kind`, then
/// `payload`.
fn transport_packet(kind: K, header: u32, payload: &[u8], ports: [u16; 2]) -> Columns {
    let start = 34 + header;
    let mut data = vec![0; start as usize];
    data.extend_from_slice(payload);
    Columns {
        ports,
        ..Columns::new(
            data,
            &[
                (K::Ethernet, 0, 14),
                (K::Ipv4, 14, 20),
                (kind, 34, header),
                (K::Payload, start, payload.len() as u32),
            ],
        )
    }
}

/// `dissect.test.mjs`'s `header(qd)`: id 0x1234, flags `[1, 0]` (RD), `qd`
/// questions, no records.
fn header(qd: u8) -> Vec<u8> {
    vec![0x12, 0x34, 1, 0, 0, qd, 0, 0, 0, 0, 0, 0]
}

/// `name(...labels)`: length-prefixed labels and the root.
fn name(labels: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

/// `question(n, qtype, qclass)`.
fn question(n: &[u8], qtype: u16, qclass: u16) -> Vec<u8> {
    let mut out = n.to_vec();
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    out
}

/// `query`: one question, `a` type A class IN.
fn query() -> Vec<u8> {
    let mut q = header(1);
    q.extend(question(&name(&["a"]), 1, 1));
    q
}

#[test]
fn dns_over_udp_53_5353_and_tcp_53_length_prefixed() {
    let query = query();
    assert_eq!(
        udp_packet(&query, 40000, 53).names(),
        ["Ethernet", "IP", "UDP", "DNS"]
    );
    assert_eq!(
        udp_packet(&query, 5353, 5353).names(),
        ["Ethernet", "IP", "UDP", "DNS"]
    );
    assert_eq!(
        udp_packet(&[1, 2, 3], 40000, 53).names(),
        ["Ethernet", "IP", "UDP", "Raw"]
    );
    assert_eq!(
        udp_packet(&query, 40000, 54).names(),
        ["Ethernet", "IP", "UDP", "Raw"]
    );
    let mut framed = vec![0, query.len() as u8];
    framed.extend_from_slice(&query);
    assert_eq!(
        tcp_packet(&framed, 53, 40000).names(),
        ["Ethernet", "IP", "TCP", "DNS"]
    );
    let trailing = [framed.as_slice(), &[7]].concat();
    assert_eq!(
        tcp_packet(&trailing, 53, 40000).names(),
        ["Ethernet", "IP", "TCP", "DNS", "Raw"]
    );
    assert_eq!(
        tcp_packet(&framed[..framed.len() - 1], 53, 40000).names(),
        ["Ethernet", "IP", "TCP", "Raw"]
    );
    // Non-first fragments are Raw; the first fragment is dissected.
    assert_eq!(
        udp_packet(&query, 40000, 53).fragment(8).names(),
        ["Ethernet", "IP", "UDP", "Raw"]
    );
    assert_eq!(
        udp_packet(&query, 40000, 53).fragment(0).names(),
        ["Ethernet", "IP", "UDP", "DNS"]
    );
    assert_eq!(tcp_packet(&trailing, 53, 1).dns_message(), Some(query));
}

#[test]
fn llmnr_ntp_empty_payloads() {
    assert_eq!(
        udp_packet(&[0, 0, 0x80], 5355, 1).names(),
        [
            "Ethernet",
            "IP",
            "UDP",
            "Link Local Multicast Node Resolution - Response"
        ]
    );
    assert_eq!(
        udp_packet(&[0, 0, 0x7f], 1, 5355).names(),
        [
            "Ethernet",
            "IP",
            "UDP",
            "Link Local Multicast Node Resolution - Query"
        ]
    );
    assert_eq!(
        udp_packet(&[0], 1, 5355).names(),
        [
            "Ethernet",
            "IP",
            "UDP",
            "Link Local Multicast Node Resolution - Query"
        ]
    );
    assert_eq!(
        udp_packet(&[1], 123, 1).names(),
        ["Ethernet", "IP", "UDP", "NTPHeader"]
    );
    assert_eq!(
        tcp_packet(&[1], 123, 1).names(),
        ["Ethernet", "IP", "TCP", "Raw"]
    );
    assert_eq!(udp_packet(&[], 1, 2).names(), ["Ethernet", "IP", "UDP"]);
}

#[test]
fn icmp_errors_quote_a_datagram() {
    // An ICMPv4 message of `icmp_type` (8-byte header) quoting `quoted`.
    let icmp = |icmp_type: u8, quoted: &[u8]| {
        let mut data = vec![0; 34];
        data.extend_from_slice(&[icmp_type, 0, 0, 0, 0, 0, 0, 0]);
        data.extend_from_slice(quoted);
        Columns::new(
            data,
            &[
                (K::Ethernet, 0, 14),
                (K::Ipv4, 14, 20),
                (K::Icmpv4, 34, 8),
                (K::Payload, 42, quoted.len() as u32),
            ],
        )
        .names()
    };
    // A 20-byte IPv4 header of protocol `proto`, then `extra` zero bytes.
    let ip = |proto: u8, extra: usize| {
        let mut out = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto];
        out.resize(20 + extra, 0);
        out
    };
    assert_eq!(
        icmp(3, &ip(17, 8)),
        ["Ethernet", "IP", "ICMP", "IP in ICMP", "UDP in ICMP"]
    );
    // Checked against scapy 2.4.5: a quoted transport cut inside a field,
    // or an unknown quoted protocol, is Raw (the JavaScript copy of these
    // rules said "TCP in ICMP, Raw" and nothing for these three).
    assert_eq!(
        icmp(11, &ip(6, 9)),
        ["Ethernet", "IP", "ICMP", "IP in ICMP", "Raw"]
    );
    assert_eq!(
        icmp(3, &ip(1, 7)),
        ["Ethernet", "IP", "ICMP", "IP in ICMP", "Raw"]
    );
    assert_eq!(
        icmp(3, &ip(99, 8)),
        ["Ethernet", "IP", "ICMP", "IP in ICMP", "Raw"]
    );
    let mut not_v4 = vec![0x65];
    not_v4.resize(20, 0);
    assert_eq!(icmp(3, &not_v4), ["Ethernet", "IP", "ICMP", "Raw"]);
    assert_eq!(icmp(3, &[0x45, 0]), ["Ethernet", "IP", "ICMP", "Raw"]);
    assert_eq!(icmp(8, &ip(17, 8)), ["Ethernet", "IP", "ICMP", "Raw"]);
}

#[test]
fn ipv6_extension_headers_icmpv6_and_8023_stp() {
    let mut v6 = Columns::new(
        vec![0; 70],
        &[
            (K::Ethernet, 0, 14),
            (K::Ipv6, 14, 40),
            (K::Ipv6Extension, 54, 8),
            (K::Ipv6Extension, 62, 8),
            (K::Icmpv6, 70, 0),
        ],
    );
    v6.data[14 + 6] = 0; // IPv6 next header: hop-by-hop
    v6.data[54] = 60; // then destination options
    v6.data[62] = 6; // then TCP, but an extension header follows: unnamed
    assert_eq!(
        v6.names(),
        [
            "Ethernet",
            "IPv6",
            "IPv6 Extension Header - Hop-by-Hop Options Header",
            "IPv6 Extension Header - Destination Options Header",
            "ICMPv6 Unknown",
        ]
    );
    v6.layers[4] = (K::Ipv6Extension, 62, 8);
    v6.layers
        .extend([(K::Ipv6Fragment, 62, 8), (K::Icmpv6, 69, 1)]);
    v6.data[69] = 135;
    assert_eq!(
        v6.names()[4..],
        [
            "IPv6 Extension Header",
            "IPv6 Extension Header - Fragmentation header",
            "ICMPv6 Neighbor Discovery - Neighbor Solicitation",
        ]
    );

    // An 802.3 frame (length 38) carrying `payload`.
    let stp = |payload: &[u8]| {
        let mut data = vec![0; 12];
        data.extend_from_slice(&[0, 38]);
        data.extend_from_slice(payload);
        Columns::new(
            data,
            &[(K::Ieee8023, 0, 14), (K::Payload, 14, payload.len() as u32)],
        )
        .names()
    };
    let bpdu = |zeros: usize| {
        let mut out = vec![0x42, 0x42, 3];
        out.resize(3 + zeros, 0);
        out
    };
    assert_eq!(stp(&bpdu(35)), ["802.3", "LLC", "Spanning Tree Protocol"]);
    assert_eq!(
        stp(&bpdu(36)),
        ["802.3", "LLC", "Spanning Tree Protocol", "Raw"]
    );
    assert_eq!(stp(&[0xaa, 0xaa, 3, 0]), ["802.3", "LLC", "Raw"]);
    assert_eq!(stp(&[0xaa, 0xaa, 3]), ["802.3", "LLC"]);

    assert_eq!(
        Columns::new(
            vec![1, 2],
            &[
                (K::LinuxSll, 0, 1),
                (K::Qinq, 0, 1),
                (K::Vlan, 0, 1),
                (K::Loopback, 0, 0),
                (K::Arp, 0, 1),
                (K::Padding, 1, 1),
                (K::Payload, 1, 1),
            ],
        )
        .names(),
        [
            "cooked linux",
            "802_1AD",
            "802.1Q",
            "Loopback",
            "ARP",
            "Padding",
            "Raw"
        ]
    );
}

/// Names of `frame` (Ethernet) as the kitchen decodes and names it.
fn decoded_names(frame: &[u8]) -> Vec<String> {
    let d = crate::Decoded::new(nd_decode::LinkType::Ethernet, frame);
    let mut out = Vec::new();
    scapy_layers(&d.view(), |l| out.push(l.name().to_string()));
    out
}

fn ether(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn tunnels_and_pppoe_tags() {
    // A PADI with a tag list (type nibble 1), and one of type 2 (no binding).
    let padi = [0x11, 0x09, 0, 0, 0, 4, 0x01, 0x01, 0, 0];
    assert_eq!(
        decoded_names(&ether(0x8863, &padi)),
        ["Ethernet", "PPP over Ethernet Discovery", "PPPoE Tag List"]
    );
    let mut other = padi;
    other[0] = 0x12;
    assert_eq!(
        decoded_names(&ether(0x8863, &other)),
        ["Ethernet", "PPP over Ethernet Discovery", "Raw"]
    );
    assert_eq!(
        decoded_names(&ether(0x8863, &padi[..6])),
        ["Ethernet", "PPP over Ethernet Discovery"]
    );
    // LCP in a PPPoE session: PPP, then Raw (LCP is not decoded).
    let lcp = [0x11, 0, 0, 1, 0, 6, 0xc0, 0x21, 1, 1, 0, 4];
    assert_eq!(
        decoded_names(&ether(0x8864, &lcp)),
        ["Ethernet", "PPP over Ethernet", "PPP Link Layer", "Raw"]
    );
    // GRE (no options) carrying an unknown EtherType: its payload is Raw.
    let mut gre = vec![0, 0, 0x12, 0x34];
    gre.extend_from_slice(&[0xaa; 12]);
    let mut ip = vec![0x45, 0, 0, 20 + gre.len() as u8, 0, 0, 0, 0, 64, 47, 0, 0];
    ip.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    ip.extend_from_slice(&gre);
    assert_eq!(
        decoded_names(&ether(0x0800, &ip)),
        ["Ethernet", "IP", "GRE", "Raw"]
    );
}

/// The names of a UDP payload after `Ethernet`, `IP`, `UDP`.
fn udp_names(payload: &[u8], src: u16, dst: u16) -> Vec<String> {
    udp_packet(payload, src, dst).names()[3..].to_vec()
}

#[test]
fn bootp_and_dhcp_by_ports_and_field_boundaries() {
    let mut dhcp = vec![1, 1, 6, 0];
    dhcp.resize(236, 0);
    dhcp.extend_from_slice(&[0x63, 0x82, 0x53, 0x63, 53, 1, 1, 255]);
    assert_eq!(udp_names(&dhcp, 68, 67), ["BOOTP", "DHCP options"]);
    assert_eq!(udp_names(&dhcp, 67, 68), ["BOOTP", "DHCP options"]);
    assert_eq!(udp_names(&dhcp, 67, 67), ["BOOTP", "DHCP options"]);
    // Not a BOOTP binding (sport 68 needs dport 67).
    assert_eq!(udp_names(&dhcp, 68, 68), ["Raw"]);
    // No magic cookie, or nothing after it: BOOTP alone.
    assert_eq!(udp_names(&dhcp[..236], 68, 67), ["BOOTP"]);
    assert_eq!(udp_names(&dhcp[..240], 68, 67), ["BOOTP"]);
    // Cut at a field boundary: scapy stops there; inside a field: it raises.
    assert_eq!(udp_names(&dhcp[..44], 68, 67), ["BOOTP"]);
    assert_eq!(udp_names(&dhcp[..8], 68, 67), ["BOOTP"]);
    assert_eq!(udp_names(&dhcp[..6], 68, 67), ["Raw"]);
    assert_eq!(udp_names(&dhcp[..100], 68, 67), ["Raw"]);
}

#[test]
fn nbns_request_and_response() {
    let request = [0u8; 50];
    assert_eq!(udp_names(&request, 137, 137), ["NBNS query request"]);
    assert_eq!(udp_names(&request, 50000, 137), ["NBNS query request"]);
    assert_eq!(udp_names(&[0; 51], 1, 137), ["NBNS query request", "Raw"]);
    // The name field takes what there is; the suffix after it is cut.
    assert_eq!(udp_names(&[0; 20], 1, 137), ["NBNS query request"]);
    assert_eq!(udp_names(&[0; 44], 1, 137), ["Raw"]);
    assert_eq!(udp_names(&[0; 62], 137, 1), ["NBNS query response"]);
    assert_eq!(udp_names(&[0; 60], 137, 1), ["Raw"]);
}

#[test]
fn dhcpv6_messages_and_top_level_options() {
    // Solicit, client id (10 bytes), elapsed time, an unknown option 999.
    let mut solicit = vec![1, 0, 0, 1];
    solicit.extend_from_slice(&[0, 1, 0, 10, 0, 3, 0, 1, 2, 0, 0, 0, 0, 1]);
    solicit.extend_from_slice(&[0, 8, 0, 2, 0, 0]);
    solicit.extend_from_slice(&[0x03, 0xe7, 0, 0]);
    assert_eq!(
        udp_names(&solicit, 546, 547),
        [
            "DHCPv6 Solicit Message",
            "DHCP6 Client Identifier Option",
            "DHCP6 Elapsed Time Option",
            "Unknown DHCPv6 Option"
        ]
    );
    // Only the destination port binds; a source port of 547 does not.
    assert_eq!(udp_names(&solicit, 547, 50000), ["Raw"]);
    // Trailing bytes too few for an option header: Raw.
    let mut cut = solicit.clone();
    cut.extend_from_slice(&[0, 1, 0]);
    assert_eq!(udp_names(&cut, 546, 547).last().unwrap(), "Raw");
    // Unknown message type, a 1-byte message, a cut transaction id.
    assert_eq!(udp_names(&[99, 0, 0, 0], 546, 547), ["Raw"]);
    assert_eq!(udp_names(&[1], 546, 547), ["Raw"]);
    assert_eq!(udp_names(&[1, 0], 546, 547), ["Raw"]);
    // A relay-forward header is 34 bytes.
    let mut relay = vec![12, 0];
    relay.resize(34, 0);
    assert_eq!(
        udp_names(&relay, 547, 547),
        ["DHCPv6 Relay Forward Message (Relay Agent/Server Message)"]
    );
    assert_eq!(udp_names(&relay[..20], 547, 547), ["Raw"]);
}

#[test]
fn the_first_binding_in_scapys_order_wins() {
    // DNS is bound before DHCPv6 (scapy 2.4.5's `UDP.payload_guess`).
    let query = query();
    assert_eq!(udp_names(&query, 53, 547), ["DNS"]);
    assert_eq!(
        udp_names(&[1, 0, 0, 1], 50000, 547),
        ["DHCPv6 Solicit Message"]
    );
    // NBNS (netbios) before NTP.
    assert_eq!(udp_names(&[0; 50], 123, 137), ["NBNS query request"]);
    // BOOTP before DNS.
    let mut bootp = vec![1u8; 4];
    bootp.resize(236, 0);
    assert_eq!(udp_names(&bootp, 67, 67), ["BOOTP"]);
}

/// The names after `Ethernet`, `IPv6` of an ICMPv6 message (8-byte
/// `icmpv6` layer, the rest its payload).
fn icmpv6_names(message: &[u8]) -> Vec<String> {
    let mut data = vec![0; 54];
    data.extend_from_slice(message);
    let body = message.len().saturating_sub(8) as u32;
    Columns::new(
        data,
        &[
            (K::Ethernet, 0, 14),
            (K::Ipv6, 14, 40),
            (K::Icmpv6, 54, 8),
            (K::Payload, 62, body),
        ],
    )
    .names()[2..]
        .to_vec()
}

#[test]
fn neighbour_discovery_options_are_layers() {
    // Checked against scapy 2.4.5 like the UDP cases above.
    let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
    ns.extend_from_slice(&[0; 16]);
    ns.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 1]);
    let sll = "ICMPv6 Neighbor Discovery Option - Source Link-Layer Address";
    assert_eq!(
        icmpv6_names(&ns),
        ["ICMPv6 Neighbor Discovery - Neighbor Solicitation", sll]
    );
    ns.push(1);
    assert_eq!(icmpv6_names(&ns).last().unwrap(), "Raw");
    let mut ra = vec![134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4];
    ra.extend_from_slice(&[0; 30]);
    ra.extend_from_slice(&[5, 1, 0, 0, 0, 0, 5, 220, 99, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        icmpv6_names(&ra),
        [
            "ICMPv6 Neighbor Discovery - Router Advertisement",
            "ICMPv6 Neighbor Discovery Option - Prefix Information",
            "ICMPv6 Neighbor Discovery Option - MTU",
            "Raw"
        ]
    );
    let rs = [133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 1];
    assert_eq!(
        icmpv6_names(&rs),
        ["ICMPv6 Neighbor Discovery - Router Solicitation", sll]
    );
    // An echo request's body is not options; a zero length ends the walk.
    assert_eq!(
        icmpv6_names(&[128, 0, 0, 0, 0, 1, 0, 1, 1, 1]),
        ["ICMPv6 Echo Request"]
    );
    assert_eq!(
        icmpv6_names(&[133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1]),
        ["ICMPv6 Neighbor Discovery - Router Solicitation", sll]
    );
}

/// The decode fuzz target's regression inputs, decoded and named as the
/// target does (`fuzz/fuzz_targets/decode.rs`): no panic, and a bounded
/// number of names (a walk that stopped advancing would not be).
#[test]
fn decode_fuzz_regressions_name_without_panicking() {
    const LINKS: [u16; 10] = [0, 1, 12, 101, 108, 113, 228, 229, 276, 147];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/decode");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/regressions/decode") {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        let Some((&pick, data)) = input.split_first() else {
            continue;
        };
        let link = nd_decode::LinkType::from_linktype(LINKS[pick as usize % LINKS.len()]);
        let d = crate::Decoded::new(link, data);
        let mut names = 0;
        scapy_layers(&d.view(), |_| names += 1);
        assert!(names <= 4 * d.kinds.len() + data.len() / 4 + 4);
        n += 1;
    }
    assert!(n >= 30, "only {n} regression inputs");
}
