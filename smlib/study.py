"""Study files: load, validate and override ``data/studies/*.yml``.

A study file names a region, a period, the grids, the data source (``synthetic`` or ``files``), a
profile, the generator's parameters and per-stage notebook parameters. :func:`load` validates every
key: an unknown key gets an error naming it and the nearest valid key, a bad value gets a one-line
error naming the key and the rule (:class:`smlib.errors.StudyError`).

Example::

    name: demo
    source: synthetic
    profile: demo
    seed: 42
    region: {west: 100.0, east: 102.0, south: 35.0, north: 37.0}
    period: {start: 2021-04-01, end: 2021-09-30}
    grids: {fine: 0.01, coarse: 0.25, smap: 0.36, glass: 0.05}
    stages:
      downscaling: {n_estimators: 400}
"""

from __future__ import annotations

import ast
import copy
import difflib
import glob
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import StudyError

#: The pipeline stages in order: (key used in study files and ``--set``, notebook stem).
STAGES: list[tuple[str, str]] = [
    ("data_prep", "01_data_prep"),
    ("band_selection", "02_band_selection"),
    ("fusion_estarfm", "03_fusion_estarfm"),
    ("fusion_seamless", "04_fusion_seamless"),
    ("downscaling", "05_downscaling"),
    ("assimilation", "06_assimilation"),
    ("calibration", "07_calibration"),
    ("validation", "08_validation"),
]
STAGE_KEYS = [k for k, _ in STAGES]
PROFILES = ("tiny", "workshop", "demo", "large", "custom")
SOURCES = ("synthetic", "files")
#: Canonical input products (DESIGN.md section 4) a ``files`` study may map.
CANONICAL_PRODUCTS = ("static", "modis", "glass", "smap", "amsr2", "ascat", "fy3c", "esacci", "forcing", "stations")
MODEL_NAMES = ("gleam", "noah", "cldas", "geos5", "era5land")
#: Parameters every notebook receives from the runner; not settable per stage.
RUNNER_PARAMETERS = ("study", "run_dir")

TOP_KEYS = ("name", "description", "source", "profile", "seed", "region", "period", "grids",
            "synthetic", "files", "stages")
REQUIRED = ("name", "source", "region", "period")
REGION_KEYS = ("west", "east", "south", "north")
PERIOD_KEYS = ("start", "end")
GRID_DEFAULTS = {"fine": 0.01, "coarse": 0.25, "smap": 0.36, "glass": 0.05}

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def _err(src: str, key: str, msg: str) -> StudyError:
    return StudyError(f"{src}: {key}: {msg}")


def _nearest(key: str, valid) -> str:
    match = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1, cutoff=0.5)
    hint = f" (did you mean {match[0]!r}?)" if match else ""
    return f"unknown key {key!r}{hint}; valid keys: {', '.join(map(str, valid))}"


def _check_keys(src: str, where: str, got: dict, valid) -> None:
    if not isinstance(got, dict):
        raise _err(src, where, f"must be a mapping, got {type(got).__name__}")
    for k in got:
        if k not in valid:
            raise _err(src, f"{where}.{k}" if where else str(k), _nearest(k, valid))


