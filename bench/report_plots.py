"""bench/report_plots.py — the PNG plots of bench/report.py (optional:
python3-matplotlib), drawn next to the report, and the Markdown linking them."""

import os

from report_results import READ_METHODS, fmt_ms, kb_label, read_time

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


def _save(fig, plt, path, ax=None):
    """Writes the figure and closes it; with `ax`, first the grid and legend most plots share."""
    if ax is not None:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


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
    return _save(fig, plt, path, ax)


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
    return _save(fig, plt, path)


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
    return _save(fig, plt, path, ax)


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
    return _save(fig, plt, path, ax)


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
    return _save(fig, plt, path)


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
    return _save(fig, plt, path)


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
