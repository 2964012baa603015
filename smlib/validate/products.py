"""Finding, loading and collocating the soil-moisture products of a run for validation.

A product name is an input (``smap``, ``amsr2``, ``ascat``, ``fy3c``, ``model_<name>``, read from
``inputs/``) or a method output (``products/<name>.nc``). :func:`load_sm` reads one variable
(``ssm`` or ``rzsm``), applying the SMAP-like quality flag (``qc == 0`` kept) where present.
:func:`to_grid` brings a product onto a common grid for triple collocation: block mean from a finer
grid (1-km products), the product itself on the same grid, bilinear interpolation between cell
centres from a coarser one (SMAP 0.36 deg, as seed 003 treated SMAP).
"""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from ..errors import DataError, InputError

INPUT_SM = ("smap", "amsr2", "ascat", "fy3c")


def product_path(run_dir: str | os.PathLike, name: str) -> Path:
    """Path of product ``name``: ``inputs/<name>.nc`` for the canonical inputs and models,
    ``products/<name>.nc`` for method outputs. Raises :class:`~smlib.errors.InputError` when absent."""
    run_dir = Path(run_dir)
    if name == "truth":
        raise InputError("truth is not a product: read it with smlib.validate.read_truth")
    if name == "stations":
        raise InputError("stations are the reference, not a gridded product")
    cands = [run_dir / "inputs" / f"{name}.nc", run_dir / "products" / f"{name}.nc"]
    if not (name in INPUT_SM or name.startswith("model_")):
        cands = cands[::-1]
    for p in cands:
        if p.exists():
            return p
    raise InputError(f"product {name!r}: neither {cands[0]} nor {cands[1]} exists")


def available(run_dir: str | os.PathLike, var: str = "ssm") -> list[str]:
    """Names of the products of a run holding ``var`` (inputs first, then method outputs)."""
    run_dir = Path(run_dir)
    names = [n for n in INPUT_SM if (run_dir / "inputs" / f"{n}.nc").exists()]
    names += sorted(p.stem for p in (run_dir / "inputs").glob("model_*.nc"))
    names += sorted(p.stem for p in (run_dir / "inputs").glob("*.nc")
                    if p.stem not in INPUT_SM + ("truth", "stations") and not p.stem.startswith("model_"))
    names += sorted(p.stem for p in (run_dir / "products").glob("*.nc") if not p.stem.endswith("_stations"))
    out = []
    for n in names:
        with xr.open_dataset(product_path(run_dir, n)) as ds:
            if var in ds.data_vars:
                out.append(n)
    return out


def load_sm(run_dir: str | os.PathLike, name: str, var: str = "ssm", use_qc: bool = True) -> xr.DataArray:
    """Variable ``var`` of product ``name`` as a DataArray named ``name`` (attrs kept: the generator's
    recorded error levels travel with it). With ``use_qc``, values where ``qc != 0`` become NaN."""
    from ..io import open_dataset

    path = product_path(run_dir, name)
    ds = open_dataset(path, what=f"soil moisture {var}")
    if var not in ds.data_vars:
        raise InputError(f"{path}: has no {var!r}; it has {', '.join(map(str, ds.data_vars))}")
    da = ds[var]
    if use_qc and "qc" in ds.data_vars and set(ds["qc"].dims) == set(da.dims):
        da = da.where(ds["qc"] == 0)
    attrs = {**ds.attrs, **da.attrs}
    da = da.astype("float64")
    da.attrs = attrs
    return da.rename(name)


def to_grid(da: xr.DataArray, grid, coarser: str = "nearest") -> xr.DataArray:
    """``da`` on :class:`smlib.grid.Grid` ``grid``: block mean when finer, unchanged when on the same
    cells; when coarser (SMAP 0.36 deg onto 0.25 deg), ``coarser="nearest"`` gives each target cell
    the value of the cell containing its centre (a gap stays one gap) and ``"bilinear"``
    interpolates between cell centres as seed 003 did (a missing neighbour makes the target
    missing, which costs many samples under swath gaps). Attributes are kept."""
    from ..grid import bilinear, block_mean, grid_of, replicate

    if coarser not in ("nearest", "bilinear"):
        raise DataError(f"coarser: must be 'nearest' or 'bilinear', got {coarser!r}")

    g = grid_of(da)
    if g.res < grid.res * (1 - 1e-6):
        out = block_mean(da, grid)
    elif abs(g.res - grid.res) <= 1e-6 * grid.res:
        out = da.reindex(lat=grid.lat, lon=grid.lon, method="nearest", tolerance=grid.res / 4)
    elif coarser == "bilinear":
        out = bilinear(da, grid.lat, grid.lon)
    else:
        out = replicate(da, grid.lat, grid.lon)
    out = out.assign_coords(lat=grid.lat, lon=grid.lon)
    out.attrs = dict(da.attrs)
    return out.rename(da.name)


def collocated(run_dir: str | os.PathLike, names, grid, var: str = "ssm", use_qc: bool = True,
               coarser: str = "nearest") -> list[xr.DataArray]:
    """Products ``names`` loaded and brought onto ``grid`` (:func:`to_grid`), aligned on their
    common dates."""
    das = [to_grid(load_sm(run_dir, n, var, use_qc), grid, coarser) for n in names]
    das = list(xr.align(*das, join="inner"))
    if das and das[0].sizes.get("time", 0) == 0:
        raise DataError(f"products {', '.join(names)} share no dates")
    return das


def recorded_error(da: xr.DataArray) -> dict:
    """The error levels the synthetic generator recorded in a product's attrs: ``error_sd``
    (nominal), ``realised_error_sd`` and ``realised_bias`` (as realised against the truth) and their
    units; NaN where not recorded (real data, method outputs)."""
    def _f(k):
        v = da.attrs.get(k)
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("nan")

    return {"recorded_error_sd": _f("error_sd"), "realised_error_sd": _f("realised_error_sd"),
            "realised_bias": _f("realised_bias"),
            "units": str(da.attrs.get("realised_units", da.attrs.get("error_units", da.attrs.get("units", ""))))}

