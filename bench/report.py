#!/usr/bin/env python3
"""Turns Google Benchmark JSON from read_bench, reload_bench and fleet_bench into a report.

    bench/report.py --out-json R.json --out-md R.md READ.json RELOAD.json [FLEET.json]
    bench/report.py --out-md R.md R.json      # re-render from a saved report JSON

Merges the inputs into one JSON file (both contexts, all benchmarks) and
writes a Markdown report: the budgets (docs/PERFORMANCE.md) as ratios against baselines
measured in the same run, each with PASS or MISS, then the detail tables.
An input may be a Google Benchmark output file or a merged file this script
wrote; without --out-json nothing but the report and its plots is written.

With matplotlib importable (Debian: python3-matplotlib, for /usr/bin/python3)
it also draws PNG plots next to the report (R-reload.png, R-stages.png,
R-read.png, R-memory.png, R-rollback.png, R-fleet.png) and links them from it; without it
the report says so and carries on.

Python 3 standard library, plus matplotlib for the plots.
"""

import argparse
import json
import os
import re
import sys

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
# The report


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


def budgets(res):
    rows = []
    notes = []

    def ratio(a, b):
        return a / b if (a is not None and b) else None

    def pair(num, den, keys, random, target, ok, wall=False):
        """One budget row comparing two read benchmarks: ratio of the fastest
        repetitions (the verdict), with the ratio of the medians beside it."""
        label = {(1000, 0): "1k hot", (1000000, 1): "1M random"}[(keys, random)]
        if wall:
            a = ns(res.get(num, agg="min", keys=keys, random=random), "real_time")
            b = ns(res.get(den, agg="min", keys=keys, random=random), "real_time")
            am = ns(res.get(num, keys=keys, random=random), "real_time")
            bm = ns(res.get(den, keys=keys, random=random), "real_time")
        else:
            a, b = read_time(res, num, keys, random), read_time(res, den, keys, random)
            am = read_time(res, num, keys, random, agg="median")
            bm = read_time(res, den, keys, random, agg="median")
        r, rm = ratio(a, b), ratio(am, bm)
        return ("%s / %s (medians: %s)" % (fmt_ns(a), fmt_ns(b), fmt_ratio(rm)), fmt_ratio(r),
                target, verdict(ok(r) if r is not None else None), label)

    S, M, L = "BM_ShmconfGetByString", "BM_UnorderedMapFind", "BM_LmdbGet"
    for title, args in [
            ("read by string key, %s: shmconf / unordered_map", (S, M, 1000, 0, "≤ 1.0×", lambda r: r <= 1.0)),
            ("read by string key, %s: LMDB / shmconf", (L, S, 1000, 0, "≥ 10×", lambda r: r >= 10)),
            ("read by string key, %s: shmconf / unordered_map", (S, M, 1000000, 1, "≤ 0.7×", lambda r: r <= 0.7)),
            ("read by string key, %s: LMDB / shmconf", (L, S, 1000000, 1, "≥ 2.5×", lambda r: r >= 2.5))]:
        measured, rr, target, v, label = pair(*args)
        rows.append([title % label, measured, rr, target, v])
    err = res.error("BM_RedisGet", keys=1000, random=0)
    if err:
        rows.append(["read by string key: Redis GET / shmconf", "skipped: " + err, "—", "≥ 1000×", "n/a"])
    else:
        measured, rr, target, v, _ = pair("BM_RedisGet", S, 1000, 0, "≥ 1000×", lambda r: r >= 1000,
                                          wall=True)
        rows.append(["read by string key, 1k hot: Redis GET / shmconf (wall time both)", measured, rr,
                     target, v])
    measured, rr, target, v, _ = pair("BM_ShmconfGetByHandle", "BM_CachedVariable", 1000, 0, "≤ 2×",
                                      lambda r: r <= 2.0)
    rows.append(["read by handle, 1k hot: shmconf Key / cached variable", measured, rr, target, v])
    measured, rr, _, _, _ = pair("BM_ShmconfGetByHandle", "BM_ReloadableVariable", 1000, 0, "—",
                                 lambda r: True)
    rows.append(["read by handle, 1k hot: shmconf Key / cached variable with a version check "
                 "(informational)", measured, rr, "—", "n/a"])

    quiet = res.get("BM_ReadUnderReloadStorm", publisher=0)
    storm = res.get("BM_ReadUnderReloadStorm", publisher=1)
    if quiet and storm:
        q999, s999 = quiet.get("p999_ns"), storm.get("p999_ns")
        errors = storm.get("errors", 0)
        # "Unchanged": within 20%, or within one tick of the ~10 ns timer.
        ok = errors == 0 and s999 <= max(q999 * 1.2, q999 + 10.5)
        rows.append(["reads under a reload storm (%.0f publishes/s): p99.9 storm / quiet, errors"
                     % storm.get("publishes_per_s", 0),
                     "%s / %s, %d errors" % (fmt_ns(s999), fmt_ns(q999), errors),
                     fmt_ratio(ratio(s999, q999)), "unchanged, 0 errors", verdict(ok)])

    for kb in (1000, 10000):
        vis = res.get("BM_ReloadVisible", fmt=0, kb=kb)
        if vis:
            mb = vis["bytes"] / 1e6
            per = vis["median_ms"] / mb
            rows.append(["reload JSON %s, rename → readable by a waiting client, per MB" % kb_label(kb),
                         "%s for %.1f MB" % (fmt_ms(vis["median_ms"]), mb), fmt_ms(per) + "/MB",
                         "≤ 5 ms/MB", verdict(per <= 5)])
    for kb in (1000, 10000):
        vis = res.get("BM_ReloadVisible", fmt=1, kb=kb)
        load = res.get("BM_YamlCppLoad", kb=kb)
        ev = res.get("BM_YamlCppEvents", kb=kb)
        if vis and "per_baseline" in vis:
            # Paired: YAML::Load of the same file timed just before each reload.
            r = vis["per_baseline"]
            extra = ""
            if load and ev:
                extra = "; events-only floor %s, YAML::Load %s in their own runs" % (
                    fmt_ms(ev["median_ms"]), fmt_ms(load["median_ms"]))
            rows.append(["reload YAML %s, rename → readable / YAML::Load (paired)" % kb_label(kb),
                         "%s / %s%s" % (fmt_ms(vis["median_ms"]), fmt_ms(vis["baseline_ms"]), extra),
                         fmt_ratio(r), "≤ 1.2×", verdict(r <= 1.2)])
    for kb in (1, 1000, 10000):
        rb = res.get("BM_Rollback", kb=kb)
        if rb and "flip_median_ms" in rb:
            flip = rb["flip_median_ms"]
            rows.append(["rollback, %s config: rollback() called → flipped" % kb_label(kb),
                         "%s (a waiting client woke after %s; the call returns after %s)"
                         % (fmt_ms(flip), fmt_ms(rb["woke_median_ms"]), fmt_ms(rb["call_median_ms"])),
                         fmt_ms(flip), "≤ 1 ms", verdict(flip <= 1.0)])
    wk = res.get("BM_Wakeup", process=1)
    if wk:
        rows.append(["change notification: flip → waiter in another process, median",
                     "p50 %.1f µs, p99 %.1f µs" % (wk["p50_us"], wk["p99_us"]),
                     "%.1f µs" % wk["p50_us"], "≤ 100 µs", verdict(wk["p50_us"] <= 100)])
    for kb in (1000, 10000):
        st = res.get("BM_ReloadStages", fmt=0, kb=kb)
        if st and st.get("segment_per_json"):
            r = st["segment_per_json"]
            rows.append(["memory: segment / canonical JSON, %s input (%d keys)" % (kb_label(kb), st["keys"]),
                         "%.1f MB / %.1f MB" % (st["segment_bytes"] / 1e6, st["canonical_json_bytes"] / 1e6),
                         fmt_ratio(r), "≤ 2×", verdict(r <= 2)])
    for hosts in (50,):
        put = res.get("BM_FleetPut", hosts=hosts)
        if put:
            rows.append(["fleet, %d hosts: etcd put → every host's waiting reader, p99 (%d changes)"
                         % (hosts, put["changes"]),
                         "p50 %s, p99 %s, max %s" % (fmt_ms(put["p50_ms"]), fmt_ms(put["p99_ms"]),
                                                     fmt_ms(put["max_ms"])),
                         fmt_ms(put["p99_ms"]), "< 100 ms", verdict(put["p99_ms"] < 100)])
        cu = res.get("BM_FleetCatchUp", hosts=hosts)
        if cu:
            rows.append(["fleet, %d hosts: etcd back after %d s down → every reader has the next put"
                         % (hosts, cu["down_s"]),
                         fmt_ms(cu["catch_up_ms"]), fmt_ms(cu["catch_up_ms"]), "≤ 2 s",
                         verdict(cu["catch_up_ms"] <= 2000)])
    fl = ns(res.get("BM_Flag", agg="min"))
    fr = ns(res.get("BM_FlagStringRead", agg="min"))
    if fl is not None and fr is not None:
        fa = res.get("BM_Flag", agg="min").get("allocs_per_read", 0)
        rows.append(["feature flag (flag_bench): Client::flag − string-key read of the flag, "
                     "allocations", "%s − %s, %g allocs" % (fmt_ns(fl), fmt_ns(fr), fa),
                     "%+.1f ns" % (fl - fr), "≤ +10 ns, 0 allocs", verdict(fl - fr <= 10 and fa == 0)])
    fk = ns(res.get("BM_FlagKey", agg="min"))
    if fk is not None and fr is not None:
        ka = res.get("BM_FlagKey", agg="min").get("allocs_per_read", 0)
        rows.append(["feature flag by pre-resolved key (flag_bench): Client::flag(flag_key) − "
                     "string-key read of the flag, allocations",
                     "%s − %s, %g allocs" % (fmt_ns(fk), fmt_ns(fr), ka),
                     "%+.1f ns" % (fk - fr), "≤ +10 ns, 0 allocs", verdict(fk - fr <= 10 and ka == 0)])
    return table(["budget", "measured", "ratio", "target", "verdict"], rows), notes


