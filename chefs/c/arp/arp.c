/*
 * ARPChef: one dumpling per ARP packet, as netdumplings' ARPChef; the C
 * twin of chefs/rust/arp.
 *
 * Payload: {dst_hw, dst_ip, notes, operation, src_hw, src_ip, time}.
 * `operation` is "request"/"reply" or the numeric opcode; `notes` is set on
 * replies only: "source device is new" the first time an IP is seen in a
 * reply, "source device has new IP address" when a later reply maps it to
 * a different MAC. `time` is the packet's capture time; addresses of
 * unusual lengths are hex strings.
 *
 * State (hot swap): {"ip":"mac",...}, as the Rust chef's.
 */
#include <stdlib.h>
#include <string.h>

#include "netdumplings_chef.h"

const char nd_chef_name[] = "ARPChef";

/* A MAC address as text (malloc'd). */
struct mac {
    char *text;
    size_t len;
};

/* IP -> MAC, learned from replies. */
static struct nd_map ip_mac = ND_MAP_INIT(sizeof(struct mac));

/* Hardware addresses as scapy prints them: lowercase hex, colon-separated. */
static void hw(struct nd_buf *out, struct nd_bytes a) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < a.len; i++) {
        if (i > 0) {
            nd_buf_putc(out, ':');
        }
        nd_buf_putc(out, hex[a.ptr[i] >> 4]);
        nd_buf_putc(out, hex[a.ptr[i] & 15]);
    }
}

/* Protocol addresses: dotted quad for 4 bytes, else hex like hardware ones. */
static void proto(struct nd_buf *out, struct nd_bytes a) {
    if (a.len != 4) {
        hw(out, a);
        return;
    }
    for (size_t i = 0; i < 4; i++) {
        unsigned b = a.ptr[i];
        if (i > 0) {
            nd_buf_putc(out, '.');
        }
        if (b >= 100) {
            nd_buf_putc(out, (char)('0' + b / 100));
        }
        if (b >= 10) {
            nd_buf_putc(out, (char)('0' + b / 10 % 10));
        }
        nd_buf_putc(out, (char)('0' + b % 10));
    }
}

/* The fields of an ARP packet. Like scapy, a packet cut short yields
 * shorter (possibly empty) address fields rather than nothing. */
struct arp {
    unsigned op;
    struct nd_bytes sha, spa, tha, tpa;
};

/* The next `n` bytes from `*at` (as many as there are). */
static struct nd_bytes take(struct nd_bytes b, size_t *at, size_t n) {
    size_t start = *at < b.len ? *at : b.len;
    size_t end = b.len - start < n ? b.len : start + n;
    *at += n;
    return (struct nd_bytes){b.ptr + start, end - start};
}

/* Parses the fixed header (8 bytes) and whatever of the addresses is there. */
static bool parse_arp(struct nd_bytes b, struct arp *arp) {
    if (b.len < 8) {
        return false;
    }
    size_t hlen = b.ptr[4], plen = b.ptr[5], at = 8;
    arp->op = (unsigned)b.ptr[6] << 8 | b.ptr[7];
    arp->sha = take(b, &at, hlen);
    arp->spa = take(b, &at, plen);
    arp->tha = take(b, &at, hlen);
    arp->tpa = take(b, &at, plen);
    return true;
}

/* Appends `"key":` and the address `a` written by `format`, as a JSON string. */
static void address_member(struct nd_buf *out, const char *key, struct nd_bytes a,
                           void (*format)(struct nd_buf *, struct nd_bytes)) {
    nd_buf_puts(out, key);
    nd_buf_putc(out, '"');
    format(out, a); /* hex digits, colons, dots: nothing to escape */
    nd_buf_putc(out, '"');
}

