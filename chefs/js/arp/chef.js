// ARPChef: one dumpling per ARP packet, as netdumplings' ARPChef.
//
// Payload: `{operation, src_hw, src_ip, dst_hw, dst_ip, time, notes}`.
// `operation` is "request"/"reply" or the numeric opcode; `notes` is set on
// replies only: "source device is new" the first time an IP is seen in a
// reply, "source device has new IP address" when a later reply maps it to a
// different MAC. As the Rust chef (chefs/rust/arp): `time` is the packet's
// capture time, and addresses of unusual lengths are hex strings. The state
// is the IP -> MAC map as a JSON object.

import { chef, formatFloat, fromJson, Kind, rawJson } from '../sdk/chef.js';

/** IP -> MAC, learned from replies. */
let ipMac = new Map();

/** "00" .. "ff": one lookup per byte is the cheapest formatting in the interpreter. */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/**
 * `n` bytes of `b` from `from` as scapy prints hardware addresses: lowercase
 * hex, colon-separated; cut short (possibly empty) where `b` ends, as scapy
 * gives shorter fields for a packet cut short.
 */
function hw(b, from, n) {
    const end = from + n < b.length ? from + n : b.length;
    if (from >= end) return '';
    let s = HEX[b[from]];
    for (let i = from + 1; i < end; i++) s += ':' + HEX[b[i]];
    return s;
}

/** Protocol addresses: dotted quad for 4 bytes, else hex like hardware ones. */
function proto(b, from, n) {
    if (n === 4 && from + 4 <= b.length) return `${b[from]}.${b[from + 1]}.${b[from + 2]}.${b[from + 3]}`;
    return hw(b, from, n);
}

const NOTES_NEW = '"source device is new"';
const NOTES_MOVED = '"source device has new IP address"';

export const handlers = chef({
    name: 'ARPChef',

    packet(p) {
        // The ARP header: hardware and protocol address lengths at 4 and 5,
        // the opcode at 6; then sender MAC, sender IP, target MAC, target IP.
        const b = p.layer(Kind.arp);
        if (b === undefined || b.length < 8) return undefined;
        const hlen = b[4];
        const plen = b[5];
        const op = (b[6] << 8) | b[7];
        const srcHw = hw(b, 8, hlen);
        const srcIp = proto(b, 8 + hlen, plen);
        let notes = 'null';
        if (op === 2) {
            const mac = ipMac.get(srcIp);
            if (mac === undefined) notes = NOTES_NEW;
            else if (mac !== srcHw) notes = NOTES_MOVED;
            ipMac.set(srcIp, srcHw);
        }
        const operation = op === 1 ? '"request"' : op === 2 ? '"reply"' : String(op);
        // The payload written by hand, keys in order (addresses are hex digits,
        // colons and dots: nothing to escape): toJson would be twice as slow
        // on this, the chef's whole work.
        return rawJson(
            `{"dst_hw":"${hw(b, 8 + hlen + plen, hlen)}","dst_ip":"${proto(b, 8 + 2 * hlen + plen, plen)}",` +
                `"notes":${notes},"operation":${operation},"src_hw":"${srcHw}","src_ip":"${srcIp}",` +
                `"time":${formatFloat(p.timestamp)}}`,
        );
    },

    exportState() {
        return ipMac;
    },

    importState(bytes) {
        const state = fromJson(bytes);
        if (state === null || typeof state !== 'object' || Array.isArray(state)) {
            throw new Error('state is not a JSON object');
        }
        const imported = new Map();
        for (const [ip, mac] of Object.entries(state)) {
            if (typeof mac !== 'string') throw new Error(`MAC of ${JSON.stringify(ip)} is not a string`);
            imported.set(ip, mac);
        }
        ipMac = imported;
    },
});
