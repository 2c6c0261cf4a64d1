/*
 * ami_listener._sqlitelog: event-log rows straight from frame bytes into SQLite.
 *
 * EventLogWriter(path, pbx_id) opens its own connection to the SQLite file (the same
 * libsqlite3 as Python's sqlite3 module) and write(spans) stores every frame of the
 * spans, in one transaction, as the rows ami_listener.eventlog.py_span_rows builds and
 * ami_listener.store.insert_events stores: same columns, same values, same log key,
 * INSERT OR IGNORE on (pbx_id, digest). Values are made storable as
 * ami_listener.storable.storable_events does: NUL becomes U+FFFD, the uniqueid, linkedid
 * and queue are cut to their columns' widths (the raw text never is). No Python object is
 * made per row and the insert loop runs without the GIL. tests/ami_listener/test_sqlitelog.py compares the stored
 * rows with the Python path's, for the captures and for arbitrary bytes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_rowscan.h"

#define INSERT_SQL                                                                         \
    "INSERT OR IGNORE INTO ami_events"                                                    \
    " (pbx_id, digest, event, ts_ms, received_ms, uniqueid, linkedid, queue, raw)"        \
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

static PyObject *LogError; /* _sqlitelog.Error, with .sqlite_errorcode as sqlite3's errors */

/* Raise _sqlitelog.Error(message) carrying SQLite's result code ``rc`` (what the store
 * tells an outage from a refused row by). */
static void
raise_sqlite(int rc, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    PyObject *message = PyUnicode_FromFormatV(format, args);
    va_end(args);
    if (message == NULL) {
        return;
    }
    PyObject *exc = PyObject_CallOneArg(LogError, message);
    Py_DECREF(message);
    if (exc == NULL) {
        return;
    }
    PyObject *code = PyLong_FromLong(rc);
    if (code == NULL || PyObject_SetAttrString(exc, "sqlite_errorcode", code) < 0) {
        Py_XDECREF(code);
        Py_DECREF(exc);
        return;
    }
    Py_DECREF(code);
    PyErr_SetObject(LogError, exc);
    Py_DECREF(exc);
}

/* One frame, ready to bind: text (the frame, or its storable UTF-8 conversion). */
typedef struct {
    const char *text;
    Py_ssize_t size;
    char *owned; /* malloc'd conversion, or NULL */
    frame_fields f;
    Py_ssize_t name_end; /* the event name cut at 64 characters */
    long long ts_ms;     /* -1: NULL */
    long long received_ms;
    unsigned char key[16];
} prepared_row;

/* Python's strict UTF-8 decoder accepts exactly these sequences (Unicode Table 3-7). */
static int
valid_utf8(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        if (i + 8 <= n) { /* ASCII, eight bytes at a time */
            uint64_t word;
            memcpy(&word, s + i, 8);
            if ((word & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        }
        else if (c == 0xE0) {
            len = 3, lo = 0xA0;
        }
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
            len = 3;
        }
        else if (c == 0xED) {
            len = 3, hi = 0x9F;
        }
        else if (c == 0xF0) {
            len = 4, lo = 0x90;
        }
        else if (c >= 0xF1 && c <= 0xF3) {
            len = 4;
        }
        else if (c == 0xF4) {
            len = 4, hi = 0x8F;
        }
        else {
            return 0;
        }
        if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) {
            return 0;
        }
        for (int k = 2; k < len; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) {
                return 0;
            }
        }
        i += len;
    }
    return 1;
}

/* The frame as storable UTF-8 text: Latin-1 bytes (``latin1``: not valid UTF-8) as
 * UTF-8, what decoding as Latin-1 then binding the str stores; NUL as U+FFFD. */
static char *
storable_utf8(const char *s, Py_ssize_t n, int latin1, Py_ssize_t *out_n)
{
    char *out = malloc((size_t)(3 * n + 1));
    if (out == NULL) {
        return NULL;
    }
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0) {
            out[w++] = (char)0xEF;
            out[w++] = (char)0xBF;
            out[w++] = (char)0xBD;
        }
        else if (c < 0x80 || !latin1) {
            out[w++] = (char)c;
        }
        else {
            out[w++] = (char)(0xC0 | (c >> 6));
            out[w++] = (char)(0x80 | (c & 0x3F));
        }
    }
    *out_n = w;
    return out;
}

/* The end of the first ``limit`` characters of UTF-8 text [start, end). */
static Py_ssize_t
cut_chars(const char *text, Py_ssize_t start, Py_ssize_t end, int limit)
{
    int chars = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80 && ++chars > limit) {
            return i;
        }
    }
    return end;
}

