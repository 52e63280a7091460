/* python/src/client.c — shmconf.Client: attach to a namespace, one-shot
 * reads, snapshots, wait_for_change, subscribe.
 *
 * One-shot reads go through a cached snapshot that is re-acquired only when
 * the control block's generation moves: the fast path is a generation load
 * and compare, the segment's hash lookup and the Python object for the
 * value; no allocation besides that object, no system call. */
#include <math.h>

#include "module.h"
#include "structmember.h"

static int check_open(ClientObject *self) {
  if (self->c != NULL) return 0;
  sc_raise(SHMCONF_E_INVALID, "client is closed");
  return -1;
}

/* The snapshot for one-shot reads, re-pinned after a publish or rollback;
 * NULL (no exception) when nothing is published yet. The old pin is
 * released here, so an unlinked segment is unmapped on the next read after
 * a publish. */
const shmconf_snapshot *sc_client_current(ClientObject *self) {
  const uint64_t gen = shmconf_generation(self->c);
  if (self->snap != NULL && gen == self->gen) return self->snap;
  shmconf_snapshot *fresh = NULL;
  if (shmconf_snapshot_acquire(self->c, &fresh) == 0) {
    if (self->snap != NULL) shmconf_snapshot_release(self->snap);
    self->snap = fresh;
    self->gen = gen;
  }
  /* On failure the old snapshot (if any) keeps serving, as in C++. */
  return self->snap;
}

static PyObject *client_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"name", "prefix", "register", "expected_owner", NULL};
  const char *name = NULL, *prefix = NULL;
  int register_reader = 1;
  PyObject *owner = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "s|z$pO:Client", kwlist, &name, &prefix,
                                   &register_reader, &owner)) {
    return NULL;
  }
  shmconf_open_options opts = SHMCONF_OPEN_OPTIONS_INIT;
  opts.prefix = prefix;
  opts.no_reader_registry = !register_reader;
  if (owner != Py_None) {
    /* Refuse objects of any other owner: a name squatted by another user. */
    const unsigned long uid = PyLong_AsUnsignedLong(owner);
    if (PyErr_Occurred()) return NULL;
    if (uid > 0xFFFFFFFFul) {
      PyErr_SetString(PyExc_OverflowError, "expected_owner is not a uid");
      return NULL;
    }
    opts.check_owner = 1;
    opts.expected_owner = (uint32_t)uid;
  }
  ClientObject *self = (ClientObject *)type->tp_alloc(type, 0);
  if (self == NULL) return NULL;
  self->name = PyUnicode_FromString(name);
  int rc = self->name ? shmconf_open_with(name, &opts, &self->c) : 0;
  if (self->name == NULL || rc != 0) {
    if (rc != 0) sc_raise(rc, name);
    Py_DECREF(self);
    return NULL;
  }
  return (PyObject *)self;
}

static void release(ClientObject *self) {
  if (self->snap != NULL) shmconf_snapshot_release(self->snap);
  self->snap = NULL;
  if (self->c != NULL) shmconf_close(self->c);
  self->c = NULL;
}

static void client_dealloc(ClientObject *self) {
  /* A live Subscription holds a reference, so none runs here. */
  release(self);
  Py_XDECREF(self->name);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *client_close(ClientObject *self, PyObject *unused) {
  (void)unused;
  if (self->subscriptions > 0) {
    return sc_raise(SHMCONF_E_INVALID, "stop the client's subscriptions before closing it");
  }
  release(self);
  Py_RETURN_NONE;
}

static PyObject *client_enter(PyObject *self, PyObject *unused) {
  (void)unused;
  return Py_NewRef(self);
}

static PyObject *client_exit(ClientObject *self, PyObject *args) {
  (void)args;
  return client_close(self, NULL);
}

static PyObject *client_get(ClientObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames) {
  PyObject *key, *dflt;
  const int want = sc_parse_get(args, nargs, kwnames, &key, &dflt);
  if (want == -2 || check_open(self) < 0) return NULL;
  return sc_get(sc_client_current(self), key, dflt, want);
}

/* get_int(key[, default]) and friends: positional only, fixed type. */
static PyObject *typed_get(ClientObject *self, PyObject *const *args, Py_ssize_t nargs, int want) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "expected (key[, default])");
    return NULL;
  }
  if (check_open(self) < 0) return NULL;
  return sc_get(sc_client_current(self), args[0], nargs == 2 ? args[1] : NULL, want);
}

