/*
 * The growable buffer, JSON writers (serde_json's output, byte for byte),
 * a UTF-8 check, and a small JSON reader for import-state.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netdumplings_chef.h"

/* ---- Buffer ----------------------------------------------------------------- */

static void reserve(struct nd_buf *b, size_t extra) {
    if (b->cap - b->len >= extra) {
        return;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < extra) {
        cap *= 2;
    }
    char *p = realloc(b->ptr, cap);
    if (!p) {
        abort(); /* out of memory: the kitchen restarts the chef */
    }
    b->ptr = p;
    b->cap = cap;
}

void nd_buf_append(struct nd_buf *b, const void *bytes, size_t n) {
    if (n == 0) {
        return;
    }
    reserve(b, n);
    memcpy(b->ptr + b->len, bytes, n);
    b->len += n;
}

void nd_buf_puts(struct nd_buf *b, const char *s) { nd_buf_append(b, s, strlen(s)); }

void nd_buf_putc(struct nd_buf *b, char c) {
    reserve(b, 1);
    b->ptr[b->len++] = c;
}

void nd_buf_free(struct nd_buf *b) {
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

/* ---- JSON writers ------------------------------------------------------------- */

void nd_json_strn(struct nd_buf *b, const void *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = s;
    nd_buf_putc(b, '"');
    size_t run = 0; /* bytes copied as they are, written in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = '\0';
                esc = u;
            }
        }
        if (esc) {
            nd_buf_append(b, p + i - run, run);
            run = 0;
            nd_buf_puts(b, esc);
        } else {
            run++;
        }
    }
    nd_buf_append(b, p + n - run, run);
    nd_buf_putc(b, '"');
}

void nd_json_str(struct nd_buf *b, const char *s) { nd_json_strn(b, s, strlen(s)); }

void nd_json_u64(struct nd_buf *b, uint64_t v) {
    char s[24];
    nd_buf_append(b, s, (size_t)snprintf(s, sizeof s, "%" PRIu64, v));
}

void nd_json_i64(struct nd_buf *b, int64_t v) {
    char s[24];
    nd_buf_append(b, s, (size_t)snprintf(s, sizeof s, "%" PRId64, v));
}

/* Whether `digits` x 10^`exp` (digits as an integer) reads back as `v`. */
static bool reads_back(uint64_t digits, int exp, double v) {
    char s[40];
    snprintf(s, sizeof s, "%" PRIu64 "e%d", digits, exp);
    return strtod(s, NULL) == v;
}

/*
 * The n-digit decimal nearest to `v` (1 <= n <= 17), as an integer with
 * the exponent of its last digit, from `d17`, the 17 significant digits of
 * `v` (correctly rounded) whose first digit has exponent `e17`.
 *
 * Rounding d17 again gives what rounding `v` itself would, except when the
 * dropped digits are exactly 5000...: then `v` may lie a little either
 * side of that midpoint, and printf, which sees all of `v`, decides.
 */
static uint64_t nearest(double v, const char *d17, int e17, int n, int *exp) {
    uint64_t d = 0;
    for (int i = 0; i < n; i++) {
        d = d * 10 + (uint64_t)(d17[i] - '0');
    }
    *exp = e17 - (n - 1);
    if (n == 17) {
        return d;
    }
    int half = d17[n] == '5' ? 0 : d17[n] > '5' ? 1 : -1; /* the tail against 5000... */
    for (int i = n + 1; i < 17 && half == 0; i++) {
        half = d17[i] != '0';
    }
    if (half == 0) { /* a tie in the 17 digits: ask printf */
        char s[40];
        snprintf(s, sizeof s, "%.*e", n - 1, v);
        d = 0;
        const char *p = s;
        for (; *p != 'e'; p++) {
            if (*p != '.') {
                d = d * 10 + (uint64_t)(*p - '0');
            }
        }
        *exp = atoi(p + 1) - (n - 1); /* 9.95 -> 1.0e+01: a carry moves the exponent */
        return d;
    }
    return half > 0 ? d + 1 : d;
}

/* A decimal: digits x 10^exp. */
struct decimal {
    uint64_t digits;
    int exp;
};

/* Whether some n-digit decimal reads back as `v`; if so, `*found` is the
 * one nearest to `v`. `d17`, `e17`: as for nearest(). */
static bool fits(double v, const char *d17, int e17, bool power_of_two, int n, struct decimal *found) {
    int e;
    uint64_t d = nearest(v, d17, e17, n, &e);
    /* At a power of two the interval that reads back is lopsided (the gap
     * to the next double below is half the gap above), so the nearest
     * decimal may miss it on the narrow side while its neighbour on the
     * wide side is inside: try the neighbours too. */
    const uint64_t candidates[3] = {d, d + 1, d - 1};
    for (int i = 0; i < (power_of_two ? 3 : 1); i++) {
        if (candidates[i] > 0 && reads_back(candidates[i], e, v)) {
            *found = (struct decimal){candidates[i], e};
            return true;
        }
    }
    return false;
}

/*
 * The shortest decimal that reads back as `v` (> 0, finite), and among
 * those the nearest to `v`: what serde_json's algorithms (Ryu, zmij) find.
 * Its digits come without trailing zeros.
 *
 * C has no such printf. Instead: take the 17 significant digits printf
 * gives (17 always read back) and find the fewest n whose nearest n-digit
 * decimal reads back; if n digits do, n + 1 do, so a binary search works.
 * Most doubles need 15 to 17 digits (timestamps with microseconds: 16), so
 * 16 and 15 are tried first: one to three strtod calls in the usual case.
 */
static struct decimal shortest(double v) {
    char s[40], d17[17];
    snprintf(s, sizeof s, "%.16e", v); /* d.dddddddddddddddde[+-]XX */
    d17[0] = s[0];
    memcpy(d17 + 1, s + 2, 16);
    int e17 = atoi(s + 19), binary_exp;
    bool power_of_two = frexp(v, &binary_exp) == 0.5;

    struct decimal best, d;
    best.digits = nearest(v, d17, e17, 17, &best.exp);
    int lo = 1, hi = 17; /* hi: the fewest digits known to read back */
    if (fits(v, d17, e17, power_of_two, 16, &d)) {
        best = d, hi = 16;
        if (fits(v, d17, e17, power_of_two, 15, &d)) {
            best = d, hi = 15;
        } else {
            lo = 16;
        }
    } else {
        lo = 17;
    }
    while (lo < hi) {
        int n = (lo + hi) / 2;
        if (fits(v, d17, e17, power_of_two, n, &d)) {
            best = d, hi = n;
        } else {
            lo = n + 1;
        }
    }
    while (best.digits % 10 == 0) {
        best.digits /= 10;
        best.exp += 1;
    }
    return best;
}

void nd_json_f64(struct nd_buf *b, double v) {
    if (!isfinite(v)) {
        nd_buf_puts(b, "null");
        return;
    }
    if (signbit(v)) {
        nd_buf_putc(b, '-');
        v = -v;
    }
    if (v == 0) {
        nd_buf_puts(b, "0.0");
        return;
    }
    struct decimal shortest_v = shortest(v);
    int k = shortest_v.exp;
    char d[24];
    int n = snprintf(d, sizeof d, "%" PRIu64, shortest_v.digits);
    int kk = n + k; /* 10^(kk-1) <= v < 10^kk */
    if (k >= 0 && kk <= 16) { /* 1234e7 -> 12340000000.0 */
        nd_buf_append(b, d, (size_t)n);
        for (int i = n; i < kk; i++) {
            nd_buf_putc(b, '0');
        }
        nd_buf_puts(b, ".0");
    } else if (kk > 0 && kk <= 16) { /* 1234e-2 -> 12.34 */
        nd_buf_append(b, d, (size_t)kk);
        nd_buf_putc(b, '.');
        nd_buf_append(b, d + kk, (size_t)(n - kk));
    } else if (kk > -5 && kk <= 0) { /* 1234e-6 -> 0.001234 */
        nd_buf_puts(b, "0.");
        for (int i = kk; i < 0; i++) {
            nd_buf_putc(b, '0');
        }
        nd_buf_append(b, d, (size_t)n);
    } else { /* 1e+30, 1.234e-33 (serde_json >= 1.0.150 writes the `+`) */
        nd_buf_putc(b, d[0]);
        if (n > 1) {
            nd_buf_putc(b, '.');
            nd_buf_append(b, d + 1, (size_t)(n - 1));
        }
        char e[8];
        nd_buf_append(b, e, (size_t)snprintf(e, sizeof e, "e%+d", kk - 1));
    }
}

/* ---- UTF-8 ---------------------------------------------------------------------- */

bool nd_utf8_valid(const void *s, size_t n) {
    const unsigned char *p = s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0;       /* no overlong forms */
            if (c == 0xed) hi = 0x9f;       /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90;       /* no overlong forms */
            if (c == 0xf4) hi = 0x8f;       /* nothing above U+10FFFF */
        } else {
            return false;
        }
        if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) {
            return false;
        }
        for (size_t j = 2; j < len; j++) {
            if (p[i + j] < 0x80 || p[i + j] > 0xbf) {
                return false;
            }
        }
        i += len;
    }
    return true;
}

