/*
 * The packet view handed to nd_packet: reads the batch's columns for one
 * packet (sdk.c fills the struct).
 */
#include "netdumplings_chef.h"

#define NOT_A_FRAGMENT UINT32_MAX

bool nd_layer_at(const struct nd_packet *p, size_t j, struct nd_layer *out) {
    if (j >= p->layer_count || p->layer_kinds_[j] >= ND_LAYER_KIND_COUNT) {
        return false;
    }
    size_t start = p->layer_offsets_[j], length = p->layer_lengths_[j];
    if (start > p->data.len) {
        start = p->data.len;
    }
    if (length > p->data.len - start) {
        length = p->data.len - start;
    }
    out->kind = (enum nd_layer_kind)p->layer_kinds_[j];
    out->bytes = (struct nd_bytes){p->data.ptr + start, length};
    return true;
}

bool nd_find_layer(const struct nd_packet *p, enum nd_layer_kind kind, struct nd_bytes *out) {
    if (!nd_has(p, kind)) {
        return false;
    }
    struct nd_layer layer;
    for (size_t j = 0; j < p->layer_count; j++) {
        if (nd_layer_at(p, j, &layer) && layer.kind == kind) {
            *out = layer.bytes;
            return true;
        }
    }
    return false;
}

double nd_timestamp(const struct nd_packet *p) {
    uint64_t secs = p->timestamp_ns / 1000000000u, nanos = p->timestamp_ns % 1000000000u;
    return (double)secs + (double)nanos / 1e9;
}

const uint8_t *nd_src_addr(const struct nd_packet *p) {
    return p->ip_version_ ? p->ip_addresses_ : NULL;
}

const uint8_t *nd_dst_addr(const struct nd_packet *p) {
    return p->ip_version_ ? p->ip_addresses_ + 16 : NULL;
}

bool nd_src_port(const struct nd_packet *p, uint16_t *port) {
    *port = p->ports_[0];
    return nd_has(p, ND_TCP) || nd_has(p, ND_UDP);
}

bool nd_dst_port(const struct nd_packet *p, uint16_t *port) {
    *port = p->ports_[1];
    return nd_has(p, ND_TCP) || nd_has(p, ND_UDP);
}

bool nd_fragment_offset(const struct nd_packet *p, uint32_t *offset) {
    *offset = p->fragment_offset_;
    return p->fragment_offset_ != NOT_A_FRAGMENT;
}