#define TYPED_GETTER(fn, code)                                                       \
  static PyObject *fn(ClientObject *self, PyObject *const *args, Py_ssize_t nargs) { \
    return typed_get(self, args, nargs, code);                                       \
  }
TYPED_GETTER(client_get_int, SHMCONF_TYPE_INT)
TYPED_GETTER(client_get_float, SHMCONF_TYPE_DOUBLE)
TYPED_GETTER(client_get_str, SHMCONF_TYPE_STRING)
TYPED_GETTER(client_get_bool, SHMCONF_TYPE_BOOL)

static PyObject *client_flag(ClientObject *self, PyObject *const *args, Py_ssize_t nargs) {
  if (check_open(self) < 0) return NULL;
  return sc_flag(sc_client_current(self), args, nargs);
}

static PyObject *client_subscript(ClientObject *self, PyObject *key) {
  if (check_open(self) < 0) return NULL;
  return sc_get(sc_client_current(self), key, NULL, -1);
}

static int client_contains(ClientObject *self, PyObject *key) {
  if (check_open(self) < 0) return -1;
  const shmconf_snapshot *s = sc_client_current(self);
  Py_ssize_t len;
  const char *k = PyUnicode_AsUTF8AndSize(key, &len);
  if (k == NULL) return -1;
  shmconf_value v;
  return s != NULL && shmconf_get_value(s, k, (size_t)len, &v) == 0;
}

static PyObject *client_snapshot(ClientObject *self, PyObject *unused) {
  (void)unused;
  if (check_open(self) < 0) return NULL;
  shmconf_snapshot *s = NULL;
  const int rc = shmconf_snapshot_acquire(self->c, &s);
  if (rc != 0) return sc_raise(rc, PyUnicode_AsUTF8(self->name));
  SnapshotObject *snap = PyObject_New(SnapshotObject, &SnapshotType);
  if (snap == NULL) {
    shmconf_snapshot_release(s);
    return NULL;
  }
  snap->s = s;
  snap->client = Py_NewRef((PyObject *)self);
  return (PyObject *)snap;
}

static PyObject *client_version(ClientObject *self, PyObject *unused) {
  (void)unused;
  if (check_open(self) < 0) return NULL;
  return PyLong_FromUnsignedLongLong(shmconf_version(self->c));
}

static PyObject *client_generation(ClientObject *self, PyObject *unused) {
  (void)unused;
  if (check_open(self) < 0) return NULL;
  return PyLong_FromUnsignedLongLong(shmconf_generation(self->c));
}

static PyObject *client_list(ClientObject *self, PyObject *args, int with_values) {
  PyObject *section = NULL;
  if (!PyArg_ParseTuple(args, "|O:keys", &section) || check_open(self) < 0) return NULL;
  const shmconf_snapshot *s = sc_client_current(self);
  if (s == NULL) return sc_raise(SHMCONF_E_NO_SNAPSHOT, PyUnicode_AsUTF8(self->name));
  return sc_list(s, section, with_values);
}
static PyObject *client_keys(ClientObject *self, PyObject *args) {
  return client_list(self, args, 0);
}
static PyObject *client_items(ClientObject *self, PyObject *args) {
  return client_list(self, args, 1);
}

/* wait_for_change(timeout=None, known=None) -> new version, or None on
 * timeout. `known` defaults to the version this Client's reads last served
 * (else the live one), so a publish between a read and the wait is not
 * missed. The GIL is released while waiting. */
static PyObject *client_wait(ClientObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"timeout", "known", NULL};
  PyObject *timeout = Py_None, *known_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:wait_for_change", kwlist, &timeout, &known_obj) ||
      check_open(self) < 0) {
    return NULL;
  }
  int timeout_ms = -1;
  if (timeout != Py_None) {
    const double t = PyFloat_AsDouble(timeout);
    if (t == -1.0 && PyErr_Occurred()) return NULL;
    if (!(t >= 0) || t > 2e6) {
      PyErr_SetString(PyExc_ValueError, "timeout must be None or 0 to 2e6 seconds");
      return NULL;
    }
    timeout_ms = (int)ceil(t * 1000.0);
  }
  uint64_t known;
  if (known_obj != Py_None) {
    known = PyLong_AsUnsignedLongLong(known_obj);
    if (known == (uint64_t)-1 && PyErr_Occurred()) return NULL;
  } else if (self->snap != NULL) {
    known = shmconf_snapshot_version(self->snap);
  } else {
    known = shmconf_version(self->c);
  }
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = shmconf_wait_for_change(self->c, known, timeout_ms);
  Py_END_ALLOW_THREADS if (rc == SHMCONF_E_TIMEOUT) Py_RETURN_NONE;
  if (rc != 0) return sc_raise(rc, NULL);
  return PyLong_FromUnsignedLongLong(shmconf_version(self->c));
}

