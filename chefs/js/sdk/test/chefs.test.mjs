// The standard chefs' payloads and states (the Rust chefs' formats, so that
// a hot swap may go from one language to the other).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kind } from '../chef.js';
import { makeBatch, udpPacket } from './batch.mjs';

let fresh = 0;
/** A new instance of a chef module (its state lives in the module). */
async function load(dir) {
    return (await import(`../../${dir}/chef.js?instance=${fresh++}`)).handlers;
}
const text = (bytes) => new TextDecoder().decode(bytes);
const bytes = (s) => new TextEncoder().encode(s);

function arpPacket(op, sha, spa, tha, tpa, ts) {
    const arp = [0, 1, 8, 0, sha.length, spa.length, op >> 8, op & 0xff, ...sha, ...spa, ...tha, ...tpa];
    return { data: [...new Array(14).fill(0), ...arp], layers: [[Kind.ethernet, 0, 14], [Kind.arp, 14, arp.length]], ts };
}

test('ARPChef: payloads, notes, state', async () => {
    const chef = await load('arp');
    assert.equal(chef.name(), 'ARPChef');
    const mac1 = [0xf8, 0xed, 0xa5, 0xc0, 0xa4, 0xf1];
    const mac2 = [0x78, 0x31, 0xc1, 0xc6, 0x3f, 0xc2];
    const out = chef.handleBatch(makeBatch([
        arpPacket(1, mac2, [10, 0, 0, 2], [0, 0, 0, 0, 0, 0], [10, 0, 0, 1], 1461764814520906000n),
        arpPacket(2, mac1, [10, 0, 0, 1], mac2, [10, 0, 0, 2], 1461764814000000000n),
        arpPacket(2, mac1, [10, 0, 0, 1], mac2, [10, 0, 0, 2], 1461764815000000000n),
        arpPacket(2, mac2, [10, 0, 0, 1], mac2, [10, 0, 0, 2], 0n),
        arpPacket(9, [1, 2], [1, 2, 3], [], [], 0n),
        udpPacket([], 1, 2),
    ]));
    assert.deepEqual(out.map((p) => p.index), [0, 1, 2, 3, 4]);
    assert.equal(out[0].json, '{"dst_hw":"00:00:00:00:00:00","dst_ip":"10.0.0.1","notes":null,"operation":"request","src_hw":"78:31:c1:c6:3f:c2","src_ip":"10.0.0.2","time":1461764814.520906}');
    assert.equal(out[1].json, '{"dst_hw":"78:31:c1:c6:3f:c2","dst_ip":"10.0.0.2","notes":"source device is new","operation":"reply","src_hw":"f8:ed:a5:c0:a4:f1","src_ip":"10.0.0.1","time":1461764814.0}');
    assert.match(out[2].json, /"notes":null/);
    assert.match(out[3].json, /"notes":"source device has new IP address"/);
    // An unknown opcode is a number; odd lengths are hex; a cut packet gives short fields.
    assert.equal(out[4].json, '{"dst_hw":"","dst_ip":"","notes":null,"operation":9,"src_hw":"01:02","src_ip":"01:02:03","time":0.0}');
    assert.equal(chef.interval(), undefined);
    assert.equal(text(chef.exportState()), '{"10.0.0.1":"78:31:c1:c6:3f:c2"}');
    // The Rust chef's state (a HashMap, any order).
    const next = await load('arp');
    next.importState(bytes('{"10.0.0.9":"aa:bb","10.0.0.1":"78:31:c1:c6:3f:c2"}'));
    const [p] = next.handleBatch(makeBatch([arpPacket(2, mac2, [10, 0, 0, 1], mac1, [10, 0, 0, 2], 0n)]));
    assert.match(p.json, /"notes":null/);
    assert.throws(() => next.importState(bytes('{"a":1}')), (e) => typeof e === 'string');
    assert.throws(() => next.importState(bytes('[')), (e) => typeof e === 'string');
});

