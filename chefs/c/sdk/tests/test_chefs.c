/*
 * Tests of each standard C chef through the generated bindings, the way
 * the kitchen drives it: a batch of columns in (every list malloc'd, as
 * the canonical ABI hands them over), payloads out, then the post-return
 * frees. chefs/c/test.sh links this file with one chef at a time and runs
 * it natively under AddressSanitizer, so a leak or a double free in the
 * ownership rules fails the test. Natively there is no kitchen: the host's
 * `log` and `scapy` imports are stubbed below (the scapy names are the
 * ones a test sets, handed over malloc'd as the canonical ABI does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chef.h"
#include "netdumplings_chef.h"

/* What the wasm build gets from the kitchen and from the component. */
void __wasm_import_netdumplings_chef_host_log(int32_t level, uint8_t *ptr, size_t len) {
    printf("log %d: %.*s\n", (int)level, (int)len, (const char *)ptr);
}
void __component_type_object_force_link_chef(void) {}

static int passed, failed;

static void check(bool ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL %s\n", what);
    }
}

/* A malloc'd copy, as cabi_realloc would have made (nothing for 0 bytes). */
static void *copy(const void *p, size_t bytes) {
    if (bytes == 0) {
        return (void *)1; /* the canonical ABI's dangling pointer for empty lists */
    }
    void *q = malloc(bytes);
    memcpy(q, p, bytes);
    return q;
}

/* ---- The kitchen's scapy names, as a test sets them ------------------------------ */

static struct {
    const char *const *names; /* names(): the table */
    size_t name_count;
    const uint32_t *starts;   /* name-batch() for the batch being handled */
    size_t start_count;
    const uint16_t *ids;
    size_t id_count;
    bool in_batch;            /* inside handle-batch: name-batch may be called */
    int names_calls, name_batch_calls;
} kitchen;

/* The import's results go into the caller's return area: a list is a
 * pointer then a length. */
static void put_list(uint8_t *at, void *ptr, size_t len) {
    memcpy(at, &ptr, sizeof ptr);
    memcpy(at + sizeof(void *), &len, sizeof len);
}

void __wasm_import_netdumplings_chef_scapy_names(uint8_t *ret) {
    kitchen.names_calls++;
    size_t n = kitchen.name_count;
    chef_string_t *list = n ? malloc(n * sizeof *list) : (void *)1;
    for (size_t i = 0; i < n; i++) {
        list[i].len = strlen(kitchen.names[i]);
        list[i].ptr = copy(kitchen.names[i], list[i].len);
    }
    put_list(ret, list, n);
}

void __wasm_import_netdumplings_chef_scapy_name_batch(uint8_t *ret) {
    kitchen.name_batch_calls++;
    check(kitchen.in_batch, "name-batch called only during handle-batch");
    size_t starts = kitchen.in_batch ? kitchen.start_count : 0;
    size_t ids = kitchen.in_batch ? kitchen.id_count : 0;
    put_list(ret, copy(kitchen.starts, starts * sizeof(uint32_t)), starts);
    put_list(ret + 2 * sizeof(void *), copy(kitchen.ids, ids * sizeof(uint16_t)), ids);
}

/* What name-batch answers for the next batch. */
static void set_batch_names(const uint32_t *starts, size_t start_count, const uint16_t *ids,
                            size_t id_count) {
    kitchen.starts = starts, kitchen.start_count = start_count;
    kitchen.ids = ids, kitchen.id_count = id_count;
}

/* handle-batch, with name-batch answering while it runs. */
static void handle_batch(netdumplings_chef_types_packet_batch_t *batch,
                         exports_netdumplings_chef_handlers_list_packet_payload_t *out) {
    kitchen.in_batch = true;
    exports_netdumplings_chef_handlers_handle_batch(batch, out);
    kitchen.in_batch = false;
    set_batch_names(NULL, 0, NULL, 0);
}

static void check_json(const uint8_t *got, size_t len, const char *want, const char *what) {
    if (len == strlen(want) && memcmp(got, want, len) == 0) {
        passed++;
    } else {
        failed++;
        printf("FAIL %s:\n  got  %.*s\n  want %s\n", what, (int)len, (const char *)got, want);
    }
}

/* ---- Building a batch ------------------------------------------------------------ */

#define MAX_PACKETS 8
#define MAX_LAYERS 32

