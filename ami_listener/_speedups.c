/*
 * ami_listener._speedups: the per-event hot loops of ingestion, in C.
 *
 * Each function here has a pure-Python reference implementation with the same contract
 * (named below); the Python modules use this extension when it was built and fall back to
 * the reference otherwise. tests/ami_listener/test_speedups.py checks, with hypothesis,
 * that both give the same result for arbitrary input.
 *
 *   span_rows(pbx_id, span, received_ms)    ami_listener.eventlog._py_span_rows
 *   split_frames(buf, pos, ...)             ami_listener.protocol.AmiParser (frame loop)
 *   split_headers(text)                      ami_listener.protocol.py_fast_headers
 *   pick_headers(text, keys)                 ami_listener.protocol.py_pick_headers
 *   sqlite_params(rows)                      ami_listener.store.py_sqlite_params
 *   append_normalized(buf, data)             buf += data.replace(b"\r\n", b"\n")
 *
 * Everything is done with the CPython API's own string operations (find, decode, float
 * parsing), so the results are those of the Python code, character for character.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *split_sep; /* ": " */

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

static void
blake2b_80(const unsigned char *data, size_t len, unsigned char out[10])
{
    uint64_t h[8];
    memcpy(h, b2_iv, sizeof h);
    h[0] ^= 0x01010000ULL ^ 10; /* fanout 1, depth 1, no key, 10-byte digest */
    uint64_t t = 0;
    while (len > 128) {
        t += 128;
        b2_compress(h, data, t, 0);
        data += 128;
        len -= 128;
    }
    unsigned char block[128] = {0};
    if (len) {
        memcpy(block, data, len);
    }
    t += len;
    b2_compress(h, block, t, 1);
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

/* The text of a frame: UTF-8, or Latin-1 when it is not valid UTF-8 (decode_text). */
static PyObject *
decode_frame(const char *data, Py_ssize_t size, int *utf8)
{
    *utf8 = 1;
    PyObject *text = PyUnicode_DecodeUTF8(data, size, NULL);
    if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        *utf8 = 0;
        text = PyUnicode_DecodeLatin1(data, size, NULL);
    }
    return text;
}

