// PacketCountChef: counts every layer of every packet by scapy's layer
// name, as netdumplings' PacketCountChef (rules: docs/scapy-layer-names.md;
// the kitchen computes the names, `Packet.scapyNames`).
// No packet dumplings; the interval payload is `{"packet_counts": {layer:
// count}}`, counts since the chef started. The state handed to the next
// version on a hot swap is the counts as a JSON object, as the Rust chef's,
// so the two can replace each other.

import { chef, fromJson, scapyNameTable } from '../sdk/chef.js';

/** Layer name -> count up to the last fold. An object without a prototype: the cheapest map in the interpreter. */
let counts = Object.create(null);
/** Counts since then, by name id (`recent[id]`): no string per layer on the packet path. */
let recent = [];

/** Adds `recent` into `counts`. */
function fold() {
    const table = recent.length > 0 ? scapyNameTable() : [];
    for (let id = 0; id < recent.length; id++) {
        const n = recent[id];
        if (n > 0 && table[id] !== undefined) counts[table[id]] = (counts[table[id]] ?? 0) + n;
    }
    recent = [];
}


export const handlers = chef({
    name: 'PacketCountChef',

    packet(p) {
        p.countScapyNames(recent);
    },

    interval() {
        fold();
        return { packet_counts: counts };
    },

    exportState() {
        fold();
        return counts;
    },

    importState(bytes) {
        const state = fromJson(bytes);
        if (state === null || typeof state !== 'object' || Array.isArray(state)) {
            throw new Error('state is not a JSON object');
        }
        const imported = Object.create(null);
        for (const [name, n] of Object.entries(state)) {
            if (!Number.isSafeInteger(n) || n < 0) throw new Error(`count of ${JSON.stringify(name)} is not a count`);
            imported[name] = n;
        }
        counts = imported;
        recent = [];
    },
});
