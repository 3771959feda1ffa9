//! Which names scapy 2.4.5 (what netdumplings 0.5.1 used) gives a packet's
//! layers, from the kitchen's decoded layers: docs/scapy-layer-names.md,
//! ported from chefs/rust/dissect (with the spec's hand-written DNS check
//! in place of the simple-dns crate).
//!
//! Every read is bounds-checked: hostile bytes give other names, never a trap.

const std = @import("std");
const sdk = @import("sdk");

/// Length of scapy's `STP` layer (a configuration BPDU).
const stp_len = 35;

/// Calls `try emit(context, name)` with scapy's name for every layer of
/// `p`, outermost first. Names are static strings.
pub fn layerNames(p: *const sdk.Packet, context: anytype, comptime emit: anytype) !void {
    var state: State = .{};
    var it = p.layers();
    while (it.next()) |layer| {
        const b = layer.bytes;
        switch (layer.kind) {
            .ethernet => try emit(context, "Ethernet"),
            .ieee8023 => {
                try emit(context, "802.3");
                state.has_8023_len = b.len >= 14;
            },
            .linux_sll => try emit(context, "cooked linux"),
            .loopback => try emit(context, "Loopback"),
            .vlan => try emit(context, "802.1Q"),
            .qinq => try emit(context, "802_1AD"),
            .arp => try emit(context, "ARP"),
            .ipv4 => try emit(context, "IP"),
            .ipv6 => {
                try emit(context, "IPv6");
                state.ipv6_next = byte(b, 6);
            },
            .ipv6_extension => {
                try emit(context, if (state.ipv6_next) |next| switch (next) {
                    0 => "IPv6 Extension Header - Hop-by-Hop Options Header",
                    43 => "IPv6 Option Header Routing",
                    60 => "IPv6 Extension Header - Destination Options Header",
                    51 => "AH",
                    else => "IPv6 Extension Header",
                } else "IPv6 Extension Header");
                state.ipv6_next = byte(b, 0);
            },
            .ipv6_fragment => {
                try emit(context, "IPv6 Extension Header - Fragmentation header");
                state.ipv6_next = byte(b, 0);
            },
            .tcp => {
                try emit(context, "TCP");
                state.transport = .tcp;
            },
            .udp => {
                try emit(context, "UDP");
                state.transport = .udp;
            },
            .icmpv4 => {
                try emit(context, "ICMP");
                state.transport = .icmpv4;
                state.icmp_type = byte(b, 0);
            },
            .icmpv6 => {
                try emit(context, icmpv6Name(b));
                state.transport = .icmpv6;
            },
            .payload => try payloadNames(p, b, state, context, emit),
            .padding => try emit(context, "Padding"),
        }
    }
}

/// What earlier layers tell about the payload layer.
const State = struct {
    /// The next-header value naming the following IPv6 extension header.
    ipv6_next: ?u8 = null,
    transport: ?enum { tcp, udp, icmpv4, icmpv6 } = null,
    icmp_type: ?u8 = null,
    /// An 802.3 header with its length field: the payload is LLC.
    has_8023_len: bool = false,
};

fn byte(b: []const u8, i: usize) ?u8 {
    return if (i < b.len) b[i] else null;
}

fn payloadNames(p: *const sdk.Packet, b: []const u8, state: State, context: anytype, comptime emit: anytype) !void {
    if (b.len == 0) return;
    if (isNonFirstFragment(p)) return emit(context, "Raw");
    const transport = state.transport orelse {
        if (!state.has_8023_len) return emit(context, "Raw");
        try emit(context, "LLC");
        if (b.len >= 2 and b[0] == 0x42 and b[1] == 0x42) {
            try emit(context, "Spanning Tree Protocol");
            // scapy's STP layer is 35 bytes; anything after it is Raw.
            if (b.len > 3 + stp_len) try emit(context, "Raw");
        } else if (b.len > 3) try emit(context, "Raw");
        return;
    };
    switch (transport) {
        .udp, .tcp => {
            if (dnsMessage(p)) |msg| if (isValidDns(msg)) {
                try emit(context, "DNS");
                // Over TCP, bytes after the length-prefixed message are Raw.
                if (transport == .tcp and b.len > msg.len + 2) try emit(context, "Raw");
                return;
            };
            const udp = transport == .udp;
            if (udp and hasPort(p, 5355)) {
                // scapy's LLMNR: query or response by the QR bit.
                if (b.len > 2 and b[2] & 0x80 != 0)
                    try emit(context, "Link Local Multicast Node Resolution - Response")
                else
                    try emit(context, "Link Local Multicast Node Resolution - Query");
            } else if (udp and hasPort(p, 123)) {
                try emit(context, "NTPHeader");
            } else try emit(context, "Raw");
        },
        .icmpv4 => {
            const t = state.icmp_type orelse return emit(context, "Raw");
            if (t != 3 and t != 4 and t != 5 and t != 11 and t != 12) return emit(context, "Raw");
            // An ICMP error quotes the offending IP header and 8 bytes of it.
            const ihl = @as(usize, b[0] & 0x0f) * 4;
            if (b[0] >> 4 != 4 or ihl < 20 or b.len < 20) return emit(context, "Raw");
            try emit(context, "IP in ICMP");
            const rest = if (ihl <= b.len) b[ihl..] else b[b.len..];
            if (rest.len >= 8) switch (b[9]) {
                17 => try emit(context, "UDP in ICMP"),
                6 => try emit(context, "TCP in ICMP"),
                1 => try emit(context, "ICMP in ICMP"),
                else => {},
            };
            if (rest.len > 8) try emit(context, "Raw");
        },
        // ICMPv6 messages (echo, MLD, ND, ...) carry their body in the message.
        .icmpv6 => {},
    }
}