test('PacketCountChef: cumulative counts, state', async () => {
    const chef = await load('packet-count');
    assert.equal(chef.name(), 'PacketCountChef');
    assert.equal(chef.interval(), '{"packet_counts":{}}');
    const batch = makeBatch([udpPacket([1], 1, 2), { data: [0], layers: [[Kind.arp, 0, 1]] }]);
    // What the kitchen would name them (the stub of netdumplings:chef/scapy).
    globalThis.scapyTable = ['ARP', 'Ethernet', 'IP', 'Raw', 'UDP', 'TCP'];
    globalThis.scapyBatch = { starts: [0, 4, 5], ids: [1, 2, 4, 3, 0] };
    assert.deepEqual(chef.handleBatch(batch), []);
    assert.equal(chef.interval(), '{"packet_counts":{"ARP":1,"Ethernet":1,"IP":1,"Raw":1,"UDP":1}}');
    chef.handleBatch(batch);
    assert.equal(chef.interval(), '{"packet_counts":{"ARP":2,"Ethernet":2,"IP":2,"Raw":2,"UDP":2}}');
    assert.equal(text(chef.exportState()), '{"ARP":2,"Ethernet":2,"IP":2,"Raw":2,"UDP":2}');
    const next = await load('packet-count');
    next.importState(bytes('{"TCP":5,"IP":5}'));
    next.handleBatch(batch);
    assert.equal(next.interval(), '{"packet_counts":{"ARP":1,"Ethernet":1,"IP":6,"Raw":1,"TCP":5,"UDP":1}}');
    assert.throws(() => next.importState(bytes('{"TCP":-1}')), (e) => typeof e === 'string');
    assert.throws(() => next.importState(bytes('{"TCP":1.5}')), (e) => typeof e === 'string');
    assert.throws(() => next.importState(bytes('[1]')), (e) => typeof e === 'string');
    // A refused state leaves the counts as they were.
    assert.equal(next.interval(), '{"packet_counts":{"ARP":1,"Ethernet":1,"IP":6,"Raw":1,"TCP":5,"UDP":1}}');
});

test('DNSLookupChef: lookups, summary, state', async () => {
    const chef = await load('dns-lookup');
    assert.equal(chef.name(), 'DNSLookupChef');
    const query = (...labels) => [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels.flatMap((l) => [l.length, ...Buffer.from(l)]), 0, 0, 1, 0, 1];
    const out = chef.handleBatch(makeBatch([
        udpPacket(query('www', 'tcpdump', 'org'), 40000, 53, { ts: 1591780794740079000n }),
        udpPacket(query('www', 'tcpdump', 'org'), 53, 40000, { ts: 1591780795000000000n }),
        udpPacket(query('a'), 40000, 54),
        udpPacket([1, 2, 3], 40000, 53),
    ]));
    assert.deepEqual(out, [
        { index: 0, json: '{"lookup":{"hostname":"www.tcpdump.org","when":1591780794.740079}}' },
        { index: 1, json: '{"lookup":{"hostname":"www.tcpdump.org","when":1591780795.0}}' },
    ]);
    assert.equal(chef.interval(), '{"lookups_seen":{"www.tcpdump.org":{"count":2,"latest":1591780795.0}}}');
    assert.equal(text(chef.exportState()), '{"www.tcpdump.org":[2,1591780795.0]}');
    const next = await load('dns-lookup');
    next.importState(bytes('{"www.tcpdump.org":[2,1591780795.0],"b":[1,5]}'));
    assert.equal(next.interval(), '{"lookups_seen":{"b":{"count":1,"latest":5.0},"www.tcpdump.org":{"count":2,"latest":1591780795.0}}}');
    assert.throws(() => next.importState(bytes('{"b":[1]}')), (e) => typeof e === 'string');
});

test('the template counts packets', async () => {
    const chef = await load('template');
    assert.equal(chef.name(), 'ChefTemplate');
    chef.handleBatch(makeBatch([{ data: [] }, { data: [] }]));
    assert.equal(chef.interval(), '{"packets":2}');
    assert.equal(text(chef.exportState()), '2');
    const next = await load('template');
    next.importState(bytes('5'));
    assert.equal(next.interval(), '{"packets":5}');
    assert.throws(() => next.importState(bytes('"x"')), (e) => typeof e === 'string');
});
