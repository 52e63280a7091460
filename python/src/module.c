/* python/src/module.c — the _shmconf module: exceptions that map the C
 * error codes, conversion of segment values to Python objects, and the
 * get() body shared by Client and Snapshot. */
#include "module.h"

#include <string.h>

/* ---- exceptions ------------------------------------------------------------ */

static PyObject *Error;

static struct {
  int code;
  const char *name; /* shmconf.<name> */
  PyObject *exc;
} kErrors[] = {
    {SHMCONF_E_NOT_FOUND, "NotFound", NULL},
    {SHMCONF_E_WRONG_TYPE, "WrongType", NULL},
    {SHMCONF_E_NO_SNAPSHOT, "NoSnapshot", NULL},
    {SHMCONF_E_NO_NAMESPACE, "NoNamespace", NULL},
    {SHMCONF_E_PERMISSION, "PermissionDenied", NULL},
    {SHMCONF_E_CORRUPT, "Corrupt", NULL},
    {SHMCONF_E_VERSION, "FormatVersion", NULL},
    {SHMCONF_E_BUSY, "Busy", NULL},
    {SHMCONF_E_TIMEOUT, "Timeout", NULL},
    {SHMCONF_E_RANGE, "Range", NULL},
    {SHMCONF_E_INVALID, "InvalidArgument", NULL},
    {SHMCONF_E_SYSTEM, "SystemFailure", NULL},
    {SHMCONF_E_NOMEM, "NoMemory", NULL},
};
#define N_ERRORS (sizeof kErrors / sizeof kErrors[0])

PyObject *sc_raise(int code, const char *key) {
  PyObject *type = Error;
  for (size_t i = 0; i < N_ERRORS; ++i) {
    if (kErrors[i].code == code) type = kErrors[i].exc;
  }
  /* "database.port: no such key", with .code, .reason and .key attributes. */
  PyObject *msg = key ? PyUnicode_FromFormat("%s: %s", key, shmconf_strerror(code))
                      : PyUnicode_FromString(shmconf_strerror(code));
  PyObject *code_obj = PyLong_FromLong(code);
  PyObject *reason = PyUnicode_FromString(shmconf_strerror(code));
  PyObject *key_obj = key ? PyUnicode_FromString(key) : Py_NewRef(Py_None);
  PyObject *exc = msg ? PyObject_CallOneArg(type, msg) : NULL;
  if (exc != NULL && code_obj && reason && key_obj &&
      PyObject_SetAttrString(exc, "code", code_obj) == 0 &&
      PyObject_SetAttrString(exc, "reason", reason) == 0 &&
      PyObject_SetAttrString(exc, "key", key_obj) == 0) {
    PyErr_SetObject(type, exc);
  }
  Py_XDECREF(exc);
  Py_XDECREF(msg);
  Py_XDECREF(code_obj);
  Py_XDECREF(reason);
  Py_XDECREF(key_obj);
  return NULL;
}

static int add_errors(PyObject *m) {
  Error = PyErr_NewExceptionWithDoc(
      "shmconf.Error", "Base of every shmconf error; .code is the C SHMCONF_E_* code.", NULL, NULL);
  if (Error == NULL || PyModule_AddObjectRef(m, "Error", Error) < 0) return -1;
  for (size_t i = 0; i < N_ERRORS; ++i) {
    PyObject *extra = NULL; /* a builtin base, so `except KeyError` works too */
    if (kErrors[i].code == SHMCONF_E_NOT_FOUND) extra = PyExc_KeyError;
    if (kErrors[i].code == SHMCONF_E_WRONG_TYPE) extra = PyExc_TypeError;
    if (kErrors[i].code == SHMCONF_E_INVALID) extra = PyExc_ValueError;
    if (kErrors[i].code == SHMCONF_E_NOMEM) extra = PyExc_MemoryError;
    PyObject *bases = extra ? PyTuple_Pack(2, Error, extra) : PyTuple_Pack(1, Error);
    if (bases == NULL) return -1;
    char qualname[64];
    snprintf(qualname, sizeof qualname, "shmconf.%s", kErrors[i].name);
    kErrors[i].exc =
        PyErr_NewExceptionWithDoc(qualname, shmconf_strerror(kErrors[i].code), bases, NULL);
    Py_DECREF(bases);
    if (kErrors[i].exc == NULL) return -1;
    if (PyModule_AddObjectRef(m, kErrors[i].name, kErrors[i].exc) < 0) return -1;
  }
  return 0;
}

