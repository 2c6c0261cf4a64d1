/*
 * Byte-level scanning of event frames, shared by the C extensions of ami_listener
 * (_speedups: log rows as Python objects; _sqlitelog: log rows straight into SQLite).
 * Pure C except timestamp_ms_bytes, whose rare fallback calls float() (GIL held).
 */
#ifndef AMI_ROWSCAN_H
#define AMI_ROWSCAN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TS_MS 281474976710656.0 /* 2**48: the 6-byte prefix of the log key */

/* The first "\n\n" at or after pos (the end of a frame), or -1. */
static Py_ssize_t
find_blank(const char *data, Py_ssize_t pos, Py_ssize_t size)
{
    while (pos < size) {
        const char *eol = memchr(data + pos, '\n', (size_t)(size - pos));
        if (eol == NULL) {
            return -1;
        }
        Py_ssize_t at = (Py_ssize_t)(eol - data);
        if (at + 1 < size && data[at + 1] == '\n') {
            return at;
        }
        pos = at + 1;
    }
    return -1;
}

/* ------------------------------------------------------------------------ BLAKE2b */
/* RFC 7693, unkeyed, 10-byte digest: hashlib.blake2b(frame, digest_size=10).digest()
 * (the tests compare the two on every capture and on arbitrary bytes). */
static const uint64_t b2_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};
static const uint8_t b2_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t
rotr64(uint64_t x, int n)
{
    return (x >> n) | (x << (64 - n));
}

static inline uint64_t
load64_le(const unsigned char *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

#define B2_G(a, b, c, d, x, y)          \
    do {                                \
        v[a] = v[a] + v[b] + (x);       \
        v[d] = rotr64(v[d] ^ v[a], 32); \
        v[c] = v[c] + v[d];             \
        v[b] = rotr64(v[b] ^ v[c], 24); \
        v[a] = v[a] + v[b] + (y);       \
        v[d] = rotr64(v[d] ^ v[a], 16); \
        v[c] = v[c] + v[d];             \
        v[b] = rotr64(v[b] ^ v[c], 63); \
    } while (0)

static void
b2_compress(uint64_t h[8], const unsigned char *block, uint64_t t, int last)
{
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++) {
        m[i] = load64_le(block + 8 * i);
    }
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = b2_iv[i];
    }
    v[12] ^= t; /* the counter's high word stays 0: frames are far below 2**64 bytes */
    if (last) {
        v[14] = ~v[14];
    }
    for (int r = 0; r < 12; r++) {
        const uint8_t *s = b2_sigma[r];
        B2_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        B2_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        B2_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        B2_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        B2_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        B2_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        B2_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        B2_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) {
        h[i] ^= v[i] ^ v[i + 8];
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define B2_HAVE_AVX2 1

#define B2V_ROT32(x) _mm256_shuffle_epi32((x), _MM_SHUFFLE(2, 3, 0, 1))
#define B2V_ROT24(x) _mm256_shuffle_epi8((x), r24)
#define B2V_ROT16(x) _mm256_shuffle_epi8((x), r16)
#define B2V_ROT63(x) _mm256_or_si256(_mm256_srli_epi64((x), 63), _mm256_add_epi64((x), (x)))
#define B2V_G(a, b, c, d, x, y)                                       \
    do {                                                              \
        a = _mm256_add_epi64(_mm256_add_epi64(a, b), x);              \
        d = B2V_ROT32(_mm256_xor_si256(d, a));                        \
        c = _mm256_add_epi64(c, d);                                   \
        b = B2V_ROT24(_mm256_xor_si256(b, c));                        \
        a = _mm256_add_epi64(_mm256_add_epi64(a, b), y);              \
        d = B2V_ROT16(_mm256_xor_si256(d, a));                        \
        c = _mm256_add_epi64(c, d);                                   \
        b = B2V_ROT63(_mm256_xor_si256(b, c));                        \
    } while (0)

/* b2_compress with the four columns (then the four diagonals) of the state in the lanes
 * of four AVX2 registers: the same function, about half the instructions. */
__attribute__((target("avx2"))) static void
b2_compress_avx2(uint64_t h[8], const unsigned char *block, uint64_t t, int last)
{
    const __m256i r24 = _mm256_setr_epi8(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10,
                                         3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10);
    const __m256i r16 = _mm256_setr_epi8(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9,
                                         2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9);
    uint64_t m[16];
    for (int i = 0; i < 16; i++) {
        m[i] = load64_le(block + 8 * i);
    }
    __m256i a = _mm256_loadu_si256((const __m256i *)h);
    __m256i b = _mm256_loadu_si256((const __m256i *)(h + 4));
    __m256i c = _mm256_loadu_si256((const __m256i *)b2_iv);
    __m256i d = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b2_iv + 4)),
                                 _mm256_set_epi64x(0, last ? -1LL : 0, 0, (long long)t));
    const __m256i a0 = a, b0 = b;
    for (int r = 0; r < 12; r++) {
        const uint8_t *s = b2_sigma[r];
        __m256i x = _mm256_set_epi64x((long long)m[s[6]], (long long)m[s[4]], (long long)m[s[2]],
                                      (long long)m[s[0]]);
        __m256i y = _mm256_set_epi64x((long long)m[s[7]], (long long)m[s[5]], (long long)m[s[3]],
                                      (long long)m[s[1]]);
        B2V_G(a, b, c, d, x, y);
        b = _mm256_permute4x64_epi64(b, _MM_SHUFFLE(0, 3, 2, 1)); /* diagonals into lanes */
        c = _mm256_permute4x64_epi64(c, _MM_SHUFFLE(1, 0, 3, 2));
        d = _mm256_permute4x64_epi64(d, _MM_SHUFFLE(2, 1, 0, 3));
        x = _mm256_set_epi64x((long long)m[s[14]], (long long)m[s[12]], (long long)m[s[10]],
                              (long long)m[s[8]]);
        y = _mm256_set_epi64x((long long)m[s[15]], (long long)m[s[13]], (long long)m[s[11]],
                              (long long)m[s[9]]);
        B2V_G(a, b, c, d, x, y);
        b = _mm256_permute4x64_epi64(b, _MM_SHUFFLE(2, 1, 0, 3)); /* and back */
        c = _mm256_permute4x64_epi64(c, _MM_SHUFFLE(1, 0, 3, 2));
        d = _mm256_permute4x64_epi64(d, _MM_SHUFFLE(0, 3, 2, 1));
    }
    _mm256_storeu_si256((__m256i *)h, _mm256_xor_si256(a0, _mm256_xor_si256(a, c)));
    _mm256_storeu_si256((__m256i *)(h + 4), _mm256_xor_si256(b0, _mm256_xor_si256(b, d)));
}
#endif

