/*
 * scapy's layer names and DNS detection over the kitchen's decoded layers;
 * a port of chefs/rust/dissect (see dissect.h).
 */
#include <string.h>

#include "dissect.h"

const char *const nd_scapy_names[ND_NAME_COUNT] = {
    [ND_NAME_ETHERNET] = "Ethernet",
    [ND_NAME_802_3] = "802.3",
    [ND_NAME_COOKED_LINUX] = "cooked linux",
    [ND_NAME_LOOPBACK] = "Loopback",
    [ND_NAME_802_1Q] = "802.1Q",
    [ND_NAME_802_1AD] = "802_1AD",
    [ND_NAME_ARP] = "ARP",
    [ND_NAME_IP] = "IP",
    [ND_NAME_IPV6] = "IPv6",
    [ND_NAME_IPV6_HOP_BY_HOP] = "IPv6 Extension Header - Hop-by-Hop Options Header",
    [ND_NAME_IPV6_ROUTING] = "IPv6 Option Header Routing",
    [ND_NAME_IPV6_DESTINATION] = "IPv6 Extension Header - Destination Options Header",
    [ND_NAME_AH] = "AH",
    [ND_NAME_IPV6_EXTENSION] = "IPv6 Extension Header",
    [ND_NAME_IPV6_FRAGMENT] = "IPv6 Extension Header - Fragmentation header",
    [ND_NAME_TCP] = "TCP",
    [ND_NAME_UDP] = "UDP",
    [ND_NAME_ICMP] = "ICMP",
    [ND_NAME_ICMPV6_DEST_UNREACH] = "ICMPv6 Destination Unreachable",
    [ND_NAME_ICMPV6_PACKET_TOO_BIG] = "ICMPv6 Packet Too Big",
    [ND_NAME_ICMPV6_TIME_EXCEEDED] = "ICMPv6 Time Exceeded",
    [ND_NAME_ICMPV6_PARAM_PROBLEM] = "ICMPv6 Parameter Problem",
    [ND_NAME_ICMPV6_ECHO_REQUEST] = "ICMPv6 Echo Request",
    [ND_NAME_ICMPV6_ECHO_REPLY] = "ICMPv6 Echo Reply",
    [ND_NAME_MLDV2_QUERY] = "MLDv2 - Multicast Listener Query",
    [ND_NAME_MLD_REPORT] = "MLD - Multicast Listener Report",
    [ND_NAME_MLD_DONE] = "MLD - Multicast Listener Done",
    [ND_NAME_ND_ROUTER_SOLICITATION] = "ICMPv6 Neighbor Discovery - Router Solicitation",
    [ND_NAME_ND_ROUTER_ADVERTISEMENT] = "ICMPv6 Neighbor Discovery - Router Advertisement",
    [ND_NAME_ND_NEIGHBOR_SOLICITATION] = "ICMPv6 Neighbor Discovery - Neighbor Solicitation",
    [ND_NAME_ND_NEIGHBOR_ADVERTISEMENT] = "ICMPv6 Neighbor Discovery - Neighbor Advertisement",
    [ND_NAME_ND_REDIRECT] = "ICMPv6 Neighbor Discovery - Redirect",
    [ND_NAME_MLDV2_REPORT] = "MLDv2 - Multicast Listener Report",
    [ND_NAME_ICMPV6_UNKNOWN] = "ICMPv6 Unknown",
    [ND_NAME_PADDING] = "Padding",
    [ND_NAME_RAW] = "Raw",
    [ND_NAME_DNS] = "DNS",
    [ND_NAME_LLMNR_RESPONSE] = "Link Local Multicast Node Resolution - Response",
    [ND_NAME_LLMNR_QUERY] = "Link Local Multicast Node Resolution - Query",
    [ND_NAME_NTP] = "NTPHeader",
    [ND_NAME_IP_IN_ICMP] = "IP in ICMP",
    [ND_NAME_UDP_IN_ICMP] = "UDP in ICMP",
    [ND_NAME_TCP_IN_ICMP] = "TCP in ICMP",
    [ND_NAME_ICMP_IN_ICMP] = "ICMP in ICMP",
    [ND_NAME_LLC] = "LLC",
    [ND_NAME_STP] = "Spanning Tree Protocol",
};

/* Length of scapy's `STP` layer (a configuration BPDU). */
#define STP_LEN 35

/* "No value": what Rust's `None` is for the remembered bytes below. */
#define NONE (-1)