/* ---- values ------------------------------------------------------------------ */

typedef struct {
  const shmconf_snapshot *s;
  PyObject *out;     /* dict, list, or list of keys/items */
  size_t prefix_len; /* the container's own key length */
  int mode;          /* 0 build container, 1 keys, 2 items */
} ListCtx;

static int on_child(const char *key, size_t key_len, int type, void *arg) {
  (void)type;
  ListCtx *ctx = arg;
  PyObject *val = NULL, *item = NULL;
  int rc = 1;
  if (ctx->mode != 1) {
    shmconf_value v;
    int err = shmconf_get_value(ctx->s, key, key_len, &v);
    if (err != 0) {
      sc_raise(err, key);
      return 1;
    }
    if ((val = sc_value(ctx->s, key, key_len, &v)) == NULL) return 1;
  }
  if (ctx->mode == 0 && PyDict_Check(ctx->out)) {
    /* A member's name is its path after the parent's path and the '.'. */
    const size_t skip = ctx->prefix_len ? ctx->prefix_len + 1 : 0;
    PyObject *name = PyUnicode_DecodeUTF8(key + skip, (Py_ssize_t)(key_len - skip), "strict");
    if (name != NULL) rc = PyDict_SetItem(ctx->out, name, val) < 0;
    Py_XDECREF(name);
  } else if (ctx->mode == 0) {
    rc = PyList_Append(ctx->out, val) < 0;
  } else {
    PyObject *k = PyUnicode_DecodeUTF8(key, (Py_ssize_t)key_len, "strict");
    item = ctx->mode == 1 || k == NULL ? k : PyTuple_Pack(2, k, val);
    if (ctx->mode == 2) Py_XDECREF(k);
    if (item != NULL) rc = PyList_Append(ctx->out, item) < 0;
    Py_XDECREF(item);
  }
  Py_XDECREF(val);
  return rc;
}

/* Lists the children of `key` (NUL-terminated, len bytes) into ctx->out. */
static int list_into(const shmconf_snapshot *s, const char *key, size_t len, ListCtx *ctx) {
  ctx->s = s;
  ctx->prefix_len = len;
  int rc = shmconf_snapshot_list(s, key, on_child, ctx);
  if (rc == 1) return -1; /* a Python error, set by on_child */
  if (rc != 0) {
    sc_raise(rc, key);
    return -1;
  }
  return 0;
}

PyObject *sc_value(const shmconf_snapshot *s, const char *key, size_t len, const shmconf_value *v) {
  switch (v->type) {
    case SHMCONF_TYPE_NULL:
      Py_RETURN_NONE;
    case SHMCONF_TYPE_BOOL:
      return PyBool_FromLong(v->boolean);
    case SHMCONF_TYPE_INT:
      return PyLong_FromLongLong(v->integer);
    case SHMCONF_TYPE_DOUBLE:
      return PyFloat_FromDouble(v->real);
    case SHMCONF_TYPE_STRING:
      return PyUnicode_DecodeUTF8(v->str, (Py_ssize_t)v->len, "strict");
    default:
      break;
  }
  /* A container, copied whole. A hostile segment may nest without bound
   * (FORMAT.md §7): Python's recursion limit bounds the walk. */
  if (Py_EnterRecursiveCall(" while converting a shmconf section")) return NULL;
  ListCtx ctx = {0};
  ctx.out = v->type == SHMCONF_TYPE_OBJECT ? PyDict_New() : PyList_New(0);
  if (ctx.out != NULL && list_into(s, key, len, &ctx) < 0) Py_CLEAR(ctx.out);
  Py_LeaveRecursiveCall();
  return ctx.out;
}

