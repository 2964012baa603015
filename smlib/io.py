"""Reading and writing the run layout (DESIGN.md sections 3 and 4).

Layout under a run directory ``data/runs/<study>/``::

    study.yml                 the effective study (after --set), written by the runner
    inputs/<name>.nc          canonical inputs (static, modis, glass, smap, amsr2, ascat, fy3c,
                              model_<name>, forcing, stations; synthetic studies also hold the
                              reference fields that only smlib.validate reads)
    products/<product>.nc     method outputs: variables ``ssm`` and/or ``rzsm`` (m3/m3) on the
                              product's own grid; products scored at stations from
                              cross-validation also write ``products/<product>_stations.nc``
    tables/<stage>_<what>.csv tables a stage writes for the book and for later stages
    models/                   trained model weights
    scoreboard.csv            written by stage 08
    run_log.csv               one row per stage execution with its wall time

Every file goes through :func:`write_dataset` / :func:`write_table`: provenance attributes and an
atomic write (temporary file, then rename), so an interrupted run never leaves a half-written file
where a good one stood. :func:`read_input` reads only the inputs listed in :data:`CANONICAL` (and
``model_<name>``): the synthetic study's reference fields are not among them and are read only by
:mod:`smlib.validate`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import InputError

#: What each canonical input holds (used in error messages and the data-prep table).
CANONICAL: dict[str, str] = {
    "static": "fine-grid static fields: dem, slope, landcover, water_fraction (optional sand, clay)",
    "modis": "fine-grid daily MODIS-like ndvi, evi (16-day composites), lst_day, nsdsi (8-day), with cloud gaps",
    "glass": "0.05 deg gap-free daily GLASS-like ndvi, lst_day",
    "smap": "0.36 deg daily SMAP-like ssm, tbv_asc, tbh_asc, tbv_des, tbh_des, qc, with swath gaps",
    "amsr2": "0.25 deg daily AMSR2-like ssm and C1/C2/X brightness temperatures (asc/des)",
    "ascat": "0.25 deg daily ASCAT-like sig40 (dB) and ssm (%)",
    "fy3c": "0.25 deg daily FY3C-like ssm, tbv_x, tbh_x",
    "esacci": "0.25 deg daily ESA CCI SM (combined) ssm, real-data studies only",
    "forcing": "0.25 deg daily precip, precip_mswep, t2m, ssrd, vpd, wind",
    "stations": "station time series (station, time): ssm, rzsm, precip",
}
MODEL_DESCRIPTION = "0.25 deg daily gap-free model ssm, rzsm"


def describe_input(name: str) -> str:
    """What the canonical input ``name`` should contain."""
    if name.startswith("model_"):
        return MODEL_DESCRIPTION
    return CANONICAL.get(name, "a canonical input (see DESIGN.md section 4)")


# ---------------------------------------------------------------------------------- provenance
def git_commit(repo: Path | None = None) -> str:
    """The current git commit of the repository holding smlib, or ``"unknown"``."""
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def param_hash(params: dict | None) -> str:
    """A short, stable hash of a parameter mapping (JSON with sorted keys)."""
    blob = json.dumps(params or {}, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def provenance(study: str | None = None, params: dict | None = None) -> dict:
    """Provenance attributes added to every file: smlib version, git commit, study, parameter hash, time."""
    from . import __version__

    return {
        "smlib_version": __version__,
        "git_commit": git_commit(),
        "study": study or "",
        "parameter_hash": param_hash(params),
        "parameters": json.dumps(params or {}, sort_keys=True, default=str),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# -------------------------------------------------------------------------------------- writing
def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def write_dataset(ds: xr.Dataset | xr.DataArray, path: str | os.PathLike, study: str | None = None,
                  params: dict | None = None, compress: bool = False) -> Path:
    """Write ``ds`` to NetCDF at ``path`` atomically, with provenance attrs and CRS (EPSG:4326).

    Float64 data variables are stored as float32. Returns the path.
    """
    path = Path(path)
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or "data")
    ds = ds.copy()
    ds.attrs.update(provenance(study, params))
    if "lat" in ds.dims and "lon" in ds.dims:
        import rioxarray  # noqa: F401  (registers the .rio accessor)

        ds = ds.rio.write_crs("EPSG:4326")
    encoding = {}
    for name, var in ds.data_vars.items():
        enc = {}
        if var.dtype == np.float64:
            enc["dtype"] = "float32"
        if compress and var.dtype.kind in "fiu":
            enc.update(zlib=True, complevel=1)
        if enc:
            encoding[name] = enc
    tmp = _atomic_target(path)
    try:
        ds.to_netcdf(tmp, encoding=encoding)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_table(df, path: str | os.PathLike) -> Path:
    """Write a pandas DataFrame to CSV atomically (index kept only if named)."""
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        df.to_csv(tmp, index=df.index.name is not None)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write text atomically."""
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# -------------------------------------------------------------------------------------- reading
def open_dataset(path: str | os.PathLike, what: str = "", load: bool = True) -> xr.Dataset:
    """Open a NetCDF file with a clear error if it is missing or unreadable.

    ``what`` says what the file should contain (used in the message).
    """
    path = Path(path)
    if not path.exists():
        hint = f"; it should contain {what}" if what else ""
        raise InputError(f"{path}: file not found{hint}")
    try:
        ds = xr.open_dataset(path)
    except Exception as exc:  # noqa: BLE001 -- any backend failure becomes one clear message
        hint = f" (expected {what})" if what else ""
        raise InputError(f"{path}: cannot be read as NetCDF{hint}: {type(exc).__name__}: {exc}") from None
    if load:
        ds = ds.load()
        ds.close()
    return ds