static PyObject *client_subscribe(ClientObject *self, PyObject *args) {
  PyObject *prefix, *callback;
  if (!PyArg_ParseTuple(args, "UO:subscribe", &prefix, &callback) || check_open(self) < 0) {
    return NULL;
  }
  return sc_subscribe(self, prefix, callback);
}

static PyObject *client_repr(ClientObject *self) {
  return PyUnicode_FromFormat("<shmconf.Client %R%s>", self->name, self->c ? "" : " closed");
}

#define FASTCALL(f) (PyCFunction)(void (*)(void))(f)

static PyMethodDef kMethods[] = {
    {"get", FASTCALL(client_get), METH_FASTCALL | METH_KEYWORDS,
     "get(key, default=<raise>, type=None): the value at key in the live version. A "
     "missing key returns default if given (else raises NotFound); type (bool, int, "
     "float, str, list, dict) raises WrongType on another type; sections come back as "
     "dict/list copies."},
    {"get_int", FASTCALL(client_get_int), METH_FASTCALL, "get_int(key[, default])"},
    {"get_float", FASTCALL(client_get_float), METH_FASTCALL,
     "get_float(key[, default]): an int widens to float"},
    {"get_str", FASTCALL(client_get_str), METH_FASTCALL, "get_str(key[, default])"},
    {"get_bool", FASTCALL(client_get_bool), METH_FASTCALL, "get_bool(key[, default])"},
    {"flag", FASTCALL(client_flag), METH_FASTCALL,
     "flag(name, subject, default=False) -> whether feature flag `name` is on for `subject` "
     "(a str) in the live version; default when there is no such flag (docs/FLAGS.md)"},
    {"snapshot", (PyCFunction)client_snapshot, METH_NOARGS,
     "snapshot() -> a pinned Snapshot of the live version (a context manager)"},
    {"version", (PyCFunction)client_version, METH_NOARGS,
     "version() -> the live version, 0 if nothing is published"},
    {"generation", (PyCFunction)client_generation, METH_NOARGS,
     "generation() -> the control block's generation (moves on publish and rollback)"},
    {"keys", (PyCFunction)client_keys, METH_VARARGS,
     "keys(section='') -> full key paths of the section's direct children, in key order"},
    {"items", (PyCFunction)client_items, METH_VARARGS,
     "items(section='') -> (key path, value) of the section's direct children"},
    {"wait_for_change", (PyCFunction)(void (*)(void))client_wait, METH_VARARGS | METH_KEYWORDS,
     "wait_for_change(timeout=None, known=None) -> the new version, or None on timeout"},
    {"_subscribe", (PyCFunction)client_subscribe, METH_VARARGS,
     "_subscribe(prefix, callback) -> Subscription; callback(version, [(key, kind, old, "
     "new), ...]) runs on a library thread once per version that changes a key under "
     "prefix (shmconf.Client.subscribe wraps it)"},
    {"close", (PyCFunction)client_close, METH_NOARGS, "close(): detach"},
    {"__enter__", client_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)client_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef kMembers[] = {
    {"name", T_OBJECT_EX, offsetof(ClientObject, name), READONLY, "the namespace"},
    {NULL, 0, 0, 0, NULL},
};

static PyMappingMethods kMapping = {.mp_subscript = (binaryfunc)client_subscript};
static PySequenceMethods kSequence = {.sq_contains = (objobjproc)client_contains};

PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmconf.Client",
    .tp_basicsize = sizeof(ClientObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Client(name, prefix=None): attach to a namespace published by shmconfd",
    .tp_new = client_new,
    .tp_dealloc = (destructor)client_dealloc,
    .tp_repr = (reprfunc)client_repr,
    .tp_methods = kMethods,
    .tp_members = kMembers,
    .tp_as_mapping = &kMapping,
    .tp_as_sequence = &kSequence,
};
