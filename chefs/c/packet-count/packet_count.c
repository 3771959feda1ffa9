/*
 * PacketCountChef: counts every layer of every packet by scapy's layer
 * name, as netdumplings' PacketCountChef. No packet dumplings; the interval
 * payload is {"packet_counts":{layer:count}}, counts since the chef started
 * (docs/scapy-layer-names.md). The C twin of chefs/rust/packet-count.
 *
 * State (hot swap): {"layer":count,...}, as the Rust chef's.
 */
#include <stdlib.h>
#include <string.h>

#include "dissect.h"
#include "netdumplings_chef.h"

const char nd_chef_name[] = "PacketCountChef";

/* Counts up to the last interval (or imported), by name: what it reports. */
static struct nd_map totals = ND_MAP_INIT(sizeof(uint64_t));
/* Counts since then, by scapy name number: all the packet path touches. */
static uint64_t recent[ND_NAME_COUNT];

static void count(void *context, enum nd_scapy_name name) {
    (void)context;
    recent[name]++;
}

bool nd_packet(const struct nd_packet *packet, struct nd_buf *out) {
    (void)out;
    nd_scapy_layer_names(packet, count, NULL);
    return false;
}

/* Moves `recent` into `totals`. */
static void fold(void) {
    for (int name = 0; name < ND_NAME_COUNT; name++) {
        if (recent[name] > 0) {
            const char *text = nd_scapy_names[name];
            bool added;
            uint64_t *n = nd_map_put(&totals, text, strlen(text), &added);
            *n += recent[name];
            recent[name] = 0;
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
    for (int i = 0; i < ND_NAME_COUNT; i++) {
        recent[i] = 0;
    }
    return true;
}
