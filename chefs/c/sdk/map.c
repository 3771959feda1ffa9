/*
 * nd_map: a hash table from byte strings to fixed-size values, with open
 * addressing (linear probing) over an array of entry numbers. Entries live
 * in three parallel arrays in the order they were added, so walking them,
 * or sorting their numbers by key, needs nothing from the table.
 */
#include <stdlib.h>
#include <string.h>

#include "netdumplings_chef.h"

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) {
        abort(); /* out of memory: the kitchen restarts the chef */
    }
    return p;
}

/* FNV-1a. */
static uint32_t hash_bytes(const void *key, size_t len) {
    const unsigned char *p = key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

void nd_map_init(struct nd_map *m, size_t value_size) {
    memset(m, 0, sizeof *m);
    m->value_size = value_size;
}

/* The slot holding `key`, or the empty slot where it would go. */
static size_t find_slot(const struct nd_map *m, const void *key, size_t len, uint32_t h) {
    size_t mask = m->slot_count - 1;
    for (size_t s = h & mask;; s = (s + 1) & mask) {
        uint32_t e = m->slots[s];
        if (e == 0) {
            return s;
        }
        e--;
        if (m->hashes[e] == h && m->keys[e].len == len && memcmp(m->keys[e].ptr, key, len) == 0) {
            return s;
        }
    }
}

void *nd_map_get(const struct nd_map *m, const void *key, size_t len) {
    if (m->len == 0) {
        return NULL;
    }
    uint32_t e = m->slots[find_slot(m, key, len, hash_bytes(key, len))];
    return e ? nd_map_value(m, e - 1) : NULL;
}

/* Rebuilds the slot array with room for twice as many entries. */
static void grow_slots(struct nd_map *m) {
    size_t count = m->slot_count ? m->slot_count * 2 : 16;
    free(m->slots);
    m->slots = calloc(count, sizeof *m->slots);
    if (!m->slots) {
        abort();
    }
    m->slot_count = count;
    for (size_t i = 0; i < m->len; i++) {
        size_t s = find_slot(m, m->keys[i].ptr, m->keys[i].len, m->hashes[i]);
        m->slots[s] = (uint32_t)i + 1;
    }
}

void *nd_map_put(struct nd_map *m, const void *key, size_t len, bool *added) {
    if (2 * (m->len + 1) >= m->slot_count) {
        grow_slots(m);
    }
    uint32_t h = hash_bytes(key, len);
    size_t s = find_slot(m, key, len, h);
    if (m->slots[s]) {
        *added = false;
        return nd_map_value(m, m->slots[s] - 1);
    }
    if (m->len == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->keys = xrealloc(m->keys, m->cap * sizeof *m->keys);
        m->hashes = xrealloc(m->hashes, m->cap * sizeof *m->hashes);
        m->values = xrealloc(m->values, m->cap * m->value_size);
    }
    size_t i = m->len++;
    uint8_t *copy = xrealloc(NULL, len + 1);
    memcpy(copy, key, len);
    copy[len] = '\0';
    m->keys[i] = (struct nd_bytes){copy, len};
    m->hashes[i] = h;
    memset(nd_map_value(m, i), 0, m->value_size);
    m->slots[s] = (uint32_t)i + 1;
    *added = true;
    return nd_map_value(m, i);
}

/* For qsort: entry numbers by key bytes, shorter first on a common prefix
 * (Rust's ordering of byte strings, and so serde_json's of map keys). */
static const struct nd_map *sorting;

static int by_key(const void *a, const void *b) {
    struct nd_bytes x = sorting->keys[*(const size_t *)a];
    struct nd_bytes y = sorting->keys[*(const size_t *)b];
    int c = memcmp(x.ptr, y.ptr, x.len < y.len ? x.len : y.len);
    if (c != 0) {
        return c;
    }
    return (x.len > y.len) - (x.len < y.len);
}

size_t *nd_map_sorted(const struct nd_map *m) {
    size_t *order = xrealloc(NULL, m->len * sizeof *order);
    for (size_t i = 0; i < m->len; i++) {
        order[i] = i;
    }
    sorting = m;
    qsort(order, m->len, sizeof *order, by_key);
    sorting = NULL;
    return order;
}

void nd_map_clear(struct nd_map *m) {
    for (size_t i = 0; i < m->len; i++) {
        free((void *)m->keys[i].ptr);
    }
    m->len = 0;
    if (m->slots) {
        memset(m->slots, 0, m->slot_count * sizeof *m->slots);
    }
}

void nd_map_free(struct nd_map *m) {
    nd_map_clear(m);
    free(m->keys);
    free(m->hashes);
    free(m->values);
    free(m->slots);
    nd_map_init(m, m->value_size);
}