def _number(src: str, key: str, value, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _err(src, key, f"must be a number, got {value!r}")
    if positive and value <= 0:
        raise _err(src, key, f"must be positive, got {value}")
    return float(value)


def _multiple(a: float, b: float, tol: float = 1e-6) -> bool:
    """True if ``a`` is an integer multiple of ``b`` (within ``tol`` of a whole number)."""
    q = a / b
    return abs(q - round(q)) < tol


# ----------------------------------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class Region:
    """A lon/lat box in degrees (EPSG:4326); edges are multiples of the coarse grid."""

    west: float
    east: float
    south: float
    north: float

    @property
    def width(self) -> float:
        return self.east - self.west

    @property
    def height(self) -> float:
        return self.north - self.south


@dataclass
class Study:
    """A validated study. ``stages[key]`` holds only the parameters the file (or ``--set``) gives."""

    name: str
    source: str
    profile: str
    seed: int
    region: Region
    start: "object"
    end: "object"
    grids: dict
    synthetic: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)
    description: str = ""
    path: Path | None = None
    raw: dict = field(default_factory=dict)

    @property
    def dates(self):
        """Daily ``pandas.DatetimeIndex`` from start to end inclusive (00:00)."""
        import pandas as pd

        return pd.date_range(self.start, self.end, freq="D")

    def run_dir(self, root: str | os.PathLike = "data/runs") -> Path:
        """``<root>/<name>``: where this study's inputs, products and tables are written."""
        return Path(root) / self.name

    def grid(self, which: str):
        """The :class:`smlib.grid.Grid` called ``which`` (``fine``, ``coarse``, ``smap``, ``glass``)."""
        from .grid import Grid

        if which not in self.grids:
            raise KeyError(f"no grid {which!r}; this study has {', '.join(self.grids)}")
        r = self.region
        return Grid(res=self.grids[which], west=r.west, east=r.east, south=r.south, north=r.north)

    def stage_params(self, stage: str) -> dict:
        """The notebook's declared defaults for ``stage`` updated with this study's values."""
        params = stage_parameters(stage)
        params.update(self.stages.get(stage, {}))
        return params

    def to_dict(self) -> dict:
        """The effective study as plain YAML-able data (what the runner writes next to the outputs)."""
        return copy.deepcopy(self.raw)


# ------------------------------------------------------------------------------ notebook parameters
def _notebook_path(stage: str) -> Path:
    stems = dict(STAGES)
    if stage not in stems:
        raise StudyError(f"stages: {_nearest(stage, STAGE_KEYS)}")
    return NOTEBOOK_DIR / f"{stems[stage]}.ipynb"


