/* python/src/module.h — shared declarations of the _shmconf extension.
 *
 * The extension is a thin CPython layer over the C ABI (<shmconf/shmconf.h>):
 * it links libshmconf and nothing else. Every object here is used under the
 * GIL; the C calls that block (wait_for_change, stopping a subscription)
 * release it. */
#ifndef SHMCONF_PY_MODULE_H
#define SHMCONF_PY_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <shmconf/shmconf.h>

/* A Client: the C handle, plus the snapshot the one-shot getters read and
 * the generation it was taken at. The cache is refreshed when the control
 * block's generation moves (one acquire load per read), so one-shot reads
 * cost a lookup, not a snapshot acquire. */
typedef struct {
  PyObject_HEAD shmconf_client *c;
  shmconf_snapshot *snap; /* NULL until the first read */
  uint64_t gen;           /* generation `snap` was taken at */
  Py_ssize_t subscriptions;
  PyObject *name;
} ClientObject;

/* A pinned snapshot; keeps its Client alive. */
typedef struct {
  PyObject_HEAD shmconf_snapshot *s;
  PyObject *client;
} SnapshotObject;

extern PyTypeObject ClientType;
extern PyTypeObject SnapshotType;
extern PyTypeObject SubscriptionType;

/* module.c: exceptions and values */
PyObject *sc_raise(int code, const char *key);
/* The value at key in s as a Python object (containers copied whole), or
 * NULL with an exception set. */
PyObject *sc_value(const shmconf_snapshot *s, const char *key, size_t len, const shmconf_value *v);
/* get(key, default, type) on snapshot s: the shared body of Client.get and
 * Snapshot.get and the typed getters. `want` is a SHMCONF_TYPE_* or -1 for
 * any; `dflt` may be NULL (no default). */
PyObject *sc_get(const shmconf_snapshot *s, PyObject *key, PyObject *dflt, int want);
/* Parses (key, default=None-if-absent, type=None) of get(); returns the
 * wanted type (-1 = any, -2 = error set). */
int sc_parse_get(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **key,
                 PyObject **dflt);
int sc_type_code(PyObject *type);
/* flag(name, subject, default=False) on snapshot s (NULL: nothing published). */
PyObject *sc_flag(const shmconf_snapshot *s, PyObject *const *args, Py_ssize_t nargs);
/* keys(section) / items(section) of a snapshot, as lists. */
PyObject *sc_list(const shmconf_snapshot *s, PyObject *section, int with_values);

/* client.c */
const shmconf_snapshot *sc_client_current(ClientObject *self);

/* subscription.c */
PyObject *sc_subscribe(ClientObject *client, PyObject *prefix, PyObject *callback);

#endif
