"""bench/report_results.py — loading Google Benchmark JSON for bench/report.py:
the runs indexed by name and parameters, the number formats and Markdown
table of the report, and which read benchmarks it compares (and by which
clock)."""

import json


# --------------------------------------------------------------------------
# Loading


def parse_name(run_name):
    """'BM_X/keys:1000/random:0/real_time/threads:2' -> ('BM_X', {...})."""
    parts = run_name.split("/")
    params = {}
    for p in parts[1:]:
        if ":" in p:
            k, v = p.split(":", 1)
            if k == "iterations":
                continue
            try:
                params[k] = int(v)
            except ValueError:
                params[k] = v
    params.setdefault("threads", 1)
    return parts[0], params


class Results:
    def __init__(self, files):
        self.contexts = []
        self.benchmarks = []
        # (base, frozenset(params)) -> {"median": run, "min": run, "single": run, ...}
        self.index = {}
        for f in files:
            with open(f) as fh:
                data = json.load(fh)
            # A Google Benchmark file has one "context"; a merged report file "contexts".
            self.contexts.extend(data.get("contexts", [data.get("context", {})]))
            for b in data.get("benchmarks", []):
                self.benchmarks.append(b)
                base, params = parse_name(b.get("run_name", b["name"]))
                key = (base, frozenset(params.items()))
                kind = b.get("aggregate_name", "single") if b.get("run_type") == "aggregate" else "single"
                if b.get("error_occurred"):
                    kind = "error"
                self.index.setdefault(key, {})[kind] = b

    def get(self, base, agg="median", **params):
        """The run of `base` with `params`: the `agg` aggregate when there were
        repetitions, else the single run."""
        params.setdefault("threads", 1)
        runs = self.index.get((base, frozenset(params.items())))
        if not runs:
            return None
        for kind in (agg, "median", "single", "mean"):
            if kind in runs:
                return runs[kind]
        return None

    def error(self, base, **params):
        params.setdefault("threads", 1)
        runs = self.index.get((base, frozenset(params.items()))) or {}
        e = runs.get("error")
        return e.get("error_message") if e else None

    def runs_of(self, base):
        out = []
        for (b, params), runs in self.index.items():
            if b == base:
                out.append((dict(params), runs))
        return out


def ns(run, which="cpu_time"):
    """A run's time in ns."""
    if run is None:
        return None
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[run.get("time_unit", "ns")]
    return run[which] * scale


# --------------------------------------------------------------------------
# Formatting


def fmt_ns(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return "%.2f ms" % (v / 1e6)
    if v >= 1e3:
        return "%.2f µs" % (v / 1e3)
    if v >= 10:
        return "%.0f ns" % v
    return "%.2f ns" % v


def fmt_ms(v):
    if v is None:
        return "—"
    if v >= 100:
        return "%.0f ms" % v
    if v >= 1:
        return "%.1f ms" % v
    if v >= 0.01:
        return "%.3f ms" % v
    return "%.1f µs" % (v * 1e3)


def fmt_ratio(v):
    if v is None:
        return "—"
    if v >= 100:
        return "%.0f×" % v
    if v >= 10:
        return "%.1f×" % v
    return "%.2f×" % v


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def verdict(ok):
    if ok is None:
        return "n/a"
    return "**PASS**" if ok else "**MISS**"


def kb_label(kb):
    return "%d KB" % kb if kb < 1000 else "%d MB" % (kb // 1000)


# --------------------------------------------------------------------------
# The read benchmarks the report compares


READ_METHODS = [
    ("BM_CachedVariable", "cached variable (floor)"),
    ("BM_ReloadableVariable", "cached variable + version check"),
    ("BM_UnorderedMapFind", "std::unordered_map find (bar)"),
    ("BM_ShmconfGetByString", "shmconf get_int(string)"),
    ("BM_ShmconfGetByHandle", "shmconf get_int(Key)"),
    ("BM_ShmconfSnapshotGet", "shmconf Snapshot::get_int (16/pin)"),
    ("BM_ShmconfCApi", "C ABI shmconf_get_int64 (16/pin)"),
    ("BM_LmdbGet", "LMDB mdb_get"),
    ("BM_RedisGet", "Redis GET, loopback (wall time)"),
]
# Benchmarks whose time is spent off this process's CPU: compare wall time.
WALL_TIME = {"BM_RedisGet"}


def read_time(res, base, keys, random, threads=1, agg="min"):
    """ns per read: the fastest of the interleaved repetitions by default.
    Noise on a shared machine only ever adds time, and both sides of every
    ratio are taken the same way; the medians stay in the JSON."""
    run = res.get(base, agg=agg, keys=keys, random=random, threads=threads)
    return ns(run, "real_time" if base in WALL_TIME else "cpu_time")