/* ---- JSON reader ------------------------------------------------------------------- */

void nd_json_reader_init(struct nd_json_reader *r, const void *text, size_t len) {
    r->at = text;
    r->end = r->at + len;
    r->error = NULL;
}

static bool fail(struct nd_json_reader *r, const char *error) {
    if (!r->error) {
        r->error = error;
    }
    return false;
}

static void skip_ws(struct nd_json_reader *r) {
    while (r->at < r->end && (*r->at == ' ' || *r->at == '\t' || *r->at == '\n' || *r->at == '\r')) {
        r->at++;
    }
}

bool nd_json_accept(struct nd_json_reader *r, char c) {
    skip_ws(r);
    if (r->error || r->at == r->end || *r->at != (uint8_t)c) {
        return false;
    }
    r->at++;
    return true;
}

bool nd_json_expect(struct nd_json_reader *r, char c) {
    if (nd_json_accept(r, c)) {
        return true;
    }
    static char message[] = "expected `?`";
    message[10] = c;
    return fail(r, message);
}

static int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits after `\u`. */
static bool read_hex4(struct nd_json_reader *r, uint32_t *v) {
    if (r->end - r->at < 4) {
        return fail(r, "short \\u escape");
    }
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_digit(*r->at++);
        if (h < 0) {
            return fail(r, "bad \\u escape");
        }
        *v = *v * 16 + (uint32_t)h;
    }
    return true;
}

