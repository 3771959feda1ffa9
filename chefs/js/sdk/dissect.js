// Shared by the standard chefs: which packets scapy 2.4.5 (what netdumplings
// 0.5.1 used) would call DNS, and the first question of a DNS message. The
// rules are docs/scapy-layer-names.md; the kitchen's nd-scapy crate is the
// reference (it also names every layer for `Packet.scapyNames`).
//
// Every read is bounds-checked (a typed array read past its end gives
// undefined, which every test below treats as "absent"): hostile bytes give
// "not DNS" or fewer names, never an exception.
//
// This module belongs to the SDK and reads a Packet's batch columns directly
// on the per-layer path: in SpiderMonkey's interpreter every method call
// counts (see chef.js).

import { Kind, utf8Decode } from './chef.js';

/**
 * The DNS message a packet carries, if scapy would have dissected one: UDP
 * port 53 or 5353 (mDNS) on either side, or TCP port 53 after the 2-byte
 * length prefix, also inside the datagram an ICMP error quotes (scapy
 * dissects it). Not LLMNR (5355), not non-first IP fragments.
 */
export function dnsMessage(p) {
    // Most packets have no transport at all, or are not on a DNS port.
    const quoted = p.has(Kind.quotedUdp) || p.has(Kind.quotedTcp);
    if (p.srcPort === undefined && !quoted) return undefined;
    // The innermost transport: a tunnel's UDP may come first; a quoted
    // header has its own ports.
    let last = -1;
    for (let i = 0; i < p.layerCount; i++) {
        const k = p.layerKind(i);
        if (k === Kind.udp || k === Kind.tcp || k === Kind.quotedUdp || k === Kind.quotedTcp) last = i;
    }
    if (last < 0) return undefined;
    const kind = p.layerKind(last);
    let src = p.srcPort;
    let dst = p.dstPort;
    if (kind === Kind.quotedUdp || kind === Kind.quotedTcp) {
        const h = p.layerBytes(last);
        src = h.length >= 2 ? (h[0] << 8) | h[1] : 0;
        dst = h.length >= 4 ? (h[2] << 8) | h[3] : 0;
    }
    const isUdp = kind === Kind.udp || kind === Kind.quotedUdp;
    const udp = isUdp && (src === 53 || src === 5353 || dst === 53 || dst === 5353);
    const tcp = !isUdp && (src === 53 || dst === 53);
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