def stage_parameters(stage: str) -> dict:
    """Defaults declared in the ``parameters``-tagged cell of a stage's notebook (name -> value).

    Parsed with :mod:`ast` (nothing is executed); the runner's own parameters (``study``,
    ``run_dir``) are left out. Only literal assignments are taken.
    """
    path = _notebook_path(stage)
    if not path.exists():
        raise StudyError(f"stages.{stage}: notebook {path} is missing")
    nb = json.loads(path.read_text())
    params: dict = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for node in ast.parse(src).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        params[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        continue
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                    try:
                        params[node.target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        continue
    for p in RUNNER_PARAMETERS:
        params.pop(p, None)
    return params


def _check_stage_value(src: str, key: str, value, default) -> None:
    if default is None or value is None:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        raise _err(src, key, f"must be of type {type(default).__name__} like its default {default!r}, "
                             f"got {value!r}")


# ------------------------------------------------------------------------------------ overrides
def parse_set(expr: str) -> tuple[list[str], object]:
    """Parse ``"stage.key=value"`` (any dotted path) into ``(["stage", "key"], value)``.

    The value is read as YAML, so ``3`` is an int, ``0.5`` a float, ``true`` a bool, ``[1, 2]`` a list.
    """
    if "=" not in expr:
        raise StudyError(f"--set {expr!r}: expected KEY=VALUE such as downscaling.n_estimators=200")
    key, _, value = expr.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise StudyError(f"--set {expr!r}: empty key")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise StudyError(f"--set {expr!r}: value is not valid YAML ({exc.problem})") from None
    return parts, parsed


def apply_overrides(raw: dict, sets=()) -> dict:
    """Return a copy of ``raw`` with each ``"a.b.c=value"`` of ``sets`` applied.

    ``"<stage>.key=value"`` is shorthand for ``"stages.<stage>.key=value"``.
    """
    out = copy.deepcopy(raw)
    for expr in sets or ():
        parts, value = parse_set(expr)
        if parts[0] in STAGE_KEYS:
            parts = ["stages", *parts]
        node = out
        for p in parts[:-1]:
            if not isinstance(node.get(p, {}), dict):
                raise StudyError(f"--set {expr!r}: {p} is not a section")
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


# ------------------------------------------------------------------------------------- loading
def load(path: str | os.PathLike, sets=(), check_stages: bool = True) -> Study:
    """Load and validate a study file, applying ``sets`` (``"stage.key=value"`` strings) first.

    Raises :class:`~smlib.errors.StudyError` with a one-line message naming the file, the key and the
    rule on any problem.
    """
    path = Path(path)
    if not path.exists():
        here = sorted(p.stem for p in path.parent.glob("*.yml")) if path.parent.exists() else []
        hint = f"; studies in {path.parent}: {', '.join(here)}" if here else ""
        raise StudyError(f"{path}: study file not found{hint}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise StudyError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: a study file must be a YAML mapping of keys such as {', '.join(REQUIRED)}")
    raw = apply_overrides(raw, sets)
    return validate(raw, src=str(path), base_dir=path.parent, check_stages=check_stages, path=path)


def validate(raw: dict, src: str = "<study>", base_dir: Path | None = None,
             check_stages: bool = True, path: Path | None = None) -> Study:
    """Validate a study mapping and return a :class:`Study` (see :func:`load`)."""
    import pandas as pd

    _check_keys(src, "", raw, TOP_KEYS)
    for k in REQUIRED:
        if k not in raw:
            raise _err(src, k, "is required")
    name = raw["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise _err(src, "name", f"must be a word of letters, digits, '_' or '-', got {name!r}")
    source = raw["source"]
    if source not in SOURCES:
        raise _err(src, "source", f"must be one of {', '.join(SOURCES)}, got {source!r}")
    profile = raw.get("profile", "custom")
    if profile not in PROFILES:
        raise _err(src, "profile", f"must be one of {', '.join(PROFILES)}, got {profile!r}")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise _err(src, "seed", f"must be a non-negative integer, got {seed!r}")

    # grids
    grids_raw = raw.get("grids", {}) or {}
    _check_keys(src, "grids", grids_raw, tuple(GRID_DEFAULTS))
    grids = dict(GRID_DEFAULTS)
    for k, v in grids_raw.items():
        grids[k] = _number(src, f"grids.{k}", v, positive=True)
    for k in ("coarse", "smap", "glass"):
        if not _multiple(grids[k], grids["fine"]):
            raise _err(src, f"grids.{k}", f"{grids[k]} deg is not a whole multiple of grids.fine "
                                          f"({grids['fine']} deg): coarse cells must hold whole fine pixels")

    # region
    reg = raw["region"]
    _check_keys(src, "region", reg, REGION_KEYS)
    for k in REGION_KEYS:
        if k not in reg:
            raise _err(src, f"region.{k}", "is required")
    vals = {k: _number(src, f"region.{k}", reg[k]) for k in REGION_KEYS}
    if not -180 <= vals["west"] < vals["east"] <= 180:
        raise _err(src, "region.east", f"must be greater than region.west and within [-180, 180] "
                                       f"(west {vals['west']}, east {vals['east']})")
    if not -90 <= vals["south"] < vals["north"] <= 90:
        raise _err(src, "region.north", f"must be greater than region.south and within [-90, 90] "
                                        f"(south {vals['south']}, north {vals['north']})")
    for k in REGION_KEYS:
        if not _multiple(vals[k], grids["coarse"]):
            raise _err(src, f"region.{k}", f"{vals[k]} is not aligned to the coarse grid: region edges must "
                                           f"be multiples of grids.coarse ({grids['coarse']} deg)")
    region = Region(**vals)

    # period
    per = raw["period"]
    _check_keys(src, "period", per, PERIOD_KEYS)
    dates = {}
    for k in PERIOD_KEYS:
        if k not in per:
            raise _err(src, f"period.{k}", "is required")
        try:
            dates[k] = pd.Timestamp(str(per[k])).normalize()
        except (ValueError, TypeError):
            raise _err(src, f"period.{k}", f"must be a date such as 2021-04-01, got {per[k]!r}") from None
    if dates["end"] < dates["start"]:
        raise _err(src, "period.end", f"{dates['end'].date()} is before period.start {dates['start'].date()}: "
                                      "the end must not precede the start")

    # synthetic generator parameters
    synthetic = raw.get("synthetic", {}) or {}
    if synthetic:
        if source != "synthetic":
            raise _err(src, "synthetic", "is only allowed with source: synthetic")
    if source == "synthetic":
        synthetic = _validate_synthetic(src, synthetic)

    # files
    files = raw.get("files", {}) or {}
    if source == "files":
        files = _validate_files(src, files, (base_dir or Path(".")).resolve())
    elif files:
        raise _err(src, "files", "is only allowed with source: files")

    # stages
    stages_raw = raw.get("stages", {}) or {}
    _check_keys(src, "stages", stages_raw, STAGE_KEYS)
    stages = {}
    for stage, params in stages_raw.items():
        params = params or {}
        if not isinstance(params, dict):
            raise _err(src, f"stages.{stage}", f"must be a mapping of parameter: value, got {params!r}")
        if check_stages:
            defaults = stage_parameters(stage)
            for k, v in params.items():
                if k in RUNNER_PARAMETERS:
                    raise _err(src, f"stages.{stage}.{k}", "is set by the runner, not in the study file")
                if k not in defaults:
                    raise _err(src, f"stages.{stage}.{k}", _nearest(k, sorted(defaults)))
                _check_stage_value(src, f"stages.{stage}.{k}", v, defaults[k])
        stages[stage] = dict(params)

    clean = copy.deepcopy(raw)
    clean["grids"] = grids
    return Study(name=name, source=source, profile=profile, seed=seed, region=region,
                 start=dates["start"], end=dates["end"], grids=grids, synthetic=synthetic, files=files,
                 stages=stages, description=str(raw.get("description", "")), path=path, raw=clean)


def _validate_synthetic(src: str, given: dict) -> dict:
    from .synth.params import DEFAULTS, validate_params

    _check_keys(src, "synthetic", given, sorted(DEFAULTS))
    merged = copy.deepcopy(DEFAULTS)
    merged.update(given)
    try:
        return validate_params(merged)
    except ValueError as exc:
        raise StudyError(f"{src}: synthetic.{exc}") from None


def _validate_files(src: str, files: dict, base_dir: Path) -> dict:
    valid = list(CANONICAL_PRODUCTS) + [f"model_{m}" for m in MODEL_NAMES]
    if not isinstance(files, dict) or not files:
        raise _err(src, "files", "a files study must map canonical products (e.g. smap, stations) to files")
    out = {}
    for product, spec in files.items():
        if product not in valid:
            raise _err(src, f"files.{product}", _nearest(product, valid))
        if isinstance(spec, str):
            spec = {"paths": spec}
        if not isinstance(spec, dict) or "paths" not in spec:
            raise _err(src, f"files.{product}", "must be a path (glob) or a mapping with 'paths' and optional "
                                                "'reader' and 'variables'")
        patterns = spec["paths"] if isinstance(spec["paths"], list) else [spec["paths"]]
        resolved = []
        for pat in patterns:
            pat = os.path.expandvars(os.path.expanduser(str(pat)))
            full = pat if os.path.isabs(pat) else str(base_dir / pat)
            hits = sorted(glob.glob(full, recursive=True))
            if not hits:
                raise _err(src, f"files.{product}.paths", f"{pat!r} matches no file (looked for {full}); "
                                                          "paths are relative to the study file's folder")
            resolved.extend(os.path.abspath(h) for h in hits)
        spec = dict(spec)
        spec["resolved"] = resolved
        out[product] = spec
    return out
