// Write a netdumplings chef in JavaScript.
//
// A chef is an ES module exporting `handlers`, made by `chef()`:
//
//     import { chef } from '../sdk/chef.js';
//
//     let packets = 0;
//     export const handlers = chef({
//         name: 'CountChef',
//         packet(p) { packets++; },              // return a value for a packet dumpling
//         interval() { return { packets }; },    // return a value for an interval dumpling
//     });
//
// `build.sh` bundles it with this SDK and builds a WebAssembly component
// the kitchen loads (see README.md).
//
// What this module hides: the kitchen hands packets over in batches of
// columns (see wit/chef.wit); `chef()` walks a batch, calls `packet` once
// per packet with a `Packet` view, and writes the payloads as JSON text,
// byte for byte as the Rust SDK does (see json.js).
//
// The code runs in SpiderMonkey's interpreter (no JIT inside a component),
// where a function call costs ~0.5 µs and an object ~1 µs: the per-packet
// path here avoids calls, iterators and allocations it can do without.

import { log as hostLog } from 'netdumplings:chef/host@0.1.0';
import { names as hostScapyNames, nameBatch } from 'netdumplings:chef/scapy@0.1.0';
import { toJson, utf8Encode } from './json.js';

export { float, Float, rawJson, RawJson, toJson, fromJson, utf8Encode, utf8Decode, formatFloat, compareKeys } from './json.js';

/** Layer kinds: `Kind.udp` is the number `layer-kinds` uses for a UDP layer. */
export const Kind = Object.freeze({
    ethernet: 0,
    ieee8023: 1,
    linuxSll: 2,
    loopback: 3,
    vlan: 4,
    qinq: 5,
    arp: 6,
    ipv4: 7,
    ipv6: 8,
    ipv6Extension: 9,
    ipv6Fragment: 10,
    tcp: 11,
    udp: 12,
    icmpv4: 13,
    icmpv6: 14,
    payload: 15,
    padding: 16,
    vxlan: 17,
    gre: 18,
    pppoeDiscovery: 19,
    pppoeSession: 20,
    ppp: 21,
    quotedIpv4: 22,
    quotedIpv6: 23,
    quotedTcp: 24,
    quotedUdp: 25,
    quotedIcmpv4: 26,
    quotedIcmpv6: 27,
});

/** WIT names of the layer kinds, by number: `KIND_NAMES[Kind.linuxSll]` is 'linux-sll'. */
export const KIND_NAMES = Object.freeze([
    'ethernet', 'ieee8023', 'linux-sll', 'loopback', 'vlan', 'qinq', 'arp', 'ipv4', 'ipv6',
    'ipv6-extension', 'ipv6-fragment', 'tcp', 'udp', 'icmpv4', 'icmpv6', 'payload', 'padding',
    'vxlan', 'gre', 'pppoe-discovery', 'pppoe-session', 'ppp',
    'quoted-ipv4', 'quoted-ipv6', 'quoted-tcp', 'quoted-udp', 'quoted-icmpv4', 'quoted-icmpv6',
]);

const KIND_COUNT = KIND_NAMES.length;
const TCP_OR_UDP = (1 << Kind.tcp) | (1 << Kind.udp);
/** `fragment-offsets` value for a packet that is not a fragment. */
const NOT_A_FRAGMENT = 0xffffffff;
const EMPTY = new Uint8Array(0);

/**
 * Writes a line to the kitchen's log, tagged with this chef's name.
 * `level` is 'trace', 'debug', 'info', 'warn' or 'error'.
 */
export function log(level, message) {
    hostLog(level, String(message));
}

/** One decoded layer of a packet (from `Packet.layers()`). */
export class Layer {
    constructor(kind, bytes) {
        /** Its kind, a `Kind` number. */
        this.kind = kind;
        /** Its captured bytes (may be short if the capture was cut). */
        this.bytes = bytes;
    }

    /** Its kind's WIT name ('udp', 'ipv6-extension', ...). */
    get name() {
        return KIND_NAMES[this.kind];
    }
}

