"""Stage-08 figures: TC maps, station box plots, a Taylor diagram, station series with precipitation.

All axes carry units and every colour scale a colour bar (book conventions); maps go through
:mod:`smlib.plotting` (offline-safe cartopy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: colour-bar / axis labels of the TC outputs
TC_LABELS = {"err_sd": "TC error standard deviation [m3/m3]", "tc_r": "TC-R, correlation with truth [-]",
             "snr_db": "signal-to-noise ratio [dB]", "err_sd_scaled": "TC error sd, first product's units"}
METRIC_LABELS = {"r": "Pearson r [-]", "ubrmse": "ubRMSE [m3/m3]", "bias": "bias [m3/m3]", "rmse": "RMSE [m3/m3]",
                 "mae": "MAE [m3/m3]"}


def tc_maps(tcs: dict, var: str = "err_sd", ncols: int = 3, vmin=None, vmax=None):
    """Small multiples of a TC output (``err_sd`` or ``tc_r``...) for every product of every
    triplet in ``tcs`` (``{"a/b/c": Dataset}``), one shared colour bar; error sds of products not in
    m3/m3 (a ``units`` coordinate from :func:`smlib.validate.report.tc_triplets`) are left out.
    Returns the figure, or ``None`` when there is nothing to map."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from ..plotting import map_field

    fields = {}
    for key, tc in tcs.items():
        for p in tc["product"].values:
            t = tc.sel(product=p)
            if var.startswith("err_sd") and "units" in t.coords and str(t["units"].values) not in ("m3/m3", ""):
                continue  # an error sd in other units (% saturation) does not share the colour scale
            fields[f"{p}\n({key})"] = t[var].where(t["valid"])
    if not fields:
        return None
    vals = np.concatenate([np.asarray(f.values, float).ravel() for f in fields.values()])
    vals = vals[np.isfinite(vals)]
    if vmin is None:
        vmin = float(np.percentile(vals, 2)) if vals.size else 0.0
    if vmax is None:
        vmax = float(np.percentile(vals, 98)) if vals.size else 1.0
    if vmax <= vmin:
        vmax = vmin + 1e-6
    cmap = "magma_r" if var.startswith("err") else "viridis"
    n = len(fields)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    # plain lon/lat axes (equal-angle, as PlateCarree): many small panels draw far faster than GeoAxes
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols + 1.2, 3.0 * nrows), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    for ax, (title, da) in zip(axes.flat, fields.items()):
        map_field(da, ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, title=title, colorbar=False, robust=False)
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(4))
        ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(4))
        ax.title.set_fontsize(8)
        ax.label_outer()
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(vmin=vmin, vmax=vmax), cmap=cmap)
    fig.colorbar(sm, ax=list(axes.flat)[:n], shrink=0.8, label=TC_LABELS.get(var, var))
    return fig


def station_boxplots(stn: pd.DataFrame, metrics=("r", "ubrmse"), layer: str = "surface", order=None):
    """Box plots of per-station metrics, one box per product (stations with enough paired days),
    for ``layer``. ``stn`` is the per-station table of :func:`smlib.validate.scoreboard.build_details`.
    Returns the figure, or ``None`` when no station was scored."""
    import matplotlib.pyplot as plt

    d = stn[stn["layer"] == layer] if "layer" in stn else stn
    if d.empty:
        return None
    products = order or list(dict.fromkeys(d["product"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(5.0, 0.7 * len(products)) * len(metrics) / 1.4, 3.8),
                             squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        data, labels = [], []
        for p in products:
            v = d.loc[d["product"] == p, m].to_numpy(float)
            v = v[np.isfinite(v)]
            if v.size:
                data.append(v)
                labels.append(f"{p}\n(n={v.size})")
        if not data:
            ax.set_visible(False)
            continue
        ax.boxplot(data, showfliers=True)
        ax.set_xticks(np.arange(1, len(labels) + 1), labels, rotation=60, ha="right", fontsize=8)
        ax.set_ylabel(METRIC_LABELS.get(m, m))
        ax.set_title(f"{m} at stations ({layer})")
        ax.grid(axis="y", alpha=0.3)
    return fig


def taylor_diagram(points: pd.DataFrame, reference: str = "truth", ax=None, max_ratio: float | None = None):
    """Taylor (2001) diagram: each product at radius ``sd_ratio`` (normalised standard deviation)
    and angle ``arccos(r)``; the reference at (1, r = 1); grey arcs of constant normalised centred
    RMS difference. ``points`` from :func:`smlib.validate.report.taylor_points`. Returns the axes
    (``None`` when there are no points)."""
    import matplotlib.pyplot as plt

    p = points.dropna(subset=["sd_ratio", "r"])
    if p.empty:
        return None
    rmax = max_ratio or max(1.5, float(p["sd_ratio"].max()) * 1.1)
    if ax is None:
        fig = plt.figure(figsize=(5.6, 5.0))
        ax = fig.add_subplot(projection="polar")
    ax.set_thetamin(0)
    ax.set_thetamax(90 if (p["r"] >= 0).all() else 180)
    ax.set_rlim(0, rmax)
    rr = np.array([0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99])
    ax.set_thetagrids(np.degrees(np.arccos(rr)), [f"{v:g}" for v in rr])
    th = np.linspace(0, np.pi, 200)
    for c in (0.25, 0.5, 0.75, 1.0, 1.25):
        x = 1 + c * np.cos(th)
        y = c * np.sin(th)
        rad = np.hypot(x, y)
        ang = np.arctan2(y, x)
        keep = rad <= rmax
        ax.plot(ang[keep], rad[keep], color="0.7", lw=0.6, ls="--")
    ax.plot(np.linspace(0, np.pi / 2, 100), np.ones(100), color="k", lw=0.6, ls=":")
    ax.plot([0], [1], marker="*", ms=12, color="k", label=reference)
    markers = "osD^v<>phX"
    for i, row in enumerate(p.itertuples()):
        ax.plot([np.arccos(np.clip(row.r, -1, 1))], [row.sd_ratio], marker=markers[i % len(markers)], ls="",
                ms=7, label=row.product)
    ax.text(0.5, -0.12, "standard deviation / reference standard deviation [-]", transform=ax.transAxes,
            ha="center", va="top", fontsize=9)
    ax.text(np.radians(45), rmax * 1.12, "Pearson r [-]", ha="center", va="center", rotation=-45, fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    ax.set_title(f"Taylor diagram against the {reference} (grey: centred RMS / reference sd)", fontsize=9)
    return ax


def station_timeseries(data: dict, name: str = "ssm", ax=None):
    """Observed and product series at one station with precipitation bars
    (``data`` from :func:`smlib.validate.report.station_series`). Returns the axes."""
    from ..plotting import station_series

    series = {f"station {data['station']} (observed)": data["observed"], **data["products"]}
    lc = f", land cover {data['landcover']}" if data.get("landcover") is not None else ""
    ax = station_series(data["time"], series, precip=data.get("precip"), ax=ax, name=name,
                        title=f"station {data['station']}{lc}")
    ax.figure.autofmt_xdate()
    return ax
