/*
 * DNS detection over the kitchen's decoded layers, and a DNS message
 * checker (see dissect.h).
 */
#include <string.h>

#include "dissect.h"

static bool is_non_first_fragment(const struct nd_packet *p) {
    uint32_t offset;
    return nd_fragment_offset(p, &offset) && offset != 0;
}

/* ---- Which packets carry DNS ---------------------------------------------- */

bool nd_dns_message(const struct nd_packet *p, struct nd_bytes *message) {
    struct nd_bytes payload;
    if (is_non_first_fragment(p) || !nd_find_layer(p, ND_PAYLOAD, &payload)) {
        return false;
    }
    /* The innermost transport: a tunnel's UDP may come first; a header an
     * ICMP error quotes (with the DNS query it carried) has its own ports. */
    struct nd_layer transport = {0};
    bool found = false;
    for (size_t j = 0; j < p->layer_count; j++) {
        struct nd_layer l;
        if (nd_layer_at(p, j, &l) && (l.kind == ND_UDP || l.kind == ND_TCP ||
                                      l.kind == ND_QUOTED_UDP || l.kind == ND_QUOTED_TCP)) {
            transport = l;
            found = true;
        }
    }
    if (!found) {
        return false;
    }
    uint16_t src = 0, dst = 0;
    if (transport.kind == ND_UDP || transport.kind == ND_TCP) {
        if (!nd_src_port(p, &src) || !nd_dst_port(p, &dst)) {
            return false;
        }
    } else {
        const struct nd_bytes h = transport.bytes;
        src = h.len >= 2 ? (uint16_t)(h.ptr[0] << 8 | h.ptr[1]) : 0;
        dst = h.len >= 4 ? (uint16_t)(h.ptr[2] << 8 | h.ptr[3]) : 0;
    }
    bool udp = transport.kind == ND_UDP || transport.kind == ND_QUOTED_UDP;
    if (udp && (src == 53 || src == 5353 || dst == 53 || dst == 5353)) {
        *message = payload;
        return true;
    }
    if (!udp && (src == 53 || dst == 53)) {
        if (payload.len < 2) {
            return false;
        }
        size_t len = (size_t)payload.ptr[0] << 8 | payload.ptr[1];
        if (payload.len - 2 < len) {
            return false;
        }
        *message = (struct nd_bytes){payload.ptr + 2, len};
        return true;
    }
    return false;
}

/* ---- Valid DNS: simple-dns 0.11.3's parser, checking only ---------------------- */

/* A read position in the message. `end` limits reads (the end of the
 * message, or of a record's data); offsets count from the message start,
 * so name pointers work inside record data too. */
struct cursor {
    const uint8_t *msg;
    size_t pos;
    size_t end;
};

static bool has(const struct cursor *c, size_t n) { return c->end - c->pos >= n; }

static bool skip(struct cursor *c, size_t n) {
    if (!has(c, n)) {
        return false;
    }
    c->pos += n;
    return true;
}

static bool get_u8(struct cursor *c, unsigned *v) {
    if (!has(c, 1)) {
        return false;
    }
    *v = c->msg[c->pos++];
    return true;
}

static bool get_u16(struct cursor *c, unsigned *v) {
    if (!has(c, 2)) {
        return false;
    }
    *v = (unsigned)c->msg[c->pos] << 8 | c->msg[c->pos + 1];
    c->pos += 2;
    return true;
}

static unsigned peek_u16(const struct cursor *c, size_t at) {
    return (unsigned)c->msg[c->pos + at] << 8 | c->msg[c->pos + at + 1];
}

/* A sub-cursor over the next `n` bytes, which `c` steps over. */
static bool limited(struct cursor *c, size_t n, struct cursor *sub) {
    if (!has(c, n)) {
        return false;
    }
    *sub = (struct cursor){c->msg, c->pos, c->pos + n};
    c->pos += n;
    return true;
}

/* Where a name's labels go: the hostname being built, or nowhere. */
struct labels {
    struct nd_buf *text;
    bool utf8;  /* every label so far is UTF-8 */
    size_t count;
};

/* Reads labels up to a 0 byte (returns 0) or a pointer (returns 1 and its
 * target); -1 when invalid. `name_len` sums 1 + length over the name's
 * labels: 255 or more is an error, which also ends pointer loops. */