def fleet_table(res):
    rows = []
    for params, runs in sorted(res.runs_of("BM_FleetPut"), key=lambda pr: pr[0]["hosts"]):
        put = runs.get("single")
        cu = res.get("BM_FleetCatchUp", hosts=params["hosts"])
        if not put:
            continue
        rows.append(["%d" % params["hosts"], "%d" % put["changes"], fmt_ms(put["p50_ms"]),
                     fmt_ms(put["p99_ms"]), fmt_ms(put["max_ms"]), fmt_ms(put["reader_p50_ms"]),
                     fmt_ms(put["reader_p99_ms"]),
                     ("%s (%d s down)" % (fmt_ms(cu["catch_up_ms"]), cu["down_s"])) if cu else "—"])
    if not rows:
        return "No fleet results (fleet_bench did not run, or etcd is not installed)."
    return ("A real etcd on loopback (data on tmpfs) and N shmconfd processes, each its own "
            "prefix, state directory and socket, watching one document key; one reader per host "
            "blocked in wait_for_change. Put → all: from just before the put request until the "
            "slowest host's reader has read the value (includes the etcd source's 10 ms "
            "debounce). Catch-up: etcd killed, started again after the pause; from the moment it "
            "answers, a put, until every reader has read it (includes each daemon's reconnect "
            "backoff, capped at 1 s with jitter).\n\n"
            + table(["hosts", "changes", "put → all p50", "p99", "max", "per reader p50",
                     "per reader p99", "catch-up"], rows))


