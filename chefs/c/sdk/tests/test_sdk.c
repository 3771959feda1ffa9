/*
 * Unit tests of the C SDK (JSON writers and reader, UTF-8, the map) and
 * the dissector's DNS check. chefs/c/test.sh runs them natively (with
 * sanitizers) and as wasm32-wasi under node, since the chefs use
 * wasi-libc's printf and strtod, not glibc's.
 *
 *     test_sdk sdk/tests/f64-vectors.txt
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissect.h"
#include "netdumplings_chef.h"

static int passed, failed;

/* A string literal and its length (it may hold NUL bytes). */
#define S(literal) literal, sizeof(literal) - 1

static void check(bool ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL %s\n", what);
    }
}

/* The buffer's text, NUL-terminated (for comparing). */
static const char *text(struct nd_buf *b) {
    nd_buf_putc(b, '\0');
    b->len--;
    return b->ptr;
}

static void check_text(struct nd_buf *b, const char *want, const char *what) {
    if (strcmp(text(b), want) == 0) {
        passed++;
    } else {
        failed++;
        printf("FAIL %s: got %s, want %s\n", what, text(b), want);
    }
}

/* ---- JSON writers ---------------------------------------------------------------- */

static void test_strings(void) {
    struct nd_buf b = ND_BUF_INIT;
    nd_json_strn(&b, S("a\"b\\c\n\r\t\b\f\x01\x1f\x7f \xc3\xa9/"));
    check_text(&b, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f \xc3\xa9/\"", "string escapes");
    nd_buf_clear(&b);
    nd_json_strn(&b, S("a\0b"));
    check(b.len == 10 && memcmp(b.ptr, "\"a\\u0000b\"", 10) == 0, "NUL inside a string");
    nd_buf_clear(&b);
    nd_json_str(&b, "");
    check_text(&b, "\"\"", "empty string");
    nd_buf_clear(&b);
    nd_json_u64(&b, UINT64_MAX);
    nd_buf_putc(&b, ' ');
    nd_json_i64(&b, INT64_MIN);
    check_text(&b, "18446744073709551615 -9223372036854775808", "integers");
    nd_buf_free(&b);
}

static void test_f64(const char *vectors) {
    struct {
        double v;
        const char *want;
    } cases[] = {
        {0.0, "0.0"}, {-0.0, "-0.0"}, {1.0, "1.0"}, {-2.5, "-2.5"}, {0.1, "0.1"},
        {1e-5, "0.00001"}, {9.99e-6, "9.99e-6"}, {1e-6, "1e-6"}, {1.5e-7, "1.5e-7"},
        {1e15, "1000000000000000.0"}, {9999999999999998.0, "9999999999999998.0"},
        {1e16, "1e+16"}, {1.2345678901234568e17, "1.2345678901234568e+17"},
        {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
        {1591780863.847323, "1591780863.847323"}, {1461764814.520906, "1461764814.520906"},
        {NAN, "null"}, {INFINITY, "null"}, {-INFINITY, "null"},
    };
    struct nd_buf b = ND_BUF_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nd_buf_clear(&b);
        nd_json_f64(&b, cases[i].v);
        check_text(&b, cases[i].want, "f64");
    }

    FILE *f = fopen(vectors, "r");
    check(f != NULL, "open the f64 vectors");
    if (!f) {
        return;
    }
    char line[128];
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        uint64_t bits;
        char want[64];
        double v;
        if (line[0] == '#' || sscanf(line, "%" SCNx64 " %63s", &bits, want) != 2) {
            continue;
        }
        memcpy(&v, &bits, sizeof v);
        nd_buf_clear(&b);
        nd_json_f64(&b, v);
        n++;
        if (strcmp(text(&b), want) != 0 && bad++ < 10) {
            printf("FAIL f64 %016" PRIx64 ": got %s, want %s\n", bits, text(&b), want);
        }
    }
    fclose(f);
    check(n >= 2000 && bad == 0, "f64 vectors as serde_json writes them");
    nd_buf_free(&b);
}

/* ---- UTF-8 -------------------------------------------------------------------------- */