/* The text of a value's bytes, as the same slice of the frame's decoded text. */
static PyObject *
value_text(PyObject *raw, int utf8, const char *data, range_t r)
{
    if (!utf8 || PyUnicode_IS_ASCII(raw)) { /* one character per byte */
        return PyUnicode_Substring(raw, r.start, r.end);
    }
    /* Valid UTF-8 cut at ASCII characters: the bytes decode to the same characters. */
    return PyUnicode_DecodeUTF8(data + r.start, r.end - r.start, NULL);
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

/* eventlog.timestamp_ms: the Timestamp in ms, or -1 when missing, unreadable or out of
 * range; -2 on error. */
static long long
timestamp_ms(PyObject *raw, int utf8, const char *data, range_t r)
{
    if (r.start < 0 || r.end == r.start) {
        return -1;
    }
    double seconds;
    if (!fast_float(data + r.start, r.end - r.start, &seconds)) {
        PyObject *value = value_text(raw, utf8, data, r);
        if (value == NULL) {
            return -2;
        }
        PyObject *number = PyFloat_FromString(value); /* float(value), exactly */
        Py_DECREF(value);
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
    if (!(seconds >= 0.0 && seconds < MAX_TS_MS / 1000)) { /* parse_timestamp; also NaN */
        return -1;
    }
    double ms = seconds * 1000.0 + 0.5;
    if (!(ms >= 0.0 && ms < MAX_TS_MS)) {
        return -1;
    }
    return (long long)ms;
}

/* A header's value, None when missing or empty (the "or None" of event_row). */
static PyObject *
value_or_none(PyObject *raw, int utf8, const char *data, range_t r)
{
    if (r.start < 0 || r.end == r.start) {
        Py_RETURN_NONE;
    }
    return value_text(raw, utf8, data, r);
}

/* event_name(raw)[:64] */
static PyObject *
event_name(PyObject *raw, int utf8, const char *data, range_t r)
{
    if (r.start < 0) {
        return PyUnicode_New(0, 0);
    }
    PyObject *name = value_text(raw, utf8, data, r);
    if (name == NULL || PyUnicode_GET_LENGTH(name) <= 64) {
        return name;
    }
    PyObject *cut = PyUnicode_Substring(name, 0, 64);
    Py_DECREF(name);
    return cut;
}

/* log_key(frame, ts_ms): 6 bytes of ts_ms (0 when unknown) + BLAKE2b-80 of the frame. */
static PyObject *
log_key(const char *data, Py_ssize_t size, long long ts_ms)
{
    PyObject *key = PyBytes_FromStringAndSize(NULL, 16);
    if (key == NULL) {
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(key);
    unsigned long long prefix = ts_ms < 0 ? 0 : (unsigned long long)ts_ms;
    for (int i = 5; i >= 0; i--) {
        out[i] = (unsigned char)(prefix & 0xff);
        prefix >>= 8;
    }
    blake2b_80((const unsigned char *)data, (size_t)size, out + 6);
    return key;
}

static PyObject *
event_row(PyObject *pbx_id, const char *data, Py_ssize_t size, PyObject *received_ms)
{
    frame_fields f;
    int utf8;
    scan_fields(data, size, &f);
    PyObject *raw = decode_frame(data, size, &utf8);
    if (raw == NULL) {
        return NULL;
    }
    long long ts = timestamp_ms(raw, utf8, data, f.ts);
    PyObject *row = ts == -2 ? NULL : PyTuple_New(9);
    if (row == NULL) {
        Py_DECREF(raw);
        return NULL;
    }
    /* On a failure the tuple's dealloc releases what was set (it skips NULL slots). */
    PyTuple_SET_ITEM(row, 8, raw); /* steals */
    PyTuple_SET_ITEM(row, 0, Py_NewRef(pbx_id));
    PyTuple_SET_ITEM(row, 4, Py_NewRef(received_ms));
    PyObject *item;
    if ((item = log_key(data, size, ts)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 1, item);
    if ((item = event_name(raw, utf8, data, f.name)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 2, item);
    if ((item = ts < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(ts)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 3, item);
    if ((item = value_or_none(raw, utf8, data, f.uid)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 5, item);
    if ((item = value_or_none(raw, utf8, data, f.lid)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 6, item);
    if ((item = value_or_none(raw, utf8, data, f.queue)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 7, item);
    return row;
fail:
    Py_DECREF(row);
    return NULL;
}

static PyObject *
span_rows(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "span_rows(pbx_id, span, received_ms)");
        return NULL;
    }
    PyObject *pbx_id = args[0], *span = args[1], *received_ms = args[2];
    if (!PyUnicode_Check(pbx_id) || !PyBytes_Check(span) || !PyLong_Check(received_ms)) {
        PyErr_SetString(PyExc_TypeError, "span_rows(pbx_id: str, span: bytes, received_ms: int)");
        return NULL;
    }
    PyObject *rows = PyList_New(0);
    if (rows == NULL) {
        return NULL;
    }
    const char *data = PyBytes_AS_STRING(span);
    Py_ssize_t size = PyBytes_GET_SIZE(span);
    if (size == 0) {
        return rows;
    }
    Py_ssize_t pos = 0;
    for (;;) {
        Py_ssize_t end = find_blank(data, pos, size);
        Py_ssize_t stop = end < 0 ? size : end;
        PyObject *row = event_row(pbx_id, data + pos, stop - pos, received_ms);
        if (row == NULL || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(rows);
            return NULL;
        }
        Py_DECREF(row);
        if (end < 0) {
            break;
        }
        pos = end + 2;
    }
    return rows;
}

/*
 * sqlite_params(rows) -> tuple
 *
 * The parameters of a multi-row INSERT of log rows for Python's sqlite3 module, flat, in
 * the types it binds without looking for an adapter (a registry lookup and two attribute
 * lookups per bytes or None value): the digest as a bytearray, a missing ts_ms as -1 and
 * a missing uniqueid, linkedid or queue as "" (the statement turns both back into NULL
 * with NULLIF; the row builder never produces those values).
 */
static PyObject *
sqlite_params(PyObject *Py_UNUSED(module), PyObject *rows)
{
    if (!PyList_Check(rows)) {
        PyErr_SetString(PyExc_TypeError, "sqlite_params(rows: list[EventRow])");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(rows);
    PyObject *out = PyTuple_New(n * 9);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 9) {
            PyErr_SetString(PyExc_TypeError, "an event row is a tuple of 9 values");
            Py_DECREF(out);
            return NULL;
        }
        for (int j = 0; j < 9; j++) {
            PyObject *value = PyTuple_GET_ITEM(row, j);
            PyObject *param;
            if (j == 1 && PyBytes_Check(value)) {
                param = PyByteArray_FromStringAndSize(PyBytes_AS_STRING(value),
                                                      PyBytes_GET_SIZE(value));
                if (param == NULL) {
                    Py_DECREF(out);
                    return NULL;
                }
            }
            else if (value == Py_None && j == 3) {
                param = PyLong_FromLong(-1);
            }
            else if (value == Py_None && j >= 5 && j <= 7) {
                param = PyUnicode_New(0, 0);
            }
            else {
                param = Py_NewRef(value);
            }
            PyTuple_SET_ITEM(out, i * 9 + j, param);
        }
    }
    return out;
}

/* ---------------------------------------------------------------- framing (reader) */

/*
 * append_normalized(buf, data) -> None
 *
 * buf += data.replace(b"\r\n", b"\n"), in one pass and without the intermediate bytes.
 */
static PyObject *
append_normalized(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyByteArray_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "append_normalized(buf: bytearray, data: bytes)");
        return NULL;
    }
    PyObject *buf = args[0];
    const char *src = PyBytes_AS_STRING(args[1]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[1]);
    Py_ssize_t start = PyByteArray_GET_SIZE(buf);
    if (PyByteArray_Resize(buf, start + size) < 0) {
        return NULL;
    }
    char *out = PyByteArray_AS_STRING(buf) + start;
    Py_ssize_t pos = 0, written = 0;
    while (pos < size) {
        const char *cr = memchr(src + pos, '\r', (size_t)(size - pos));
        Py_ssize_t end = cr == NULL ? size : (Py_ssize_t)(cr - src);
        memcpy(out + written, src + pos, (size_t)(end - pos));
        written += end - pos;
        if (cr == NULL) {
            break;
        }
        if (end + 1 < size && src[end + 1] == '\n') {
            out[written++] = '\n';
            pos = end + 2;
        }
        else {
            out[written++] = '\r';
            pos = end + 1;
        }
    }
    if (PyByteArray_Resize(buf, start + written) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Is this event frame worth decoding (events.EventNameFilter.__call__)? 1/0, -1 error. */
static int
worth_decoding(const char *data, Py_ssize_t size, PyObject *names, PyObject *variables)
{
    if (size < 7 || memcmp(data, "Event: ", 7) != 0) {
        return 1;
    }
    const char *eol = memchr(data + 7, '\n', (size_t)(size - 7));
    Py_ssize_t name_end = eol == NULL ? size : (Py_ssize_t)(eol - data);
    PyObject *name = PyBytes_FromStringAndSize(data + 7, name_end - 7);
    if (name == NULL) {
        return -1;
    }
    int known = PySet_Contains(names, name);
    if (known != 1) {
        Py_DECREF(name);
        return known;
    }
    int varset = PyBytes_GET_SIZE(name) == 6 && memcmp(data + 7, "VarSet", 6) == 0;
    Py_DECREF(name);
    if (!varset) {
        return 1;
    }
    const char *mark = memmem(data, (size_t)size, "\nVariable: ", 11);
    if (mark == NULL) {
        return 0;
    }
    const char *start = mark + 11;
    const char *end = memchr(start, '\n', (size_t)(data + size - start));
    if (end == NULL) {
        end = data + size;
    }
    PyObject *variable = PyBytes_FromStringAndSize(start, end - start);
    if (variable == NULL) {
        return -1;
    }
    int tracked = PySet_Contains(variables, variable);
    Py_DECREF(variable);
    return tracked;
}

/*
 * split_frames(buf, pos, names, variables, parse, offset) -> (items, pos, stop)
 *
 * The frame loop of AmiParser.feed: from ``pos`` in ``buf`` (bytes-like, line ends
 * already normalised to \n), every complete frame (without its blank line), skipping stray
 * blank lines between frames. An event frame that ``names``/``variables`` say nobody reads
 * is yielded as its bytes; any other frame as ``parse(frame, offset + start)``. ``names``
 * None parses every frame. Stops after the last complete frame (stop=0), or before a
 * ``Response: Follows`` frame (stop=1), which the caller frames itself.
 */
static PyObject *
split_frames(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "split_frames(buf, pos, names, variables, parse, offset)");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    PyObject *names = args[2] == Py_None ? NULL : args[2];
    PyObject *variables = args[3];
    PyObject *parse = args[4];
    Py_ssize_t offset = PyLong_AsSsize_t(args[5]);
    PyObject *items = NULL;
    int stop = 0;
    if ((pos == -1 || offset == -1) && PyErr_Occurred()) {
        goto fail;
    }
    if (pos < 0) {
        pos = 0;
    }
    if (names != NULL && (!PyAnySet_Check(names) || !PyAnySet_Check(variables))) {
        PyErr_SetString(PyExc_TypeError, "names and variables must be sets");
        goto fail;
    }
    items = PyList_New(0);
    if (items == NULL) {
        goto fail;
    }
    const char *data = view.buf;
    Py_ssize_t size = view.len;
    while (pos < size) {
        if (data[pos] == '\n') {
            pos++;
            continue;
        }
        if (size - pos >= 17 && memcmp(data + pos, "Response: Follows", 17) == 0) {
            stop = 1;
            break;
        }
        Py_ssize_t end = find_blank(data, pos, size);
        if (end < 0) {
            break;
        }
        int worth = names == NULL ? 1 : worth_decoding(data + pos, end - pos, names, variables);
        if (worth < 0) {
            goto fail;
        }
        PyObject *item = PyBytes_FromStringAndSize(data + pos, end - pos);
        if (item == NULL) {
            goto fail;
        }
        if (worth) {
            PyObject *at = PyLong_FromSsize_t(offset + pos);
            if (at == NULL) {
                Py_DECREF(item);
                goto fail;
            }
            PyObject *call_args[2] = {item, at};
            PyObject *parsed = PyObject_Vectorcall(parse, call_args, 2, NULL);
            Py_DECREF(at);
            Py_DECREF(item);
            if (parsed == NULL) {
                goto fail;
            }
            item = parsed;
        }
        int rc = PyList_Append(items, item);
        Py_DECREF(item);
        if (rc < 0) {
            goto fail;
        }
        pos = end + 2;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(Nni)", items, pos, stop);
fail:
    Py_XDECREF(items);
    PyBuffer_Release(&view);
    return NULL;
}

/* A str from ASCII bytes (one byte per character: no decoding to do). */
static PyObject *
ascii_str(const char *data, Py_ssize_t size)
{
    PyObject *text = PyUnicode_New(size, 127);
    if (text != NULL && size) {
        memcpy(PyUnicode_1BYTE_DATA(text), data, (size_t)size);
    }
    return text;
}

/* split_headers on ASCII text, scanned as bytes. */
static PyObject *
split_ascii_headers(const char *data, Py_ssize_t size)
{
    PyObject *headers = PyDict_New();
    if (headers == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0, lines = 0;
    for (;;) {
        const char *nl = memchr(data + pos, '\n', (size_t)(size - pos));
        Py_ssize_t eol = nl == NULL ? size : (Py_ssize_t)(nl - data);
        lines++;
        Py_ssize_t sep = -1;
        for (Py_ssize_t at = pos; at + 1 < eol;) {
            const char *colon = memchr(data + at, ':', (size_t)(eol - 1 - at));
            if (colon == NULL) {
                break;
            }
            at = (Py_ssize_t)(colon - data);
            if (data[at + 1] == ' ') {
                sep = at;
                break;
            }
            at++;
        }
        if (sep < 0) {
            Py_DECREF(headers);
            Py_RETURN_NONE;
        }
        PyObject *key = ascii_str(data + pos, sep - pos);
        PyObject *value = key == NULL ? NULL : ascii_str(data + sep + 2, eol - sep - 2);
        int rc = value == NULL ? -1 : PyDict_SetItem(headers, key, value);
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc < 0) {
            Py_DECREF(headers);
            return NULL;
        }
        if (nl == NULL) {
            break;
        }
        pos = eol + 1;
    }
    if (PyDict_GET_SIZE(headers) != lines) {
        Py_DECREF(headers);
        Py_RETURN_NONE;
    }
    return headers;
}

/*
 * split_headers(text) -> dict | None
 *
 * The fast path of protocol._split_headers: every line is "Key: value" (split at the
 * first ": ") and no key repeats. None otherwise (the caller takes the slow path).
 */
static PyObject *
split_headers(PyObject *Py_UNUSED(module), PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "split_headers(text: str)");
        return NULL;
    }
    if (PyUnicode_IS_ASCII(text)) {
        return split_ascii_headers((const char *)PyUnicode_1BYTE_DATA(text),
                                   PyUnicode_GET_LENGTH(text));
    }
    Py_ssize_t size = PyUnicode_GET_LENGTH(text);
    PyObject *headers = PyDict_New();
    if (headers == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    Py_ssize_t lines = 0;
    for (;;) {
        Py_ssize_t eol = PyUnicode_FindChar(text, '\n', pos, size, 1);
        if (eol == -2) {
            goto fail;
        }
        if (eol < 0) {
            eol = size;
        }
        lines++;
        Py_ssize_t sep = PyUnicode_Find(text, split_sep, pos, eol, 1);
        if (sep == -2) {
            goto fail;
        }
        if (sep < 0) {
            Py_DECREF(headers);
            Py_RETURN_NONE;
        }
        PyObject *key = PyUnicode_Substring(text, pos, sep);
        if (key == NULL) {
            goto fail;
        }
        PyObject *value = PyUnicode_Substring(text, sep + 2, eol);
        if (value == NULL) {
            Py_DECREF(key);
            goto fail;
        }
        int rc = PyDict_SetItem(headers, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0) {
            goto fail;
        }
        if (eol >= size) {
            break;
        }
        pos = eol + 1;
    }
    if (PyDict_GET_SIZE(headers) != lines) {
        Py_DECREF(headers);
        Py_RETURN_NONE;
    }
    return headers;
fail:
    Py_DECREF(headers);
    return NULL;
}

/*
 * pick_headers(text, keys) -> dict | None
 *
 * The first value of each of ``keys`` (a tuple of str) present in the message, without
 * splitting the others: what {k: headers[k] for k in keys if k in headers} gives, for
 * messages of plain "Key: value" lines. None (the caller splits the whole message) when
 * a line is not plain: empty, without ": ", starting with ": " or ending with a carriage
 * return (the cases where protocol._split_slow reads lines its own way), or when the
 * text cannot be UTF-8 (lone surrogates).
 */
static PyObject *
pick_headers(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "pick_headers(text: str, keys: tuple[str, ...])");
        return NULL;
    }
    PyObject *text = args[0], *keys = args[1];
    int ascii = PyUnicode_IS_ASCII(text);
    const char *data;
    Py_ssize_t size;
    if (ascii) {
        data = (const char *)PyUnicode_1BYTE_DATA(text);
        size = PyUnicode_GET_LENGTH(text);
    }
    else {
        /* Scanned as UTF-8 (cached in the str): the markers are ASCII, so lines and
         * separators fall where they do in the text. */
        data = PyUnicode_AsUTF8AndSize(text, &size);
        if (data == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
                return NULL;
            }
            PyErr_Clear(); /* lone surrogates: not from a decoded frame */
            Py_RETURN_NONE;
        }
    }
    Py_ssize_t nkeys = PyTuple_GET_SIZE(keys);
    for (Py_ssize_t k = 0; k < nkeys; k++) {
        PyObject *key = PyTuple_GET_ITEM(keys, k);
        if (!PyUnicode_Check(key) || !PyUnicode_IS_ASCII(key)) {
            Py_RETURN_NONE; /* never with the event field names */
        }
    }
    PyObject *picked = PyDict_New();
    if (picked == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    for (;;) {
        const char *nl = memchr(data + pos, '\n', (size_t)(size - pos));
        Py_ssize_t eol = nl == NULL ? size : (Py_ssize_t)(nl - data);
        if (eol == pos || data[eol - 1] == '\r') {
            goto not_plain;
        }
        Py_ssize_t sep = -1;
        for (Py_ssize_t at = pos; at + 1 < eol;) {
            const char *colon = memchr(data + at, ':', (size_t)(eol - 1 - at));
            if (colon == NULL) {
                break;
            }
            at = (Py_ssize_t)(colon - data);
            if (data[at + 1] == ' ') {
                sep = at;
                break;
            }
            at++;
        }
        if (sep <= pos) {
            goto not_plain;
        }
        Py_ssize_t klen = sep - pos;
        for (Py_ssize_t k = 0; k < nkeys; k++) {
            PyObject *key = PyTuple_GET_ITEM(keys, k);
            if (PyUnicode_GET_LENGTH(key) == klen &&
                memcmp(PyUnicode_1BYTE_DATA(key), data + pos, (size_t)klen) == 0) {
                int known = PyDict_Contains(picked, key);
                if (known < 0) {
                    goto fail;
                }
                if (!known) {
                    PyObject *value =
                        ascii ? ascii_str(data + sep + 2, eol - sep - 2)
                              : PyUnicode_DecodeUTF8(data + sep + 2, eol - sep - 2, NULL);
                    int rc = value == NULL ? -1 : PyDict_SetItem(picked, key, value);
                    Py_XDECREF(value);
                    if (rc < 0) {
                        goto fail;
                    }
                }
                break;
            }
        }
        if (nl == NULL) {
            break;
        }
        pos = eol + 1;
    }
    return picked;
not_plain:
    Py_DECREF(picked);
    Py_RETURN_NONE;
fail:
    Py_DECREF(picked);
    return NULL;
}

static PyMethodDef methods[] = {
    {"append_normalized", (PyCFunction)(void (*)(void))append_normalized, METH_FASTCALL,
     "buf += data.replace(b'\\r\\n', b'\\n'), in one pass."},
    {"sqlite_params", (PyCFunction)sqlite_params, METH_O,
     "Flat sqlite3 parameters of log rows (bytearray digest, -1 and '' for NULL)."},
    {"pick_headers", (PyCFunction)(void (*)(void))pick_headers, METH_FASTCALL,
     "First values of some headers of a plain ASCII message, else None."},
    {"span_rows", (PyCFunction)(void (*)(void))span_rows, METH_FASTCALL,
     "Event-log rows of a span of frames (see ami_listener.eventlog)."},
    {"split_frames", (PyCFunction)(void (*)(void))split_frames, METH_FASTCALL,
     "Complete frames of a normalised buffer (see ami_listener.protocol)."},
    {"split_headers", (PyCFunction)split_headers, METH_O,
     "Headers of a message whose lines are all 'Key: value' and unique, else None."},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *Py_UNUSED(module))
{
    if (split_sep == NULL && (split_sep = PyUnicode_FromString(": ")) == NULL) {
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ami_listener._speedups",
    .m_doc = "C versions of the ingest hot loops (pure-Python references in the package).",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module);
}
