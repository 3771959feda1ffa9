// ChefTemplate: counts packets; every interval, `{"packets": N}`.
// Made with `just new-chef js ChefTemplate`: edit `packet` and `interval`,
// then `just chefs` (or chefs/js/build.sh chef-template) builds
// target/polyglot/js/chef_template.wasm. The SDK is ../sdk/chef.js.

import { chef, fromJson, log } from '../sdk/chef.js';

let packets = 0;

export const handlers = chef({
    // The name in dumplings' metadata.chef.
    name: 'ChefTemplate',

    // Every packet: return a JSON value to send a packet dumpling, or
    // nothing. `p` has data, timestamp, layers(), has(kind), layer(kind),
    // srcPort/dstPort, srcAddr/dstAddr, ... (see the Packet class in the SDK).
    packet(p) {
        packets++;
    },

    // Every poke interval (and at the end of a replay).
    interval() {
        return { packets };
    },

    // Hot swap: the old version's exportState() reaches the new one's
    // importState(bytes). Returning a number sends its JSON text.
    exportState() {
        return packets;
    },

    importState(bytes) {
        const n = fromJson(bytes);
        if (!Number.isSafeInteger(n) || n < 0) throw new Error('state is not a packet count');
        packets = n;
        log('info', `carrying on from ${n} packets`);
    },
});