static int read_labels(struct cursor *c, size_t *name_len, struct labels *out, size_t *target) {
    for (;;) {
        unsigned len, low;
        if (!get_u8(c, &len)) {
            return -1;
        }
        if (len == 0) {
            return 0;
        }
        if ((len & 0xc0) == 0xc0) {
            if (!get_u8(c, &low)) {
                return -1;
            }
            *target = (len & 0x3f) << 8 | low;
            return 1;
        }
        *name_len += 1 + len;
        if (*name_len >= 255 || len > 63 || !has(c, len)) {
            return -1;
        }
        if (out) {
            if (out->count++ > 0) {
                nd_buf_putc(out->text, '.');
            }
            out->utf8 = out->utf8 && nd_utf8_valid(c->msg + c->pos, len);
            nd_buf_append(out->text, c->msg + c->pos, len);
        }
        c->pos += len;
    }
}

/* A domain name. A pointer must point before itself (simple-dns's rule,
 * which rules out loops): strictly before the two bytes that hold it. */
static bool read_name(struct cursor *c, struct labels *out) {
    size_t name_len = 0, target;
    int r = read_labels(c, &name_len, out, &target);
    struct cursor jump = *c;
    while (r == 1) {
        if (target >= jump.pos - 2) {
            return false;
        }
        jump.pos = target;
        r = read_labels(&jump, &name_len, out, &target);
    }
    return r == 0;
}

static bool skip_name(struct cursor *c) { return read_name(c, NULL); }

/* A <character-string>: a length byte and that many bytes. */
static bool skip_character_string(struct cursor *c) {
    unsigned len;
    return get_u8(c, &len) && skip(c, len);
}

/* Question types simple-dns knows (anything else fails the message). */
static bool known_qtype(unsigned t) {
    return (t >= 1 && t <= 18) || (t >= 20 && t <= 23) || t == 28 || t == 29 || t == 33 ||
           (t >= 35 && t <= 37) || t == 41 || t == 43 || (t >= 45 && t <= 49) || t == 63 ||
           t == 64 || t == 65 || t == 108 || t == 109 || (t >= 251 && t <= 255) || t == 257;
}

static bool known_class(unsigned c) { return (c >= 1 && c <= 4) || c == 254; }

/* SVCB/HTTPS parameters, keys strictly increasing. */
static bool skip_svc_params(struct cursor *c) {
    long previous = -1;
    while (has(c, 1)) {
        unsigned key, len, v;
        struct cursor d;
        if (!get_u16(c, &key) || !get_u16(c, &len) || !limited(c, len, &d)) {
            return false;
        }
        switch (key) {
        case 0: /* mandatory: u16 keys */
            while (has(&d, 1)) {
                if (!get_u16(&d, &v)) return false;
            }
            break;
        case 1: /* alpn: character strings */
            while (has(&d, 1)) {
                if (!skip_character_string(&d)) return false;
            }
            break;
        case 2: /* no-default-alpn: its content is not read */
            break;
        case 3: /* port */
            if (!get_u16(&d, &v)) return false;
            break;
        case 4: /* ipv4hint */
            while (has(&d, 1)) {
                if (!skip(&d, 4)) return false;
            }
            break;
        case 5: /* ech: a u16 length, then exactly that many bytes */
            if (!get_u16(&d, &v) || d.end - d.pos != v) return false;
            break;
        case 6: /* ipv6hint */
            while (has(&d, 1)) {
                if (!skip(&d, 16)) return false;
            }
            break;
        default:
            break;
        }
        if ((long)key <= previous) {
            return false;
        }
        previous = key;
    }
    return true;
}

/* A record's data (`d` covers exactly its rdlength bytes), by type. Bytes
 * left over after what a type reads are allowed, as in simple-dns. */