static bool is_non_first_fragment(const struct nd_packet *p) {
    uint32_t offset;
    return nd_fragment_offset(p, &offset) && offset != 0;
}

/* ---- Which packets carry DNS ---------------------------------------------- */

bool nd_dns_message(const struct nd_packet *p, struct nd_bytes *message) {
    uint16_t src, dst;
    struct nd_bytes payload;
    if (is_non_first_fragment(p) || !nd_src_port(p, &src) || !nd_dst_port(p, &dst) ||
        !nd_find_layer(p, ND_PAYLOAD, &payload)) {
        return false;
    }
    if (nd_has(p, ND_UDP) && (src == 53 || src == 5353 || dst == 53 || dst == 5353)) {
        *message = payload;
        return true;
    }
    if (nd_has(p, ND_TCP) && (src == 53 || dst == 53)) {
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

/* ---- scapy's layer names --------------------------------------------------------- */

typedef void (*emit_fn)(void *context, enum nd_scapy_name name);

static enum nd_scapy_name icmpv6_name(struct nd_bytes header) {
    switch (header.len ? header.ptr[0] : -1) {
    case 1: return ND_NAME_ICMPV6_DEST_UNREACH;
    case 2: return ND_NAME_ICMPV6_PACKET_TOO_BIG;
    case 3: return ND_NAME_ICMPV6_TIME_EXCEEDED;
    case 4: return ND_NAME_ICMPV6_PARAM_PROBLEM;
    case 128: return ND_NAME_ICMPV6_ECHO_REQUEST;
    case 129: return ND_NAME_ICMPV6_ECHO_REPLY;
    case 130: return ND_NAME_MLDV2_QUERY;
    case 131: return ND_NAME_MLD_REPORT;
    case 132: return ND_NAME_MLD_DONE;
    case 133: return ND_NAME_ND_ROUTER_SOLICITATION;
    case 134: return ND_NAME_ND_ROUTER_ADVERTISEMENT;
    case 135: return ND_NAME_ND_NEIGHBOR_SOLICITATION;
    case 136: return ND_NAME_ND_NEIGHBOR_ADVERTISEMENT;
    case 137: return ND_NAME_ND_REDIRECT;
    case 143: return ND_NAME_MLDV2_REPORT;
    default: return ND_NAME_ICMPV6_UNKNOWN;
    }
}

/* What the layers below the payload told us. Each is NONE when absent. */
struct below {
    int transport;     /* ND_TCP, ND_UDP, ND_ICMPV4, ND_ICMPV6 */
    int icmp_type;     /* byte 0 of the ICMPv4 header */
    long link_8023_len; /* the 802.3 length field */
};

static void payload_names(const struct nd_packet *p, struct nd_bytes bytes, struct below below,
                          emit_fn emit, void *context) {
    if (bytes.len == 0) {
        return;
    }
    if (is_non_first_fragment(p)) {
        emit(context, ND_NAME_RAW);
        return;
    }
    const uint8_t *b = bytes.ptr;
    if (below.transport == ND_UDP || below.transport == ND_TCP) {
        struct nd_bytes message;
        if (nd_dns_message(p, &message) && nd_dns_parse(message, NULL, NULL)) {
            emit(context, ND_NAME_DNS);
            /* Over TCP, bytes after the length-prefixed message are Raw. */
            if (below.transport == ND_TCP && bytes.len > message.len + 2) {
                emit(context, ND_NAME_RAW);
            }
            return;
        }
        uint16_t src, dst;
        bool ports = nd_src_port(p, &src) && nd_dst_port(p, &dst);
        if (below.transport == ND_UDP && ports && (src == 5355 || dst == 5355)) {
            /* scapy's LLMNR: query or response by the QR bit. */
            emit(context, bytes.len > 2 && (b[2] & 0x80) ? ND_NAME_LLMNR_RESPONSE : ND_NAME_LLMNR_QUERY);
        } else if (below.transport == ND_UDP && ports && (src == 123 || dst == 123)) {
            emit(context, ND_NAME_NTP);
        } else {
            emit(context, ND_NAME_RAW);
        }
    } else if (below.transport == ND_ICMPV4 &&
               (below.icmp_type == 3 || below.icmp_type == 4 || below.icmp_type == 5 ||
                below.icmp_type == 11 || below.icmp_type == 12)) {
        /* An ICMP error quotes the offending IP header and 8 bytes of it. */
        size_t ihl = (size_t)(b[0] & 0x0f) * 4;
        if (b[0] >> 4 != 4 || ihl < 20 || bytes.len < 20) {
            emit(context, ND_NAME_RAW);
            return;
        }
        emit(context, ND_NAME_IP_IN_ICMP);
        size_t rest = bytes.len > ihl ? bytes.len - ihl : 0;
        if (rest >= 8) {
            switch (b[9]) {
            case 17: emit(context, ND_NAME_UDP_IN_ICMP); break;
            case 6: emit(context, ND_NAME_TCP_IN_ICMP); break;
            case 1: emit(context, ND_NAME_ICMP_IN_ICMP); break;
            }
        }
        if (rest > 8) {
            emit(context, ND_NAME_RAW);
        }
    } else if (below.transport == ND_ICMPV6) {
        /* ICMPv6 messages (echo, MLD, ND, ...) carry their body in the message. */
    } else if (below.transport == NONE && below.link_8023_len != NONE) {
        emit(context, ND_NAME_LLC);
        if (bytes.len >= 2 && b[0] == 0x42 && b[1] == 0x42) {
            emit(context, ND_NAME_STP);
            /* scapy's STP layer is 35 bytes; anything after it is Raw. */
            if (bytes.len > 3 + STP_LEN) {
                emit(context, ND_NAME_RAW);
            }
        } else if (bytes.len > 3) {
            emit(context, ND_NAME_RAW);
        }
    } else {
        emit(context, ND_NAME_RAW);
    }
}

void nd_scapy_layer_names(const struct nd_packet *p, emit_fn emit, void *context) {
    /* The next-header value that names the following IPv6 extension header. */
    int ipv6_next = NONE;
    struct below below = {NONE, NONE, NONE};
    for (size_t j = 0; j < p->layer_count; j++) {
        struct nd_layer layer;
        if (!nd_layer_at(p, j, &layer)) {
            continue;
        }
        struct nd_bytes bytes = layer.bytes;
        int first = bytes.len ? bytes.ptr[0] : NONE;
        switch (layer.kind) {
        case ND_ETHERNET: emit(context, ND_NAME_ETHERNET); break;
        case ND_IEEE8023:
            emit(context, ND_NAME_802_3);
            below.link_8023_len = bytes.len >= 14 ? (long)(bytes.ptr[12] << 8 | bytes.ptr[13]) : NONE;
            break;
        case ND_LINUX_SLL: emit(context, ND_NAME_COOKED_LINUX); break;
        case ND_LOOPBACK: emit(context, ND_NAME_LOOPBACK); break;
        case ND_VLAN: emit(context, ND_NAME_802_1Q); break;
        case ND_QINQ: emit(context, ND_NAME_802_1AD); break;
        case ND_ARP: emit(context, ND_NAME_ARP); break;
        case ND_IPV4: emit(context, ND_NAME_IP); break;
        case ND_IPV6:
            emit(context, ND_NAME_IPV6);
            ipv6_next = bytes.len > 6 ? bytes.ptr[6] : NONE;
            break;
        case ND_IPV6_EXTENSION:
            switch (ipv6_next) {
            case 0: emit(context, ND_NAME_IPV6_HOP_BY_HOP); break;
            case 43: emit(context, ND_NAME_IPV6_ROUTING); break;
            case 60: emit(context, ND_NAME_IPV6_DESTINATION); break;
            case 51: emit(context, ND_NAME_AH); break;
            default: emit(context, ND_NAME_IPV6_EXTENSION); break;
            }
            ipv6_next = first;
            break;
        case ND_IPV6_FRAGMENT:
            emit(context, ND_NAME_IPV6_FRAGMENT);
            ipv6_next = first;
            break;
        case ND_TCP:
            emit(context, ND_NAME_TCP);
            below.transport = ND_TCP;
            break;
        case ND_UDP:
            emit(context, ND_NAME_UDP);
            below.transport = ND_UDP;
            break;
        case ND_ICMPV4:
            emit(context, ND_NAME_ICMP);
            below.transport = ND_ICMPV4;
            below.icmp_type = first;
            break;
        case ND_ICMPV6:
            below.transport = ND_ICMPV6;
            emit(context, icmpv6_name(bytes));
            break;
        case ND_PAYLOAD: payload_names(p, bytes, below, emit, context); break;
        case ND_PADDING: emit(context, ND_NAME_PADDING); break;
        default: break;
        }
    }
}