def read_tables(res):
    out = []
    for threads in sorted({p["threads"] for p, _ in res.runs_of("BM_ShmconfGetByString")}):
        header = ["method"]
        cols = []
        for keys in (1000, 100000, 1000000):
            for random in (0, 1):
                cols.append((keys, random))
                header.append("%s %s" % ({1000: "1k", 100000: "100k", 1000000: "1M"}[keys],
                                         "random" if random else "hot"))
        rows = []
        for base, label in READ_METHODS:
            row = [label]
            for keys, random in cols:
                row.append(fmt_ns(read_time(res, base, keys, random, threads)))
            rows.append(row)
        row = ["shmconf iterate a section (per child)"]
        for keys, random in cols:
            run = res.get("BM_ShmconfIterateSection", keys=keys, random=random, threads=threads)
            row.append(fmt_ns(ns(run) / 100) if run else "—")
        rows.append(row)
        out.append("**threads: %d** — ns per read, CPU time (Redis: wall time), fastest of the "
                   "interleaved repetitions\n\n" % threads
                   + table(header, rows))
    allocs = []
    for base, label in READ_METHODS[2:6]:
        vals = {run.get("allocs_per_read") for _, runs in res.runs_of(base)
                for run in runs.values() if "allocs_per_read" in run}
        if vals:
            allocs.append([label, "%.4g" % max(vals)])
    sec = {run.get("allocs_per_section") for _, runs in res.runs_of("BM_ShmconfIterateSection")
           for run in runs.values() if "allocs_per_section" in run}
    if sec:
        allocs.append(["shmconf iterate a section (per section)", "%.4g" % max(sec)])
    out.append("Allocations during the timed loops (global operator new counted per thread; "
               "worst case over all runs):\n\n" + table(["read path", "allocations per read"], allocs))
    return "\n\n".join(out)