def inputs_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "inputs"


def products_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "products"


def tables_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "tables"


def read_input(run_dir: str | os.PathLike, name: str, variables=None, load: bool = True) -> xr.Dataset:
    """Read canonical input ``name`` (``static``, ``smap``, ``model_gleam``...) of a run.

    ``variables`` selects variables and raises :class:`InputError` naming any that are absent.
    Only canonical method inputs are served; anything else (including the synthetic study's
    reference fields, which only :mod:`smlib.validate` reads) is refused with the list of valid names.
    """
    if name not in CANONICAL and not name.startswith("model_"):
        raise InputError(f"{name!r} is not a canonical method input; valid: {', '.join(CANONICAL)}, model_<name>")
    path = inputs_dir(run_dir) / f"{name}.nc"
    ds = open_dataset(path, what=describe_input(name), load=load)
    return select_variables(ds, variables, path, f"it should contain {describe_input(name)}")


def select_variables(ds: xr.Dataset, variables, path, hint: str = "", kind: str = "variable") -> xr.Dataset:
    """``ds[variables]`` (a name or a list; ``None`` = all), or :class:`InputError` naming the file,
    the missing ``kind`` entries, those it has, and ``hint``."""
    if variables is None:
        return ds
    variables = [variables] if isinstance(variables, str) else list(variables)
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        tail = f"; {hint}" if hint else ""
        raise InputError(f"{path}: lacks {kind}(s) {', '.join(missing)}; it has "
                         f"{', '.join(map(str, ds.data_vars))}{tail}")
    return ds[variables]


def has_input(run_dir: str | os.PathLike, name: str) -> bool:
    return (inputs_dir(run_dir) / f"{name}.nc").exists()


def model_names(run_dir: str | os.PathLike) -> list[str]:
    """Names of the model products present (``gleam``, ``noah``...)."""
    return sorted(p.stem[len("model_"):] for p in inputs_dir(run_dir).glob("model_*.nc"))


def write_product(run_dir: str | os.PathLike, product: str, ds: xr.Dataset, study: str | None = None,
                  params: dict | None = None) -> Path:
    """Write method output ``product`` (variables ``ssm``/``rzsm`` in m3/m3) to ``products/``."""
    return write_dataset(ds, products_dir(run_dir) / f"{product}.nc", study=study, params=params)


def read_product(run_dir: str | os.PathLike, product: str, load: bool = True) -> xr.Dataset:
    """Read ``products/<product>.nc``; the error names the stage that writes it."""
    from .runner import PRODUCT_STAGE

    stage = PRODUCT_STAGE.get(product.removesuffix("_stations"), "the stage that makes it")
    return open_dataset(products_dir(run_dir) / f"{product}.nc",
                        what=f"product {product!r}, written by {stage}", load=load)


def list_products(run_dir: str | os.PathLike) -> list[str]:
    """Names of the gridded products present (``*_stations`` files excluded)."""
    return sorted(p.stem for p in products_dir(run_dir).glob("*.nc") if not p.stem.endswith("_stations"))
