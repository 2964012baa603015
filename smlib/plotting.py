"""Plot helpers for the book: maps, station time series, scatter/density, with units and colour bars.

Maps use cartopy (PlateCarree). Coastlines are drawn only where Natural Earth data is already on disk
(cartopy downloads it on first use, which fails offline): :func:`coastlines_available` checks, and
when it is absent the map is drawn without them and :func:`map_note` says so. Nothing here ever
touches the network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .catalog import label as _label
from .catalog import lookup

#: default colour maps by variable family
CMAPS = {"ssm": "YlGnBu", "rzsm": "YlGnBu", "ndvi": "YlGn", "evi": "YlGn", "lst_day": "inferno", "t2m": "inferno",
         "dem": "terrain", "slope": "copper", "precip": "Blues", "err_sd": "magma_r", "tb": "viridis",
         "sig40": "cividis", "nsdsi": "BrBG_r", "bias": "RdBu_r", "diff": "RdBu_r"}


def set_style() -> None:
    """The book's matplotlib style (readable fonts, tight layout, inline-friendly DPI)."""
    import matplotlib as mpl

    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "font.size": 10, "axes.titlesize": 10,
                         "axes.labelsize": 10, "legend.fontsize": 9, "figure.constrained_layout.use": True,
                         "axes.grid": False})


def coastlines_available() -> bool:
    """True if cartopy's Natural Earth coastline shapefile is already on disk (no download)."""
    try:
        import cartopy
    except ImportError:
        return False
    data_dir = Path(cartopy.config.get("data_dir", ""))
    pre = Path(cartopy.config.get("pre_existing_data_dir", "") or "")
    for base in (data_dir, pre):
        for scale in ("10m", "50m", "110m"):
            if (base / "shapefiles" / "natural_earth" / "physical" / f"ne_{scale}_coastline.shp").exists():
                return True
    return False


def map_note() -> str:
    """A sentence for the chapter when coastlines could not be drawn."""
    if coastlines_available():
        return ""
    return ("Maps are drawn without coastlines: cartopy's Natural Earth data is not on this machine and "
            "the book is built offline.")


def _cmap_for(name: str | None) -> str:
    if not name:
        return "viridis"
    for key, cmap in CMAPS.items():
        if name == key or name.startswith(key):
            return cmap
    return "viridis"


def map_field(da, ax=None, name: str | None = None, cmap: str | None = None, vmin=None, vmax=None,
              title: str | None = None, units: str | None = None, colorbar: bool = True, stations=None,
              robust: bool = True):
    """Map a ``(lat, lon)`` field on PlateCarree axes with a labelled colour bar.

    ``name`` is the catalogue variable (for the colour-bar label and colour map; defaults to
    ``da.name``); ``stations`` an optional Dataset with ``lat``/``lon`` to overlay as points.
    ``robust`` sets the colour limits to the 2nd-98th percentiles. Returns the axes.
    """
    import cartopy.crs as ccrs
    import matplotlib.pyplot as plt

    name = name or (str(da.name) if da.name is not None else None)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.2), subplot_kw={"projection": ccrs.PlateCarree()})
    vals = np.asarray(da.values, dtype=float)
    if robust and np.isfinite(vals).any():
        lo, hi = np.nanpercentile(vals, [2, 98])
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    lat, lon = da["lat"].values, da["lon"].values
    dlat = abs(lat[1] - lat[0]) if lat.size > 1 else 0.25
    dlon = abs(lon[1] - lon[0]) if lon.size > 1 else 0.25
    extent = [lon.min() - dlon / 2, lon.max() + dlon / 2, lat.min() - dlat / 2, lat.max() + dlat / 2]
    transform = ccrs.PlateCarree() if hasattr(ax, "projection") else None
    kw = {"transform": transform} if transform is not None else {}
    im = ax.imshow(vals, extent=extent, origin="upper" if lat[0] > lat[-1] else "lower",
                   cmap=cmap or _cmap_for(name), vmin=vmin, vmax=vmax, interpolation="nearest", **kw)
    if transform is not None:
        ax.set_extent(extent, crs=ccrs.PlateCarree())
        if coastlines_available():
            ax.coastlines(linewidth=0.6)
        import matplotlib.ticker as mticker

        gl = ax.gridlines(draw_labels=True, linewidth=0.3, alpha=0.5)
        gl.top_labels = False
        gl.right_labels = False
        gl.xlocator = mticker.MaxNLocator(nbins=3)  # readable longitude labels on small panels
        gl.ylocator = mticker.MaxNLocator(nbins=4)
        gl.xlabel_style = {"size": 8}
        gl.ylabel_style = {"size": 8}
    else:
        ax.set_xlabel("longitude [deg E]")
        ax.set_ylabel("latitude [deg N]")
    if stations is not None:
        ax.scatter(stations["lon"].values, stations["lat"].values, s=12, c="k", marker="^", label="stations",
                   **kw)
    if title:
        ax.set_title(title)
    if colorbar:
        try:
            cb_label = _label(name, units) if name else (units or "")
        except KeyError:
            cb_label = units or ""
        plt.colorbar(im, ax=ax, shrink=0.8, label=cb_label)
    return ax