/**
 * One captured packet, as the kitchen decoded it: a view into a batch, valid
 * during the `packet` call it is given to (copy what you keep).
 *
 * Layers are numbered 0 .. layerCount - 1, outermost first. A newer kitchen
 * may send layer kinds this SDK does not know (>= KIND_NAMES.length): skip
 * them (`layers()`, `layer()` and `has()` do).
 */
export class Packet {
    constructor(batch, index, start, end, layerStart, layerEnd, names) {
        this._batch = batch;
        /** The batch's `BatchNames` (scapy's names, fetched when first asked). */
        this._names = names;
        /** The packet's position in its batch. */
        this.index = index;
        this._start = start;
        this._end = end;
        this._layerStart = layerStart;
        this._layerEnd = layerEnd;
        /** Bit k set when the packet has a layer of kind k; computed when first asked. */
        this._kinds = -1;
        this._data = undefined;
    }

    /** The captured bytes (may be shorter than the packet on the wire). */
    get data() {
        if (this._data === undefined) this._data = this._batch.data.subarray(this._start, this._end);
        return this._data;
    }

    /** Length of the packet on the wire. */
    get wireLength() {
        return this._batch.wireLengths[this.index] ?? 0;
    }

    /** Capture time in seconds since the Unix epoch (netdumplings' float); write it with `float()`. */
    get timestamp() {
        const t = this.timestampNs;
        return Number(t / 1000000000n) + Number(t % 1000000000n) / 1e9;
    }

    /** Capture time in nanoseconds since the Unix epoch, a BigInt. */
    get timestampNs() {
        return this._batch.timestamps[this.index] ?? 0n;
    }

    /** The capture's LINKTYPE number. */
    get linkType() {
        return this._batch.linkType;
    }

    /**
     * The packet's layers as scapy 2.4.5 named them, outermost first (what
     * netdumplings' PacketCountChef counted): an array of strings. The
     * kitchen computes them (wit/chef.wit, `scapy`), once per batch, when a
     * packet first asks.
     */
    scapyNames() {
        return this._names.of(this.index);
    }

    /**
     * `scapyNames()` as ids into `scapyNameTable()`: for counting in an
     * array without a string per layer (PacketCountChef does).
     */
    scapyNameIds() {
        return this._names.ids(this.index);
    }

    /**
     * Adds 1 to `counts[id]` for every id of `scapyNameIds()`, without
     * making an array per packet (in the interpreter that is most of the
     * cost): PacketCountChef's packet path.
     */
    countScapyNames(counts) {
        this._names.count(this.index, counts);
    }

    /** Number of decoded layers. */
    get layerCount() {
        return this._layerEnd - this._layerStart;
    }

    /** Kind (a `Kind` number) of layer `i`. */
    layerKind(i) {
        return this._batch.layerKinds[this._layerStart + i];
    }

    /** Captured bytes of layer `i` (may be short if the capture was cut). */
    layerBytes(i) {
        const b = this._batch;
        const j = this._layerStart + i;
        return this._slice(b.layerOffsets[j], b.layerLengths[j]);
    }

    /** Decoded layers, outermost first, as `Layer`s (kinds this SDK does not know are skipped). */
    layers() {
        const b = this._batch;
        const out = [];
        for (let j = this._layerStart; j < this._layerEnd; j++) {
            const kind = b.layerKinds[j];
            if (kind < KIND_COUNT) out.push(new Layer(kind, this._slice(b.layerOffsets[j], b.layerLengths[j])));
        }
        return out;
    }

    /** Whether the packet has a layer of `kind`. */
    has(kind) {
        const kinds = this._kinds >= 0 ? this._kinds : this._computeKinds();
        return ((kinds >> kind) & 1) === 1;
    }

    /** Sets (and returns) `_kinds`, the mask of the layer kinds the packet has. */
    _computeKinds() {
        let kinds = 0;
        const all = this._batch.layerKinds;
        for (let j = this._layerStart; j < this._layerEnd; j++) {
            const k = all[j];
            if (k < KIND_COUNT) kinds |= 1 << k;
        }
        this._kinds = kinds;
        return kinds;
    }

