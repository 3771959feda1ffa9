// Shared by the standard chefs: which packets scapy 2.4.5 (what netdumplings
// 0.5.1 used) would call DNS, and the names it gives layers. The rules are
// docs/scapy-layer-names.md, implemented as written there; the Rust chefs'
// chefs/rust/dissect is the reference they were written from.
//
// Every read is bounds-checked (a typed array read past its end gives
// undefined, which every test below treats as "absent"): hostile bytes give
// "not DNS" or fewer names, never an exception.
//
// This module belongs to the SDK and reads a Packet's batch columns directly
// on the per-layer path: in SpiderMonkey's interpreter every method call
// counts (see chef.js).

import { Kind, utf8Decode } from './chef.js';

/** Length of scapy's `STP` layer (a configuration BPDU). */
const STP_LEN = 35;

/**
 * The DNS message a packet carries, if scapy would have dissected one: UDP
 * port 53 or 5353 (mDNS) on either side, or TCP port 53 after the 2-byte
 * length prefix. Not LLMNR (5355), not non-first IP fragments.
 */
export function dnsMessage(p) {
    // Ports first: most packets are not DNS, and this answers fastest.
    const src = p.srcPort;
    if (src === undefined) return undefined;
    const dst = p.dstPort;
    const udp = p.has(Kind.udp) && (src === 53 || src === 5353 || dst === 53 || dst === 5353);
    const tcp = !udp && p.has(Kind.tcp) && (src === 53 || dst === 53);
    if (!udp && !tcp) return undefined;
    const frag = p.fragmentOffset;
    if (frag !== undefined && frag !== 0) return undefined;
    const payload = p.layer(Kind.payload);
    if (payload === undefined) return undefined;
    if (udp) return payload;
    // TCP: a 2-byte big-endian length, then the message.
    if (payload.length < 2) return undefined;
    const len = (payload[0] << 8) | payload[1];
    if (payload.length < 2 + len) return undefined;
    return payload.subarray(2, 2 + len);
}

// Question types simple-dns accepts: 1-18, 20-23, 28, 29, 33, 35-37, 41, 43,
// 45-49, 63-65, 108, 109, 251-255, 257.
const QTYPES = new Set([
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 28, 29, 33, 35,
    36, 37, 41, 43, 45, 46, 47, 48, 49, 63, 64, 65, 108, 109, 251, 252, 253, 254, 255, 257,
]);

const MAX_NAME_LENGTH = 255;
const MAX_LABEL_LENGTH = 63;
const TYPE_OPT = 41;

/** Record classes simple-dns knows (IN, CS, CH, HS, NONE); questions may also ask for ANY (255). */
function knownClass(c) {
    return c === 1 || c === 2 || c === 3 || c === 4 || c === 254;
}

function u16(m, at) {
    return (m[at] << 8) | m[at + 1];
}

/**
 * Reads a name at `at`; returns the position after it (after its first
 * pointer if it has one), or -1 if it is not a valid name. Collects its
 * labels into `labels` if given.
 */
function readName(m, at, labels) {
    const size = m.length;
    let pos = at;
    let after = -1;
    let nameLen = 0;
    for (;;) {
        if (pos >= size) return -1;
        const b = m[pos];
        if (b === 0) return after >= 0 ? after : pos + 1;
        if ((b & 0xc0) === 0xc0) {
            // A pointer: the name continues at that offset of the message.
            if (pos + 1 >= size) return -1;
            const target = ((b & 0x3f) << 8) | m[pos + 1];
            // Only backwards (as simple-dns), so compression cannot loop.
            if (target >= pos) return -1;
            if (after < 0) after = pos + 2;
            pos = target;
            continue;
        }
        nameLen += 1 + b;
        if (nameLen >= MAX_NAME_LENGTH || b > MAX_LABEL_LENGTH || pos + 1 + b > size) return -1;
        if (labels !== undefined) labels.push(m.subarray(pos + 1, pos + 1 + b));
        pos += 1 + b;
    }
}

/**
 * Checks a DNS message as docs/scapy-layer-names.md says ("Valid DNS"), the
 * structure simple-dns (the Rust chefs' parser) insists on. Returns
 * `{ firstQuestion }`, or undefined if it is not DNS (scapy left it `Raw`:
 * truncated, bad labels, compression loops). `firstQuestion` is the first
 * question's labels joined by dots (no trailing dot), undefined without
 * questions or if a label is not valid UTF-8.
 */
export function parseDns(m) {
    const labels = [];
    if (!checkDns(m, labels)) return undefined;
    return { firstQuestion: m[5] === 0 && m[4] === 0 ? undefined : joinLabels(labels) };
}

/** Whether `m` is a valid DNS message (`parseDns` without the name). */
export function isDns(m) {
    return checkDns(m, undefined);
}