struct builder {
    size_t n, layers;
    uint8_t data[4096];
    size_t data_len;
    uint32_t data_offsets[MAX_PACKETS + 1], wire_lengths[MAX_PACKETS];
    uint64_t timestamps[MAX_PACKETS];
    uint32_t layer_starts[MAX_PACKETS + 1];
    uint8_t layer_kinds[MAX_LAYERS];
    uint32_t layer_offsets[MAX_LAYERS], layer_lengths[MAX_LAYERS];
    uint8_t ip_versions[MAX_PACKETS], ip_addresses[32 * MAX_PACKETS];
    uint16_t ports[2 * MAX_PACKETS];
    uint32_t fragment_offsets[MAX_PACKETS];
};

/* A layer: kind, offset, length. */
struct layer {
    uint8_t kind;
    uint32_t offset, length;
};

static void add_packet(struct builder *b, const uint8_t *bytes, size_t len, uint64_t ts,
                       const struct layer *layers, size_t nlayers, uint16_t sport, uint16_t dport) {
    size_t i = b->n++;
    b->data_offsets[i] = (uint32_t)b->data_len;
    memcpy(b->data + b->data_len, bytes, len);
    b->data_len += len;
    b->wire_lengths[i] = (uint32_t)len;
    b->timestamps[i] = ts;
    b->layer_starts[i] = (uint32_t)b->layers;
    for (size_t j = 0; j < nlayers; j++, b->layers++) {
        b->layer_kinds[b->layers] = layers[j].kind;
        b->layer_offsets[b->layers] = layers[j].offset;
        b->layer_lengths[b->layers] = layers[j].length;
        if (layers[j].kind == ND_IPV4) { /* addresses from the IPv4 header */
            b->ip_versions[i] = 4;
            memcpy(b->ip_addresses + 32 * i, bytes + layers[j].offset + 12, 4);
            memcpy(b->ip_addresses + 32 * i + 16, bytes + layers[j].offset + 16, 4);
        }
    }
    b->ports[2 * i] = sport;
    b->ports[2 * i + 1] = dport;
    b->fragment_offsets[i] = UINT32_MAX;
}

#define COLUMN(type, field, count) ((type){copy(b->field, (count) * sizeof b->field[0]), (count)})

static netdumplings_chef_types_packet_batch_t finish(struct builder *b) {
    b->data_offsets[b->n] = (uint32_t)b->data_len;
    b->layer_starts[b->n] = (uint32_t)b->layers;
    netdumplings_chef_types_packet_batch_t batch = {
        .link_type = 1,
        .data = COLUMN(chef_list_u8_t, data, b->data_len),
        .data_offsets = COLUMN(chef_list_u32_t, data_offsets, b->n + 1),
        .wire_lengths = COLUMN(chef_list_u32_t, wire_lengths, b->n),
        .timestamps = COLUMN(chef_list_u64_t, timestamps, b->n),
        .layer_starts = COLUMN(chef_list_u32_t, layer_starts, b->n + 1),
        .layer_kinds = COLUMN(chef_list_u8_t, layer_kinds, b->layers),
        .layer_offsets = COLUMN(chef_list_u32_t, layer_offsets, b->layers),
        .layer_lengths = COLUMN(chef_list_u32_t, layer_lengths, b->layers),
        .ip_versions = COLUMN(chef_list_u8_t, ip_versions, b->n),
        .ip_addresses = COLUMN(chef_list_u8_t, ip_addresses, 32 * b->n),
        .ports = COLUMN(chef_list_u16_t, ports, 2 * b->n),
        .fragment_offsets = COLUMN(chef_list_u32_t, fragment_offsets, b->n),
    };
    return batch;
}

/* Runs a batch through the chef; `want[i]` is the payload expected for
 * packet i (NULL: none). */
static void run_batch(struct builder *b, const char *const *want, const char *what) {
    netdumplings_chef_types_packet_batch_t batch = finish(b);
    exports_netdumplings_chef_handlers_list_packet_payload_t out;
    handle_batch(&batch, &out);
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (!want[i]) {
            continue;
        }
        if (k < out.len && out.ptr[k].index == i) {
            check_json(out.ptr[k].json.ptr, out.ptr[k].json.len, want[i], what);
            k++;
        } else {
            check(false, what);
            printf("  no payload for packet %zu\n", i);
        }
    }
    check(k == out.len, "no unexpected payloads");
    /* The post-return function frees what the chef handed over. */
    exports_netdumplings_chef_handlers_list_packet_payload_free(&out);
}

