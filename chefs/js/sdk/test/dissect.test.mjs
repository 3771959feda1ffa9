// docs/scapy-layer-names.md's rules: the "Valid DNS" check and layer names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chef, Kind } from '../chef.js';
import { parseDns, dnsMessage } from '../dissect.js';
import { makeBatch, udpPacket, tcpPacket } from './batch.mjs';

const header = (qd, an = 0, ns = 0, ar = 0, flags = [1, 0]) => [0x12, 0x34, ...flags, 0, qd, 0, an, 0, ns, 0, ar];
const name = (...labels) => [...labels.flatMap((l) => [l.length, ...Buffer.from(l)]), 0];
const question = (n, qtype = 1, qclass = 1) => [...n, qtype >> 8, qtype & 0xff, qclass >> 8, qclass & 0xff];
const record = (n, type = 1, cls = 1, rdata = [1, 2, 3, 4]) => [...n, type >> 8, type & 0xff, cls >> 8, cls & 0xff, 0, 0, 0, 60, rdata.length >> 8, rdata.length & 0xff, ...rdata];
const dns = (...parts) => Uint8Array.from(parts.flat());

test('valid DNS: header, questions, records', () => {
    assert.deepEqual(parseDns(dns(header(1), question(name('www', 'example', 'com')))), { firstQuestion: 'www.example.com' });
    assert.deepEqual(parseDns(dns(header(0))), { firstQuestion: undefined });
    assert.deepEqual(parseDns(dns(header(1), question([0]))), { firstQuestion: '' }); // the root
    assert.equal(parseDns(dns(header(0)).subarray(0, 11)), undefined);
    const q = question(name('a', 'b'));
    assert.ok(parseDns(dns(header(1, 1), q, record(name('a', 'b')))));
    // A record's data past the end of the message.
    assert.equal(parseDns(dns(header(1, 1), q, record(name('a'))).subarray(0, 30)), undefined);
    // More records announced than present.
    assert.equal(parseDns(dns(header(1, 2), q, record(name('a')))), undefined);
});

test('valid DNS: question types and classes', () => {
    for (const t of [1, 18, 20, 23, 28, 29, 33, 35, 37, 41, 43, 45, 49, 63, 64, 65, 108, 109, 251, 255, 257]) {
        assert.ok(parseDns(dns(header(1), question(name('a'), t))), `qtype ${t}`);
    }
    for (const t of [0, 19, 24, 27, 30, 34, 38, 42, 44, 50, 62, 66, 107, 110, 250, 256, 258, 65535]) {
        assert.equal(parseDns(dns(header(1), question(name('a'), t))), undefined, `qtype ${t}`);
    }
    for (const c of [1, 2, 3, 4, 254, 255, 0x8001, 0x80ff]) assert.ok(parseDns(dns(header(1), question(name('a'), 1, c))), `qclass ${c}`);
    for (const c of [0, 5, 253, 256]) assert.equal(parseDns(dns(header(1), question(name('a'), 1, c))), undefined, `qclass ${c}`);
});

test('valid DNS: a record of an unknown class ends the check (but OPT may have any)', () => {
    const q = question(name('a'));
    // TSIG-like record, class ANY (255), then garbage: valid (questions only).
    assert.deepEqual(parseDns(dns(header(1, 0, 0, 2), q, record(name('t'), 250, 255), [0xff, 0xff])), { firstQuestion: 'a' });
    // OPT (41) with a UDP size in its class field, then a valid record.
    assert.ok(parseDns(dns(header(1, 0, 0, 2), q, record([0], 41, 4096, []), record(name('b')))));
    // OPT followed by garbage: the OPT exemption means the check goes on.
    assert.equal(parseDns(dns(header(1, 0, 0, 2), q, record([0], 41, 4096, []), [0xff])), undefined);
    // The unknown class is seen after the record's data is checked.
    assert.equal(parseDns(dns(header(1, 0, 0, 1), q, record(name('t'), 1, 255)).subarray(0, 28)), undefined);
});

