// PacketCountChef: counts every layer of every packet by scapy's layer
// name, as netdumplings' PacketCountChef (rules: docs/scapy-layer-names.md;
// the kitchen computes the names, `Packet.scapyNames`).
// No packet dumplings; the interval payload is `{"packet_counts": {layer:
// count}}`, counts since the chef started. The state handed to the next
// version on a hot swap is the counts as a JSON object, as the Rust chef's,
// so the two can replace each other.

import { chef, fromJson } from '../sdk/chef.js';

/** Layer name -> count. An object without a prototype: the cheapest map in the interpreter. */
let counts = Object.create(null);


export const handlers = chef({
    name: 'PacketCountChef',

    packet(p) {
        for (const name of p.scapyNames()) counts[name] = (counts[name] ?? 0) + 1;
    },

    interval() {
        return { packet_counts: counts };
    },

    exportState() {
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
    },
});