static void check_interval(const char *want, const char *what) {
    chef_string_t s;
    bool some = exports_netdumplings_chef_handlers_interval(&s);
    if (!want) {
        check(!some, what);
        return;
    }
    check(some, what);
    if (some) {
        check_json(s.ptr, s.len, want, what);
        chef_string_free(&s);
    }
}

static void check_export(const char *want) {
    chef_list_u8_t state;
    check(exports_netdumplings_chef_handlers_export_state(&state), "export-state");
    check_json(state.ptr, state.len, want, "exported state");
    chef_list_u8_free(&state);
}

/* Imports `json` (handed over malloc'd, as the kitchen does). */
static bool import_state(const char *json) {
    chef_list_u8_t state = {copy(json, strlen(json)), strlen(json)};
    chef_string_t err;
    bool ok = exports_netdumplings_chef_handlers_import_state(&state, &err);
    if (!ok) {
        check(err.len > 0, "import error has a message");
        chef_string_free(&err);
    }
    return ok;
}

/* ---- Packets -------------------------------------------------------------------- */

static const uint8_t ETH_IP_UDP[14 + 20 + 8] = {
    2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00,                 /* Ethernet */
    0x45, 0, 0, 61, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, /* IPv4 */
    0xd4, 0x31, 0, 53, 0, 41, 0, 0,                                  /* UDP 54321 -> 53 */
};

static const uint8_t QUERY[] = {
    0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
    3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
};

/* An Ethernet/IPv4/UDP packet to port 53 carrying `payload`. */
static void add_udp(struct builder *b, const uint8_t *payload, size_t len, uint64_t ts) {
    uint8_t frame[256];
    memcpy(frame, ETH_IP_UDP, sizeof ETH_IP_UDP);
    memcpy(frame + sizeof ETH_IP_UDP, payload, len);
    const struct layer layers[] = {
        {ND_ETHERNET, 0, 14}, {ND_IPV4, 14, 20}, {ND_UDP, 34, 8}, {ND_PAYLOAD, 42, (uint32_t)len}};
    add_packet(b, frame, sizeof ETH_IP_UDP + len, ts, layers, 4, 54321, 53);
}

/* An ARP packet (Ethernet, 6-byte MACs, IPv4 addresses). */
static void add_arp(struct builder *b, int op, uint8_t mac_last, uint8_t ip_last, uint64_t ts) {
    uint8_t frame[14 + 28] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, mac_last, 0x08, 0x06,
        0, 1, 0x08, 0x00, 6, 4, 0, (uint8_t)op,
        2, 0, 0, 0, 0, mac_last, 192, 168, 0, ip_last, /* sender */
        0, 0, 0, 0, 0, 0, 192, 168, 0, 254,            /* target */
    };
    const struct layer layers[] = {{ND_ETHERNET, 0, 14}, {ND_ARP, 14, 28}};
    add_packet(b, frame, sizeof frame, ts, layers, 2, 0, 0);
}

/* ---- The chefs --------------------------------------------------------------------- */

static void test_dns_lookup(void) {
    struct builder b = {0};
    add_udp(&b, QUERY, sizeof QUERY, 1591780863847323000u);
    add_udp(&b, QUERY, 11, 1591780863900000000u); /* too short: not DNS */
    add_udp(&b, QUERY, sizeof QUERY, 1591780864500000000u);
    const char *want[] = {
        "{\"lookup\":{\"hostname\":\"www.example.com\",\"when\":1591780863.847323}}",
        NULL,
        "{\"lookup\":{\"hostname\":\"www.example.com\",\"when\":1591780864.5}}",
    };
    run_batch(&b, want, "DNS lookups");
    check_interval("{\"lookups_seen\":{\"www.example.com\":{\"count\":2,\"latest\":1591780864.5}}}",
                   "DNS interval");
    check_export("{\"www.example.com\":[2,1591780864.5]}");
    check(!import_state("{\"a\":[1,2.5],\"b\":[1]}"), "bad state refused");
    check_interval("{\"lookups_seen\":{\"www.example.com\":{\"count\":2,\"latest\":1591780864.5}}}",
                   "refused state changes nothing");
    check(import_state("{\"b.org\":[3,7],\"a.org\":[1,2.5]}"), "state imported");
    check_interval("{\"lookups_seen\":{\"a.org\":{\"count\":1,\"latest\":2.5},\"b.org\":{\"count\":3,\"latest\":7.0}}}",
                   "DNS interval after import");
}