PyObject *sc_list(const shmconf_snapshot *s, PyObject *section, int with_values) {
  Py_ssize_t len = 0;
  const char *key = "";
  if (section != NULL && section != Py_None) {
    if ((key = PyUnicode_AsUTF8AndSize(section, &len)) == NULL) return NULL;
  }
  ListCtx ctx = {0};
  ctx.mode = with_values ? 2 : 1;
  if ((ctx.out = PyList_New(0)) == NULL) return NULL;
  if (list_into(s, key, (size_t)len, &ctx) < 0) Py_CLEAR(ctx.out);
  return ctx.out;
}

/* ---- get ----------------------------------------------------------------------- */

int sc_type_code(PyObject *type) {
  if (type == NULL || type == Py_None) return -1;
  if (type == (PyObject *)&PyBool_Type) return SHMCONF_TYPE_BOOL;
  if (type == (PyObject *)&PyLong_Type) return SHMCONF_TYPE_INT;
  if (type == (PyObject *)&PyFloat_Type) return SHMCONF_TYPE_DOUBLE;
  if (type == (PyObject *)&PyUnicode_Type) return SHMCONF_TYPE_STRING;
  if (type == (PyObject *)&PyList_Type) return SHMCONF_TYPE_ARRAY;
  if (type == (PyObject *)&PyDict_Type) return SHMCONF_TYPE_OBJECT;
  PyErr_SetString(PyExc_ValueError, "type must be one of bool, int, float, str, list, dict, None");
  return -2;
}

int sc_parse_get(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **key,
                 PyObject **dflt) {
  PyObject *type = NULL;
  *dflt = NULL;
  if (nargs < 1 || nargs > 3) {
    PyErr_SetString(PyExc_TypeError, "get(key, default=..., type=None)");
    return -2;
  }
  *key = args[0];
  if (nargs > 1) *dflt = args[1];
  if (nargs > 2) type = args[2];
  const Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < nk; ++i) {
    const char *kw = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i));
    if (kw != NULL && strcmp(kw, "default") == 0 && nargs < 2) {
      *dflt = args[nargs + i];
    } else if (kw != NULL && strcmp(kw, "type") == 0 && nargs < 3) {
      type = args[nargs + i];
    } else {
      PyErr_Format(PyExc_TypeError, "get() got an unexpected keyword argument '%s'", kw);
      return -2;
    }
  }
  return sc_type_code(type);
}

static int type_matches(int have, int want) {
  return want < 0 || have == want || (want == SHMCONF_TYPE_DOUBLE && have == SHMCONF_TYPE_INT);
}

PyObject *sc_get(const shmconf_snapshot *s, PyObject *key, PyObject *dflt, int want) {
  Py_ssize_t len;
  const char *k = PyUnicode_AsUTF8AndSize(key, &len);
  if (k == NULL) return NULL;
  if (s == NULL) {
    /* Nothing published: a default still answers. */
    if (dflt != NULL) return Py_NewRef(dflt);
    return sc_raise(SHMCONF_E_NO_SNAPSHOT, k);
  }
  shmconf_value v;
  const int rc = shmconf_get_value(s, k, (size_t)len, &v);
  if (rc != 0) {
    if (rc == SHMCONF_E_NOT_FOUND && dflt != NULL) return Py_NewRef(dflt);
    return sc_raise(rc, k);
  }
  if (!type_matches(v.type, want)) return sc_raise(SHMCONF_E_WRONG_TYPE, k);
  if (want == SHMCONF_TYPE_DOUBLE && v.type == SHMCONF_TYPE_INT) {
    return PyFloat_FromDouble((double)v.integer);
  }
  return sc_value(s, k, (size_t)len, &v);
}

/* ---- flags ------------------------------------------------------------------------- */