    /** The bytes of the first layer of `kind`, or undefined. */
    layer(kind) {
        if (!this.has(kind)) return undefined;
        const b = this._batch;
        for (let j = this._layerStart; j < this._layerEnd; j++) {
            if (b.layerKinds[j] === kind) return this._slice(b.layerOffsets[j], b.layerLengths[j]);
        }
        return undefined;
    }

    /** Version of the innermost IP header: 4, 6, or 0 for none. */
    get ipVersion() {
        return this._batch.ipVersions[this.index] ?? 0;
    }

    /** Source address of the innermost IP header ('192.0.2.1', '2001:db8::1'), or undefined. */
    get srcAddr() {
        return this._address(0);
    }

    /** Destination address of the innermost IP header, or undefined. */
    get dstAddr() {
        return this._address(16);
    }

    /** TCP/UDP source port, or undefined without a TCP or UDP layer. */
    get srcPort() {
        const kinds = this._kinds >= 0 ? this._kinds : this._computeKinds();
        return (kinds & TCP_OR_UDP) !== 0 ? this._batch.ports[this.index * 2] : undefined;
    }

    /** TCP/UDP destination port, or undefined without a TCP or UDP layer. */
    get dstPort() {
        const kinds = this._kinds >= 0 ? this._kinds : this._computeKinds();
        return (kinds & TCP_OR_UDP) !== 0 ? this._batch.ports[this.index * 2 + 1] : undefined;
    }

    /** The IP fragment offset in bytes if the packet is an IP fragment, else undefined. */
    get fragmentOffset() {
        const o = this._batch.fragmentOffsets[this.index];
        return o === NOT_A_FRAGMENT ? undefined : o;
    }

    _address(at) {
        const start = this.index * 32 + at;
        const a = this._batch.ipAddresses;
        if (start + 16 > a.length) return undefined;
        switch (this.ipVersion) {
            case 4:
                return `${a[start]}.${a[start + 1]}.${a[start + 2]}.${a[start + 3]}`;
            case 6:
                return formatIpv6(a.subarray(start, start + 16));
            default:
                return undefined;
        }
    }

    /** The packet's bytes `offset .. offset + length`, clamped to them. */
    _slice(offset, length) {
        const n = this._end - this._start;
        if (!(offset < n)) return EMPTY;
        const end = length < n - offset ? offset + length : n;
        return this._batch.data.subarray(this._start + offset, this._start + end);
    }
}

/** An IPv6 address as RFC 5952 (and Rust's `Ipv6Addr`) writes it. */
export function formatIpv6(b) {
    const groups = [];
    for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
    // IPv4-mapped: ::ffff:a.b.c.d
    if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
        return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
    }
    // The longest run of two or more zero groups (the first of equals) becomes '::'.
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
        if (groups[i] !== 0) {
            i++;
            continue;
        }
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > bestLen) {
            best = i;
            bestLen = j - i;
        }
        i = j;
    }
    const hex = (gs) => gs.map((g) => g.toString(16)).join(':');
    if (best < 0) return hex(groups);
    return hex(groups.slice(0, best)) + '::' + hex(groups.slice(best + bestLen));
}

function errorText(e) {
    if (typeof e === 'string') return e;
    if (e instanceof Error) return e.message || String(e);
    return String(e);
}

/** Every scapy name, by id: fetched from the kitchen once. */
let scapyTable;

/** A batch's scapy names, fetched from the kitchen when a packet first asks. */
class BatchNames {
    constructor() {
        this._starts = undefined;
        this._ids = undefined;
    }

    /** Fetches the batch's names from the kitchen, once. */
    _fetch() {
        if (scapyTable === undefined) scapyTable = hostScapyNames();
        if (this._starts === undefined) {
            const n = nameBatch();
            this._starts = n.starts;
            this._ids = n.ids;
        }
    }

    /** Packet `index`'s name ids (indexes into `scapyNameTable()`), outermost first. */
    ids(index) {
        this._fetch();
        const start = this._starts[index];
        const end = this._starts[index + 1];
        if (start === undefined || end === undefined || end < start) return EMPTY_IDS;
        // A typed array (what componentize-js lifts a list<u16> to) is
        // viewed, not copied.
        const ids = this._ids;
        return typeof ids.subarray === 'function' ? ids.subarray(start, end) : ids.slice(start, end);
    }