/** The "Valid DNS" rules; collects the first question's labels into `labels` if given. */
function checkDns(m, labels) {
    // (Big-endian u16s are read inline: a call costs more than the read here.)
    const size = m.length;
    if (size < 12 || (m[3] & 0x40) !== 0) return false; // too short, or the reserved Z bit set
    const qd = (m[4] << 8) | m[5];
    const records = ((m[6] << 8) | m[7]) + ((m[8] << 8) | m[9]) + ((m[10] << 8) | m[11]);
    let pos = 12;
    for (let i = 0; i < qd; i++) {
        pos = readName(m, pos, i === 0 ? labels : undefined);
        if (pos < 0 || pos + 4 > size) return false;
        const qclass = ((m[pos + 2] << 8) | m[pos + 3]) & 0x7fff;
        if (!QTYPES.has((m[pos] << 8) | m[pos + 1]) || !(knownClass(qclass) || qclass === 255)) return false;
        pos += 4;
    }
    for (let i = 0; i < records; i++) {
        pos = readName(m, pos, undefined);
        // type, class, TTL, rdlength; then rdlength bytes of data.
        if (pos < 0 || pos + 10 > size) return false;
        const type = (m[pos] << 8) | m[pos + 1];
        const cls = ((m[pos + 2] << 8) | m[pos + 3]) & 0x7fff;
        pos += 10 + ((m[pos + 8] << 8) | m[pos + 9]);
        if (pos > size) return false;
        // simple-dns refuses the class; the Rust chef then keeps the questions
        // alone (scapy accepted any class). OPT's class field is a UDP size.
        if (type !== TYPE_OPT && !knownClass(cls)) break;
    }
    return true;
}

function joinLabels(labels) {
    // One decode of the labels joined by '.': it is valid UTF-8 exactly when
    // every label is ('.' cannot complete or start a multi-byte sequence).
    if (labels.length === 0) return ''; // the root
    if (labels.length === 1) return utf8Decode(labels[0]);
    let size = labels.length - 1;
    for (let i = 0; i < labels.length; i++) size += labels[i].length;
    const name = new Uint8Array(size);
    let at = 0;
    for (let i = 0; i < labels.length; i++) {
        if (i > 0) name[at++] = 0x2e;
        name.set(labels[i], at);
        at += labels[i].length;
    }
    return utf8Decode(name);
}

/** scapy's class names for ICMPv6 messages (the common ones), by type. */
const ICMPV6_NAMES = [];
ICMPV6_NAMES[1] = 'ICMPv6 Destination Unreachable';
ICMPV6_NAMES[2] = 'ICMPv6 Packet Too Big';
ICMPV6_NAMES[3] = 'ICMPv6 Time Exceeded';
ICMPV6_NAMES[4] = 'ICMPv6 Parameter Problem';
ICMPV6_NAMES[128] = 'ICMPv6 Echo Request';
ICMPV6_NAMES[129] = 'ICMPv6 Echo Reply';
ICMPV6_NAMES[130] = 'MLDv2 - Multicast Listener Query';
ICMPV6_NAMES[131] = 'MLD - Multicast Listener Report';
ICMPV6_NAMES[132] = 'MLD - Multicast Listener Done';
ICMPV6_NAMES[133] = 'ICMPv6 Neighbor Discovery - Router Solicitation';
ICMPV6_NAMES[134] = 'ICMPv6 Neighbor Discovery - Router Advertisement';
ICMPV6_NAMES[135] = 'ICMPv6 Neighbor Discovery - Neighbor Solicitation';
ICMPV6_NAMES[136] = 'ICMPv6 Neighbor Discovery - Neighbor Advertisement';
ICMPV6_NAMES[137] = 'ICMPv6 Neighbor Discovery - Redirect';
ICMPV6_NAMES[143] = 'MLDv2 - Multicast Listener Report';

/** scapy's names of IPv6 extension headers, by the next-header value that announced them. */
const IPV6_EXTENSION_NAMES = [];
IPV6_EXTENSION_NAMES[0] = 'IPv6 Extension Header - Hop-by-Hop Options Header';
IPV6_EXTENSION_NAMES[43] = 'IPv6 Option Header Routing';
IPV6_EXTENSION_NAMES[60] = 'IPv6 Extension Header - Destination Options Header';
IPV6_EXTENSION_NAMES[51] = 'AH';

/** Names of the layers that are one name whatever their bytes, by kind. */
const FIXED_NAMES = [];
FIXED_NAMES[Kind.ethernet] = 'Ethernet';
FIXED_NAMES[Kind.linuxSll] = 'cooked linux';
FIXED_NAMES[Kind.loopback] = 'Loopback';
FIXED_NAMES[Kind.vlan] = '802.1Q';
FIXED_NAMES[Kind.qinq] = '802_1AD';
FIXED_NAMES[Kind.arp] = 'ARP';
FIXED_NAMES[Kind.ipv4] = 'IP';
FIXED_NAMES[Kind.padding] = 'Padding';

/** The bytes of the packet's layer at batch index `j`. */
function layerBytes(p, j) {
    const b = p._batch;
    return p._slice(b.layerOffsets[j], b.layerLengths[j]);
}