def storm_table(res):
    rows = []
    for pub in (0, 1):
        for params, runs in sorted(res.runs_of("BM_ReadUnderReloadStorm"), key=lambda x: x[0]["threads"]):
            if params.get("publisher") != pub:
                continue
            run = runs.get("median") or runs.get("single")
            if not run:
                continue
            rows.append(["storm" if pub else "quiet", params["threads"],
                         "%.0f" % run.get("publishes_per_s", 0) if pub else "0",
                         fmt_ns(ns(run)), fmt_ns(run["p50_ns"]), fmt_ns(run["p99_ns"]),
                         fmt_ns(run["p999_ns"]), fmt_ns(run["p9999_ns"]), fmt_ns(run["max_ns"]),
                         "%.3g" % run.get("allocs_per_read", 0), "%d" % run.get("errors", 0)])
    return table(["publisher", "reader threads", "publishes/s", "mean (CPU)", "p50", "p99", "p99.9",
                  "p99.99", "max", "allocs/read", "errors"], rows)


def toml_allocs_table(res, sizes):
    """TOML reloads against toml++'s own parse, and allocations per reload
    (BM_Reload's global operator new count) for the three formats."""
    rows = []
    for kb in sizes:
        vis = res.get("BM_ReloadVisible", fmt=2, kb=kb)
        row = [kb_label(kb), fmt_ms(vis["median_ms"]) if vis else "—",
               fmt_ratio(vis["per_baseline"]) if vis and "per_baseline" in vis else "—"]
        for fmt in (0, 1, 2):
            rel = res.get("BM_Reload", fmt=fmt, kb=kb)
            st = res.get("BM_ReloadStages", fmt=fmt, kb=kb)
            if not rel or "allocs_per_reload" not in rel:
                row.append("—")
                continue
            allocs = rel["allocs_per_reload"]
            per_key = " (%.2f)" % (allocs / st["keys"]) if st and st.get("keys") else ""
            row.append("{:,.0f}".format(allocs) + per_key)
        if any(c != "—" for c in row[1:]):
            rows.append(row)
    return ("**TOML, and allocations per reload** (medians; allocations counted by the "
            "benchmark's global `operator new` over a whole `reload()`, per key in parentheses)"
            "\n\n" + table(["input", "TOML rename → readable", "/ toml++ `parse` (paired)",
                             "JSON allocs per reload", "YAML allocs per reload",
                             "TOML allocs per reload"], rows))