/* Cut a found header value to ``limit`` characters. */
static void
cut_range(const char *text, range_t *r, int limit)
{
    if (r->start >= 0) {
        r->end = cut_chars(text, r->start, r->end, limit);
    }
}

/* Fill one prepared row (GIL held: the Timestamp fallback may call float()). 0 or -1. */
static int
prepare_row(prepared_row *row, const char *data, Py_ssize_t size, long long received_ms,
            int uid_chars, int queue_chars)
{
    int utf8 = valid_utf8((const unsigned char *)data, size);
    row->owned = NULL;
    row->text = data;
    row->size = size;
    if (!utf8 || memchr(data, 0, (size_t)size) != NULL) {
        row->owned = storable_utf8(data, size, !utf8, &row->size);
        if (row->owned == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        row->text = row->owned;
    }
    scan_fields(row->text, row->size, &row->f);
    cut_range(row->text, &row->f.uid, uid_chars);
    cut_range(row->text, &row->f.lid, uid_chars);
    cut_range(row->text, &row->f.queue, queue_chars);
    row->ts_ms =
        row->f.ts.start < 0
            ? -1
            : timestamp_ms_bytes(row->text + row->f.ts.start, row->f.ts.end - row->f.ts.start, 1);
    if (row->ts_ms == -2) {
        free(row->owned);
        row->owned = NULL;
        return -1;
    }
    row->name_end =
        row->f.name.start < 0 ? -1 : cut_chars(row->text, row->f.name.start, row->f.name.end, 64);
    row->received_ms = received_ms;
    unsigned long long prefix = row->ts_ms < 0 ? 0 : (unsigned long long)row->ts_ms;
    for (int i = 5; i >= 0; i--) {
        row->key[i] = (unsigned char)(prefix & 0xff);
        prefix >>= 8;
    }
    blake2b_80((const unsigned char *)data, (size_t)size, row->key + 6);
    return 0;
}

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
    sqlite3_stmt *insert;
    char *pbx_id;
    Py_ssize_t pbx_len;
    int uid_chars;   /* width of the uniqueid and linkedid columns */
    int queue_chars; /* width of the queue column */
} EventLogWriter;

static void
writer_close_db(EventLogWriter *self)
{
    if (self->insert != NULL) {
        sqlite3_finalize(self->insert);
        self->insert = NULL;
    }
    if (self->db != NULL) {
        sqlite3_close_v2(self->db);
        self->db = NULL;
    }
}

static void
writer_dealloc(EventLogWriter *self)
{
    writer_close_db(self);
    PyMem_Free(self->pbx_id);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
exec_sql(sqlite3 *db, const char *sql)
{
    char *message = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &message);
    if (rc != SQLITE_OK) {
        raise_sqlite(rc, "%s: %s", sql, message ? message : sqlite3_errstr(rc));
    }
    sqlite3_free(message);
    return rc;
}

static int
writer_init(EventLogWriter *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"path",      "pbx_id",         "busy_timeout_ms",
                             "cache_kib", "uniqueid_chars", "queue_chars",
                             NULL};
    const char *path, *pbx_id;
    Py_ssize_t pbx_len;
    int busy_ms = 5000, cache_kib = 32768, uid_chars = 150, queue_chars = 80;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "ss#|iiii", kwlist, &path, &pbx_id, &pbx_len,
                                     &busy_ms, &cache_kib, &uid_chars, &queue_chars)) {
        return -1;
    }
    if (uid_chars < 1 || queue_chars < 1) {
        PyErr_SetString(PyExc_ValueError, "uniqueid_chars and queue_chars must be positive");
        return -1;
    }
    self->uid_chars = uid_chars;
    self->queue_chars = queue_chars;
    writer_close_db(self);
    PyMem_Free(self->pbx_id);
    self->pbx_id = PyMem_Malloc((size_t)pbx_len + 1);
    if (self->pbx_id == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(self->pbx_id, pbx_id, (size_t)pbx_len + 1);
    self->pbx_len = pbx_len;
    int rc = sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        raise_sqlite(rc, "cannot open %s: %s", path,
                     self->db ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc));
        writer_close_db(self);
        return -1;
    }
    sqlite3_busy_timeout(self->db, busy_ms);
    char pragmas[256];
    /* The store's pragmas (store._sqlite_pragmas, _writer_pragmas): WAL, NORMAL sync, a
     * writer's page cache, checkpoints left to the Checkpointer thread. */
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-%d;"
             " PRAGMA wal_autocheckpoint=0;",
             cache_kib);
    if (exec_sql(self->db, pragmas) != SQLITE_OK) {
        writer_close_db(self);
        return -1;
    }
    rc = sqlite3_prepare_v2(self->db, INSERT_SQL, -1, &self->insert, NULL);
    if (rc != SQLITE_OK) {
        raise_sqlite(rc, "cannot prepare the event-log insert: %s", sqlite3_errmsg(self->db));
        writer_close_db(self);
        return -1;
    }
    return 0;
}