typedef void (*b2_compress_fn)(uint64_t *, const unsigned char *, uint64_t, int);

/* The compression function this CPU runs best (decided once). */
static b2_compress_fn
b2_compressor(void)
{
    static b2_compress_fn chosen = NULL;
    if (chosen == NULL) {
        chosen = b2_compress;
#ifdef B2_HAVE_AVX2
        /* CENTRALITA_NO_AVX2 keeps the portable one (the tests compare both). */
        const char *off = getenv("CENTRALITA_NO_AVX2");
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && (off == NULL || off[0] == '\0')) {
            chosen = b2_compress_avx2;
        }
#endif
    }
    return chosen;
}

static void
blake2b_80(const unsigned char *data, size_t len, unsigned char out[10])
{
    b2_compress_fn compress = b2_compressor();
    uint64_t h[8];
    memcpy(h, b2_iv, sizeof h);
    h[0] ^= 0x01010000ULL ^ 10; /* fanout 1, depth 1, no key, 10-byte digest */
    uint64_t t = 0;
    while (len > 128) {
        t += 128;
        compress(h, data, t, 0);
        data += 128;
        len -= 128;
    }
    unsigned char block[128] = {0};
    if (len) {
        memcpy(block, data, len);
    }
    t += len;
    compress(h, block, t, 1);
    for (int i = 0; i < 10; i++) {
        out[i] = (unsigned char)(h[i / 8] >> (8 * (i % 8)));
    }
}

/* ------------------------------------------------------------------ event-log rows */

/* Byte range of one header value in a frame; start < 0 when the header is missing. */
typedef struct {
    Py_ssize_t start, end;
} range_t;

typedef struct {
    range_t name, ts, uid, lid, queue;
} frame_fields;

#define HAS_PREFIX(line, len, lit) \
    ((len) >= (Py_ssize_t)sizeof(lit) - 1 && memcmp((line), (lit), sizeof(lit) - 1) == 0)