    /** Adds 1 to `counts[id]` for each of packet `index`'s name ids. */
    count(index, counts) {
        this._fetch();
        const ids = this._ids;
        const start = this._starts[index];
        const end = this._starts[index + 1];
        if (start === undefined || end === undefined) return;
        for (let j = start; j < end; j++) {
            const id = ids[j];
            counts[id] = (counts[id] ?? 0) + 1;
        }
    }

    /** Packet `index`'s names, outermost first. */
    of(index) {
        const out = [];
        for (const id of this.ids(index)) {
            const name = scapyTable[id];
            if (name !== undefined) out.push(name);
        }
        return out;
    }
}

const EMPTY_IDS = Object.freeze([]);

/**
 * Every scapy layer name the kitchen knows, by id: `scapyNameTable()[id]`
 * for an id from `Packet.scapyNameIds()`. Fetched from the kitchen once.
 */
export function scapyNameTable() {
    if (scapyTable === undefined) scapyTable = hostScapyNames();
    return scapyTable;
}

/**
 * Makes a chef's `handlers` export from a spec object; its methods are
 * called with `this` set to the spec, so state may live on it or in the module:
 *
 * - `name` (string, required): the chef's name in dumplings (`metadata.chef`);
 * - `packet(p)`: called for every `Packet`; return a JSON value for a packet
 *   dumpling, `undefined` for none;
 * - `interval()`: called every poke interval; return a JSON value or `undefined`;
 * - `exportState()`: state for the next version of this chef on a hot swap:
 *   a Uint8Array, a string (sent as UTF-8), any other JSON value (sent as
 *   its JSON text), or `undefined` for none;
 * - `importState(bytes)`: the previous version's state, a Uint8Array; throw
 *   to refuse it (the kitchen logs the message and the chef starts fresh).
 *
 * Values become JSON text with `toJson` (sorted keys, `float()` for floats).
 * An exception from `packet` or `interval` is a fault: the kitchen throws the
 * instance away and restarts the chef.
 */
export function chef(spec) {
    if (typeof spec?.name !== 'string' || spec.name === '') {
        throw new TypeError('chef({ name, ... }): name must be a non-empty string');
    }
    const { name } = spec;
    const hasPacket = typeof spec.packet === 'function';
    return {
        name() {
            return name;
        },

        handleBatch(batch) {
            const out = [];
            if (!hasPacket) return out;
            const offsets = batch.dataOffsets;
            const layerStarts = batch.layerStarts;
            const size = batch.data.length;
            const n = offsets.length - 1;
            const names = new BatchNames();
            for (let i = 0; i < n; i++) {
                // Out-of-range offsets (a buggy kitchen) give empty views, not errors.
                let start = offsets[i];
                if (start > size) start = size;
                let end = offsets[i + 1];
                if (end < start) end = start;
                else if (end > size) end = size;
                const layerStart = layerStarts[i] ?? 0;
                let layerEnd = layerStarts[i + 1] ?? 0;
                if (layerEnd < layerStart) layerEnd = layerStart;
                const value = spec.packet(new Packet(batch, i, start, end, layerStart, layerEnd, names));
                if (value !== undefined) out.push({ index: i, json: toJson(value) });
            }
            return out;
        },

        interval() {
            if (typeof spec.interval !== 'function') return undefined;
            const value = spec.interval();
            return value === undefined ? undefined : toJson(value);
        },

        exportState() {
            if (typeof spec.exportState !== 'function') return undefined;
            const state = spec.exportState();
            if (state === undefined || state === null) return undefined;
            if (state instanceof Uint8Array) return state;
            if (typeof state === 'string') return utf8Encode(state);
            return utf8Encode(toJson(state));
        },

        importState(bytes) {
            if (typeof spec.importState !== 'function') return;
            try {
                spec.importState(bytes);
            } catch (e) {
                // componentize-js turns a thrown string into result's error
                // (a thrown Error without a `payload` would trap instead).
                throw errorText(e);
            }
        },
    };
}