def reload_tables(res):
    sizes = (1, 100, 1000, 10000)
    out = []
    for fmt, name in ((0, "JSON"), (1, "YAML")):
        rows = []
        for kb in sizes:
            vis = res.get("BM_ReloadVisible", fmt=fmt, kb=kb)
            rel = res.get("BM_Reload", fmt=fmt, kb=kb)
            pf = res.get("BM_ParseFile", fmt=fmt, kb=kb)
            if fmt == 0:
                floor = res.get("BM_SimdjsonParse", kb=kb)
                floors = [fmt_ms(floor["median_ms"]) if floor else "—"]
            else:
                ld = res.get("BM_YamlCppLoad", kb=kb)
                ev = res.get("BM_YamlCppEvents", kb=kb)
                floors = [fmt_ms(ld["median_ms"]) if ld else "—", fmt_ms(ev["median_ms"]) if ev else "—"]
            if not vis:
                continue
            mb = vis["bytes"] / 1e6
            rows.append([kb_label(kb), "%.3g" % mb] + floors + [
                fmt_ms(pf["median_ms"]) if pf else "—",
                fmt_ms(rel["median_ms"]) if rel else "—",
                fmt_ms(vis["woke_ms"]), fmt_ms(vis["median_ms"]),
                "%.1f" % (vis["median_ms"] / mb),
                fmt_ratio(vis["per_baseline"]) if "per_baseline" in vis else "—"])
        floor_hdr = ["simdjson parse"] if fmt == 0 else ["YAML::Load", "yaml-cpp events"]
        paired = "readable / simdjson (paired)" if fmt == 0 else "readable / YAML::Load (paired)"
        out.append("**%s** (medians)\n\n" % name + table(
            ["input", "MB"] + floor_hdr + ["parse_file", "reload() call", "rename → woken",
                                           "rename → readable", "readable ms/MB", paired], rows))
    out.append(toml_allocs_table(res, sizes))
    rows = []
    for fmt, name in ((0, "JSON"), (1, "YAML"), (2, "TOML")):
        for kb in sizes:
            st = res.get("BM_ReloadStages", fmt=fmt, kb=kb)
            if not st:
                continue
            rows.append(["%s %s" % (name, kb_label(kb)), "%d" % st["keys"],
                         "%.1f MB" % (st["segment_bytes"] / 1e6), "%.1f×" % st.get("segment_per_json", 0)]
                        + [fmt_ms(st[k]) for k in ("parse_ms", "merge_ms", "hash_ms", "build_ms",
                                                   "create_ms", "flip_ms", "to_flip_ms",
                                                   "client_attach_ms", "free_tree_ms")])
    out.append("**Where a reload's time goes** (BM_ReloadStages, medians; the service runs these "
               "steps in this order, then writes the state directory)\n\n" + table(
                   ["input", "keys", "segment", "segment/JSON", "parse", "merge", "hash", "build",
                    "create (shm + write + self-check)", "flip", "sum to flip", "a client's attach",
                    "free tree"], rows))
    rows = []
    for kb in sizes:
        rb = res.get("BM_Rollback", kb=kb)
        if rb:
            rows.append([kb_label(kb), fmt_ms(rb.get("flip_median_ms")), fmt_ms(rb["woke_median_ms"]),
                         fmt_ms(rb["readable_median_ms"]), fmt_ms(rb["call_median_ms"]),
                         fmt_ms(rb["call_max_ms"])])
    out.append("**Rollback** between two retained versions (JSON, medians)\n\n" + table(
        ["config", "call → flipped", "call → waiter woken", "call → waiter readable",
         "rollback() returns", "slowest call"], rows))
    rows = []
    for proc, name in ((1, "another process (fork)"), (0, "another thread")):
        wk = res.get("BM_Wakeup", process=proc)
        if wk:
            rows.append([name, "%.1f µs" % wk["p50_us"], "%.1f µs" % wk["p90_us"],
                         "%.1f µs" % wk["p99_us"], "%.1f µs" % wk["max_us"]])
    out.append("**Change notification**: Publisher::flip → the waiter returns from "
               "wait_for_change (CLOCK_MONOTONIC in both; 200 samples)\n\n"
               + table(["waiter in", "p50", "p90", "p99", "max"], rows))
    return "\n\n".join(out)