/* One pass over the lines of a frame: what eventlog.header_value finds with
 * raw.find("\nKey: ") is the first line, other than the first one, that starts with
 * "Key: " (a value never holds a newline). */
static void
scan_fields(const char *data, Py_ssize_t size, frame_fields *f)
{
    f->name.start = f->ts.start = f->uid.start = f->lid.start = f->queue.start = -1;
    Py_ssize_t pos = 0;
    for (;;) {
        const char *nl = memchr(data + pos, '\n', (size_t)(size - pos));
        Py_ssize_t eol = nl == NULL ? size : (Py_ssize_t)(nl - data);
        const char *line = data + pos;
        Py_ssize_t len = eol - pos;
        range_t *hit = NULL;
        Py_ssize_t skip = 0;
        if (pos == 0) {
            if (HAS_PREFIX(line, len, "Event: ")) {
                hit = &f->name, skip = 7;
            }
        }
        else if (len > 0) {
            switch (line[0]) {
            case 'T':
                if (HAS_PREFIX(line, len, "Timestamp: ")) {
                    hit = &f->ts, skip = 11;
                }
                break;
            case 'U':
                if (HAS_PREFIX(line, len, "Uniqueid: ")) {
                    hit = &f->uid, skip = 10;
                }
                break;
            case 'L':
                if (HAS_PREFIX(line, len, "Linkedid: ")) {
                    hit = &f->lid, skip = 10;
                }
                break;
            case 'Q':
                if (HAS_PREFIX(line, len, "Queue: ")) {
                    hit = &f->queue, skip = 7;
                }
                break;
            default:
                break;
            }
        }
        if (hit != NULL && hit->start < 0) {
            hit->start = pos + skip;
            hit->end = eol;
        }
        if (nl == NULL) {
            return;
        }
        pos = eol + 1;
    }
}

static const double pow10_exact[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* float(value) for plain "digits[.digits]" whose digits fit in 53 bits: the integer and
 * the power of ten are exact doubles, so their IEEE quotient is the correctly rounded
 * value, as float() gives. 0 when the text is not of that form. */
static int
fast_float(const char *p, Py_ssize_t len, double *out)
{
    uint64_t mantissa = 0;
    int digits = 0, frac = -1;
    for (Py_ssize_t i = 0; i < len; i++) {
        char c = p[i];
        if (c >= '0' && c <= '9') {
            if (++digits > 19) {
                return 0;
            }
            mantissa = mantissa * 10 + (uint64_t)(c - '0');
            if (frac >= 0) {
                frac++;
            }
        }
        else if (c == '.' && frac < 0 && digits > 0) {
            frac = 0;
        }
        else {
            return 0;
        }
    }
    if (digits == 0 || frac == 0 || mantissa > (1ULL << 53) || frac > 22) {
        return 0;
    }
    *out = frac > 0 ? (double)mantissa / pow10_exact[frac] : (double)mantissa;
    return 1;
}

/* The ms value of epoch seconds as the log keeps it, or -1 out of range (also NaN):
 * eventlog.parse_timestamp's range, then eventlog.timestamp_ms's. */
static long long
ms_of_seconds(double seconds)
{
    if (!(seconds >= 0.0 && seconds < MAX_TS_MS / 1000)) {
        return -1;
    }
    double ms = seconds * 1000.0 + 0.5;
    if (!(ms >= 0.0 && ms < MAX_TS_MS)) {
        return -1;
    }
    return (long long)ms;
}

/* eventlog.timestamp_ms of a Timestamp value's bytes (UTF-8, or Latin-1 when the frame
 * is not valid UTF-8): ms, or -1 when empty, unreadable or out of range; -2 on error. */
static long long
timestamp_ms_bytes(const char *value, Py_ssize_t len, int utf8)
{
    if (len <= 0) {
        return -1;
    }
    double seconds;
    if (!fast_float(value, len, &seconds)) {
        PyObject *text = utf8 ? PyUnicode_DecodeUTF8(value, len, NULL)
                              : PyUnicode_DecodeLatin1(value, len, NULL);
        if (text == NULL) {
            return -2;
        }
        PyObject *number = PyFloat_FromString(text); /* float(value), exactly */
        Py_DECREF(text);
        if (number == NULL) {
            if (PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                return -1;
            }
            return -2;
        }
        seconds = PyFloat_AS_DOUBLE(number);
        Py_DECREF(number);
    }
    return ms_of_seconds(seconds);
}

#endif /* AMI_ROWSCAN_H */
