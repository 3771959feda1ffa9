/*
 * DNSLookupChef: one dumpling per DNS message with a question, as
 * netdumplings' DNSLookupChef, plus an interval summary; the C twin of
 * chefs/rust/dns-lookup.
 *
 * Packet payload: {"lookup":{"hostname","when"}}, the first question's
 * name without the trailing dot. Interval payload:
 * {"lookups_seen":{hostname:{"count","latest"}}}. Which packets are DNS
 * follows scapy 2.4.5 (dissect.h); a message that does not parse makes no
 * dumpling. `when`/`latest` are the packet's capture time.
 *
 * State (hot swap): {"hostname":[count,latest],...}, as the Rust chef's.
 */
#include <stdlib.h>

#include "dissect.h"
#include "netdumplings_chef.h"

const char nd_chef_name[] = "DNSLookupChef";

struct seen {
    uint64_t count;
    double latest;
};

/* hostname -> how often, and when last. */
static struct nd_map lookups_seen = ND_MAP_INIT(sizeof(struct seen));

bool nd_packet(const struct nd_packet *packet, struct nd_buf *out) {
    static struct nd_buf hostname = ND_BUF_INIT;
    struct nd_bytes message;
    bool has_hostname;
    if (!nd_dns_message(packet, &message) || !nd_dns_parse(message, &hostname, &has_hostname) ||
        !has_hostname) {
        return false;
    }
    double when = nd_timestamp(packet);
    bool added;
    struct seen *seen = nd_map_put(&lookups_seen, hostname.ptr, hostname.len, &added);
    seen->count++;
    seen->latest = when;

    nd_buf_puts(out, "{\"lookup\":{\"hostname\":");
    nd_json_strn(out, hostname.ptr, hostname.len);
    nd_buf_puts(out, ",\"when\":");
    nd_json_f64(out, when);
    nd_buf_puts(out, "}}");
    return true;
}

/* Every hostname in byte order, each written by `entry`, as a JSON object. */
static void write_seen(struct nd_buf *out, void (*entry)(struct nd_buf *, const struct seen *)) {
    size_t *order = nd_map_sorted(&lookups_seen);
    nd_buf_putc(out, '{');
    for (size_t i = 0; i < lookups_seen.len; i++) {
        struct nd_bytes hostname = nd_map_key(&lookups_seen, order[i]);
        if (i > 0) {
            nd_buf_putc(out, ',');
        }
        nd_json_strn(out, hostname.ptr, hostname.len);
        nd_buf_putc(out, ':');
        entry(out, nd_map_value(&lookups_seen, order[i]));
    }
    nd_buf_putc(out, '}');
    free(order);
}

static void summary(struct nd_buf *out, const struct seen *seen) {
    nd_buf_puts(out, "{\"count\":");
    nd_json_u64(out, seen->count);
    nd_buf_puts(out, ",\"latest\":");
    nd_json_f64(out, seen->latest);
    nd_buf_putc(out, '}');
}

static void pair(struct nd_buf *out, const struct seen *seen) {
    nd_buf_putc(out, '[');
    nd_json_u64(out, seen->count);
    nd_buf_putc(out, ',');
    nd_json_f64(out, seen->latest);
    nd_buf_putc(out, ']');
}

bool nd_interval(struct nd_buf *out) {
    nd_buf_puts(out, "{\"lookups_seen\":");
    write_seen(out, summary);
    nd_buf_putc(out, '}');
    return true;
}

bool nd_export_state(struct nd_buf *out) {
    write_seen(out, pair);
    return true;
}

bool nd_import_state(const uint8_t *state, size_t len, struct nd_buf *error) {
    struct nd_json_reader r;
    struct nd_buf hostname = ND_BUF_INIT;
    struct nd_map imported = ND_MAP_INIT(sizeof(struct seen));
    size_t members = 0;
    nd_json_reader_init(&r, state, len);
    if (nd_json_expect(&r, '{')) {
        while (nd_json_next_member(&r, &members, &hostname)) {
            struct seen seen;
            if (nd_json_expect(&r, '[') && nd_json_read_u64(&r, &seen.count) &&
                nd_json_expect(&r, ',') && nd_json_read_f64(&r, &seen.latest) &&
                nd_json_expect(&r, ']')) {
                bool added;
                *(struct seen *)nd_map_put(&imported, hostname.ptr, hostname.len, &added) = seen;
            }
        }
    }
    nd_json_finish(&r);
    nd_buf_free(&hostname);
    if (r.error) {
        nd_buf_puts(error, r.error);
        nd_map_free(&imported);
        return false;
    }
    nd_map_free(&lookups_seen);
    lookups_seen = imported;
    return true;
}
