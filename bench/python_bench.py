#!/usr/bin/python3
"""Python reads against a Python dict, in the same run (budget in
docs/PERFORMANCE.md: a Python `get` within 3x a dict lookup).

Starts its own shmconfd (a unique shm prefix, a temporary directory) that
publishes KEYS integer keys, fills a dict with the same keys and values,
then times, with timeit, one pass over the keys in a shuffled order for
each way of reading:

    dict[k]           c[k]             (subscript: no method lookup)
    dict.get(k)       c.get(k)         (a method call each side)
                      c.get_int(k)     s.get(k) on a pinned snapshot

The loop itself (`for k in keys: pass`) is timed too and subtracted, so
the figures are the cost of the read. Prints a table, or with --markdown
the section scripts/bench appends to its report. Needs the build tree's
Python package on PYTHONPATH (or the installed one) and shmconfd.

    PYTHONPATH=build-release/python bench/python_bench.py \\
        --shmconfd build-release/daemon/shmconfd
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import timeit

import shmconf

BUDGET = 3.0


def start_daemon(shmconfd, tmp, keys):
    config = {"bench": {f"k{i:05d}": i for i in range(keys)}}
    source = os.path.join(tmp, "bench.json")
    with open(source, "w") as f:
        json.dump(config, f)
    notify_path = os.path.join(tmp, "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(30)
    prefix = f"pybench{os.getpid()}"
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    argv = [shmconfd, "--name", "bench", "--prefix", prefix, "--socket", "none",
            "--no-watch", "--source", source]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while b"READY=1" not in notify.recv(4096).split(b"\n"):  # sd_notify once published
        pass
    notify.close()  # unbound: later notifications fail fast instead of filling a queue
    os.unlink(notify_path)
    return proc, prefix, config["bench"]


def measure(stmt, env, number, repeat):
    """Best of `repeat` timings of `number` passes, in ns per pass."""
    t = timeit.Timer(stmt, globals=env)
    return min(t.repeat(repeat=repeat, number=number)) / number * 1e9


def run(args):
    tmp = tempfile.mkdtemp(prefix="shmconf-pybench-")
    proc = None
    try:
        proc, prefix, values = start_daemon(args.shmconfd, tmp, args.keys)
        c = shmconf.Client("bench", prefix=prefix)
        keys = [f"bench.{k}" for k in values]
        random.Random(1).shuffle(keys)
        d = {f"bench.{k}": v for k, v in values.items()}
        snap = c.snapshot()
        env = {"keys": keys, "d": d, "c": c, "s": snap}
        for k in keys:  # same answers, and the snapshot cache is warm
            assert c[k] == d[k] == c.get_int(k)
        stmts = {
            "loop": "for k in keys: pass",
            "dict[k]": "for k in keys: d[k]",
            "dict.get(k)": "for k in keys: d.get(k)",
            "client[k]": "for k in keys: c[k]",
            "client.get(k)": "for k in keys: c.get(k)",
            "client.get_int(k)": "for k in keys: c.get_int(k)",
            "snapshot.get(k)": "for k in keys: s.get(k)",
        }
        per_pass = {name: measure(stmt, env, args.number, args.repeat) for name, stmt in stmts.items()}
        snap.release()
        c.close()
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            for entry in os.listdir("/dev/shm"):
                if entry.startswith(f"pybench{os.getpid()}."):
                    os.unlink(os.path.join("/dev/shm", entry))
        shutil.rmtree(tmp, ignore_errors=True)
    loop = per_pass.pop("loop")
    return {name: max(ns - loop, 0.0) / args.keys for name, ns in per_pass.items()}, loop / args.keys


def report(ns, loop, args):
    pairs = [("client[k]", "dict[k]"), ("client.get(k)", "dict.get(k)"),
             ("client.get_int(k)", "dict.get(k)"), ("snapshot.get(k)", "dict.get(k)")]
    lines = []
    if args.markdown:
        lines += ["## Python binding: `get` against a `dict` lookup", "",
                  f"{args.keys} integer keys, shuffled; ns per read net of the loop "
                  f"({loop:.1f} ns per iteration); best of {args.repeat}. "
                  f"Budget: within {BUDGET:.0f}x the dict.", "",
                  "| read | ns | dict | ns | ratio | budget |", "| --- | ---: | --- | ---: | ---: | --- |"]
        for a, b in pairs:
            r = ns[a] / ns[b] if ns[b] else float("inf")
            verdict = "PASS" if r <= BUDGET else "MISS"
            lines.append(f"| `{a}` | {ns[a]:.1f} | `{b}` | {ns[b]:.1f} | {r:.2f}x | {verdict} |")
    else:
        lines.append(f"{args.keys} keys, loop {loop:.1f} ns/iteration subtracted")
        for a, b in pairs:
            r = ns[a] / ns[b] if ns[b] else float("inf")
            lines.append(f"{a:>18} {ns[a]:7.1f} ns   {b:>12} {ns[b]:6.1f} ns   ratio {r:5.2f}x")
    print("\n".join(lines))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shmconfd", default=shutil.which("shmconfd") or "shmconfd")
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--number", type=int, default=200, help="passes per timing")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    ns, loop = run(args)
    report(ns, loop, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