test('valid DNS: names, labels, pointers', () => {
    const long = 'x'.repeat(63);
    assert.ok(parseDns(dns(header(1), question(name(long)))));
    assert.equal(parseDns(dns(header(1), question(name(long + 'y')))), undefined); // label > 63
    // The sum of 1 + length stays below 255: 64 * 3 + 62 = 254, + 63 = 255.
    assert.ok(parseDns(dns(header(1), question(name(long, long, long, 'x'.repeat(61))))));
    assert.equal(parseDns(dns(header(1), question(name(long, long, long, 'x'.repeat(62))))), undefined);
    // A pointer to the first question's name (offset 12).
    const q1 = question(name('www', 'example', 'com'));
    const ptrName = [3, ...Buffer.from('ftp'), 0xc0, 12];
    assert.deepEqual(parseDns(dns(header(2), q1, question(ptrName))), { firstQuestion: 'www.example.com' });
    // A forward pointer (into an answer) is refused, as simple-dns does.
    assert.equal(parseDns(dns(header(1), question([0xc0, 18]), [3, ...Buffer.from('fwd'), 0])), undefined);
    // The reserved Z flag bit (0x0040) set: simple-dns refuses the header.
    assert.equal(parseDns(dns(header(1, 0, 0, 0, [1, 0x40]), question(name('a')))), undefined);
    assert.deepEqual(parseDns(dns(header(1, 0, 0, 0, [1, 0x80]), question(name('a')))), { firstQuestion: 'a' });
    // A pointer to itself (a loop) is refused.
    assert.equal(parseDns(dns(header(1), question([0xc0, 12]))), undefined);
    // A loop through a label: the name grows past 255.
    assert.equal(parseDns(dns(header(1), question([1, 0x61, 0xc0, 12]))), undefined);
    // A pointer past the end, a pointer cut in half, a label cut short.
    assert.equal(parseDns(dns(header(1), question([0xc0, 200]))), undefined);
    assert.equal(parseDns(dns(header(1), [0xc0])), undefined);
    assert.equal(parseDns(dns(header(1), [5, 0x61])), undefined);
    // A label that is not UTF-8: valid DNS, no hostname.
    assert.deepEqual(parseDns(dns(header(1), question([2, 0xc3, 0x28, 0]))), { firstQuestion: undefined });
    assert.deepEqual(parseDns(dns(header(1), question([2, 0xc3, 0xa9, 1, 0x61, 0]))), { firstQuestion: 'é.a' });
});

const query = [...header(1), ...question(name('a'))];

// Which layers scapy names DNS (and every other name) is the kitchen's
// (nd-scapy, tested there); the SDK finds the message for DNSLookupChef.
test('dnsMessage: UDP 53/5353, TCP 53 after its length prefix', () => {
    const framed = [0, query.length, ...query];
    const message = (packet) => {
        let msg;
        chef({ name: 'T', packet: (p) => void (msg = dnsMessage(p)) }).handleBatch(makeBatch([packet]));
        return msg === undefined ? undefined : [...msg];
    };
    assert.deepEqual(message(udpPacket(query, 40000, 53)), query);
    assert.deepEqual(message(udpPacket(query, 5353, 5353)), query);
    assert.equal(message(udpPacket(query, 40000, 54)), undefined);
    assert.deepEqual(message(tcpPacket([...framed, 7], 53, 1)), query);
    assert.equal(message(tcpPacket(framed.slice(0, -1), 53, 40000)), undefined);
    assert.equal(message(udpPacket(query, 40000, 53, { frag: 8 })), undefined);
    assert.deepEqual(message(udpPacket(query, 40000, 53, { frag: 0 })), query);
});

test('dnsMessage: the DNS query an ICMP error quotes', () => {
    // Ethernet, IPv4, ICMP (8), quoted IPv4 (20), quoted UDP 40001 -> 53 (8), the query.
    const quotedUdp = [0x9c, 0x41, 0, 53, 0, 8 + query.length, 0, 0];
    const data = [...new Array(62).fill(0), ...quotedUdp, ...query];
    const layers = [[Kind.ethernet, 0, 14], [Kind.ipv4, 14, 20], [Kind.icmpv4, 34, 8], [Kind.quotedIpv4, 42, 20],
        [Kind.quotedUdp, 62, 8], [Kind.payload, 70, query.length]];
    let msg;
    chef({ name: 'T', packet: (p) => void (msg = dnsMessage(p)) }).handleBatch(makeBatch([{ data, layers, ports: [40001, 53] }]));
    assert.deepEqual([...msg], query);
    // Quoted from port 54: not DNS.
    data[65] = 54;
    msg = 'unset';
    chef({ name: 'T', packet: (p) => void (msg = dnsMessage(p)) }).handleBatch(makeBatch([{ data, layers }]));
    assert.equal(msg, undefined);
});

