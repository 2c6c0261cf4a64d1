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
 *   split_headers(text)                      ami_listener.protocol._py_split_headers
 *
 * Everything is done with the CPython API's own string operations (find, decode, float
 * parsing), so the results are those of the Python code, character for character.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *blake2b_ctor;     /* hashlib.blake2b */
static PyObject *digest_kwnames;   /* ("digest_size",) */
static PyObject *digest_size_10;   /* 10 */
static PyObject *str_digest;       /* "digest" */
static PyObject *mark_ts, *mark_uid, *mark_lid, *mark_queue, *event_prefix;
static PyObject *split_sep;        /* ": " */

#define MAX_TS_MS 281474976710656.0 /* 2**48: the 6-byte prefix of the log key */

/* The text of a frame: UTF-8, or Latin-1 when it is not valid UTF-8 (decode_text). */
static PyObject *
decode_frame(const char *data, Py_ssize_t size)
{
    PyObject *text = PyUnicode_DecodeUTF8(data, size, NULL);
    if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        text = PyUnicode_DecodeLatin1(data, size, NULL);
    }
    return text;
}

/* header_value(raw, marker) or None when missing; *found = 0/1; NULL on error. */
static PyObject *
header_value(PyObject *raw, PyObject *marker, int *found)
{
    Py_ssize_t size = PyUnicode_GET_LENGTH(raw);
    Py_ssize_t start = PyUnicode_Find(raw, marker, 0, size, 1);
    if (start == -2) {
        return NULL;
    }
    if (start < 0) {
        *found = 0;
        Py_RETURN_NONE;
    }
    *found = 1;
    start += PyUnicode_GET_LENGTH(marker);
    Py_ssize_t end = PyUnicode_FindChar(raw, '\n', start, size, 1);
    if (end == -2) {
        return NULL;
    }
    return PyUnicode_Substring(raw, start, end < 0 ? size : end);
}

/* header_value(...) or None, empty values as None (the "or None" of event_row). */
static PyObject *
header_or_none(PyObject *raw, PyObject *marker)
{
    int found;
    PyObject *value = header_value(raw, marker, &found);
    if (value == NULL || !found) {
        return value;
    }
    if (PyUnicode_GET_LENGTH(value) == 0) {
        Py_DECREF(value);
        Py_RETURN_NONE;
    }
    return value;
}

/* The Timestamp header in ms (eventlog.timestamp_ms), or -1 when missing, unreadable or
 * out of range; -2 on error. */
static long long
timestamp_ms(PyObject *raw)
{
    int found;
    PyObject *value = header_value(raw, mark_ts, &found);
    if (value == NULL) {
        return -2;
    }
    if (!found || PyUnicode_GET_LENGTH(value) == 0) {
        Py_DECREF(value);
        return -1;
    }
    PyObject *number = PyFloat_FromString(value);
    Py_DECREF(value);
    if (number == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            return -1;
        }
        return -2;
    }
    double seconds = PyFloat_AS_DOUBLE(number);
    Py_DECREF(number);
    if (!(seconds >= 0.0 && seconds < MAX_TS_MS / 1000)) { /* parse_timestamp; also NaN */
        return -1;
    }
    double ms = seconds * 1000.0 + 0.5;
    if (!(ms >= 0.0 && ms < MAX_TS_MS)) {
        return -1;
    }
    return (long long)ms;
}

/* event_name(raw)[:64] */
static PyObject *
event_name(PyObject *raw)
{
    Py_ssize_t size = PyUnicode_GET_LENGTH(raw);
    int starts = (int)PyUnicode_Tailmatch(raw, event_prefix, 0, size, -1);
    if (starts < 0) {
        return NULL;
    }
    if (!starts) {
        return PyUnicode_New(0, 0);
    }
    Py_ssize_t end = PyUnicode_FindChar(raw, '\n', 7, size, 1);
    if (end == -2) {
        return NULL;
    }
    if (end < 0) {
        end = size;
    }
    if (end - 7 > 64) {
        end = 7 + 64;
    }
    return PyUnicode_Substring(raw, 7, end);
}

