"""The pipeline runner: execute the stage notebooks in order with papermill (DESIGN.md section 8).

- Each stage notebook ``notebooks/NN_x.ipynb`` is executed with kernel ``python3`` and the parameters
  ``study`` (the effective study file written to ``<run_dir>/study.yml``), ``run_dir`` and the stage's
  own parameters from the study file (after ``--set`` overrides).
- The executed notebook is written to a temporary file and renamed into the book's chapter folder
  (``book/chapters/NN_x.ipynb``) only on success, so a failure never replaces a good chapter.
- The injected-parameters cell is tagged ``hide-input`` (and its output removed) for the book.
- A failure raises :class:`~smlib.errors.RunError` naming the notebook and the failing cell; the
  partly executed notebook is kept as ``<run_dir>/logs/NN_x.failed.ipynb``. Earlier outputs stay.
- Every stage appends a row (stage, status, seconds, time) to ``<run_dir>/run_log.csv``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import study as _study
from .errors import RunError, StudyError
from .io import write_text

REPO_ROOT = _study.REPO_ROOT
DEFAULT_CHAPTERS = REPO_ROOT / "book" / "chapters"
DEFAULT_RUNS = REPO_ROOT / "data" / "runs"

#: Which stage writes each product (used in "missing product" messages).
PRODUCT_STAGE: dict[str, str] = {
    "estarfm": "stage 03 (03_fusion_estarfm)",
    "drcgan": "stage 04 (04_fusion_seamless)",
    "bilinear": "stage 05 (05_downscaling)",
    "lightgbm": "stage 05 (05_downscaling)",
    "nn": "stage 05 (05_downscaling)",
    "tcr_merged": "stage 06 (06_assimilation)",
    "mlda_openloop": "stage 06 (06_assimilation)",
    "mlda": "stage 06 (06_assimilation)",
    "lightgbm_calibrated": "stage 07 (07_calibration)",
}


@dataclass
class StageResult:
    stage: str
    notebook: str
    status: str
    seconds: float
    output: Path | None


def select_stages(spec: str | None) -> list[tuple[str, str]]:
    """Stages named by ``spec``: ``None``/``"all"`` for all, else a comma list of numbers (``01,05``),
    keys (``downscaling``) or notebook stems, or ranges ``01-04``. Raises :class:`StudyError`."""
    if not spec or spec == "all":
        return list(_study.STAGES)
    by_num = {stem[:2]: (k, stem) for k, stem in _study.STAGES}
    by_key = {k: (k, stem) for k, stem in _study.STAGES}
    by_stem = {stem: (k, stem) for k, stem in _study.STAGES}
    chosen: list[tuple[str, str]] = []
    for part in [p.strip() for p in str(spec).split(",") if p.strip()]:
        if "-" in part and all(x.strip().isdigit() for x in part.split("-", 1)):
            a, b = (int(x) for x in part.split("-", 1))
            items = [by_num[f"{i:02d}"] for i in range(a, b + 1) if f"{i:02d}" in by_num]
        elif part.isdigit() and f"{int(part):02d}" in by_num:
            items = [by_num[f"{int(part):02d}"]]
        elif part in by_key:
            items = [by_key[part]]
        elif part in by_stem:
            items = [by_stem[part]]
        else:
            valid = ", ".join(list(by_num) + list(by_key))
            raise StudyError(f"--stages: unknown stage {part!r}; valid: {valid}")
        for it in items:
            if it not in chosen:
                chosen.append(it)
    order = [k for k, _ in _study.STAGES]
    return sorted(chosen, key=lambda kv: order.index(kv[0]))


def _hide_parameters(nb_path: Path) -> None:
    """Tag the parameters and injected-parameters cells ``hide-input`` for the book."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "parameters" in tags:
            if "hide-input" not in tags:
                tags.append("hide-input")
            cell["metadata"]["tags"] = tags
            if "injected-parameters" in tags:
                cell["outputs"] = []
    nbformat.write(nb, nb_path)