def context_lines(res):
    lines = []
    for c in res.contexts:
        exe = os.path.basename(c.get("executable", "?"))
        lines.append("- `%s`: %s, %s CPUs at %s MHz, load average %s, %s" % (
            exe, c.get("date", "?"), c.get("num_cpus", "?"), c.get("mhz_per_cpu", "?"),
            ", ".join("%.2f" % x for x in c.get("load_avg", [])) or "?",
            "git " + c["git"] if "git" in c else ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Plots (optional: python3-matplotlib)

SIZES_KB = (1, 100, 1000, 10000)
FORMATS = ((0, "JSON"), (1, "YAML"))


def _series(points):
    """Drops the missing points of [(x, y), ...]; returns (xs, ys)."""
    pts = [(x, y) for x, y in points if x is not None and y is not None]
    return [x for x, _ in pts], [y for _, y in pts]


def _input_mb(res, fmt, kb):
    """The input's size in MB, as the reload benchmarks measured it."""
    for base in ("BM_ReloadVisible", "BM_ReloadStages", "BM_ParseFile"):
        r = res.get(base, fmt=fmt, kb=kb)
        if r and r.get("bytes"):
            return r["bytes"] / 1e6
    return kb / 1000.0


def _mb_axis(ax, what):
    """A log x axis of sizes in MB, labelled 1 KB, 10 KB, ... 10 MB."""
    from matplotlib.ticker import FuncFormatter
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda x, _: "%g KB" % round(x * 1000, 3) if x < 1 else "%g MB" % round(x, 3)))
    ax.set_xlabel(what)


def plot_reload(res, plt, path):
    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = False
    for (fmt, name), color in zip(FORMATS, ("tab:blue", "tab:orange")):
        xs, ys = _series([(_input_mb(res, fmt, kb), (res.get("BM_ReloadVisible", fmt=fmt, kb=kb) or {})
                           .get("median_ms")) for kb in SIZES_KB])
        if xs:
            ax.plot(xs, ys, "o-", color=color, label="%s reload: rename → readable" % name)
            drawn = True
    for base, fmt, label, color in (("BM_SimdjsonParse", 0, "simdjson parse (floor)", "tab:blue"),
                                    ("BM_YamlCppLoad", 1, "YAML::Load", "tab:orange")):
        xs, ys = _series([(_input_mb(res, fmt, kb), (res.get(base, kb=kb) or {}).get("median_ms"))
                          for kb in SIZES_KB])
        if xs:
            ax.plot(xs, ys, "x--", color=color, alpha=0.6, label=label)
            if fmt == 1:
                ax.plot(xs, [1.2 * y for y in ys], ":", color="tab:red",
                        label="YAML budget: 1.2 × YAML::Load")
    if not drawn:
        plt.close(fig)
        return False
    mbs = [_input_mb(res, 0, kb) for kb in SIZES_KB]
    ax.plot(mbs, [5 * x for x in mbs], "-", color="tab:red", linewidth=1, label="JSON budget: 5 ms/MB")
    _mb_axis(ax, "input size")
    ax.set_yscale("log")
    ax.set_ylabel("ms (median)")
    ax.set_title("Reload: file renamed → readable by a waiting client")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


