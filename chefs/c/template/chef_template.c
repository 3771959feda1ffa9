/*
 * ChefTemplate: a chef made by `just new-chef c ChefTemplate`. It counts
 * packets and reports {"packets":N} at every interval. Change it freely:
 * sdk/netdumplings_chef.h is the API, and chefs/c/README.md has the rules
 * payloads follow; `just chefs` (or chefs/c/build.sh) builds it into
 * target/polyglot/c/chef_template.wasm.
 */
#include "netdumplings_chef.h"

/* The name in every dumpling's metadata.chef. */
const char nd_chef_name[] = "ChefTemplate";

static uint64_t packets;

/* Called for every packet: return true to send what was written into `out`. */
bool nd_packet(const struct nd_packet *packet, struct nd_buf *out) {
    (void)packet, (void)out;
    packets++;
    return false;
}

/* Called every poke interval, and once more at the end of a replay. */
bool nd_interval(struct nd_buf *out) {
    nd_buf_puts(out, "{\"packets\":");
    nd_json_u64(out, packets);
    nd_buf_putc(out, '}');
    return true;
}
