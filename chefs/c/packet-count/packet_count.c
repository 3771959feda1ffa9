/*
 * PacketCountChef: counts every layer of every packet by scapy's layer
 * name, as netdumplings' PacketCountChef. No packet dumplings; the interval
 * payload is {"packet_counts":{layer:count}}, counts since the chef started.
 * The names come from the kitchen (nd_packet_scapy_names; rules in
 * docs/scapy-layer-names.md), as in every language's PacketCountChef. The C
 * twin of chefs/rust/packet-count.
 *
 * State (hot swap): {"layer":count,...}, as the Rust chef's.
 */
#include <stdlib.h>
#include <string.h>

#include "netdumplings_chef.h"

const char nd_chef_name[] = "PacketCountChef";

/* Counts up to the last interval (or imported), by name: what it reports. */
static struct nd_map totals = ND_MAP_INIT(sizeof(uint64_t));
/* Counts since then, indexed by name id (nd_scapy_name_count() of them,
 * allocated on the first packet): the per-packet path is an array
 * increment per layer, no name lookup. Folded into `totals` at every
 * interval and export. */
static uint64_t *recent;
static size_t recent_len;

bool nd_packet(const struct nd_packet *packet, struct nd_buf *out) {
    (void)out;
    if (!recent) {
        recent_len = nd_scapy_name_count();
        recent = calloc(recent_len ? recent_len : 1, sizeof *recent);
        if (!recent) {
            abort();
        }
    }
    const uint16_t *ids;
    size_t n = nd_packet_scapy_names(packet, &ids);
    for (size_t j = 0; j < n; j++) {
        /* Ids are below the count; the check keeps a bad one harmless. */
        if (ids[j] < recent_len) {
            recent[ids[j]]++;
        }
    }
    return false;
}

/* Moves `recent` into `totals`. */
static void fold(void) {
    for (size_t id = 0; id < recent_len; id++) {
        if (recent[id] > 0) {
            struct nd_bytes name = nd_scapy_name((uint16_t)id);
            if (name.ptr) {
                bool added;
                uint64_t *n = nd_map_put(&totals, name.ptr, name.len, &added);
                *n += recent[id];
            }
            recent[id] = 0;
        }
    }
}

/* {"name":count,...}, names in byte order. */
static void write_counts(struct nd_buf *out) {
    size_t *order = nd_map_sorted(&totals);
    nd_buf_putc(out, '{');
    for (size_t i = 0; i < totals.len; i++) {
        if (i > 0) {
            nd_buf_putc(out, ',');
        }
        struct nd_bytes name = nd_map_key(&totals, order[i]);
        nd_json_strn(out, name.ptr, name.len);
        nd_buf_putc(out, ':');
        nd_json_u64(out, *(uint64_t *)nd_map_value(&totals, order[i]));
    }
    nd_buf_putc(out, '}');
    free(order);
}

bool nd_interval(struct nd_buf *out) {
    fold();
    nd_buf_puts(out, "{\"packet_counts\":");
    write_counts(out);
    nd_buf_putc(out, '}');
    return true;
}

bool nd_export_state(struct nd_buf *out) {
    fold();
    write_counts(out);
    return true;
}

bool nd_import_state(const uint8_t *state, size_t len, struct nd_buf *error) {
    struct nd_json_reader r;
    struct nd_buf name = ND_BUF_INIT;
    struct nd_map imported;
    size_t members = 0;
    nd_map_init(&imported, sizeof(uint64_t));
    nd_json_reader_init(&r, state, len);
    if (nd_json_expect(&r, '{')) {
        while (nd_json_next_member(&r, &members, &name)) {
            bool added;
            uint64_t n;
            if (nd_json_read_u64(&r, &n)) {
                *(uint64_t *)nd_map_put(&imported, name.ptr, name.len, &added) = n;
            }
        }
    }
    nd_json_finish(&r);
    nd_buf_free(&name);
    if (r.error) {
        nd_buf_puts(error, r.error);
        nd_map_free(&imported);
        return false;
    }
    nd_map_free(&totals);
    totals = imported;
    if (recent) {
        memset(recent, 0, recent_len * sizeof *recent);
    }
    return true;
}