def plot_read(res, plt, path):
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharey=True)
    drawn = False
    for ax, random in zip(axes, (0, 1)):
        for base, label in READ_METHODS:
            xs, ys = _series([(keys, read_time(res, base, keys, random))
                              for keys in (1000, 100000, 1000000)])
            if xs:
                ax.plot(xs, ys, "o-", label=label)
                drawn = True
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("keys")
        ax.set_title("random keys" if random else "hot set")
        ax.grid(True, which="both", alpha=0.3)
    if not drawn:
        plt.close(fig)
        return False
    axes[0].set_ylabel("ns per read (CPU; Redis: wall), fastest repetition")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize="small")
    fig.suptitle("Read latency per method, 1 thread")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


def plot_memory(res, plt, path):
    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = False
    for (fmt, name), color in zip(FORMATS, ("tab:blue", "tab:orange")):
        xs, ys = _series([(_input_mb(res, fmt, kb), (res.get("BM_ReloadStages", fmt=fmt, kb=kb) or {})
                           .get("segment_per_json")) for kb in SIZES_KB])
        if xs:
            ax.plot(xs, ys, "o-", color=color, label="%s input: segment / canonical JSON" % name)
            drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.axhline(2.0, color="tab:red", linewidth=1, label="budget: 2×")
    _mb_axis(ax, "input size")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("segment bytes / canonical JSON bytes")
    ax.set_title("Memory: snapshot segment against its canonical JSON")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


def plot_rollback(res, plt, path):
    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = False
    for field, label in (("flip_median_ms", "call → flipped"), ("woke_median_ms", "call → waiter woken"),
                         ("readable_median_ms", "call → waiter readable"),
                         ("call_median_ms", "rollback() returns")):
        xs, ys = _series([(_input_mb(res, 0, kb), (res.get("BM_Rollback", kb=kb) or {}).get(field))
                          for kb in SIZES_KB])
        if xs:
            ax.plot(xs, ys, "o-", label=label)
            drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.axhline(1.0, color="tab:red", linewidth=1, label="budget: 1 ms")
    _mb_axis(ax, "config size (JSON)")
    ax.set_yscale("log")
    ax.set_ylabel("ms (median)")
    ax.set_title("Rollback between two retained versions")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


STAGES = (("parse_ms", "parse"), ("merge_ms", "merge"), ("hash_ms", "hash"), ("build_ms", "build"),
          ("create_ms", "create (shm + write + self-check)"), ("flip_ms", "flip"))


