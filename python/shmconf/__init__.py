"""Read shmconf configuration from shared memory.

    import shmconf
    c = shmconf.Client("app")                    # attach; NoNamespace if absent
    port = c.get_int("database.port", 5432)      # typed, with a default
    host = c.get("database.host")                # any type; NotFound if missing
    with c.snapshot() as s:                      # one pinned version
        a, b = s["database.host"], s["database.port"]
    for key, value in c.items("servers"):        # a section, in key order
        ...
    c.wait_for_change(timeout=5.0)               # futex; the new version or None
    sub = c.subscribe("database.", lambda version, changes: ...)
    sub.stop()
    if c.flag("new_checkout", user_id):          # feature flag, stable per subject
        ...

A thin layer over libshmconf's C ABI (<shmconf/shmconf.h>). Reads take no
lock and make no system call; errors are shmconf.Error subclasses that map
the C SHMCONF_E_* codes (NotFound is also a KeyError, WrongType a TypeError).
See docs/PYTHON.md.
"""

import atexit
import threading
from collections import namedtuple

from . import _shmconf
from ._shmconf import (  # noqa: F401  (re-exported)
    Busy,
    Corrupt,
    Error,
    FormatVersion,
    InvalidArgument,
    NoMemory,
    NoNamespace,
    NoSnapshot,
    NotFound,
    PermissionDenied,
    Range,
    Snapshot,
    SystemFailure,
    Timeout,
    WrongType,
    flag_bucket,
    strerror,
)

__all__ = [
    "Client", "Snapshot", "Subscription", "Change", "Error", "NotFound", "WrongType",
    "NoSnapshot", "NoNamespace", "PermissionDenied", "Corrupt", "FormatVersion", "Busy",
    "Timeout", "Range", "InvalidArgument", "SystemFailure", "NoMemory", "strerror", "flag_bucket",
]

# One changed key: kind is "added", "removed" or "changed"; old is None when
# added, new is None when removed (a null value is None too: read kind).
Change = namedtuple("Change", "key kind old new")

_active = set()
_active_lock = threading.Lock()


class Subscription:
    """A running subscription (Client.subscribe). It runs until stop(), also
    when no reference to it is kept; every one still running is stopped at
    interpreter exit. Usable as a context manager."""

    def __init__(self, client, prefix, callback):
        def adapter(version, raw):
            callback(version, [Change(*c) for c in raw])

        self.prefix = prefix
        self._sub = client._subscribe(prefix, adapter)
        with _active_lock:
            _active.add(self)

    @property
    def active(self):
        return self._sub.active

    def stop(self):
        """Stops the library thread, waiting for a running callback. Raises
        RuntimeError when called from this subscription's own callback."""
        self._sub.stop()
        with _active_lock:
            _active.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Client(_shmconf.Client):
    """Client(name, prefix=None): attach to namespace `name` (the object
    prefix is $SHMCONF_PREFIX or "shmconf" unless given)."""

    __slots__ = ()

    def subscribe(self, prefix, callback):
        """Calls callback(version, changes) on a library thread once per new
        version that changes a key under `prefix` ("" = any), with the
        changes as a list of Change(key, kind, old, new) in key order."""
        return Subscription(self, prefix, callback)


@atexit.register
def _stop_all():
    with _active_lock:
        subs = list(_active)
    for s in subs:
        s.stop()
