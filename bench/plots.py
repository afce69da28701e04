"""bench.py's figures: what a run measured, drawn for people to compare.

    import plots
    plots.draw_scenario(path, title, results, panels)   # one per scenario
    plots.draw_targets(path, checks)                     # issue #18's rows

Each scenario's figure has a panel of bars per figure (server CPU per
request, requests/s ...), one bar per server: the median of its runs, the
min-max of the runs as an error bar, each run a dot; and a panel of wrk's
latency percentiles (p50, p75, p90, p99), one group per percentile, on a
log scale. The targets' figure puts each of issue #18's rows on one scale,
measured / target, where the side of 1 says met or not.

Drawn with Debian's python3-matplotlib (headless: the Agg back end), a
module of Debian's own python, /usr/bin/python3; PNG or SVG by the file
name's extension. matplotlib is imported on the first draw, so bench.py
loads without it.
"""
import math

GREENICORN = "#2e8b57"  # greenicorn's rows
# Its variants (greenicorn-epoll, -prealloc, -base): other greens, so that
# the latency panel's legend tells them apart.
GREENICORN_VARIANTS = ("#8fd19e", "#1b5e3a", "#c7e9c0", "#4f9d69")
OTHERS = ("#4c72b0", "#dd8452", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
LATENCIES = (("p50", "p50"), ("p75", "p75"), ("p90", "p90"), ("p99", "p99"))


def pyplot():
    import matplotlib
    matplotlib.use("Agg")  # no display: files only
    # SVG: text as text (searchable, smaller), the same file for the same figures.
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "greenicorn-bench"
    import matplotlib.pyplot as plt
    return plt


def save(plt, fig, path):
    # No date in an SVG: a figure redrawn from the same figures is the same file.
    fig.savefig(path, metadata={"Date": None} if path.endswith(".svg") else None)
    plt.close(fig)


def colours(names):
    others = iter(OTHERS * 3)
    variants = iter(GREENICORN_VARIANTS * 3)
    return [GREENICORN if n == "greenicorn" else
            next(variants) if n.startswith("greenicorn") else next(others) for n in names]


def figure(r, key):
    """(median, low, high, runs) of R's KEY; NaN where it has none."""
    v = r.get(key)
    if not isinstance(v, (int, float)):
        return math.nan, math.nan, math.nan, []
    lo, hi = r.get("spread", {}).get(key, (v, v))
    return float(v), float(lo), float(hi), list(r.get("values", {}).get(key, [v]))


def number(v):
    """V as a reader wants it on a bar: 145,000 or 5.83."""
    return "{:,.0f}".format(v) if abs(v) >= 1000 else "%.3g" % v


def bars(ax, rows, key, label):
    names = list(rows)
    med, lo, hi, runs = zip(*(figure(rows[n], key) for n in names))
    x = range(len(names))
    err = [[m - l if m == m else 0 for m, l in zip(med, lo)],
           [h - m if m == m else 0 for m, h in zip(med, hi)]]
    ax.bar(x, med, yerr=err, capsize=4, color=colours(names), ecolor="black")
    for i, vals in enumerate(runs):
        ax.plot([i] * len(vals), vals, ".", color="black", markersize=3)
    top = max([h for h in hi if h == h] or [1.0])
    for i, m in enumerate(med):
        if m == m:
            ax.text(i, top * 1.02, number(m), ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, top * 1.15)
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    ax.set_title(label, fontsize=9)


def latency(ax, rows, keys):
    names = list(rows)
    width = 0.8 / len(names)
    for j, (name, colour) in enumerate(zip(names, colours(names))):
        med, lo, hi, _ = zip(*(figure(rows[name], k) for k, _ in keys))
        x = [i + (j - (len(names) - 1) / 2) * width for i in range(len(keys))]
        err = [[m - l if m == m else 0 for m, l in zip(med, lo)],
               [h - m if m == m else 0 for m, h in zip(med, hi)]]
        ax.bar(x, med, width, yerr=err, capsize=2, color=colour, ecolor="black",
               label=name)
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter
    plain = FuncFormatter(lambda v, _: "%g" % v)  # 0.5, not 5 x 10^-1
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="both", labelsize=7)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([label for _, label in keys], fontsize=8)
    ax.set_title("latency, ms (log scale)", fontsize=9)
    ax.legend(fontsize=7)


def has(rows, key):
    return any(isinstance(r.get(key), (int, float)) and r.get(key) > 0
               for r in rows.values())


def draw_scenario(path, title, results, panels, latencies=LATENCIES):
    """Draw RESULTS (server name -> bench.summarize()d row) to PATH: a
    panel of bars for each (key, label) of PANELS the runs have, and the
    LATENCIES percentiles when they have them. Servers skipped are left
    out, and named under the panels. Returns PATH, or None when there was
    nothing to draw."""
    rows = {n: r for n, r in results.items() if r and "skipped" not in r}
    panels = [(k, label) for k, label in panels if has(rows, k)]
    lat = [(k, label) for k, label in latencies if has(rows, k)]
    count = len(panels) + (1 if lat else 0)
    if not rows or not count:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, count, figsize=(3.2 + 2.6 * count, 3.8), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        bars(ax, rows, key, label)
    if lat:
        latency(axes[0][-1], rows, lat)
    runs = max(r.get("runs", 1) for r in rows.values())
    fig.suptitle(title + ("\nmedian of %d runs, min-max as error bars, each run a dot" % runs
                          if runs > 1 else ""), fontsize=9)
    fig.tight_layout()
    missing = [n for n, r in results.items() if r and "skipped" in r]
    if missing:  # said, so a missing bar is not read as a zero
        fig.subplots_adjust(bottom=0.28)
        fig.text(0.01, 0.01, "not drawn (see the table): " + ", ".join(missing), fontsize=7)
    save(plt, fig, path)
    return path


def draw_targets(path, checks):
    """Issue #18's rows (bench.lead_checks()) on one scale: measured over
    target for a ceiling, target over measured for a floor, so a bar below
    1 is met whichever way the target points. Rows not measured are left
    out. Returns PATH, or None when none was measured."""
    rows = [c for c in checks if c["value"]]
    if not rows:
        return None
    plt = pyplot()
    share = [c["value"] / c["limit"] if c["op"] == "<=" else c["limit"] / c["value"]
             for c in rows]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
    y = list(range(len(rows)))
    # Bars from 1 (the target) to the share, on a log scale: 0.5 and 2 are
    # as far from the target, and a row 20 times off does not flatten the rest.
    ax.barh(y, [v - 1 for v in share], left=1,
            color=[GREENICORN if v <= 1 else "#c44e52" for v in share])
    ax.set_xscale("log")
    lo, hi = min(share + [1.0]), max(share + [1.0])
    ax.set_xlim(lo / 1.6, hi * 1.6)
    for i, v in zip(y, share):
        ax.text(v * (1.05 if v >= 1 else 1 / 1.05), i, "%.2f" % v, va="center",
                ha="left" if v >= 1 else "right", fontsize=7)
    ax.axvline(1.0, color="black", linewidth=1)
    from matplotlib.ticker import FuncFormatter
    plain = FuncFormatter(lambda v, _: "%g" % v)
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="both", labelsize=7)
    ax.set_yticks(y)
    ax.set_yticklabels([c["what"] for c in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("measured / target, log scale (<= 1: met)", fontsize=8)
    ax.set_title("issue #18's targets (medians)", fontsize=9)
    fig.tight_layout()
    save(plt, fig, path)
    return path