def plot_stages(res, plt, path):
    rows = []
    for fmt, name in FORMATS:
        for kb in SIZES_KB:
            st = res.get("BM_ReloadStages", fmt=fmt, kb=kb)
            if st and kb >= 100:
                rows.append(("%s %s" % (name, kb_label(kb)), st))
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(rows) + 2))
    labels = [r[0] for r in rows]
    left = [0.0] * len(rows)
    for field, stage in STAGES:
        shares = []
        for _, st in rows:
            total = sum(st.get(f, 0) for f, _ in STAGES)
            shares.append(100.0 * st.get(field, 0) / total if total else 0)
        ax.barh(labels, shares, left=left, label=stage)
        left = [a + b for a, b in zip(left, shares)]
    for i, (_, st) in enumerate(rows):
        ax.text(101, i, fmt_ms(sum(st.get(f, 0) for f, _ in STAGES)), va="center", fontsize="small")
    ax.invert_yaxis()
    ax.set_xlim(0, 115)
    ax.set_xlabel("% of the time from parse to flip (total on the right)")
    ax.set_title("Where a reload's time goes (BM_ReloadStages, medians)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, fontsize="small")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


def plot_fleet(res, plt, path):
    runs = sorted(res.runs_of("BM_FleetPut"), key=lambda pr: pr[0]["hosts"])
    series = [(p["hosts"], r["single"]["samples_ms"]) for p, r in runs
              if "single" in r and r["single"].get("samples_ms")]
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for hosts, samples in series:
        xs = sorted(samples)
        ys = [100.0 * (i + 1) / len(xs) for i in range(len(xs))]
        ax.plot(xs, ys, label="%d hosts" % hosts)
    ax.axvline(100, color="red", linestyle="--", linewidth=1, label="budget (p99 < 100 ms)")
    ax.set_xscale("log")
    ax.set_xlabel("etcd put → every host's reader has read it (ms)")
    ax.set_ylabel("% of changes")
    ax.set_title("Fleet: one etcd, N daemons on one machine")
    ax.legend(loc="lower right", fontsize="small")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


PLOTS = (("reload", "reload time against input size", plot_reload),
         ("stages", "where a reload's time goes", plot_stages),
         ("read", "read latency per method", plot_read),
         ("memory", "segment size against canonical JSON", plot_memory),
         ("rollback", "rollback latency", plot_rollback),
         ("fleet", "etcd put to every host's reader", plot_fleet))


def plots(res, stem):
    """PNGs next to the report (<stem>-<name>.png) and the Markdown that
    links them, or a sentence saying why there are none."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("No plots: this Python cannot import matplotlib (Debian: `apt-get install "
                "python3-matplotlib`, and run the report with the system's python3, as "
                "scripts/bench does); the tables above carry the same numbers.")
    base = os.path.basename(stem)
    out = []
    for name, title, draw in PLOTS:
        path = "%s-%s.png" % (stem, name)
        if draw(res, plt, path):
            out.append("![%s](%s-%s.png)" % (title, base, name))
        elif os.path.exists(path):
            os.remove(path)  # a stale plot from an earlier run with that data
    return "\n\n".join(out) if out else "No plots: no benchmark in the input has data to plot."


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-json", help="write the merged benchmark JSON here")
    ap.add_argument("--out-md", required=True)
    ap.add_argument("--title", default="")
    ap.add_argument("inputs", nargs="+")
    args = ap.parse_args()

    res = Results(args.inputs)
    if args.out_json:
        with open(args.out_json, "w") as f:
            json.dump({"contexts": res.contexts, "benchmarks": res.benchmarks}, f, indent=1)
            f.write("\n")
    source = ", ".join(os.path.basename(p) for p in ([args.out_json] if args.out_json else args.inputs))

    stem = re.sub(r"\.md$", "", args.out_md)
    budget_table, _ = budgets(res)
    md = []
    md.append("# shmconf benchmark report %s\n" % args.title)
    md.append("Generated by `scripts/bench` (bench/report.py) from `%s`.\n" % source)
    md.append(context_lines(res) + "\n")
    md.append("Read benchmarks: CPU time per read, 7 randomly interleaved repetitions; budgets "
              "compare the fastest repetitions (noise on a shared machine only adds time) and show "
              "the ratio of medians beside them. Wall time would also count the time a thread "
              "was preempted. "
              "Reload benchmarks: medians of fixed iteration counts, wall time. "
              "See docs/PERFORMANCE.md for what the numbers mean.\n")
    md.append("## Budgets\n")
    md.append(budget_table + "\n")
    md.append("## Reads\n")
    md.append(read_tables(res) + "\n")
    md.append("### Reads under a reload storm\n")
    md.append("get_int(string) on 1k hot keys, each read timed with rdtsc (the timer's resolution "
              "here is about 10 ns and its cost is inside every sample); the publisher is a separate "
              "process publishing new 1k-key versions back to back.\n")
    md.append(storm_table(res) + "\n")
    md.append("## Reload, rollback, notification\n")
    md.append(reload_tables(res) + "\n")
    md.append("## Fleet (etcd)\n")
    md.append(fleet_table(res) + "\n")
    md.append("## Plots\n")
    md.append(plots(res, stem) + "\n")
    with open(args.out_md, "w") as f:
        f.write("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
