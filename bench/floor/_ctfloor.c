/* _ctfloor: the floor of any sys.monitoring recorder, built for the benchmark.
 *
 * C-level callbacks for PY_START, PY_RESUME, PY_RETURN, PY_YIELD and LINE,
 * in three modes chosen by which set of functions the runner registers:
 *   noop     return None and do nothing else
 *   count    one counter per event kind (the benchmark's event counts)
 *   record8  append one 8-byte record per event to a growable buffer,
 *            written to a file by dump() at the end
 * A record packs the code object's address (8-byte aligned, 48 bits), the
 * event kind (3 low bits) and the line or instruction offset (16 top bits).
 * Registration itself (tool id, register_callback, set_events) is done by
 * run_floor.py through sys.monitoring; this file holds only the hot paths.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { K_START, K_RESUME, K_RETURN, K_YIELD, K_LINE, K_COUNT };
static const char *const KIND_NAMES[K_COUNT] = {"PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD", "LINE"};

static unsigned long long counts[K_COUNT];
static uint64_t *buf;
static size_t buf_len, buf_cap;
static int buf_failed;

/* ---- noop ---------------------------------------------------------------- */
static PyObject *
noop_cb(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_RETURN_NONE;
}

/* ---- count --------------------------------------------------------------- */
#define COUNT_CB(name, kind)                                                   \
    static PyObject *name(PyObject *self, PyObject *const *args,              \
                          Py_ssize_t nargs)                                    \
    {                                                                          \
        counts[kind]++;                                                        \
        Py_RETURN_NONE;                                                        \
    }
COUNT_CB(count_start, K_START)
COUNT_CB(count_resume, K_RESUME)
COUNT_CB(count_return, K_RETURN)
COUNT_CB(count_yield, K_YIELD)
COUNT_CB(count_line, K_LINE)

/* ---- record8 ------------------------------------------------------------- */
static inline void
push(PyObject *code, uint64_t kind, PyObject *where)
{
    if (buf_len == buf_cap) {
        size_t cap = buf_cap ? buf_cap * 2 : (size_t)1 << 16;
        uint64_t *grown = realloc(buf, cap * sizeof(uint64_t));
        if (grown == NULL) {
            buf_failed = 1;
            return;
        }
        buf = grown;
        buf_cap = cap;
    }
    uint64_t at = (uint64_t)PyLong_AsUnsignedLongMask(where) & 0xFFFF;
    buf[buf_len++] = (at << 48) | ((uint64_t)(uintptr_t)code & 0x0000FFFFFFFFFFF8ULL) | kind;
}

#define RECORD_CB(name, kind)                                                  \
    static PyObject *name(PyObject *self, PyObject *const *args,              \
                          Py_ssize_t nargs)                                    \
    {                                                                          \
        if (nargs >= 2)                                                        \
            push(args[0], kind, args[1]);                                      \
        Py_RETURN_NONE;                                                        \
    }
RECORD_CB(record_start, K_START)
RECORD_CB(record_resume, K_RESUME)
RECORD_CB(record_return, K_RETURN)
RECORD_CB(record_yield, K_YIELD)
RECORD_CB(record_line, K_LINE)

/* ---- control ------------------------------------------------------------- */
static PyObject *
get_counts(PyObject *self, PyObject *unused)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (int k = 0; k < K_COUNT; k++) {
        PyObject *v = PyLong_FromUnsignedLongLong(counts[k]);
        if (v == NULL || PyDict_SetItemString(d, KIND_NAMES[k], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

static PyObject *
dump(PyObject *self, PyObject *path)
{
    if (buf_failed) {
        PyErr_SetString(PyExc_MemoryError, "_ctfloor: record buffer could not grow");
        return NULL;
    }
    PyObject *bytes_path = NULL;
    if (!PyUnicode_FSConverter(path, &bytes_path))
        return NULL;
    FILE *f = fopen(PyBytes_AS_STRING(bytes_path), "wb");
    Py_DECREF(bytes_path);
    if (f == NULL)
        return PyErr_SetFromErrno(PyExc_OSError);
    size_t written = buf_len ? fwrite(buf, sizeof(uint64_t), buf_len, f) : 0;
    int closed = fclose(f);
    if (written != buf_len || closed != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    PyObject *n = PyLong_FromSize_t(buf_len);
    free(buf);
    buf = NULL;
    buf_len = buf_cap = 0;
    return n;
}

#define CB(name) {#name, (PyCFunction)(void (*)(void))name, METH_FASTCALL, NULL}
static PyMethodDef methods[] = {
    {"noop", (PyCFunction)(void (*)(void))noop_cb, METH_FASTCALL, "callback: returns None"},
    CB(count_start), CB(count_resume), CB(count_return), CB(count_yield), CB(count_line),
    CB(record_start), CB(record_resume), CB(record_return), CB(record_yield), CB(record_line),
    {"counts", get_counts, METH_NOARGS, "events seen in mode count, by kind"},
    {"dump", dump, METH_O, "write the 8-byte records to a file; returns their number"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_ctfloor",
    .m_doc = "C sys.monitoring callbacks: the no-op and 8-byte-record floors of the benchmark.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__ctfloor(void)
{
    return PyModule_Create(&module);
}
