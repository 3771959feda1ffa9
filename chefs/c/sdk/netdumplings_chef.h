/*
 * Write a netdumplings chef in C.
 *
 * A chef is one C file that defines its name and a per-packet handler, and
 * optionally an interval handler and hot-swap state functions:
 *
 *     #include "netdumplings_chef.h"
 *
 *     const char nd_chef_name[] = "CountChef";
 *     static uint64_t packets;
 *
 *     bool nd_packet(const struct nd_packet *packet, struct nd_buf *out) {
 *         (void)packet, (void)out;
 *         packets++;
 *         return false;                    // no packet dumpling
 *     }
 *
 *     bool nd_interval(struct nd_buf *out) {
 *         nd_buf_puts(out, "{\"packets\":");
 *         nd_json_u64(out, packets);
 *         nd_buf_putc(out, '}');
 *         return true;                     // `out` is the payload
 *     }
 *
 * `chefs/c/build.sh` links it with this SDK and the bindings that
 * `wit-bindgen c` generates for `wit/chef.wit`, and makes a component.
 *
 * What the SDK hides: the kitchen hands packets over in batches of columns
 * (see wit/chef.wit); the SDK walks a batch and calls `nd_packet` once per
 * packet with a `struct nd_packet` view into it, and owns every allocation
 * that crosses the boundary. A chef never frees what it is given and never
 * allocates what it returns: it writes JSON text into the `nd_buf` it gets.
 *
 * JSON is written by hand with the writers below. Payloads must be valid
 * JSON; to match the Rust chefs byte for byte, write no spaces and emit
 * object keys sorted by their bytes (serde_json's order).
 */
#ifndef NETDUMPLINGS_CHEF_H
#define NETDUMPLINGS_CHEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Packets ------------------------------------------------------------ */

/* The SDK's per-batch state behind nd_packet_scapy_names (opaque). */
struct nd_batch_names_;

/* What a decoded layer is: wit/chef.wit's `layer-kind`, in its order. */
enum nd_layer_kind {
    ND_ETHERNET = 0,
    ND_IEEE8023,
    ND_LINUX_SLL,
    ND_LOOPBACK,
    ND_VLAN,
    ND_QINQ,
    ND_ARP,
    ND_IPV4,
    ND_IPV6,
    ND_IPV6_EXTENSION,
    ND_IPV6_FRAGMENT,
    ND_TCP,
    ND_UDP,
    ND_ICMPV4,
    ND_ICMPV6,
    ND_PAYLOAD,
    ND_PADDING,
    ND_VXLAN,
    ND_GRE,
    ND_PPPOE_DISCOVERY,
    ND_PPPOE_SESSION,
    ND_PPP,
    ND_QUOTED_IPV4,
    ND_QUOTED_IPV6,
    ND_QUOTED_TCP,
    ND_QUOTED_UDP,
    ND_QUOTED_ICMPV4,
    ND_QUOTED_ICMPV6,
    ND_LAYER_KIND_COUNT
};

/* A run of bytes someone else owns. */
struct nd_bytes {
    const uint8_t *ptr;
    size_t len;
};

/* One decoded layer: its kind and its bytes within the packet. */
struct nd_layer {
    enum nd_layer_kind kind;
    struct nd_bytes bytes;
};

/*
 * One captured packet, as the kitchen decoded it: a view into the batch,
 * valid during the `nd_packet` call only. Read the fields directly or use
 * the functions below; fields ending in `_` are the SDK's.
 */
struct nd_packet {
    uint32_t index;          /* position in the batch */
    struct nd_bytes data;    /* captured bytes (may be shorter than on the wire) */
    uint32_t wire_length;    /* length on the wire */
    uint64_t timestamp_ns;   /* capture time, nanoseconds since the Unix epoch */
    uint16_t link_type;      /* the capture's LINKTYPE number */
    size_t layer_count;      /* decoded layers, outermost first: see nd_layer_at */
    uint32_t kinds;          /* bit k set: the packet has a layer of kind k */

    const uint8_t *layer_kinds_;
    const uint32_t *layer_offsets_;
    const uint32_t *layer_lengths_;
    uint8_t ip_version_;          /* 0, 4 or 6 */
    const uint8_t *ip_addresses_; /* 32 bytes: source, destination */
    uint16_t ports_[2];           /* source, destination */
    uint32_t fragment_offset_;    /* UINT32_MAX: not a fragment */
    struct nd_batch_names_ *names_; /* the batch's scapy names, fetched when first asked */
};

/* Layer `j` (0 .. layer_count); false for a kind this SDK does not know
 * (a newer kitchen), which callers skip. Bytes are clamped to the packet. */