static void put_utf8(struct nd_buf *out, uint32_t cp) {
    if (cp < 0x80) {
        nd_buf_putc(out, (char)cp);
    } else if (cp < 0x800) {
        nd_buf_putc(out, (char)(0xc0 | cp >> 6));
        nd_buf_putc(out, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        nd_buf_putc(out, (char)(0xe0 | cp >> 12));
        nd_buf_putc(out, (char)(0x80 | (cp >> 6 & 0x3f)));
        nd_buf_putc(out, (char)(0x80 | (cp & 0x3f)));
    } else {
        nd_buf_putc(out, (char)(0xf0 | cp >> 18));
        nd_buf_putc(out, (char)(0x80 | (cp >> 12 & 0x3f)));
        nd_buf_putc(out, (char)(0x80 | (cp >> 6 & 0x3f)));
        nd_buf_putc(out, (char)(0x80 | (cp & 0x3f)));
    }
}

bool nd_json_read_str(struct nd_json_reader *r, struct nd_buf *out) {
    nd_buf_clear(out);
    if (!nd_json_expect(r, '"')) {
        return false;
    }
    for (;;) {
        if (r->at == r->end) {
            return fail(r, "unterminated string");
        }
        uint8_t c = *r->at++;
        if (c == '"') {
            break;
        } else if (c < 0x20) {
            return fail(r, "control character in string");
        } else if (c != '\\') {
            nd_buf_putc(out, (char)c);
            continue;
        }
        if (r->at == r->end) {
            return fail(r, "unterminated string");
        }
        uint32_t cp;
        switch (*r->at++) {
        case '"': nd_buf_putc(out, '"'); break;
        case '\\': nd_buf_putc(out, '\\'); break;
        case '/': nd_buf_putc(out, '/'); break;
        case 'b': nd_buf_putc(out, '\b'); break;
        case 'f': nd_buf_putc(out, '\f'); break;
        case 'n': nd_buf_putc(out, '\n'); break;
        case 'r': nd_buf_putc(out, '\r'); break;
        case 't': nd_buf_putc(out, '\t'); break;
        case 'u':
            if (!read_hex4(r, &cp)) {
                return false;
            }
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                return fail(r, "lone surrogate");
            }
            if (cp >= 0xd800 && cp <= 0xdbff) { /* a pair: \uD8xx\uDCxx */
                uint32_t low;
                if (r->end - r->at < 2 || r->at[0] != '\\' || r->at[1] != 'u') {
                    return fail(r, "lone surrogate");
                }
                r->at += 2;
                if (!read_hex4(r, &low)) {
                    return false;
                }
                if (low < 0xdc00 || low > 0xdfff) {
                    return fail(r, "lone surrogate");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            }
            put_utf8(out, cp);
            break;
        default:
            return fail(r, "bad escape");
        }
    }
    if (!nd_utf8_valid(out->ptr, out->len)) {
        return fail(r, "string is not UTF-8");
    }
    return true;
}

/* The text of a JSON number at the cursor (RFC 8259's grammar), copied
 * NUL-terminated into `s`; sets `*integer` if it has no fraction or
 * exponent. */
static bool number_token(struct nd_json_reader *r, char *s, size_t cap, bool *integer) {
    skip_ws(r);
    const uint8_t *p = r->at, *start = r->at;
    *integer = true;
    if (p < r->end && *p == '-') p++;
    if (p < r->end && *p == '0') {
        p++;
    } else if (p < r->end && *p >= '1' && *p <= '9') {
        while (p < r->end && *p >= '0' && *p <= '9') p++;
    } else {
        return fail(r, "expected a number");
    }
    if (p < r->end && *p == '.') {
        *integer = false;
        p++;
        if (p == r->end || *p < '0' || *p > '9') return fail(r, "bad number");
        while (p < r->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        *integer = false;
        p++;
        if (p < r->end && (*p == '+' || *p == '-')) p++;
        if (p == r->end || *p < '0' || *p > '9') return fail(r, "bad number");
        while (p < r->end && *p >= '0' && *p <= '9') p++;
    }
    size_t n = (size_t)(p - start);
    if (n >= cap) {
        return fail(r, "number too long");
    }
    memcpy(s, start, n);
    s[n] = '\0';
    r->at = p;
    return true;
}

bool nd_json_read_u64(struct nd_json_reader *r, uint64_t *v) {
    char s[400];
    bool integer;
    if (!number_token(r, s, sizeof s, &integer)) {
        return false;
    }
    if (!integer || s[0] == '-') {
        return fail(r, "expected an unsigned integer");
    }
    uint64_t x = 0;
    for (const char *p = s; *p; p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (x > (UINT64_MAX - digit) / 10) {
            return fail(r, "integer out of range");
        }
        x = x * 10 + digit;
    }
    *v = x;
    return true;
}

bool nd_json_read_f64(struct nd_json_reader *r, double *v) {
    char s[400];
    bool integer;
    if (!number_token(r, s, sizeof s, &integer)) {
        return false;
    }
    *v = strtod(s, NULL);
    if (!isfinite(*v)) {
        return fail(r, "number out of range");
    }
    return true;
}

bool nd_json_next_member(struct nd_json_reader *r, size_t *count, struct nd_buf *key) {
    if (r->error || nd_json_accept(r, '}')) {
        return false;
    }
    if (*count > 0 && !nd_json_expect(r, ',')) {
        return false;
    }
    if (!nd_json_read_str(r, key) || !nd_json_expect(r, ':')) {
        return false;
    }
    ++*count;
    return true;
}

bool nd_json_finish(struct nd_json_reader *r) {
    skip_ws(r);
    if (r->error) {
        return false;
    }
    return r->at == r->end || fail(r, "trailing characters");
}
