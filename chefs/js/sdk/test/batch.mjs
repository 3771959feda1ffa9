// Builds packet batches as the kitchen does (wit/chef.wit's columns), for tests.
import { Kind } from '../chef.js';

/**
 * `packets`: [{ data: number[], layers: [[kind, offset, length]], ts (ns, BigInt),
 * ports: [src, dst], ip: 4 | 6 | 0, addrs: [src bytes, dst bytes], frag, wire }]
 */
export function makeBatch(packets, linkType = 1) {
    const n = packets.length;
    const data = [];
    const dataOffsets = [0];
    const layerStarts = [0];
    const layerKinds = [];
    const layerOffsets = [];
    const layerLengths = [];
    const ipAddresses = new Uint8Array(32 * n);
    packets.forEach((p, i) => {
        data.push(...p.data);
        dataOffsets.push(data.length);
        for (const [k, o, l] of p.layers ?? []) {
            layerKinds.push(k);
            layerOffsets.push(o);
            layerLengths.push(l);
        }
        layerStarts.push(layerKinds.length);
        if (p.addrs) {
            ipAddresses.set(p.addrs[0], 32 * i);
            ipAddresses.set(p.addrs[1], 32 * i + 16);
        }
    });
    return {
        linkType,
        data: Uint8Array.from(data),
        dataOffsets: Uint32Array.from(dataOffsets),
        wireLengths: Uint32Array.from(packets.map((p) => p.wire ?? p.data.length)),
        timestamps: BigUint64Array.from(packets.map((p) => p.ts ?? 0n)),
        layerStarts: Uint32Array.from(layerStarts),
        layerKinds: Uint8Array.from(layerKinds),
        layerOffsets: Uint32Array.from(layerOffsets),
        layerLengths: Uint32Array.from(layerLengths),
        ipVersions: Uint8Array.from(packets.map((p) => p.ip ?? 0)),
        ipAddresses,
        ports: Uint16Array.from(packets.flatMap((p) => p.ports ?? [0, 0])),
        fragmentOffsets: Uint32Array.from(packets.map((p) => p.frag ?? 0xffffffff)),
    };
}

/** A UDP/IPv4/Ethernet packet carrying `payload` between the given ports. */
export function udpPacket(payload, src, dst, extra = {}) {
    const data = [...new Array(42).fill(0), ...payload];
    return {
        data,
        layers: [[Kind.ethernet, 0, 14], [Kind.ipv4, 14, 20], [Kind.udp, 34, 8], [Kind.payload, 42, payload.length]],
        ports: [src, dst],
        ip: 4,
        ...extra,
    };
}

/** A TCP/IPv4/Ethernet packet carrying `payload` between the given ports. */
export function tcpPacket(payload, src, dst, extra = {}) {
    const data = [...new Array(54).fill(0), ...payload];
    return {
        data,
        layers: [[Kind.ethernet, 0, 14], [Kind.ipv4, 14, 20], [Kind.tcp, 34, 20], [Kind.payload, 54, payload.length]],
        ports: [src, dst],
        ip: 4,
        ...extra,
    };
}
