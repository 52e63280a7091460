/* python/src/subscription.c — change notification over shmconf_subscribe.
 *
 * The C library runs the callback on its own thread, asleep on the control
 * block's futex between versions. Here that thread takes the GIL, turns the
 * change list into Python objects (old values from the previous snapshot,
 * new ones from the new) and calls the Python callable. stop() releases the
 * GIL while it joins that thread, so a callback waiting for the GIL can
 * finish. The Python wrapper (shmconf.Subscription) keeps every running
 * subscription referenced until stop(), and stops the rest at exit, so the
 * thread never outlives this object or the interpreter. */
#include "module.h"
#include "pythread.h"

typedef struct {
  PyObject_HEAD shmconf_subscription *sub;
  ClientObject *client;
  PyObject *callback;
  unsigned long callback_thread; /* ident of the library thread, 0 until it runs */
} SubscriptionObject;

static const char *kKinds[] = {"", "added", "removed", "changed"};

static PyObject *value_or_none(const shmconf_snapshot *s, const shmconf_change *c) {
  shmconf_value v;
  if (s == NULL || shmconf_get_value(s, c->key, c->key_len, &v) != 0) Py_RETURN_NONE;
  return sc_value(s, c->key, c->key_len, &v);
}

static PyObject *change_list(const shmconf_snapshot *old_snap, const shmconf_snapshot *new_snap,
                             const shmconf_change *changes, size_t count) {
  PyObject *list = PyList_New((Py_ssize_t)count);
  for (size_t i = 0; list != NULL && i < count; ++i) {
    const shmconf_change *c = &changes[i];
    const int kind = c->kind >= 1 && c->kind <= 3 ? c->kind : 3;
    PyObject *old_v =
        kind == SHMCONF_CHANGE_ADDED ? Py_NewRef(Py_None) : value_or_none(old_snap, c);
    PyObject *new_v =
        kind == SHMCONF_CHANGE_REMOVED ? Py_NewRef(Py_None) : value_or_none(new_snap, c);
    PyObject *item = old_v && new_v ? Py_BuildValue("(s#sOO)", c->key, (Py_ssize_t)c->key_len,
                                                    kKinds[kind], old_v, new_v)
                                    : NULL;
    Py_XDECREF(old_v);
    Py_XDECREF(new_v);
    if (item == NULL)
      Py_CLEAR(list);
    else
      PyList_SET_ITEM(list, (Py_ssize_t)i, item);
  }
  return list;
}

static void on_changes(const shmconf_snapshot *old_snap, const shmconf_snapshot *new_snap,
                       const shmconf_change *changes, size_t count, void *ctx) {
  SubscriptionObject *self = ctx;
  if (_Py_IsFinalizing()) return;
  PyGILState_STATE gil = PyGILState_Ensure();
  self->callback_thread = PyThread_get_thread_ident();
  PyObject *list = change_list(old_snap, new_snap, changes, count);
  PyObject *version = PyLong_FromUnsignedLongLong(shmconf_snapshot_version(new_snap));
  PyObject *r =
      list && version ? PyObject_CallFunctionObjArgs(self->callback, version, list, NULL) : NULL;
  /* An exception in a callback is reported like one in a thread, and the
   * subscription goes on. */
  if (r == NULL) PyErr_WriteUnraisable(self->callback);
  Py_XDECREF(r);
  Py_XDECREF(list);
  Py_XDECREF(version);
  PyGILState_Release(gil);
}

PyObject *sc_subscribe(ClientObject *client, PyObject *prefix, PyObject *callback) {
  if (!PyCallable_Check(callback)) {
    PyErr_SetString(PyExc_TypeError, "callback must be callable");
    return NULL;
  }
  const char *p = PyUnicode_AsUTF8(prefix);
  if (p == NULL) return NULL;
  SubscriptionObject *self = PyObject_New(SubscriptionObject, &SubscriptionType);
  if (self == NULL) return NULL;
  self->sub = NULL;
  self->callback_thread = 0;
  self->client = (ClientObject *)Py_NewRef((PyObject *)client);
  self->callback = Py_NewRef(callback);
  /* Python threads must exist before a C thread asks for the GIL (a no-op
   * since 3.9, kept for clarity). */
  const int rc = shmconf_subscribe(client->c, p, on_changes, self, &self->sub);
  if (rc != 0) {
    Py_DECREF(self);
    return sc_raise(rc, p);
  }
  client->subscriptions++;
  return (PyObject *)self;
}

static PyObject *subscription_stop(SubscriptionObject *self, PyObject *unused) {
  (void)unused;
  if (self->sub == NULL) Py_RETURN_NONE;
  if (self->callback_thread == PyThread_get_thread_ident()) {
    PyErr_SetString(PyExc_RuntimeError, "a subscription cannot be stopped from its own callback");
    return NULL;
  }
  shmconf_subscription *sub = self->sub;
  self->sub = NULL;
  Py_BEGIN_ALLOW_THREADS shmconf_subscription_stop(sub);
  Py_END_ALLOW_THREADS self->client->subscriptions--;
  Py_RETURN_NONE;
}

static void subscription_dealloc(SubscriptionObject *self) {
  if (self->sub != NULL) {
    shmconf_subscription *sub = self->sub;
    self->sub = NULL;
    Py_BEGIN_ALLOW_THREADS shmconf_subscription_stop(sub);
    Py_END_ALLOW_THREADS self->client->subscriptions--;
  }
  Py_XDECREF(self->client);
  Py_XDECREF(self->callback);
  PyObject_Free(self);
}

static PyObject *subscription_active(SubscriptionObject *self, void *closure) {
  (void)closure;
  return PyBool_FromLong(self->sub != NULL);
}

static PyMethodDef kMethods[] = {
    {"stop", (PyCFunction)subscription_stop, METH_NOARGS,
     "stop(): stop the thread (waits for a running callback); not from the callback"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef kGetSet[] = {
    {"active", (getter)subscription_active, NULL, "True until stop()", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject SubscriptionType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmconf._Subscription",
    .tp_basicsize = sizeof(SubscriptionObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A running change subscription (Client.subscribe)",
    .tp_dealloc = (destructor)subscription_dealloc,
    .tp_methods = kMethods,
    .tp_getset = kGetSet,
};