static int
bind_text_or_null(sqlite3_stmt *st, int col, const char *text, range_t r)
{
    if (r.start < 0 || r.end == r.start) {
        return sqlite3_bind_null(st, col);
    }
    return sqlite3_bind_text(st, col, text + r.start, (int)(r.end - r.start), SQLITE_STATIC);
}

/* Insert the prepared rows in one transaction (no GIL). Returns SQLITE_OK or an error
 * code, with the message copied into ``error``. */
static int
insert_rows(EventLogWriter *self, prepared_row *rows, Py_ssize_t n, long long *changed,
            char *error, size_t error_size)
{
    sqlite3 *db = self->db;
    sqlite3_stmt *st = self->insert;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(error, error_size, "BEGIN: %s", sqlite3_errmsg(db));
        return rc;
    }
    long long before = sqlite3_total_changes64(db);
    for (Py_ssize_t i = 0; i < n && rc == SQLITE_OK; i++) {
        prepared_row *row = &rows[i];
        const char *t = row->text;
        rc = sqlite3_bind_text(st, 1, self->pbx_id, (int)self->pbx_len, SQLITE_STATIC);
        if (rc == SQLITE_OK) {
            rc = sqlite3_bind_blob(st, 2, row->key, 16, SQLITE_STATIC);
        }
        if (rc == SQLITE_OK) {
            rc = row->name_end < 0
                     ? sqlite3_bind_text(st, 3, "", 0, SQLITE_STATIC)
                     : sqlite3_bind_text(st, 3, t + row->f.name.start,
                                         (int)(row->name_end - row->f.name.start), SQLITE_STATIC);
        }
        if (rc == SQLITE_OK) {
            rc = row->ts_ms < 0 ? sqlite3_bind_null(st, 4) : sqlite3_bind_int64(st, 4, row->ts_ms);
        }
        if (rc == SQLITE_OK) {
            rc = sqlite3_bind_int64(st, 5, row->received_ms);
        }
        if (rc == SQLITE_OK) {
            rc = bind_text_or_null(st, 6, t, row->f.uid);
        }
        if (rc == SQLITE_OK) {
            rc = bind_text_or_null(st, 7, t, row->f.lid);
        }
        if (rc == SQLITE_OK) {
            rc = bind_text_or_null(st, 8, t, row->f.queue);
        }
        if (rc == SQLITE_OK) {
            rc = sqlite3_bind_text(st, 9, t, (int)row->size, SQLITE_STATIC);
        }
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        if (rc != SQLITE_OK) {
            snprintf(error, error_size, "INSERT: %s", sqlite3_errmsg(db));
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            snprintf(error, error_size, "COMMIT: %s", sqlite3_errmsg(db));
        }
    }
    if (rc != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    *changed = sqlite3_total_changes64(db) - before;
    return SQLITE_OK;
}

/*
 * write(spans) -> (frames, inserted)
 *
 * ``spans``: a list of (span, received_ms), each span being event frames joined by a
 * blank line (eventlog.join_frames). All their frames in one transaction; raises
 * _sqlitelog.Error (nothing stored) when the database refuses it.
 */