bool nd_layer_at(const struct nd_packet *p, size_t j, struct nd_layer *out);

/* Whether the packet has a layer of `kind` (one bit test). */
static inline bool nd_has(const struct nd_packet *p, enum nd_layer_kind kind) {
    return (p->kinds >> kind) & 1u;
}

/* The bytes of the first layer of `kind`, if there is one. */
bool nd_find_layer(const struct nd_packet *p, enum nd_layer_kind kind, struct nd_bytes *out);

/* Capture time in seconds since the Unix epoch (netdumplings' float). */
double nd_timestamp(const struct nd_packet *p);

/* Version of the innermost IP header: 4, 6, or 0 for none. */
static inline int nd_ip_version(const struct nd_packet *p) { return p->ip_version_; }

/* Source / destination address of the innermost IP header: 4 bytes for
 * IPv4, 16 for IPv6; NULL when there is no IP header. */
const uint8_t *nd_src_addr(const struct nd_packet *p);
const uint8_t *nd_dst_addr(const struct nd_packet *p);

/* TCP/UDP source / destination port; false without a TCP or UDP layer. */
bool nd_src_port(const struct nd_packet *p, uint16_t *port);
bool nd_dst_port(const struct nd_packet *p, uint16_t *port);

/* The IP fragment offset in bytes; false when the packet is no fragment. */
bool nd_fragment_offset(const struct nd_packet *p, uint32_t *offset);

/* ---- scapy's layer names --------------------------------------------------- */

/*
 * The names scapy 2.4.5 (what netdumplings 0.5.1's chefs saw packets
 * through) gives a packet's layers, computed by the kitchen (wit/chef.wit's
 * `scapy` interface; rules in docs/scapy-layer-names.md), so no chef carries
 * the rules itself. A name is an id, a small number for counting in an
 * array; nd_scapy_name turns it into text. Ids hold for the life of the
 * kitchen, not across its versions: report names, never ids.
 *
 *     const uint16_t *ids;
 *     size_t n = nd_packet_scapy_names(packet, &ids);
 *     for (size_t j = 0; j < n; j++)
 *         if (ids[j] < count) counts[ids[j]]++;   // count = nd_scapy_name_count()
 */

/* The packet's layers as scapy named them, outermost first: sets `*ids` to
 * that many name ids and returns how many (0: none, and `*ids` is NULL).
 * The first packet of a batch that asks fetches the whole batch's names
 * from the kitchen, once; the ids are valid during the `nd_packet` call
 * only. */
size_t nd_packet_scapy_names(const struct nd_packet *p, const uint16_t **ids);

/* How many names there are: every id is below it, so an array this long
 * has a slot for each. The table is fetched from the kitchen on first use,
 * once per instance. */
size_t nd_scapy_name_count(void);

/* The text of name `id` ("Ethernet", "DNS", ..., UTF-8, not
 * NUL-terminated; the SDK keeps it for the life of the instance), or
 * {NULL, 0} for an id at or above nd_scapy_name_count(). */
struct nd_bytes nd_scapy_name(uint16_t id);

/* ---- A growable byte buffer, and JSON written into it -------------------- */

struct nd_buf {
    char *ptr;   /* not NUL-terminated */
    size_t len;
    size_t cap;
};

#define ND_BUF_INIT {NULL, 0, 0}

void nd_buf_append(struct nd_buf *b, const void *bytes, size_t n);
void nd_buf_puts(struct nd_buf *b, const char *s);
void nd_buf_putc(struct nd_buf *b, char c);
static inline void nd_buf_clear(struct nd_buf *b) { b->len = 0; }
void nd_buf_free(struct nd_buf *b);

/* A JSON string, escaped as serde_json does (`\"`, `\\`, `\b \f \n \r \t`,
 * other control characters as `\u00XX`; everything else as is, so the
 * bytes must be UTF-8). */
void nd_json_str(struct nd_buf *b, const char *s);
void nd_json_strn(struct nd_buf *b, const void *s, size_t n);
void nd_json_u64(struct nd_buf *b, uint64_t v);
void nd_json_i64(struct nd_buf *b, int64_t v);
/* A number as serde_json (1.0.154, the Rust chefs') writes an f64: the
 * shortest text that reads back as the same double, `1.0` for integers,
 * exponents outside [1e-5, 1e16) (`1e+16`, `1.5e-7`), and `null` for NaN
 * and infinities. */
void nd_json_f64(struct nd_buf *b, double v);

/* Whether `s` is valid UTF-8 (as Rust's std::str::from_utf8 judges). */
bool nd_utf8_valid(const void *s, size_t n);