static void test_arp(void) {
    struct builder b = {0};
    add_arp(&b, 1, 0x0a, 1, 1461764814520906000u);
    add_arp(&b, 2, 0x0a, 1, 1461764814526359000u);
    add_arp(&b, 2, 0x0a, 1, 1461764815000000000u);
    add_arp(&b, 2, 0x0b, 1, 1461764816000000000u);
    add_arp(&b, 9, 0x0b, 2, 1461764817000000000u);
    const char *want[] = {
        "{\"dst_hw\":\"00:00:00:00:00:00\",\"dst_ip\":\"192.168.0.254\",\"notes\":null,\"operation\":\"request\","
        "\"src_hw\":\"02:00:00:00:00:0a\",\"src_ip\":\"192.168.0.1\",\"time\":1461764814.520906}",
        "{\"dst_hw\":\"00:00:00:00:00:00\",\"dst_ip\":\"192.168.0.254\",\"notes\":\"source device is new\","
        "\"operation\":\"reply\",\"src_hw\":\"02:00:00:00:00:0a\",\"src_ip\":\"192.168.0.1\",\"time\":1461764814.526359}",
        "{\"dst_hw\":\"00:00:00:00:00:00\",\"dst_ip\":\"192.168.0.254\",\"notes\":null,"
        "\"operation\":\"reply\",\"src_hw\":\"02:00:00:00:00:0a\",\"src_ip\":\"192.168.0.1\",\"time\":1461764815.0}",
        "{\"dst_hw\":\"00:00:00:00:00:00\",\"dst_ip\":\"192.168.0.254\",\"notes\":\"source device has new IP address\","
        "\"operation\":\"reply\",\"src_hw\":\"02:00:00:00:00:0b\",\"src_ip\":\"192.168.0.1\",\"time\":1461764816.0}",
        "{\"dst_hw\":\"00:00:00:00:00:00\",\"dst_ip\":\"192.168.0.254\",\"notes\":null,"
        "\"operation\":9,\"src_hw\":\"02:00:00:00:00:0b\",\"src_ip\":\"192.168.0.2\",\"time\":1461764817.0}",
    };
    run_batch(&b, want, "ARP payloads");
    check_interval(NULL, "ARP has no interval payload");
    check_export("{\"192.168.0.1\":\"02:00:00:00:00:0b\"}");
    check(import_state("{\"192.168.0.1\":\"02:00:00:00:00:0a\"}"), "state imported");
    struct builder again = {0};
    add_arp(&again, 2, 0x0a, 1, 1461764818000000000u);
    const char *want_again[] = {
        "{\"dst_hw\":\"00:00:00:00:00:00\",\"dst_ip\":\"192.168.0.254\",\"notes\":null,"
        "\"operation\":\"reply\",\"src_hw\":\"02:00:00:00:00:0a\",\"src_ip\":\"192.168.0.1\",\"time\":1461764818.0}",
    };
    run_batch(&again, want_again, "ARP after import");
    check(!import_state("{\"192.168.0.1\":7}"), "bad state refused");
}

/* PacketCountChef counts the names the kitchen gives, whatever the
 * layers: these are not the names the packets' layers would get. */