static bool skip_rdata(struct cursor *d, unsigned type) {
    unsigned v, gateway;
    switch (type) {
    case 1: /* A */
        return skip(d, 4);
    case 28: /* AAAA */
        return skip(d, 16);
    case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 23:
        /* NS MD MF CNAME MB MG MR PTR NSAP-PTR */
        return skip_name(d);
    case 13: case 20: /* HINFO, ISDN */
        return skip_character_string(d) && skip_character_string(d);
    case 14: case 17: /* MINFO, RP */
        return skip_name(d) && skip_name(d);
    case 15: case 18: case 21: case 36: /* MX, AFSDB, RT, KX */
        return skip(d, 2) && skip_name(d);
    case 16: /* TXT */
        while (has(d, 1)) {
            if (!skip_character_string(d)) return false;
        }
        return true;
    case 6: /* SOA */
        return skip_name(d) && skip_name(d) && skip(d, 20);
    case 11: /* WKS */
        return skip(d, 5);
    case 33: /* SRV */
        return skip(d, 6) && skip_name(d);
    case 35: /* NAPTR */
        return skip(d, 4) && skip_character_string(d) && skip_character_string(d) &&
               skip_character_string(d) && skip_name(d);
    case 22: /* NSAP */
        return skip(d, 20);
    case 29: /* LOC: version 0 only */
        return get_u8(d, &v) && v == 0 && skip(d, 15);
    case 257: /* CAA */
        return skip(d, 1) && skip_character_string(d);
    case 64: case 65: /* SVCB, HTTPS */
        return skip(d, 2) && skip_name(d) && skip_svc_params(d);
    case 108: /* EUI48 */
        return skip(d, 6);
    case 109: /* EUI64 */
        return skip(d, 8);
    case 37: /* CERT */
        return skip(d, 5);
    case 63: /* ZONEMD */
        return skip(d, 6);
    case 45: /* IPSECKEY */
        if (!skip(d, 1) || !get_u8(d, &gateway) || !skip(d, 1)) return false;
        switch (gateway) {
        case 0: return true;
        case 1: return skip(d, 4);
        case 2: return skip(d, 16);
        case 3: return skip_name(d);
        default: return false;
        }
    case 48: case 43: /* DNSKEY, DS */
        return skip(d, 4);
    case 46: /* RRSIG */
        return skip(d, 18) && skip_name(d);
    case 47: { /* NSEC: type bitmaps, windows strictly increasing */
        long previous = -1;
        if (!skip_name(d)) return false;
        while (has(d, 1)) {
            unsigned window, len;
            if (!get_u8(d, &window) || (long)window <= previous) return false;
            previous = window;
            if (!get_u8(d, &len) || len > 32 || !skip(d, len)) return false;
        }
        return true;
    }
    case 49: /* DHCID */
        return skip(d, 3);
    default: /* NULL and types simple-dns does not know: any bytes */
        return true;
    }
}

/* The result of reading one resource record. */
enum record { RECORD_OK, RECORD_BAD, RECORD_BAD_CLASS };

static enum record read_record(struct cursor *c) {
    unsigned type;
    struct cursor d;
    /* name, type, class, TTL, rdlength: the fixed part must be there */
    if (!skip_name(c) || !has(c, 10) || !get_u16(c, &type)) {
        return RECORD_BAD;
    }
    unsigned class = peek_u16(c, 0);
    size_t rdlength = peek_u16(c, 6);
    if (type == 41) { /* OPT: class is a UDP size; options to the end */
        unsigned code, len;
        if (!limited(c, rdlength + 8, &d)) {
            return RECORD_BAD;
        }
        skip(&d, 8);
        while (has(&d, 1)) {
            if (!get_u16(&d, &code) || !get_u16(&d, &len) || !skip(&d, len)) {
                return RECORD_BAD;
            }
        }
        return RECORD_OK;
    }
    skip(c, 8);
    if (rdlength > 0 && (!limited(c, rdlength, &d) || !skip_rdata(&d, type))) {
        return RECORD_BAD;
    }
    return known_class(class & 0x7fff) ? RECORD_OK : RECORD_BAD_CLASS;
}

bool nd_dns_parse(struct nd_bytes message, struct nd_buf *hostname, bool *has_hostname) {
    struct cursor c = {message.ptr, 0, message.len};
    unsigned id, flags, qd, an, ns, ar;
    if (hostname) {
        nd_buf_clear(hostname);
        *has_hostname = false;
    }
    if (!get_u16(&c, &id) || !get_u16(&c, &flags) || (flags & 0x0040) || !get_u16(&c, &qd) ||
        !get_u16(&c, &an) || !get_u16(&c, &ns) || !get_u16(&c, &ar)) {
        return false;
    }
    for (unsigned i = 0; i < qd; i++) {
        struct labels first = {hostname, true, 0};
        unsigned qtype, qclass;
        if (!read_name(&c, i == 0 && hostname ? &first : NULL) || !get_u16(&c, &qtype) ||
            !get_u16(&c, &qclass) || !known_qtype(qtype) ||
            !(known_class(qclass & 0x7fff) || (qclass & 0x7fff) == 255)) {
            return false;
        }
        if (i == 0 && hostname) {
            *has_hostname = first.utf8;
        }
    }
    for (unsigned i = 0; i < an + ns + ar; i++) {
        switch (read_record(&c)) {
        case RECORD_OK:
            break;
        case RECORD_BAD:
            return false;
        case RECORD_BAD_CLASS:
            /* simple-dns refuses a class it does not know, scapy took any:
             * the Rust chefs then keep the header and questions alone,
             * which were fine. */
            return true;
        }
    }
    return true;
}
