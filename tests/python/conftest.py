"""pytest fixtures: a real shmconfd per test module or test, isolated by a
unique shared-memory prefix, temporary directory and control socket.

Readiness is the daemon's own sd_notify READY=1 (sent once the first
snapshot is live) on a datagram socket we hand it as NOTIFY_SOCKET; a
publish is `shmconfctl reload`, which replies once the new version is live.
Nothing sleeps in place of waiting. ctest passes SHMCONFD_BIN and
SHMCONFCTL_BIN and puts the build tree's Python package on PYTHONPATH.
"""

import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

SHMCONFD = os.environ.get("SHMCONFD_BIN", "shmconfd")
SHMCONFCTL = os.environ.get("SHMCONFCTL_BIN", "shmconfctl")
WAIT = 30.0  # a hang bound, never a way to wait

BASE_CONFIG = {
    "database": {"host": "db.internal", "port": 5432, "pool": {"max_size": 32, "timeout_ms": 250.5}},
    "features": {"beta": True, "ratio": 0.25, "name": "grüße ✓"},
    "servers": [{"host": "edge-1", "port": 8080}, {"host": "edge-2", "port": 8081}],
    "empty_list": [],
    "empty_obj": {},
    "limits": {"min": -(2**63), "max": 2**63 - 1, "neg_zero": -0.0, "big": 1e300},
}


class Daemon:
    def __init__(self, tmp, config, name="app", extra=()):
        self.tmp = tmp
        self.name = name
        # The salt keeps a reused pid from meeting objects a killed run left.
        self.prefix = f"py{os.getpid()}x{next(_counter)}r{_SALT}"
        self.source = os.path.join(tmp, "app.json")
        self.socket = os.path.join(tmp, "ctl.sock")
        self.write(config)
        notify_path = os.path.join(tmp, "notify.sock")
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(notify_path)
        self._notify_path = notify_path
        env = dict(os.environ, NOTIFY_SOCKET=notify_path, SHMCONF_PREFIX=self.prefix)
        self.log = open(os.path.join(tmp, "shmconfd.log"), "wb")
        argv = [
            SHMCONFD, "--name", name, "--prefix", self.prefix, "--socket", self.socket,
            "--state-dir", os.path.join(tmp, "state"), "--no-watch", "--source", self.source, *extra,
        ]
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=self.log)
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + WAIT
        pidfd = os.pidfd_open(self.proc.pid)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("shmconfd not ready:\n" + self.log_text())
                ready, _, _ = select.select([self._notify, pidfd], [], [], left)
                if pidfd in ready:
                    raise RuntimeError("shmconfd exited:\n" + self.log_text())
                if self._notify in ready:
                    msg = self._notify.recv(4096).decode()
                    if "READY=1" in msg.split("\n"):
                        return
        finally:
            os.close(pidfd)
            # The daemon notifies around every reload too; a socket nobody
            # reads would fill up and block it, so none is left bound.
            self._notify.close()
            os.unlink(self._notify_path)

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def write(self, config):
        tmp = self.source + ".tmp"
        with open(tmp, "w") as f:
            json.dump(config, f)
        os.rename(tmp, self.source)

    def ctl(self, *args, check=True):
        argv = [SHMCONFCTL, "--name", self.name, "--prefix", self.prefix, "--socket", self.socket]
        r = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=WAIT)
        if check and r.returncode != 0:
            raise RuntimeError(f"shmconfctl {' '.join(args)}: {r.returncode}\n{r.stderr}")
        return r

    def publish(self, config):
        """Writes the source and reloads; returns once the new version is live."""
        self.write(config)
        self.ctl("reload")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(WAIT)
        self.log.close()
        for entry in os.listdir("/dev/shm"):
            if entry.startswith(self.prefix + "."):
                os.unlink(os.path.join("/dev/shm", entry))


def _count():
    n = 0
    while True:
        n += 1
        yield n


_counter = _count()
_SALT = os.urandom(3).hex()


def _daemon(config, extra=()):
    tmp = tempfile.mkdtemp(prefix="shmconf-py-")
    try:
        return Daemon(tmp, config, extra=extra), tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@pytest.fixture(scope="module")
def daemon():
    """One daemon serving BASE_CONFIG, shared by a module's read-only tests."""
    d, tmp = _daemon(BASE_CONFIG)
    yield d
    d.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def fresh_daemon(request):
    """A daemon of the test's own, for tests that publish. A test module may
    set DAEMON_ARGS for extra shmconfd arguments."""
    d, tmp = _daemon(BASE_CONFIG, getattr(request.module, "DAEMON_ARGS", ()))
    yield d
    d.stop()
    shutil.rmtree(tmp, ignore_errors=True)