PyObject *sc_flag(const shmconf_snapshot *s, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs < 2 || nargs > 3) {
    PyErr_SetString(PyExc_TypeError, "flag(name, subject, default=False)");
    return NULL;
  }
  Py_ssize_t subject_len;
  const char *name = PyUnicode_AsUTF8(args[0]);
  const char *subject = name ? PyUnicode_AsUTF8AndSize(args[1], &subject_len) : NULL;
  if (subject == NULL) return NULL;
  PyObject *dflt = nargs == 3 ? args[2] : Py_False;
  if (s == NULL) return Py_NewRef(dflt);
  int on = 0;
  const int rc = shmconf_flag(s, name, subject, (size_t)subject_len, &on);
  if (rc == SHMCONF_E_NOT_FOUND) return Py_NewRef(dflt);
  if (rc != 0) return sc_raise(rc, name);
  return PyBool_FromLong(on);
}

static PyObject *py_flag_bucket(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
  (void)mod;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "flag_bucket(name, subject)");
    return NULL;
  }
  Py_ssize_t name_len, subject_len;
  const char *name = PyUnicode_AsUTF8AndSize(args[0], &name_len);
  const char *subject = name ? PyUnicode_AsUTF8AndSize(args[1], &subject_len) : NULL;
  if (subject == NULL) return NULL;
  return PyLong_FromUnsignedLong(
      shmconf_flag_bucket(name, (size_t)name_len, subject, (size_t)subject_len));
}

/* ---- module ---------------------------------------------------------------------- */

static PyObject *py_strerror(PyObject *mod, PyObject *arg) {
  (void)mod;
  const long code = PyLong_AsLong(arg);
  if (code == -1 && PyErr_Occurred()) return NULL;
  return PyUnicode_FromString(shmconf_strerror((int)code));
}

static PyMethodDef kModuleMethods[] = {
    {"strerror", py_strerror, METH_O, "strerror(code) -> the C library's description of a code"},
    {"flag_bucket", (PyCFunction)(void (*)(void))py_flag_bucket, METH_FASTCALL,
     "flag_bucket(name, subject) -> XXH3-64(name, a 0 byte, subject) % 10000 (docs/FLAGS.md)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT,
    "_shmconf",
    "Read shmconf configuration from shared memory (the C ABI of libshmconf).",
    -1,
    kModuleMethods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__shmconf(void) {
  PyObject *m = PyModule_Create(&kModule);
  if (m == NULL) return NULL;
  if (add_errors(m) < 0 || PyType_Ready(&ClientType) < 0 || PyType_Ready(&SnapshotType) < 0 ||
      PyType_Ready(&SubscriptionType) < 0 ||
      PyModule_AddObjectRef(m, "Client", (PyObject *)&ClientType) < 0 ||
      PyModule_AddObjectRef(m, "Snapshot", (PyObject *)&SnapshotType) < 0 ||
      PyModule_AddObjectRef(m, "Subscription", (PyObject *)&SubscriptionType) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  static const struct {
    const char *name;
    long value;
  } kInts[] = {
      {"TYPE_NULL", SHMCONF_TYPE_NULL},
      {"TYPE_BOOL", SHMCONF_TYPE_BOOL},
      {"TYPE_INT", SHMCONF_TYPE_INT},
      {"TYPE_DOUBLE", SHMCONF_TYPE_DOUBLE},
      {"TYPE_STRING", SHMCONF_TYPE_STRING},
      {"TYPE_ARRAY", SHMCONF_TYPE_ARRAY},
      {"TYPE_OBJECT", SHMCONF_TYPE_OBJECT},
      {"CHANGE_ADDED", SHMCONF_CHANGE_ADDED},
      {"CHANGE_REMOVED", SHMCONF_CHANGE_REMOVED},
      {"CHANGE_CHANGED", SHMCONF_CHANGE_CHANGED},
  };
  for (size_t i = 0; i < sizeof kInts / sizeof kInts[0]; ++i) {
    if (PyModule_AddIntConstant(m, kInts[i].name, kInts[i].value) < 0) {
      Py_DECREF(m);
      return NULL;
    }
  }
  return m;
}