/**
 * Calls `emit(name)` with scapy's name for every layer of packet `p`,
 * outermost first, as PacketCountChef counts them.
 */
export function scapyLayerNames(p, emit) {
    // What earlier layers tell later ones (undefined: absent).
    let ipv6Next; // the next-header value naming the following IPv6 extension header
    let transport;
    let icmpType;
    let link8023Len;
    const kinds = p._batch.layerKinds;
    for (let j = p._layerStart; j < p._layerEnd; j++) {
        const kind = kinds[j];
        const fixed = FIXED_NAMES[kind];
        if (fixed !== undefined) {
            emit(fixed);
            continue;
        }
        // Kinds this SDK does not know (a newer kitchen) match no case.
        switch (kind) {
            case Kind.ieee8023: {
                const bytes = layerBytes(p, j);
                emit('802.3');
                link8023Len = bytes.length >= 14 ? u16(bytes, 12) : undefined;
                break;
            }
            case Kind.ipv6:
                emit('IPv6');
                ipv6Next = layerBytes(p, j)[6];
                break;
            case Kind.ipv6Extension:
                emit(IPV6_EXTENSION_NAMES[ipv6Next] ?? 'IPv6 Extension Header');
                ipv6Next = layerBytes(p, j)[0];
                break;
            case Kind.ipv6Fragment:
                emit('IPv6 Extension Header - Fragmentation header');
                ipv6Next = layerBytes(p, j)[0];
                break;
            case Kind.tcp:
                emit('TCP');
                transport = kind;
                break;
            case Kind.udp:
                emit('UDP');
                transport = kind;
                break;
            case Kind.icmpv4:
                emit('ICMP');
                transport = kind;
                icmpType = layerBytes(p, j)[0];
                break;
            case Kind.icmpv6:
                transport = kind;
                emit(ICMPV6_NAMES[layerBytes(p, j)[0]] ?? 'ICMPv6 Unknown');
                break;
            case Kind.payload:
                payloadNames(p, layerBytes(p, j), transport, icmpType, link8023Len, emit);
                break;
        }
    }
}

/** The names scapy gives the bytes above the last decoded header (see the spec's list). */
function payloadNames(p, bytes, transport, icmpType, link8023Len, emit) {
    if (bytes.length === 0) return;
    const frag = p.fragmentOffset;
    if (frag !== undefined && frag !== 0) {
        emit('Raw');
        return;
    }
    if (transport === Kind.udp || transport === Kind.tcp) {
        const src = p.srcPort;
        const dst = p.dstPort;
        // (dnsMessage answers nothing without one of these ports: skip the call.)
        if (src === 53 || dst === 53 || src === 5353 || dst === 5353) {
            const msg = dnsMessage(p);
            if (msg !== undefined && isDns(msg)) {
                emit('DNS');
                // Over TCP, bytes after the length-prefixed message are Raw.
                if (transport === Kind.tcp && bytes.length > msg.length + 2) emit('Raw');
                return;
            }
        }
        if (transport === Kind.udp && (src === 5355 || dst === 5355)) {
            // scapy's LLMNR: query or response by the QR bit.
            emit(bytes[2] & 0x80
                ? 'Link Local Multicast Node Resolution - Response'
                : 'Link Local Multicast Node Resolution - Query');
        } else if (transport === Kind.udp && (src === 123 || dst === 123)) {
            emit('NTPHeader');
        } else {
            emit('Raw');
        }
    } else if (transport === Kind.icmpv4 && (icmpType === 3 || icmpType === 4 || icmpType === 5 || icmpType === 11 || icmpType === 12)) {
        // An ICMP error quotes the offending IP header and 8 bytes of it.
        const ihl = (bytes[0] & 0x0f) * 4;
        if (bytes[0] >> 4 !== 4 || ihl < 20 || bytes.length < 20) {
            emit('Raw');
            return;
        }
        emit('IP in ICMP');
        const rest = bytes.length > ihl ? bytes.length - ihl : 0;
        if (rest >= 8) {
            const proto = bytes[9];
            if (proto === 17) emit('UDP in ICMP');
            else if (proto === 6) emit('TCP in ICMP');
            else if (proto === 1) emit('ICMP in ICMP');
        }
        if (rest > 8) emit('Raw');
    } else if (transport === Kind.icmpv6) {
        // ICMPv6 messages (echo, MLD, ND, ...) carry their body in the message: nothing.
    } else if (transport === undefined && link8023Len !== undefined) {
        emit('LLC');
        if (bytes[0] === 0x42 && bytes[1] === 0x42) {
            emit('Spanning Tree Protocol');
            // scapy's STP layer is 35 bytes; anything after it is Raw.
            if (bytes.length > 3 + STP_LEN) emit('Raw');
        } else if (bytes.length > 3) {
            emit('Raw');
        }
    } else {
        emit('Raw');
    }
}
