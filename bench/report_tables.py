"""bench/report_tables.py — the detail tables of bench/report.py: reads, reads
under a reload storm, reload/rollback/notification, fleet, and the lines
describing each run's machine."""

import os

from report_results import READ_METHODS, fmt_ms, fmt_ns, fmt_ratio, kb_label, ns, read_time, table


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


SHAPES = ((0, "services, keys sorted (the inputs above)"), (1, "services, keys unsorted"),
          (2, "one flat object, keys unsorted"), (3, "long escaped strings"),
          (4, "services, with a JSON Schema"))


def shape_table(res):
    """BM_ReloadShape: JSON inputs of other shapes beside the services config
    (bench/reload_shapes.cpp), rename → readable with the service's stages."""
    rows = []
    for shape, name in SHAPES:
        for kb in (1000, 10000):
            vis = (res.get("BM_ReloadVisible", fmt=0, kb=kb) if shape == 0
                   else res.get("BM_ReloadShape", shape=shape, kb=kb))
            if not vis:
                continue
            mb = vis["bytes"] / 1e6
            rows.append([name, "%.3g" % mb, "%d" % vis["keys"] if "keys" in vis else "—",
                         fmt_ms(vis["median_ms"]), "%.1f" % (vis["median_ms"] / mb),
                         fmt_ratio(vis["per_baseline"]) if "per_baseline" in vis else "—"]
                        + [fmt_ms(vis["stage_%s_ms" % st]) if "stage_%s_ms" % st in vis else "—"
                           for st in ("load", "validate", "build", "publish")])
    if len(rows) <= 2:
        return ""
    return ("**JSON inputs of other shapes** (BM_ReloadShape, medians; the service's own stages: "
            "load = read, parse and merge; build = layout, content hash and change list beside "
            "it, segment written and checked; publish = the flip)\n\n" + table(
                ["shape", "MB", "keys", "rename → readable", "ms/MB", "/ simdjson (paired)",
                 "load", "validate", "build", "publish"], rows))


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
    shapes = shape_table(res)
    if shapes:
        out.append(shapes)
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