/* log_key(frame, ts_ms): 6 bytes of ts_ms (0 when unknown) + BLAKE2b-80 of the frame. */
static PyObject *
log_key(PyObject *frame, long long ts_ms)
{
    PyObject *args[3] = {NULL, frame, digest_size_10};
    PyObject *hash = PyObject_Vectorcall(
        blake2b_ctor, args + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, digest_kwnames);
    if (hash == NULL) {
        return NULL;
    }
    PyObject *digest = PyObject_CallMethodNoArgs(hash, str_digest);
    Py_DECREF(hash);
    if (digest == NULL) {
        return NULL;
    }
    if (!PyBytes_Check(digest) || PyBytes_GET_SIZE(digest) != 10) {
        Py_DECREF(digest);
        PyErr_SetString(PyExc_RuntimeError, "blake2b returned an unexpected digest");
        return NULL;
    }
    PyObject *key = PyBytes_FromStringAndSize(NULL, 16);
    if (key == NULL) {
        Py_DECREF(digest);
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(key);
    unsigned long long prefix = ts_ms < 0 ? 0 : (unsigned long long)ts_ms;
    for (int i = 5; i >= 0; i--) {
        out[i] = (unsigned char)(prefix & 0xff);
        prefix >>= 8;
    }
    memcpy(out + 6, PyBytes_AS_STRING(digest), 10);
    Py_DECREF(digest);
    return key;
}

static PyObject *
event_row(PyObject *pbx_id, const char *data, Py_ssize_t size, PyObject *received_ms)
{
    PyObject *frame = NULL, *raw = NULL, *row = NULL;
    frame = PyBytes_FromStringAndSize(data, size);
    if (frame == NULL) {
        goto fail;
    }
    raw = decode_frame(data, size);
    if (raw == NULL) {
        goto fail;
    }
    long long ts = timestamp_ms(raw);
    if (ts == -2) {
        goto fail;
    }
    row = PyTuple_New(9);
    if (row == NULL) {
        goto fail;
    }
    Py_INCREF(pbx_id);
    PyTuple_SET_ITEM(row, 0, pbx_id);
    PyObject *item = log_key(frame, ts);
    if (item == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 1, item);
    if ((item = event_name(raw)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 2, item);
    if (ts < 0) {
        item = Py_NewRef(Py_None);
    }
    else if ((item = PyLong_FromLongLong(ts)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 3, item);
    PyTuple_SET_ITEM(row, 4, Py_NewRef(received_ms));
    if ((item = header_or_none(raw, mark_uid)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 5, item);
    if ((item = header_or_none(raw, mark_lid)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 6, item);
    if ((item = header_or_none(raw, mark_queue)) == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(row, 7, item);
    PyTuple_SET_ITEM(row, 8, raw); /* steals */
    Py_DECREF(frame);
    return row;
fail:
    Py_XDECREF(frame);
    if (row == NULL) {
        Py_XDECREF(raw);
    }
    else if (PyTuple_GET_ITEM(row, 8) == NULL) {
        Py_XDECREF(raw);
    }
    Py_XDECREF(row);
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
        const char *hit = memmem(data + pos, (size_t)(size - pos), "\n\n", 2);
        Py_ssize_t end = hit == NULL ? size : (Py_ssize_t)(hit - data);
        PyObject *row = event_row(pbx_id, data + pos, end - pos, received_ms);
        if (row == NULL || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(rows);
            return NULL;
        }
        Py_DECREF(row);
        if (hit == NULL) {
            break;
        }
        pos = end + 2;
    }
    return rows;
}

/* ---------------------------------------------------------------- framing (reader) */

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
        const char *hit = memmem(data + pos, (size_t)(size - pos), "\n\n", 2);
        if (hit == NULL) {
            break;
        }
        Py_ssize_t end = (Py_ssize_t)(hit - data);
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

static PyMethodDef methods[] = {
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
    PyObject *hashlib = PyImport_ImportModule("hashlib");
    if (hashlib == NULL) {
        return -1;
    }
    blake2b_ctor = PyObject_GetAttrString(hashlib, "blake2b");
    Py_DECREF(hashlib);
    if (blake2b_ctor == NULL) {
        return -1;
    }
    digest_kwnames = Py_BuildValue("(s)", "digest_size");
    digest_size_10 = PyLong_FromLong(10);
    str_digest = PyUnicode_InternFromString("digest");
    mark_ts = PyUnicode_FromString("\nTimestamp: ");
    mark_uid = PyUnicode_FromString("\nUniqueid: ");
    mark_lid = PyUnicode_FromString("\nLinkedid: ");
    mark_queue = PyUnicode_FromString("\nQueue: ");
    event_prefix = PyUnicode_FromString("Event: ");
    split_sep = PyUnicode_FromString(": ");
    if (!digest_kwnames || !digest_size_10 || !str_digest || !mark_ts || !mark_uid ||
        !mark_lid || !mark_queue || !event_prefix || !split_sep) {
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