static void test_utf8(void) {
    check(nd_utf8_valid(S("plain \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")), "valid UTF-8");
    check(nd_utf8_valid("", 0), "empty is UTF-8");
    check(!nd_utf8_valid("\xc0\x80", 2), "overlong 2 bytes");
    check(!nd_utf8_valid("\xe0\x80\x80", 3), "overlong 3 bytes");
    check(!nd_utf8_valid("\xed\xa0\x80", 3), "surrogate");
    check(!nd_utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF");
    check(!nd_utf8_valid("\xe2\x82", 2), "cut short");
    check(!nd_utf8_valid("\x80", 1), "lone continuation byte");
    check(!nd_utf8_valid("\xff", 1), "0xff");
}

/* ---- JSON reader -------------------------------------------------------------------- */

/* Reads {"key": u64, ...}; returns the sum, or -1 on an error. */
static long long sum_object(const char *json) {
    struct nd_json_reader r;
    struct nd_buf key = ND_BUF_INIT;
    size_t members = 0;
    long long sum = 0;
    nd_json_reader_init(&r, json, strlen(json));
    if (nd_json_expect(&r, '{')) {
        while (nd_json_next_member(&r, &members, &key)) {
            uint64_t v;
            if (nd_json_read_u64(&r, &v)) {
                sum += (long long)v;
            }
        }
    }
    nd_json_finish(&r);
    nd_buf_free(&key);
    return r.error ? -1 : sum;
}

static void test_reader(void) {
    check(sum_object("{}") == 0, "empty object");
    check(sum_object(" { \"a\" : 1 ,\n\"b\":2 } ") == 3, "object with whitespace");
    check(sum_object("{\"a\":1,}") == -1, "trailing comma");
    check(sum_object("{\"a\":1 \"b\":2}") == -1, "missing comma");
    check(sum_object("{\"a\":-1}") == -1, "negative u64");
    check(sum_object("{\"a\":1.5}") == -1, "fraction for u64");
    check(sum_object("{\"a\":18446744073709551616}") == -1, "u64 overflow");
    check(sum_object("{\"a\":1} x") == -1, "trailing characters");
    check(sum_object("{\"a\":1") == -1, "unterminated object");
    check(sum_object("[1]") == -1, "not an object");

    struct nd_json_reader r;
    struct nd_buf s = ND_BUF_INIT;
    const char *json = "\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"";
    nd_json_reader_init(&r, json, strlen(json));
    check(nd_json_read_str(&r, &s) && nd_json_finish(&r), "string escapes read");
    check_text(&s, "a\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80", "string escapes decoded");
    const char *bad[] = {"\"\\ud800\"", "\"\\udc00\"", "\"\\x\"", "\"abc", "\"a\nb\"", "\"\xff\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nd_json_reader_init(&r, bad[i], strlen(bad[i]));
        check(!nd_json_read_str(&r, &s) && r.error, "bad string refused");
    }
    double d;
    nd_json_reader_init(&r, "[1591780863.847323, 3, -2e-3]", 29);
    check(nd_json_expect(&r, '[') && nd_json_read_f64(&r, &d) && d == 1591780863.847323 &&
              nd_json_expect(&r, ',') && nd_json_read_f64(&r, &d) && d == 3 &&
              nd_json_expect(&r, ',') && nd_json_read_f64(&r, &d) && d == -2e-3 &&
              nd_json_expect(&r, ']') && nd_json_finish(&r),
          "numbers as f64");
    nd_buf_free(&s);
}

/* ---- Map ------------------------------------------------------------------------------ */

static void test_map(void) {
    struct nd_map m = ND_MAP_INIT(sizeof(uint64_t));
    bool added;
    check(nd_map_get(&m, "x", 1) == NULL, "get from an empty map");
    for (uint64_t i = 0; i < 1000; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%" PRIu64, i);
        *(uint64_t *)nd_map_put(&m, key, (size_t)n, &added) = i;
        check(added, "new key added");
    }
    uint64_t *v = nd_map_get(&m, "k567", 4);
    check(m.len == 1000 && v && *v == 567, "1000 keys");
    nd_map_put(&m, "k567", 4, &added);
    check(!added && m.len == 1000, "existing key found");
    nd_map_free(&m);
    check(m.len == 0 && nd_map_get(&m, "k1", 2) == NULL, "freed map is empty");

    /* Byte order, shorter first on a common prefix, NUL and high bytes too. */
    const char *keys[] = {"b", "ab", "a", "", "a\0", "\xc3\xa9", "B"};
    const size_t lens[] = {1, 2, 1, 0, 2, 2, 1};
    for (size_t i = 0; i < 7; i++) {
        nd_map_put(&m, keys[i], lens[i], &added);
    }
    size_t *order = nd_map_sorted(&m);
    struct nd_buf b = ND_BUF_INIT;
    for (size_t i = 0; i < m.len; i++) {
        struct nd_bytes k = nd_map_key(&m, order[i]);
        nd_json_strn(&b, k.ptr, k.len);
    }
    check_text(&b, "\"\"\"B\"\"a\"\"a\\u0000\"\"ab\"\"b\"\"\xc3\xa9\"", "sorted keys");
    free(order);
    nd_buf_free(&b);
    nd_map_free(&m);
}

/* ---- DNS ------------------------------------------------------------------------------- */

static const uint8_t QUERY[] = {
    0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,        /* header: 1 question */
    3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
    0, 1, 0, 1,                                             /* A, IN */
};

/* Runs nd_dns_parse on `len` bytes; `host` gets the hostname or "~" for none. */
static bool dns(const uint8_t *msg, size_t len, struct nd_buf *host) {
    bool has;
    bool ok = nd_dns_parse((struct nd_bytes){msg, len}, host, &has);
    if (ok && !has) {
        nd_buf_clear(host);
        nd_buf_putc(host, '~');
    }
    return ok;
}

static void test_dns(void) {
    struct nd_buf host = ND_BUF_INIT;
    uint8_t m[256];

    check(dns(QUERY, sizeof QUERY, &host), "a query is DNS");
    check_text(&host, "www.example.com", "its hostname");
    check(!dns(QUERY, 11, &host), "short header");
    check(!dns(QUERY, sizeof QUERY - 1, &host), "question cut short");

    memcpy(m, QUERY, sizeof QUERY);
    m[3] |= 0x40; /* the reserved Z bit */
    check(!dns(m, sizeof QUERY, &host), "Z bit set");

    memcpy(m, QUERY, sizeof QUERY);
    m[sizeof QUERY - 3] = 19; /* X25: a type simple-dns does not know */
    check(!dns(m, sizeof QUERY, &host), "unknown question type");
    m[sizeof QUERY - 3] = 255; /* ANY */
    m[sizeof QUERY - 1] = 7;   /* class 7 */
    check(!dns(m, sizeof QUERY, &host), "unknown question class");
    m[sizeof QUERY - 2] = 0x80, m[sizeof QUERY - 1] = 0xff; /* QU bit + ANY */
    check(dns(m, sizeof QUERY, &host), "question class ANY with the QU bit");

    /* An answer: name is a pointer back to the question (offset 12). */
    static const uint8_t answer[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1};
    size_t n = sizeof QUERY;
    memcpy(m, QUERY, n);
    m[7] = 1; /* ANCOUNT */
    memcpy(m + n, answer, sizeof answer);
    check(dns(m, n + sizeof answer, &host), "answer with a pointer back");
    m[n + 11] = 3; /* rdlength 3 for an A record */
    check(!dns(m, n + sizeof answer - 1, &host), "A record too short");
    m[n + 11] = 4;
    m[n + 1] = (uint8_t)n; /* pointer to itself */
    check(!dns(m, n + sizeof answer, &host), "pointer to itself");
    m[n + 1] = (uint8_t)(n + 2); /* pointer forward */
    check(!dns(m, n + sizeof answer, &host), "pointer forward");
    m[n + 1] = 12;
    m[n + 5] = 7; /* class 7: simple-dns refuses it, the questions stand */
    check(dns(m, n + sizeof answer, &host), "record of an unknown class");
    check_text(&host, "www.example.com", "hostname despite the record");
    m[n + 3] = 41; /* OPT: the class is a UDP size, options follow */
    check(!dns(m, n + sizeof answer, &host), "OPT with a broken option");
    m[n + 11] = 0;
    check(dns(m, n + sizeof answer - 4, &host), "OPT without options");

    /* Labels: 63 is the longest; 64..191 are not lengths. */
    uint8_t big[12 + 1 + 64 + 1 + 4] = {0, 0, 1, 0, 0, 1};
    big[12] = 63;
    memset(big + 13, 'a', 63);
    big[12 + 64] = 0;
    big[12 + 66] = 1, big[12 + 68] = 1;
    check(dns(big, 12 + 64 + 5, &host) && host.len == 63, "63-byte label");
    big[12] = 64;
    check(!dns(big, sizeof big, &host), "64-byte label");

    /* A name of 255 bytes or more (counting length bytes). */
    uint8_t longname[12 + 4 * 64 + 5] = {0, 0, 1, 0, 0, 1};
    for (int i = 0; i < 4; i++) {
        longname[12 + 64 * i] = 63;
        memset(longname + 13 + 64 * i, 'a', 63);
    }
    longname[12 + 256] = 0, longname[12 + 258] = 1, longname[12 + 260] = 1;
    check(!dns(longname, sizeof longname, &host), "name of 256 bytes");
    longname[12 + 192] = 62; /* 64 * 3 + 63 = 255 bytes: still too long */
    memmove(longname + 12 + 255, longname + 12 + 256, 5);
    check(!dns(longname, sizeof longname - 1, &host), "name of 255 bytes");

    /* The root name, and a label that is not UTF-8. */
    uint8_t root[] = {0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1};
    check(dns(root, sizeof root, &host), "root name");
    check_text(&host, "", "root name's hostname");
    uint8_t latin1[] = {0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0xe9, 0, 0, 1, 0, 1};
    check(dns(latin1, sizeof latin1, &host), "non-UTF-8 label is still DNS");
    check_text(&host, "~", "but no hostname");
    uint8_t none[] = {0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    check(dns(none, sizeof none, &host), "no questions");
    check_text(&host, "~", "no hostname without questions");
    nd_buf_free(&host);
}

int main(int argc, char **argv) {
    test_strings();
    test_f64(argc > 1 ? argv[1] : "sdk/tests/f64-vectors.txt");
    test_utf8();
    test_reader();
    test_map();
    test_dns();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout); /* before a sanitizer's report at exit */
    return failed != 0;
}