static void test_packet_count(void) {
    static const char *const names[] = {
        "Ethernet", "IP", "UDP", "DNS", "Raw", "ARP", "Padding", "Spanning Tree Protocol", "802.3",
    };
    kitchen.names = names;
    kitchen.name_count = sizeof names / sizeof names[0];
    const char *want[] = {NULL, NULL, NULL};

    check_interval("{\"packet_counts\":{}}", "no packets yet");
    check_export("{}");
    check(kitchen.names_calls == 0, "no names fetched before a packet");

    struct builder b = {0};
    add_udp(&b, QUERY, sizeof QUERY, 1);
    add_udp(&b, QUERY, 11, 2);
    add_arp(&b, 1, 1, 1, 3);
    static const uint32_t starts[] = {0, 4, 8, 11};
    static const uint16_t ids[] = {0, 1, 2, 3, /**/ 0, 1, 2, 4, /**/ 0, 5, 6};
    set_batch_names(starts, 4, ids, 11);
    run_batch(&b, want, "no packet payloads");
    check(kitchen.name_batch_calls == 1, "name-batch called once for the batch");
    check_interval("{\"packet_counts\":{\"ARP\":1,\"DNS\":1,\"Ethernet\":3,\"IP\":2,\"Padding\":1,\"Raw\":1,\"UDP\":2}}",
                   "counts are the kitchen's names");
    check_interval("{\"packet_counts\":{\"ARP\":1,\"DNS\":1,\"Ethernet\":3,\"IP\":2,\"Padding\":1,\"Raw\":1,\"UDP\":2}}",
                   "counts since the chef started");
    check_export("{\"ARP\":1,\"DNS\":1,\"Ethernet\":3,\"IP\":2,\"Padding\":1,\"Raw\":1,\"UDP\":2}");

    check(import_state("{\"Ethernet\":10,\"Zzz\":1}"), "state imported");
    struct builder again = {0};
    add_arp(&again, 1, 1, 1, 4);
    add_arp(&again, 1, 1, 1, 5);
    add_arp(&again, 1, 1, 1, 6);
    /* No names for the first packet; an id repeated, and one past the
     * table (a buggy kitchen: ignored), for the second; the third's run
     * ends past `ids` (ignored too). */
    static const uint32_t starts2[] = {0, 0, 5, 9};
    static const uint16_t ids2[] = {8, 7, 7, 200, 0};
    set_batch_names(starts2, 4, ids2, 5);
    run_batch(&again, want, "no packet payloads");
    check_interval("{\"packet_counts\":{\"802.3\":1,\"Ethernet\":11,\"Spanning Tree Protocol\":2,\"Zzz\":1}}",
                   "counts after import");
    check(!import_state("{\"Ethernet\":-1}"), "bad state refused");

    /* starts shorter than the batch: no names, no crash. */
    struct builder short_starts = {0};
    add_arp(&short_starts, 1, 1, 1, 7);
    add_arp(&short_starts, 1, 1, 1, 8);
    set_batch_names(starts, 2, ids, 4);
    run_batch(&short_starts, want, "no packet payloads");
    check_interval("{\"packet_counts\":{\"802.3\":1,\"DNS\":1,\"Ethernet\":12,\"IP\":1,"
                   "\"Spanning Tree Protocol\":2,\"UDP\":1,\"Zzz\":1}}",
                   "short starts: the packets past them get no names");
    struct builder empty = {0};
    run_batch(&empty, want, "empty batch");
    check(kitchen.names_calls == 1, "names fetched once");
    check(kitchen.name_batch_calls == 3, "name-batch once per batch with packets");
}

/* An empty batch, and a batch with columns cut short (a buggy kitchen):
 * no payloads, no crash. */
static void test_odd_batches(void) {
    struct builder b = {0};
    const char *none[MAX_PACKETS] = {0};
    run_batch(&b, none, "empty batch");
    add_udp(&b, QUERY, sizeof QUERY, 1);
    netdumplings_chef_types_packet_batch_t batch = finish(&b);
    batch.layer_offsets.len = 1;  /* the layer columns disagree */
    batch.ip_addresses.len = 31; /* no room for the addresses */
    exports_netdumplings_chef_handlers_list_packet_payload_t out;
    handle_batch(&batch, &out);
    check(out.len == 0, "short columns: no payload");
    exports_netdumplings_chef_handlers_list_packet_payload_free(&out);
}

int main(void) {
    chef_string_t name;
    exports_netdumplings_chef_handlers_name(&name);
    printf("%.*s\n", (int)name.len, (const char *)name.ptr);
    if (strcmp(nd_chef_name, "DNSLookupChef") == 0) {
        test_odd_batches();
        test_dns_lookup();
        check(kitchen.names_calls == 0 && kitchen.name_batch_calls == 0, "no scapy names asked for");
    } else if (strcmp(nd_chef_name, "ARPChef") == 0) {
        test_arp();
        check(kitchen.names_calls == 0 && kitchen.name_batch_calls == 0, "no scapy names asked for");
    } else if (strcmp(nd_chef_name, "PacketCountChef") == 0) {
        test_packet_count();
    } else {
        check(false, "a chef this test knows");
    }
    check(name.len == strlen(nd_chef_name) && memcmp(name.ptr, nd_chef_name, name.len) == 0, "name()");
    chef_string_free(&name);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout); /* before a sanitizer's report at exit */
    return failed != 0;
}
