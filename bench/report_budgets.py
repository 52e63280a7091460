"""bench/report_budgets.py — the budgets of docs/PERFORMANCE.md for
bench/report.py: each a ratio against a baseline measured in the same run,
with PASS or MISS."""

from report_results import fmt_ms, fmt_ns, fmt_ratio, kb_label, ns, read_time, table, verdict


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