/* ---- Reading JSON (for import-state) ------------------------------------- */

/* A cursor over JSON text. Every function returns false and sets `error`
 * (if not yet set) when the text is not what it expects. */
struct nd_json_reader {
    const uint8_t *at;
    const uint8_t *end;
    const char *error;
};

void nd_json_reader_init(struct nd_json_reader *r, const void *text, size_t len);
/* Skips whitespace and consumes `c`, or fails. */
bool nd_json_expect(struct nd_json_reader *r, char c);
/* Skips whitespace and consumes `c` if it comes next. */
bool nd_json_accept(struct nd_json_reader *r, char c);
/* A string, unescaped into `out` (replacing what it held). */
bool nd_json_read_str(struct nd_json_reader *r, struct nd_buf *out);
/* A non-negative integer that fits in 64 bits. */
bool nd_json_read_u64(struct nd_json_reader *r, uint64_t *v);
/* Any JSON number. */
bool nd_json_read_f64(struct nd_json_reader *r, double *v);
/* Walks an object's members after its `{`: reads the next key into `key`
 * and its `:`, and returns true; returns false at the closing `}` (or on an
 * error: check `error`). `count` starts at 0 and counts the members. */
bool nd_json_next_member(struct nd_json_reader *r, size_t *count, struct nd_buf *key);
/* Only whitespace is left. */
bool nd_json_finish(struct nd_json_reader *r);

/* ---- A map from byte-string keys to fixed-size values --------------------- */

/*
 * A hash table: keys are copied in, values are `value_size` bytes each,
 * zeroed when added. Entries are numbered 0 .. len in the order they were
 * added; `nd_map_sorted` lists them in the byte order of their keys.
 * A pointer to a value stays valid until the next `nd_map_put`.
 */
struct nd_map {
    size_t value_size;
    size_t len;
    size_t cap;
    struct nd_bytes *keys;  /* entry i's key (malloc'd, NUL after the bytes) */
    uint32_t *hashes;       /* entry i's hash */
    unsigned char *values;  /* entry i's value at i * value_size */
    uint32_t *slots;        /* open addressing: entry index + 1, 0 empty */
    size_t slot_count;      /* a power of two, > 2 * len */
};

/* An empty map, as a static initialiser: ND_MAP_INIT(sizeof(uint64_t)). */
#define ND_MAP_INIT(value_size) {(value_size), 0, 0, NULL, NULL, NULL, NULL, 0}

void nd_map_init(struct nd_map *m, size_t value_size);
/* The value under `key`, or NULL. */
void *nd_map_get(const struct nd_map *m, const void *key, size_t len);
/* The value under `key`, added (zeroed) if absent; `*added` says which. */
void *nd_map_put(struct nd_map *m, const void *key, size_t len, bool *added);
static inline struct nd_bytes nd_map_key(const struct nd_map *m, size_t i) { return m->keys[i]; }
static inline void *nd_map_value(const struct nd_map *m, size_t i) {
    return m->values + i * m->value_size;
}
/* Entry indices in the byte order of their keys (malloc'd; free it). */
size_t *nd_map_sorted(const struct nd_map *m);
/* Removes every entry (values holding pointers: free those first). */
void nd_map_clear(struct nd_map *m);
/* Removes every entry and frees the map's memory; it stays usable. */
void nd_map_free(struct nd_map *m);

/* ---- Logging ---------------------------------------------------------------- */

enum nd_log_level { ND_TRACE = 0, ND_DEBUG, ND_INFO, ND_WARN, ND_ERROR };

/* Writes a line to the kitchen's log, tagged with this chef's name. */
void nd_log(enum nd_log_level level, const char *message);

/* ---- What a chef defines ------------------------------------------------------ */

/* The chef's name in dumplings' `metadata.chef`. Required. */
extern const char nd_chef_name[];

/* Called for every packet. Write a payload into `out` (it arrives empty)
 * and return true to make a packet dumpling. Default: none. */
bool nd_packet(const struct nd_packet *packet, struct nd_buf *out);

/* Called every poke interval. Same contract. Default: none. */
bool nd_interval(struct nd_buf *out);

/* State for the next version of this chef on a hot swap: write it into
 * `out` and return true, or return false for none. Default: none. */
bool nd_export_state(struct nd_buf *out);

/* State from the previous version. Return false with a message in `error`
 * to refuse it (the kitchen logs it; the chef starts fresh). Default:
 * ignore it. */
bool nd_import_state(const uint8_t *state, size_t len, struct nd_buf *error);

#ifdef __cplusplus
}
#endif

#endif
