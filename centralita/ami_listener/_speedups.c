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
#include <structmember.h>
#include <stdint.h>
#include <string.h>

static PyObject *split_sep; /* ": " */

#include "_rowscan.h"

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

/* eventlog.timestamp_ms: the Timestamp in ms, or -1 when missing, unreadable or out of
 * range; -2 on error. */
static long long
timestamp_ms(const char *data, int utf8, range_t r)
{
    return r.start < 0 ? -1 : timestamp_ms_bytes(data + r.start, r.end - r.start, utf8);
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
    long long ts = timestamp_ms(data, utf8, f.ts);
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

/* ------------------------------------------------- AmiMessage, built without __init__ */

/* protocol.AmiMessage's slots, in the order of msg_offsets. */
static const char *msg_slots[] = {"_digest", "_headers", "_lists", "_order",
                                  "body",    "frame",    "name",   "raw"};
enum { S_DIGEST, S_HEADERS, S_LISTS, S_ORDER, S_BODY, S_FRAME, S_NAME, S_RAW, N_SLOTS };
static PyTypeObject *msg_type; /* NULL: messages come from the ``parse`` callable */
static Py_ssize_t msg_offsets[N_SLOTS];
static PyObject *empty_bytes, *empty_str;

/*
 * set_message_type(cls) -> None
 *
 * Let split_frames build protocol.AmiMessage objects itself, for what parse_frame does
 * with an ordinary message (AmiMessage(None, None, raw=text, frame=frame)): the slots are
 * written through their descriptors' offsets. Refused (TypeError) if a slot is missing.
 */
static PyObject *
set_message_type(PyObject *Py_UNUSED(module), PyObject *cls)
{
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "set_message_type(cls: type)");
        return NULL;
    }
    PyObject *declared = PyObject_GetAttrString(cls, "__slots__");
    Py_ssize_t count = declared == NULL ? -1 : PyObject_Length(declared);
    Py_XDECREF(declared);
    if (count < 0) {
        return NULL;
    }
    if (count != N_SLOTS) { /* a slot added to the class would be left unset here */
        PyErr_Format(PyExc_TypeError, "expected %d slots, the class has %zd", N_SLOTS, count);
        return NULL;
    }
    Py_ssize_t offsets[N_SLOTS];
    for (int i = 0; i < N_SLOTS; i++) {
        PyObject *descr = PyObject_GetAttrString(cls, msg_slots[i]);
        if (descr == NULL) {
            return NULL;
        }
        int ok = PyObject_TypeCheck(descr, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (ok) {
            offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        }
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%s is not a slot", msg_slots[i]);
            return NULL;
        }
    }
    if (empty_bytes == NULL && (empty_bytes = PyBytes_FromStringAndSize(NULL, 0)) == NULL) {
        return NULL;
    }
    if (empty_str == NULL && (empty_str = PyUnicode_New(0, 0)) == NULL) {
        return NULL;
    }
    memcpy(msg_offsets, offsets, sizeof offsets);
    Py_XSETREF(msg_type, (PyTypeObject *)Py_NewRef(cls));
    Py_RETURN_NONE;
}

/* parse_frame(frame) for a frame that starts with a message kind (and is not a Follows
 * response, which split_frames never hands over): the AmiMessage; NULL without an error
 * when the frame has no kind (not a message). */
static PyObject *
new_message(PyObject *frame, const char *data, Py_ssize_t size)
{
    int event = size >= 7 && memcmp(data, "Event: ", 7) == 0;
    if (!event && !(size >= 10 && memcmp(data, "Response: ", 10) == 0) &&
        !(size >= 8 && memcmp(data, "Action: ", 8) == 0)) {
        return NULL;
    }
    int utf8;
    PyObject *raw = decode_frame(data, size, &utf8);
    if (raw == NULL) {
        return NULL;
    }
    PyObject *name;
    if (event) {
        const char *eol = memchr(data + 7, '\n', (size_t)(size - 7));
        range_t r = {7, eol == NULL ? size : (Py_ssize_t)(eol - data)};
        name = value_text(raw, utf8, data, r);
    }
    else {
        name = Py_NewRef(empty_str);
    }
    PyObject *msg = name == NULL ? NULL : msg_type->tp_alloc(msg_type, 0);
    if (msg == NULL) {
        Py_DECREF(raw);
        Py_XDECREF(name);
        return NULL;
    }
    char *base = (char *)msg;
#define SLOT(i) (*(PyObject **)(base + msg_offsets[i]))
    SLOT(S_DIGEST) = Py_NewRef(empty_bytes);
    SLOT(S_HEADERS) = Py_NewRef(Py_None);
    SLOT(S_LISTS) = Py_NewRef(Py_None);
    SLOT(S_ORDER) = Py_NewRef(Py_None);
    SLOT(S_BODY) = Py_NewRef(empty_str);
    SLOT(S_FRAME) = Py_NewRef(frame);
    SLOT(S_NAME) = name;
    SLOT(S_RAW) = raw;
#undef SLOT
    return msg;
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
        if (worth && msg_type != NULL) {
            /* parse_frame's common case, built here: NULL with no error = not a message
             * (parse_frame then makes the MalformedFrame). */
            PyObject *msg = new_message(item, data + pos, end - pos);
            if (msg == NULL && PyErr_Occurred()) {
                Py_DECREF(item);
                goto fail;
            }
            if (msg != NULL) {
                Py_DECREF(item);
                item = msg;
                worth = 0;
            }
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

/* The first ": " in [pos, eol) (line.find(": ") of a header line), or -1. */
static Py_ssize_t
find_separator(const char *data, Py_ssize_t pos, Py_ssize_t eol)
{
    for (Py_ssize_t at = pos; at + 1 < eol;) {
        const char *colon = memchr(data + at, ':', (size_t)(eol - 1 - at));
        if (colon == NULL) {
            return -1;
        }
        at = (Py_ssize_t)(colon - data);
        if (data[at + 1] == ' ') {
            return at;
        }
        at++;
    }
    return -1;
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
        Py_ssize_t sep = find_separator(data, pos, eol);
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
        Py_ssize_t sep = find_separator(data, pos, eol);
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
    {"set_message_type", (PyCFunction)set_message_type, METH_O,
     "Let split_frames build protocol.AmiMessage objects itself."},
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
    .m_name = "centralita.ami_listener._speedups",
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