def _failure_message(stem: str, exc: Exception, failed_copy: Path) -> str:
    cell = getattr(exc, "cell_index", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    where = f"cell {cell}" if cell is not None else "a cell"
    src = ""
    try:
        import nbformat

        nb = nbformat.read(failed_copy, as_version=4)
        if cell is not None and 0 <= cell < len(nb.cells):
            first = [ln for ln in nb.cells[cell].source.splitlines() if ln.strip()][:1]
            src = f" (starting {first[0][:70]!r})" if first else ""
    except Exception:  # noqa: BLE001 - the message is best effort; the failure itself is reported
        pass
    evalue = str(evalue).strip().splitlines()[-1] if str(evalue).strip() else ""
    return (f"stage {stem} failed in notebooks/{stem}.ipynb, {where}{src}: {ename}: {evalue}. "
            f"The partly executed notebook is in {failed_copy}; earlier outputs are kept.")


def _append_log(run_dir: Path, row: dict) -> None:
    log = run_dir / "run_log.csv"
    new = not log.exists()
    with open(log, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["stage", "notebook", "status", "seconds", "finished", "study"])
        if new:
            w.writeheader()
        w.writerow(row)


def run(study_path: str | os.PathLike, stages: str | None = None, sets=(), runs_root=None, chapters_dir=None,
        kernel: str = "python3", progress: bool = True, cell_timeout: int | None = None) -> list[StageResult]:
    """Run the selected stages of a study; returns one :class:`StageResult` per stage.

    ``sets`` are ``"stage.key=value"`` overrides (any dotted study key). Raises
    :class:`~smlib.errors.StudyError` for a bad study and :class:`~smlib.errors.RunError` when a
    notebook fails (after logging it).
    """
    import papermill as pm
    from tqdm.auto import tqdm

    st = _study.load(study_path, sets=sets)
    chosen = select_stages(stages)
    runs_root = Path(runs_root) if runs_root else DEFAULT_RUNS
    chapters_dir = Path(chapters_dir) if chapters_dir else DEFAULT_CHAPTERS
    run_dir = (runs_root / st.name).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    chapters_dir.mkdir(parents=True, exist_ok=True)
    eff = run_dir / "study.yml"
    raw = st.to_dict()
    # keep files-study paths valid from the new location
    if st.files:
        for prod, spec in raw.get("files", {}).items():
            raw["files"][prod] = {k: v for k, v in (spec if isinstance(spec, dict) else {"paths": spec}).items()}
            raw["files"][prod]["paths"] = st.files[prod]["resolved"]
    write_text(yaml.safe_dump(raw, sort_keys=False), eff)

    # Figures must be captured by the kernel whatever backend the caller's environment selects
    # (MPLBACKEND=Agg in a headless shell would leave the book without figures).
    old_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        return _run_stages(st, chosen, eff, run_dir, chapters_dir, kernel, progress, cell_timeout, pm, tqdm)
    finally:
        if old_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = old_backend


def _run_stages(st, chosen, eff, run_dir, chapters_dir, kernel, progress, cell_timeout, pm, tqdm):
    results: list[StageResult] = []
    bar = tqdm(chosen, desc="stages", unit="stage", disable=not progress, file=sys.stderr)
    for key, stem in bar:
        bar.set_description(f"stage {stem}")
        nb_in = _study.NOTEBOOK_DIR / f"{stem}.ipynb"
        if not nb_in.exists():
            raise RunError(f"stage {stem}: notebook {nb_in} is missing")
        params = {"study": str(eff), "run_dir": str(run_dir)}
        params.update(st.stages.get(key, {}))
        fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".ipynb", dir=chapters_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(nb_in), str(tmp), parameters=params, kernel_name=kernel,
                                progress_bar=False, cwd=str(REPO_ROOT), execution_timeout=cell_timeout)
        except Exception as exc:  # papermill raises PapermillExecutionError for a failing cell
            secs = time.perf_counter() - t0
            failed = run_dir / "logs" / f"{stem}.failed.ipynb"
            if tmp.exists():
                shutil.move(str(tmp), failed)
            _append_log(run_dir, {"stage": key, "notebook": stem, "status": "failed", "seconds": f"{secs:.1f}",
                                  "finished": _dt.datetime.now().isoformat(timespec="seconds"), "study": st.name})
            bar.close()
            raise RunError(_failure_message(stem, exc, failed)) from None
        secs = time.perf_counter() - t0
        _hide_parameters(tmp)
        out = chapters_dir / f"{stem}.ipynb"
        os.replace(tmp, out)
        _append_log(run_dir, {"stage": key, "notebook": stem, "status": "ok", "seconds": f"{secs:.1f}",
                              "finished": _dt.datetime.now().isoformat(timespec="seconds"), "study": st.name})
        results.append(StageResult(key, stem, "ok", secs, out))
    bar.close()
    return results


def build_book(root: str | os.PathLike | None = None, builder: str = "html", warningiserror: bool = False,
               quiet: bool = True) -> Path:
    """Build the HTML book with ``jupyter-book build`` (notebooks are not re-executed).

    Returns the path of ``_build/html/index.html``. Raises :class:`RunError` with the tail of the
    build log on failure.
    """
    import subprocess

    root = Path(root) if root else REPO_ROOT
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(root), "--builder", builder]
    if warningiserror:
        cmd += ["-W", "-n", "--keep-going"]
    if quiet:
        cmd.append("-q")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise RunError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    return root / "_build" / "html" / "index.html"
