// DNSLookupChef: one dumpling per DNS message with a question, as
// netdumplings' DNSLookupChef, plus an interval summary.
//
// Packet payload: `{"lookup": {"hostname", "when"}}` where hostname is the
// first question's name without the trailing dot. Interval payload:
// `{"lookups_seen": {hostname: {"count", "latest"}}}`. Which packets are DNS
// follows scapy 2.4.5 (see dissect.js); a message that does not parse makes
// no dumpling. As the Rust chef (chefs/rust/dns-lookup): `when`/`latest`
// are the packet's capture time. The state is `{hostname: [count, latest]}`,
// as the Rust chef's.

import { chef, float, formatFloat, fromJson, rawJson } from '../sdk/chef.js';
import { dnsMessage, parseDns } from '../sdk/dissect.js';

/** hostname -> { count, latest } (latest: capture time in seconds). */
let lookupsSeen = new Map();

export const handlers = chef({
    name: 'DNSLookupChef',

    packet(p) {
        const message = dnsMessage(p);
        if (message === undefined) return undefined;
        const hostname = parseDns(message)?.firstQuestion;
        if (hostname === undefined) return undefined;
        const when = p.timestamp;
        const seen = lookupsSeen.get(hostname);
        if (seen === undefined) lookupsSeen.set(hostname, { count: 1, latest: when });
        else {
            seen.count++;
            seen.latest = when;
        }
        // Written by hand (JSON.stringify escapes as serde_json does): toJson
        // would cost more than the rest of this chef's work.
        return rawJson(`{"lookup":{"hostname":${JSON.stringify(hostname)},"when":${formatFloat(when)}}}`);
    },

    interval() {
        const seen = new Map();
        for (const [hostname, { count, latest }] of lookupsSeen) {
            seen.set(hostname, { count, latest: float(latest) });
        }
        return { lookups_seen: seen };
    },

    exportState() {
        const state = new Map();
        for (const [hostname, { count, latest }] of lookupsSeen) state.set(hostname, [count, float(latest)]);
        return state;
    },

    importState(bytes) {
        const state = fromJson(bytes);
        if (state === null || typeof state !== 'object' || Array.isArray(state)) {
            throw new Error('state is not a JSON object');
        }
        const imported = new Map();
        for (const [hostname, entry] of Object.entries(state)) {
            if (!Array.isArray(entry) || entry.length !== 2 || !Number.isSafeInteger(entry[0]) || entry[0] < 0
                || typeof entry[1] !== 'number') {
                throw new Error(`entry of ${JSON.stringify(hostname)} is not [count, latest]`);
            }
            imported.set(hostname, { count: entry[0], latest: entry[1] });
        }
        lookupsSeen = imported;
    },
});