def map_panel(fields: dict, name: str | None = None, ncols: int = 3, shared: bool = True, cmap=None,
              vmin=None, vmax=None, panel_size=(4.0, 3.4), suptitle: str | None = None):
    """Small multiples: ``fields`` maps titles to ``(lat, lon)`` arrays of the same variable.

    With ``shared`` the panels use one colour range (2nd-98th percentile of all panels) and one
    colour bar. Returns the figure.
    """
    import cartopy.crs as ccrs
    import matplotlib.pyplot as plt

    n = len(fields)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             subplot_kw={"projection": ccrs.PlateCarree()}, squeeze=False)
    if shared:
        allv = np.concatenate([np.asarray(v.values, float).ravel() for v in fields.values()])
        allv = allv[np.isfinite(allv)]
        if allv.size:
            lo, hi = np.percentile(allv, [2, 98])
            vmin = lo if vmin is None else vmin
            vmax = hi if vmax is None else vmax
    im_axes = []
    for ax, (title, da) in zip(axes.flat, fields.items()):
        map_field(da, ax=ax, name=name, cmap=cmap, vmin=vmin, vmax=vmax, title=title, colorbar=not shared,
                  robust=not shared)
        im_axes.append(ax)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    if shared and im_axes:
        import matplotlib as mpl

        sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(vmin=vmin, vmax=vmax), cmap=cmap or _cmap_for(name))
        fig.colorbar(sm, ax=im_axes, shrink=0.8, label=_label(name) if name else "")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def station_series(time, series: dict, precip=None, ax=None, name: str = "ssm", title: str | None = None):
    """Time series at a station: ``series`` maps labels to 1-D arrays over ``time`` (NaN = gap);
    ``precip`` (mm/day) is drawn as bars on an inverted secondary axis. Returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.2))
    t = np.asarray(time)
    for lab, y in series.items():
        y = np.asarray(y, dtype=float)
        few = np.isfinite(y).sum() < 0.5 * y.size
        ax.plot(t, y, marker="." if few else None, ms=3, lw=1.0 if not few else 0.6, label=lab)
    ax.set_ylabel(_label(name))
    ax.set_xlabel("date")
    if precip is not None:
        ax2 = ax.twinx()
        ax2.bar(t, np.asarray(precip, dtype=float), color="tab:blue", alpha=0.35, width=1.0)
        ax2.set_ylabel("precipitation [mm/day]")
        pmax = np.nanmax(np.asarray(precip, dtype=float)) if np.isfinite(np.asarray(precip, float)).any() else 1
        ax2.set_ylim(max(pmax, 1) * 3, 0)
    ax.legend(loc="upper left", ncol=min(4, len(series)), fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def scatter_density(x, y, ax=None, xname: str = "ssm", yname: str = "ssm", xlabel: str | None = None,
                    ylabel: str | None = None, title: str | None = None, gridsize: int = 60, stats: bool = True):
    """Density scatter (hexbin, log counts, colour bar) of ``y`` against ``x`` with the 1:1 line and,
    with ``stats``, n, r, bias and ubRMSE of y against x in the corner. Returns the axes."""
    import matplotlib.pyplot as plt

    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.0))
    if x.size:
        lo = float(min(x.min(), y.min()))
        hi = float(max(x.max(), y.max()))
        hb = ax.hexbin(x, y, gridsize=gridsize, bins="log", mincnt=1, cmap="viridis",
                       extent=(lo, hi, lo, hi))
        plt.colorbar(hb, ax=ax, label="count (log)")
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        if stats and x.size > 2:
            d = y - x
            bias = d.mean()
            ub = np.sqrt(max((d ** 2).mean() - bias ** 2, 0.0))
            r = np.corrcoef(x, y)[0, 1]
            u = lookup(yname)[0] if yname else ""
            ax.text(0.03, 0.97, f"n={x.size}\nr={r:.3f}\nbias={bias:.4f} {u}\nubRMSE={ub:.4f} {u}",
                    transform=ax.transAxes, va="top", fontsize=8,
                    bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    ax.set_xlabel(xlabel or _label(xname))
    ax.set_ylabel(ylabel or _label(yname))
    if title:
        ax.set_title(title)
    return ax
