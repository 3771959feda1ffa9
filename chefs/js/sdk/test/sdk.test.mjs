// The SDK's batch walk and Packet view, on batches built as the kitchen builds them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chef, Kind, formatIpv6, log } from '../chef.js';
import { makeBatch, udpPacket } from './batch.mjs';

function collect(batch) {
    const seen = [];
    const handlers = chef({ name: 'T', packet: (p) => void seen.push(p) });
    handlers.handleBatch(batch);
    return seen;
}

test('one packet call per packet, with its fields', () => {
    const batch = makeBatch([
        udpPacket([1, 2, 3], 53, 40000, { ts: 1461764814520906000n, wire: 100, addrs: [[10, 0, 0, 1], [10, 0, 0, 2]] }),
        { data: [9, 9], layers: [[Kind.arp, 0, 2]], ts: 1000000000n, frag: 0 },
    ]);
    const [a, b] = collect(batch);
    assert.equal(a.index, 0);
    assert.equal(a.data.length, 45);
    assert.equal(a.wireLength, 100);
    assert.equal(a.timestamp, 1461764814.520906);
    assert.equal(a.timestampNs, 1461764814520906000n);
    assert.equal(a.linkType, 1);
    assert.deepEqual(a.layers().map((l) => l.name), ['ethernet', 'ipv4', 'udp', 'payload']);
    assert.deepEqual([...a.layer(Kind.payload)], [1, 2, 3]);
    assert.equal(a.has(Kind.udp), true);
    assert.equal(a.has(Kind.tcp), false);
    assert.equal(a.layer(Kind.tcp), undefined);
    assert.equal(a.srcPort, 53);
    assert.equal(a.dstPort, 40000);
    assert.equal(a.srcAddr, '10.0.0.1');
    assert.equal(a.dstAddr, '10.0.0.2');
    assert.equal(a.fragmentOffset, undefined);
    assert.equal(b.index, 1);
    assert.deepEqual([...b.data], [9, 9]);
    assert.equal(b.timestamp, 1.0);
    assert.equal(b.srcPort, undefined); // no tcp or udp layer
    assert.equal(b.fragmentOffset, 0);
    assert.equal(b.srcAddr, undefined);
});

test('the timestamp is secs + nanos / 1e9, as the Rust SDK computes it', () => {
    const ns = 1591780794740079123n;
    const [p] = collect(makeBatch([{ data: [], ts: ns }]));
    assert.equal(p.timestamp, Number(ns / 1000000000n) + Number(ns % 1000000000n) / 1e9);
});

test('payloads carry their packet index; no payload for undefined', () => {
    const batch = makeBatch([udpPacket([], 1, 2), udpPacket([], 3, 4), udpPacket([], 5, 6)]);
    const handlers = chef({ name: 'T', packet: (p) => (p.index === 1 ? undefined : { port: p.srcPort, nothing: null }) });
    assert.deepEqual(handlers.handleBatch(batch), [
        { index: 0, json: '{"nothing":null,"port":1}' },
        { index: 2, json: '{"nothing":null,"port":5}' },
    ]);
});

test('layers out of the packet, unknown kinds and bad offsets give empty views, not errors', () => {
    const batch = makeBatch([{ data: [1, 2, 3, 4], layers: [[Kind.ethernet, 2, 10], [99, 0, 1], [Kind.payload, 50, 3]] }]);
    const [p] = collect(batch);
    assert.deepEqual(p.layers().map((l) => [l.kind, [...l.bytes]]), [[Kind.ethernet, [3, 4]], [Kind.payload, []]]);
    assert.equal(p.has(99), false);
    // Offsets past the data, layer starts past the layer columns.
    const bad = { ...batch, dataOffsets: Uint32Array.from([7, 2]), layerStarts: Uint32Array.from([5, 9]) };
    const [q] = collect(bad);
    assert.equal(q.data.length, 0);
    assert.deepEqual(q.layers(), []);
    assert.equal(q.has(Kind.ethernet), false);
});

test('interval, export and import state', () => {
    let n = 0;
    const handlers = chef({
        name: 'StateChef',
        packet() { n++; },
        interval() { return n === 0 ? undefined : { n }; },
        exportState() { return { n }; },
        importState(bytes) {
            if (bytes.length === 0) throw new Error('empty state');
            n = JSON.parse(new TextDecoder().decode(bytes)).n;
        },
    });
    assert.equal(handlers.name(), 'StateChef');
    assert.equal(handlers.interval(), undefined);
    handlers.handleBatch(makeBatch([{ data: [] }, { data: [] }]));
    assert.equal(handlers.interval(), '{"n":2}');
    assert.equal(new TextDecoder().decode(handlers.exportState()), '{"n":2}');
    handlers.importState(new TextEncoder().encode('{"n":7}'));
    assert.equal(handlers.interval(), '{"n":7}');
    // componentize-js makes a thrown string result's error (an Error would trap).
    assert.throws(() => handlers.importState(new Uint8Array(0)), (e) => e === 'empty state');
    // A chef without these handlers.
    const bare = chef({ name: 'Bare' });
    assert.deepEqual(bare.handleBatch(makeBatch([{ data: [] }])), []);
    assert.equal(bare.interval(), undefined);
    assert.equal(bare.exportState(), undefined);
    assert.equal(bare.importState(new Uint8Array(1)), undefined);
    assert.throws(() => chef({}), TypeError);
});

test('IPv6 addresses as Rust prints them', () => {
    const a = (...groups) => Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
    assert.equal(formatIpv6(a(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), '2001:db8::1');
    assert.equal(formatIpv6(a(0, 0, 0, 0, 0, 0, 0, 0)), '::');
    assert.equal(formatIpv6(a(0, 0, 0, 0, 0, 0, 0, 1)), '::1');
    assert.equal(formatIpv6(a(1, 0, 1, 0, 0, 1, 0, 0)), '1:0:1::1:0:0');
    assert.equal(formatIpv6(a(1, 0, 0, 1, 0, 0, 1, 1)), '1::1:0:0:1:1');
    assert.equal(formatIpv6(a(1, 2, 3, 4, 5, 6, 7, 0)), '1:2:3:4:5:6:7:0');
    assert.equal(formatIpv6(a(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201)), '::ffff:192.0.2.1');
    assert.equal(formatIpv6(a(0xfe80, 0, 0, 0, 0x1ff, 0xfe23, 0x4567, 0x890a)), 'fe80::1ff:fe23:4567:890a');
});

test('log reaches the host', () => {
    log('warn', 'hello');
    assert.deepEqual(globalThis.chefLog.at(-1), ['warn', 'hello']);
});
