/* python/src/snapshot.c — shmconf.Snapshot: one pinned version. Every read
 * through it sees that version, so a multi-key read is consistent. Use it
 * as a context manager (`with c.snapshot() as s:`) to release the pin
 * promptly; a released snapshot refuses reads. */
#include "module.h"

static const shmconf_snapshot *pinned(SnapshotObject *self) {
  if (self->s == NULL) sc_raise(SHMCONF_E_INVALID, "snapshot is released");
  return self->s;
}

static void snapshot_dealloc(SnapshotObject *self) {
  if (self->s != NULL) shmconf_snapshot_release(self->s);
  Py_XDECREF(self->client);
  PyObject_Free(self);
}

static PyObject *snapshot_release(SnapshotObject *self, PyObject *unused) {
  (void)unused;
  if (self->s != NULL) shmconf_snapshot_release(self->s);
  self->s = NULL;
  Py_RETURN_NONE;
}

static PyObject *snapshot_enter(PyObject *self, PyObject *unused) {
  (void)unused;
  return Py_NewRef(self);
}

static PyObject *snapshot_exit(SnapshotObject *self, PyObject *args) {
  (void)args;
  return snapshot_release(self, NULL);
}

static PyObject *snapshot_get(SnapshotObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames) {
  PyObject *key, *dflt;
  const int want = sc_parse_get(args, nargs, kwnames, &key, &dflt);
  if (want == -2) return NULL;
  const shmconf_snapshot *s = pinned(self);
  return s ? sc_get(s, key, dflt, want) : NULL;
}

static PyObject *typed_get(SnapshotObject *self, PyObject *const *args, Py_ssize_t nargs,
                           int want) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "expected (key[, default])");
    return NULL;
  }
  const shmconf_snapshot *s = pinned(self);
  return s ? sc_get(s, args[0], nargs == 2 ? args[1] : NULL, want) : NULL;
}

#define TYPED_GETTER(fn, code)                                                         \
  static PyObject *fn(SnapshotObject *self, PyObject *const *args, Py_ssize_t nargs) { \
    return typed_get(self, args, nargs, code);                                         \
  }
TYPED_GETTER(snapshot_get_int, SHMCONF_TYPE_INT)
TYPED_GETTER(snapshot_get_float, SHMCONF_TYPE_DOUBLE)
TYPED_GETTER(snapshot_get_str, SHMCONF_TYPE_STRING)
TYPED_GETTER(snapshot_get_bool, SHMCONF_TYPE_BOOL)

static PyObject *snapshot_flag(SnapshotObject *self, PyObject *const *args, Py_ssize_t nargs) {
  const shmconf_snapshot *s = pinned(self);
  return s ? sc_flag(s, args, nargs) : NULL;
}

static PyObject *snapshot_subscript(SnapshotObject *self, PyObject *key) {
  const shmconf_snapshot *s = pinned(self);
  return s ? sc_get(s, key, NULL, -1) : NULL;
}

static int snapshot_contains(SnapshotObject *self, PyObject *key) {
  const shmconf_snapshot *s = pinned(self);
  if (s == NULL) return -1;
  Py_ssize_t len;
  const char *k = PyUnicode_AsUTF8AndSize(key, &len);
  if (k == NULL) return -1;
  shmconf_value v;
  return shmconf_get_value(s, k, (size_t)len, &v) == 0;
}

static PyObject *snapshot_list(SnapshotObject *self, PyObject *args, int with_values) {
  PyObject *section = NULL;
  if (!PyArg_ParseTuple(args, "|O:keys", &section)) return NULL;
  const shmconf_snapshot *s = pinned(self);
  return s ? sc_list(s, section, with_values) : NULL;
}
static PyObject *snapshot_keys(SnapshotObject *self, PyObject *args) {
  return snapshot_list(self, args, 0);
}
static PyObject *snapshot_items(SnapshotObject *self, PyObject *args) {
  return snapshot_list(self, args, 1);
}

static PyObject *snapshot_iter(SnapshotObject *self) {
  const shmconf_snapshot *s = pinned(self);
  if (s == NULL) return NULL;
  PyObject *keys = sc_list(s, NULL, 0);
  if (keys == NULL) return NULL;
  PyObject *it = PyObject_GetIter(keys);
  Py_DECREF(keys);
  return it;
}

static PyObject *snapshot_version(SnapshotObject *self, void *closure) {
  (void)closure;
  const shmconf_snapshot *s = pinned(self);
  return s ? PyLong_FromUnsignedLongLong(shmconf_snapshot_version(s)) : NULL;
}

static PyObject *snapshot_repr(SnapshotObject *self) {
  if (self->s == NULL) return PyUnicode_FromString("<shmconf.Snapshot released>");
  return PyUnicode_FromFormat("<shmconf.Snapshot version %llu>",
                              (unsigned long long)shmconf_snapshot_version(self->s));
}

#define FASTCALL(f) (PyCFunction)(void (*)(void))(f)

static PyMethodDef kMethods[] = {
    {"get", FASTCALL(snapshot_get), METH_FASTCALL | METH_KEYWORDS,
     "get(key, default=<raise>, type=None), as Client.get, from this version"},
    {"get_int", FASTCALL(snapshot_get_int), METH_FASTCALL, "get_int(key[, default])"},
    {"get_float", FASTCALL(snapshot_get_float), METH_FASTCALL, "get_float(key[, default])"},
    {"get_str", FASTCALL(snapshot_get_str), METH_FASTCALL, "get_str(key[, default])"},
    {"get_bool", FASTCALL(snapshot_get_bool), METH_FASTCALL, "get_bool(key[, default])"},
    {"flag", FASTCALL(snapshot_flag), METH_FASTCALL,
     "flag(name, subject, default=False), as Client.flag, in this version"},
    {"keys", (PyCFunction)snapshot_keys, METH_VARARGS,
     "keys(section='') -> full key paths of the section's direct children, in key order"},
    {"items", (PyCFunction)snapshot_items, METH_VARARGS,
     "items(section='') -> (key path, value) of the section's direct children"},
    {"release", (PyCFunction)snapshot_release, METH_NOARGS, "release(): drop the pin"},
    {"__enter__", snapshot_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)snapshot_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef kGetSet[] = {
    {"version", (getter)snapshot_version, NULL, "the pinned version", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMappingMethods kMapping = {.mp_subscript = (binaryfunc)snapshot_subscript};
static PySequenceMethods kSequence = {.sq_contains = (objobjproc)snapshot_contains};

PyTypeObject SnapshotType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmconf.Snapshot",
    .tp_basicsize = sizeof(SnapshotObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A pinned, consistent view of one version (Client.snapshot())",
    .tp_dealloc = (destructor)snapshot_dealloc,
    .tp_repr = (reprfunc)snapshot_repr,
    .tp_iter = (getiterfunc)snapshot_iter,
    .tp_methods = kMethods,
    .tp_getset = kGetSet,
    .tp_as_mapping = &kMapping,
    .tp_as_sequence = &kSequence,
};