fn isNonFirstFragment(p: *const sdk.Packet) bool {
    const offset = p.fragmentOffset() orelse return false;
    return offset != 0;
}

fn hasPort(p: *const sdk.Packet, port: u16) bool {
    return p.srcPort() == port or p.dstPort() == port;
}

/// The DNS message a packet carries, if scapy would have dissected one:
/// UDP port 53 or 5353 (mDNS) on either side, or TCP port 53 after the
/// 2-byte length prefix. Not LLMNR (5355), not non-first IP fragments.
pub fn dnsMessage(p: *const sdk.Packet) ?[]const u8 {
    if (isNonFirstFragment(p)) return null;
    if (p.srcPort() == null or p.dstPort() == null) return null;
    const payload = p.layer(.payload) orelse return null;
    if (p.has(.udp) and (hasPort(p, 53) or hasPort(p, 5353))) return payload;
    if (p.has(.tcp) and hasPort(p, 53)) {
        if (payload.len < 2) return null;
        const len = std.mem.readInt(u16, payload[0..2], .big);
        if (payload.len < 2 + @as(usize, len)) return null;
        return payload[2..][0..len];
    }
    return null;
}

/// The spec's "valid DNS": the structure simple-dns checks when it parses
/// a message (header, questions, resource records), without building anything.
pub fn isValidDns(msg: []const u8) bool {
    if (msg.len < 12) return false;
    if (msg[3] & 0x40 != 0) return false; // the reserved Z bit
    const count = struct {
        fn at(m: []const u8, i: usize) usize {
            return std.mem.readInt(u16, m[i..][0..2], .big);
        }
    }.at;
    var pos: usize = 12;
    for (0..count(msg, 4)) |_| {
        if (!skipName(msg, &pos)) return false;
        if (pos + 4 > msg.len) return false;
        const qtype = count(msg, pos);
        const qclass = count(msg, pos + 2) & 0x7fff;
        pos += 4;
        if (!isKnownQuestionType(qtype)) return false;
        switch (qclass) {
            1, 2, 3, 4, 254, 255 => {},
            else => return false,
        }
    }
    const records = count(msg, 6) + count(msg, 8) + count(msg, 10);
    for (0..records) |_| {
        if (!skipName(msg, &pos)) return false;
        if (pos + 10 > msg.len) return false;
        const rtype = count(msg, pos);
        const class = count(msg, pos + 2) & 0x7fff;
        const rdlength = count(msg, pos + 8);
        pos += 10;
        if (pos + rdlength > msg.len) return false;
        pos += rdlength;
        // simple-dns refuses a class it does not know (once the record is
        // read); the Rust chef then reparses the questions alone (scapy
        // accepted any class).
        switch (class) {
            1, 2, 3, 4, 254 => {},
            else => if (rtype != 41) return true, // OPT's class is a UDP size
        }
    }
    return true;
}

/// Question types simple-dns knows (it rejects the others).
fn isKnownQuestionType(t: usize) bool {
    return switch (t) {
        1...18, 20...23, 28, 29, 33, 35, 36, 37, 41, 43, 45...49, 63, 64, 65, 108, 109, 251...255, 257 => true,
        else => false,
    };
}

/// Skips the name at `pos.*` (moving `pos` past it, or past its first
/// compression pointer). False if it is not a valid name.
fn skipName(msg: []const u8, pos: *usize) bool {
    var at = pos.*;
    var jumped = false;
    var total: usize = 0; // sum of 1 + length over the labels
    while (true) {
        if (at >= msg.len) return false;
        const b = msg[at];
        if (b == 0) {
            if (!jumped) pos.* = at + 1;
            return true;
        }
        if (b & 0xc0 == 0xc0) {
            if (at + 1 >= msg.len) return false;
            const target = (@as(usize, b & 0x3f) << 8) | msg[at + 1];
            // Only backwards (as simple-dns), so compression cannot loop.
            if (target >= at) return false;
            if (!jumped) pos.* = at + 2;
            jumped = true;
            at = target;
            continue;
        }
        if (b > 63 or at + 1 + b > msg.len) return false;
        total += 1 + @as(usize, b);
        if (total >= 255) return false;
        at += 1 + @as(usize, b);
    }
}

/// scapy's class names for ICMPv6 messages (the common ones).
fn icmpv6Name(header: []const u8) []const u8 {
    const t = byte(header, 0) orelse return "ICMPv6 Unknown";
    return switch (t) {
        1 => "ICMPv6 Destination Unreachable",
        2 => "ICMPv6 Packet Too Big",
        3 => "ICMPv6 Time Exceeded",
        4 => "ICMPv6 Parameter Problem",
        128 => "ICMPv6 Echo Request",
        129 => "ICMPv6 Echo Reply",
        130 => "MLDv2 - Multicast Listener Query",
        131 => "MLD - Multicast Listener Report",
        132 => "MLD - Multicast Listener Done",
        133 => "ICMPv6 Neighbor Discovery - Router Solicitation",
        134 => "ICMPv6 Neighbor Discovery - Router Advertisement",
        135 => "ICMPv6 Neighbor Discovery - Neighbor Solicitation",
        136 => "ICMPv6 Neighbor Discovery - Neighbor Advertisement",
        137 => "ICMPv6 Neighbor Discovery - Redirect",
        143 => "MLDv2 - Multicast Listener Report",
        else => "ICMPv6 Unknown",
    };
}