static PyObject *
writer_write(EventLogWriter *self, PyObject *spans)
{
    if (self->db == NULL) {
        PyErr_SetString(LogError, "the event-log writer is closed");
        return NULL;
    }
    if (!PyList_Check(spans)) {
        PyErr_SetString(PyExc_TypeError, "write(spans: list[tuple[bytes, int]])");
        return NULL;
    }
    /* Our own references to every span while the GIL is released (the rows point into
     * their bytes). */
    PyObject *hold = PyList_AsTuple(spans);
    if (hold == NULL) {
        return NULL;
    }
    Py_ssize_t nspans = PyTuple_GET_SIZE(hold);
    Py_ssize_t capacity = 0;
    for (Py_ssize_t i = 0; i < nspans; i++) {
        PyObject *item = PyTuple_GET_ITEM(hold, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 ||
            !PyBytes_Check(PyTuple_GET_ITEM(item, 0)) ||
            !PyLong_Check(PyTuple_GET_ITEM(item, 1))) {
            PyErr_SetString(PyExc_TypeError, "write(spans: list[tuple[bytes, int]])");
            Py_DECREF(hold);
            return NULL;
        }
        PyObject *span = PyTuple_GET_ITEM(item, 0);
        const char *data = PyBytes_AS_STRING(span);
        Py_ssize_t size = PyBytes_GET_SIZE(span);
        if (size) {
            capacity += 1;
            for (Py_ssize_t at = find_blank(data, 0, size); at >= 0;
                 at = find_blank(data, at + 2, size)) {
                capacity += 1;
            }
        }
    }
    prepared_row *rows = capacity ? calloc((size_t)capacity, sizeof(prepared_row)) : NULL;
    if (capacity && rows == NULL) {
        Py_DECREF(hold);
        return PyErr_NoMemory();
    }
    Py_ssize_t n = 0;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < nspans; i++) {
        PyObject *item = PyTuple_GET_ITEM(hold, i);
        PyObject *span = PyTuple_GET_ITEM(item, 0);
        long long received_ms = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 1));
        if (received_ms == -1 && PyErr_Occurred()) {
            goto done;
        }
        const char *data = PyBytes_AS_STRING(span);
        Py_ssize_t size = PyBytes_GET_SIZE(span);
        if (size == 0) {
            continue;
        }
        Py_ssize_t pos = 0;
        for (;;) {
            Py_ssize_t end = find_blank(data, pos, size);
            Py_ssize_t stop = end < 0 ? size : end;
            if (prepare_row(&rows[n], data + pos, stop - pos, received_ms, self->uid_chars,
                            self->queue_chars) < 0) {
                goto done;
            }
            n++;
            if (end < 0) {
                break;
            }
            pos = end + 2;
        }
    }
    char error[512] = "";
    long long changed = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = insert_rows(self, rows, n, &changed, error, sizeof error);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        raise_sqlite(rc, "%s (%s)", error, sqlite3_errstr(rc));
        goto done;
    }
    result = Py_BuildValue("(nL)", n, changed);
done:
    for (Py_ssize_t i = 0; i < n; i++) {
        free(rows[i].owned);
    }
    free(rows);
    Py_DECREF(hold);
    return result;
}

static PyObject *
writer_close(EventLogWriter *self, PyObject *Py_UNUSED(ignored))
{
    writer_close_db(self);
    Py_RETURN_NONE;
}

static PyMethodDef writer_methods[] = {
    {"write", (PyCFunction)writer_write, METH_O,
     "Store every frame of a list of (span, received_ms) in one transaction."},
    {"close", (PyCFunction)writer_close, METH_NOARGS, "Close the connection."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EventLogWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "centralita.ami_listener._sqlitelog.EventLogWriter",
    .tp_basicsize = sizeof(EventLogWriter),
    .tp_dealloc = (destructor)writer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Writes event-log rows from frame bytes into a SQLite file.",
    .tp_methods = writer_methods,
    .tp_init = (initproc)writer_init,
    .tp_new = PyType_GenericNew,
};

/*
 * same_library_as(path) -> bool
 *
 * True when the shared object at ``path`` (Python's _sqlite3 module) calls the very
 * SQLite this module calls. Two copies of SQLite in one process (a Python built with its
 * own, static SQLite) would each keep its own POSIX locks on the file, and closing one
 * copy's descriptor drops the other's locks: then this writer must not be used.
 */
static PyObject *
same_library_as(PyObject *Py_UNUSED(module), PyObject *path)
{
    const char *file = PyUnicode_AsUTF8(path);
    if (file == NULL) {
        return NULL;
    }
    void *handle = dlopen(file, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == NULL) {
        Py_RETURN_FALSE;
    }
    void *theirs = dlsym(handle, "sqlite3_open_v2");
    dlclose(handle);
    return PyBool_FromLong(theirs != NULL && theirs == (void *)&sqlite3_open_v2);
}

static PyMethodDef module_methods[] = {
    {"same_library_as", (PyCFunction)same_library_as, METH_O,
     "True when the shared object at path uses this module's SQLite."},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    if (PyType_Ready(&EventLogWriterType) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "EventLogWriter", (PyObject *)&EventLogWriterType) < 0) {
        return -1;
    }
    if (LogError == NULL) {
        LogError = PyErr_NewException("centralita.ami_listener._sqlitelog.Error", NULL, NULL);
        if (LogError == NULL) {
            return -1;
        }
    }
    return PyModule_AddObjectRef(module, "Error", LogError);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "centralita.ami_listener._sqlitelog",
    .m_doc = "Event-log rows from frame bytes straight into SQLite (see the C source).",
    .m_size = 0,
    .m_methods = module_methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__sqlitelog(void)
{
    return PyModuleDef_Init(&module);
}