bool nd_packet(const struct nd_packet *packet, struct nd_buf *out) {
    static struct nd_buf src_ip = ND_BUF_INIT, src_hw = ND_BUF_INIT;
    struct nd_bytes layer;
    struct arp arp;
    if (!nd_find_layer(packet, ND_ARP, &layer) || !parse_arp(layer, &arp)) {
        return false;
    }

    nd_buf_clear(&src_ip);
    proto(&src_ip, arp.spa);
    nd_buf_clear(&src_hw);
    hw(&src_hw, arp.sha);

    const char *notes = NULL;
    if (arp.op == 2) {
        bool added;
        struct mac *known = nd_map_put(&ip_mac, src_ip.ptr, src_ip.len, &added);
        if (added) {
            notes = "source device is new";
        } else if (known->len != src_hw.len || memcmp(known->text, src_hw.ptr, src_hw.len) != 0) {
            notes = "source device has new IP address";
        }
        free(known->text);
        known->text = malloc(src_hw.len + 1);
        if (!known->text) {
            abort();
        }
        memcpy(known->text, src_hw.ptr, src_hw.len);
        known->len = src_hw.len;
    }

    /* Keys in byte order, as serde_json writes them. */
    address_member(out, "{\"dst_hw\":", arp.tha, hw);
    address_member(out, ",\"dst_ip\":", arp.tpa, proto);
    nd_buf_puts(out, ",\"notes\":");
    if (notes) {
        nd_json_str(out, notes);
    } else {
        nd_buf_puts(out, "null");
    }
    nd_buf_puts(out, ",\"operation\":");
    if (arp.op == 1) {
        nd_buf_puts(out, "\"request\"");
    } else if (arp.op == 2) {
        nd_buf_puts(out, "\"reply\"");
    } else {
        nd_json_u64(out, arp.op);
    }
    nd_buf_puts(out, ",\"src_hw\":");
    nd_json_strn(out, src_hw.ptr, src_hw.len);
    nd_buf_puts(out, ",\"src_ip\":");
    nd_json_strn(out, src_ip.ptr, src_ip.len);
    nd_buf_puts(out, ",\"time\":");
    nd_json_f64(out, nd_timestamp(packet));
    nd_buf_putc(out, '}');
    return true;
}

/* Forgets every mapping. */
static void forget_all(struct nd_map *m) {
    for (size_t i = 0; i < m->len; i++) {
        free(((struct mac *)nd_map_value(m, i))->text);
    }
    nd_map_free(m);
}

bool nd_export_state(struct nd_buf *out) {
    size_t *order = nd_map_sorted(&ip_mac);
    nd_buf_putc(out, '{');
    for (size_t i = 0; i < ip_mac.len; i++) {
        struct nd_bytes ip = nd_map_key(&ip_mac, order[i]);
        struct mac *mac = nd_map_value(&ip_mac, order[i]);
        if (i > 0) {
            nd_buf_putc(out, ',');
        }
        nd_json_strn(out, ip.ptr, ip.len);
        nd_buf_putc(out, ':');
        nd_json_strn(out, mac->text, mac->len);
    }
    nd_buf_putc(out, '}');
    free(order);
    return true;
}

bool nd_import_state(const uint8_t *state, size_t len, struct nd_buf *error) {
    struct nd_json_reader r;
    struct nd_buf ip = ND_BUF_INIT, mac = ND_BUF_INIT;
    struct nd_map imported = ND_MAP_INIT(sizeof(struct mac));
    size_t members = 0;
    nd_json_reader_init(&r, state, len);
    if (nd_json_expect(&r, '{')) {
        while (nd_json_next_member(&r, &members, &ip) && nd_json_read_str(&r, &mac)) {
            bool added;
            struct mac *m = nd_map_put(&imported, ip.ptr, ip.len, &added);
            free(m->text);
            m->text = malloc(mac.len + 1);
            if (!m->text) {
                abort();
            }
            memcpy(m->text, mac.ptr, mac.len);
            m->len = mac.len;
        }
    }
    nd_json_finish(&r);
    nd_buf_free(&ip);
    nd_buf_free(&mac);
    if (r.error) {
        nd_buf_puts(error, r.error);
        forget_all(&imported);
        return false;
    }
    forget_all(&ip_mac);
    ip_mac = imported;
    return true;
}
