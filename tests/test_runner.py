"""The runner: stage selection, parameters, failure handling, hidden parameter cells."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from smlib import runner, study
from smlib.errors import RunError, StudyError

ROOT = Path(__file__).resolve().parents[1]


def test_select_stages():
    assert [s for _, s in runner.select_stages("01,05")] == ["01_data_prep", "05_downscaling"]
    assert [k for k, _ in runner.select_stages("03-04")] == ["fusion_estarfm", "fusion_seamless"]
    assert [k for k, _ in runner.select_stages("validation,1")] == ["data_prep", "validation"]
    assert len(runner.select_stages(None)) == 8
    with pytest.raises(StudyError, match="unknown stage 'downscale'"):
        runner.select_stages("downscale")


def _nb(cells) -> dict:
    out = []
    for i, (src, tags) in enumerate(cells):
        out.append({"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {"tags": tags},
                    "outputs": [], "source": src})
    return {"cells": out, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture
def fake_notebooks(tmp_path, monkeypatch):
    """Replace the notebooks folder by two tiny notebooks: 01 succeeds, 02 fails in cell 2."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    params = 'study = ""\nrun_dir = ""\nvalue = 1\n'
    good = _nb([(params, ["parameters"]), ("from pathlib import Path\nPath(run_dir, 'ok.txt').write_text(str(value))", [])])
    bad = _nb([(params, ["parameters"]), ("x = 1", []), ("raise ValueError('deliberate failure for the test')", [])])
    for key, stem in study.STAGES:
        nb = bad if stem.startswith("02") else good
        (nbdir / f"{stem}.ipynb").write_text(json.dumps(nb))
    monkeypatch.setattr(study, "NOTEBOOK_DIR", nbdir)
    return nbdir


@pytest.fixture
def fake_study(tmp_path):
    """The tiny study without its stage parameters (the fake notebooks declare only ``value``)."""
    import yaml

    raw = yaml.safe_load((ROOT / "data" / "studies" / "tiny.yml").read_text())
    raw.pop("stages", None)
    p = tmp_path / "tiny.yml"
    p.write_text(yaml.safe_dump(raw))
    return p


def test_runner_passes_parameters_and_hides_them(tmp_path, fake_notebooks, fake_study):
    res = runner.run(fake_study, stages="01", sets=["data_prep.value=5"],
                     runs_root=tmp_path / "runs", chapters_dir=tmp_path / "ch", progress=False)
    assert res[0].status == "ok"
    run_dir = tmp_path / "runs" / "tiny"
    assert (run_dir / "ok.txt").read_text() == "5"
    nb = json.loads((tmp_path / "ch" / "01_data_prep.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "hide-input" in injected[0]["metadata"]["tags"]
    log = (run_dir / "run_log.csv").read_text().splitlines()
    assert log[0].startswith("stage,") and ",ok," in log[1]
    assert (run_dir / "study.yml").exists()


def test_runner_failure_names_notebook_and_cell_and_keeps_outputs(tmp_path, fake_notebooks, fake_study):
    ch = tmp_path / "ch"
    runner.run(fake_study, stages="01", runs_root=tmp_path / "runs", chapters_dir=ch,
               progress=False)
    good = (ch / "01_data_prep.ipynb").read_bytes()
    # a previous good chapter 02 must survive the failing rerun
    shutil.copy(ch / "01_data_prep.ipynb", ch / "02_band_selection.ipynb")
    previous_02 = (ch / "02_band_selection.ipynb").read_bytes()
    with pytest.raises(RunError) as exc:
        runner.run(fake_study, stages="01,02,03", runs_root=tmp_path / "runs",
                   chapters_dir=ch, progress=False)
    msg = str(exc.value)
    assert "02_band_selection" in msg and "cell" in msg and "deliberate failure" in msg
    assert (ch / "01_data_prep.ipynb").exists() and len(good) > 0
    assert (ch / "02_band_selection.ipynb").read_bytes() == previous_02
    assert not (ch / "03_fusion_estarfm.ipynb").exists(), "stages after a failure do not run"
    assert (tmp_path / "runs" / "tiny" / "logs" / "02_band_selection.failed.ipynb").exists()
    assert not list(ch.glob(".*.ipynb")), "no temporary notebooks left behind"
    assert ",failed," in (tmp_path / "runs" / "tiny" / "run_log.csv").read_text()


def test_cli_errors_are_one_line(capsys):
    from smlib.cli import main

    assert main(["check", "--study", str(ROOT / "data" / "studies" / "tiny.yml"), "--set", "regin.west=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "did you mean 'region'" in err and "\n" not in err
    assert main(["check", "--study", str(ROOT / "data" / "studies" / "tiny.yml")]) == 0
