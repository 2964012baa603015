"""Study files: every shipped study loads; every rule has its own one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smlib import study
from smlib.errors import StudyError

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted((ROOT / "data" / "studies").glob("*.yml"))


def _write(tmp_path, data, name="s.yml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def _base() -> dict:
    return yaml.safe_load((ROOT / "data" / "studies" / "tiny.yml").read_text())


@pytest.mark.parametrize("path", [p for p in STUDIES if p.stem != "hawaii"], ids=lambda p: p.stem)
def test_shipped_studies_load(path):
    st = study.load(path)
    assert st.name == path.stem
    assert len(st.dates) >= 1
    fine = st.grid("fine")
    assert fine.shape[0] > 0 and fine.shape[1] > 0


def test_required_profiles_exist():
    names = {p.stem for p in STUDIES}
    assert {"tiny", "workshop", "demo"} <= names


def test_demo_is_at_least_2x2_deg_and_180_days():
    st = study.load(ROOT / "data" / "studies" / "demo.yml")
    assert st.region.width >= 2 and st.region.height >= 2
    assert len(st.dates) >= 180


def _error(tmp_path, data) -> str:
    with pytest.raises(StudyError) as exc:
        study.load(_write(tmp_path, data))
    msg = str(exc.value)
    assert "\n" not in msg, "errors are one line"
    return msg


def test_unknown_top_key_names_nearest(tmp_path):
    d = _base()
    d["regoin"] = d.pop("region")
    msg = _error(tmp_path, d)
    assert "regoin" in msg and "did you mean 'region'" in msg


def test_unknown_nested_key(tmp_path):
    d = _base()
    d["period"]["ende"] = "2021-06-01"
    msg = _error(tmp_path, d)
    assert "period.ende" in msg and "'end'" in msg


def test_end_before_start(tmp_path):
    d = _base()
    d["period"] = {"start": "2021-06-01", "end": "2021-05-01"}
    msg = _error(tmp_path, d)
    assert "period.end" in msg and "before" in msg


def test_region_not_aligned(tmp_path):
    d = _base()
    d["region"]["west"] = 100.1
    msg = _error(tmp_path, d)
    assert "region.west" in msg and "coarse grid" in msg


def test_region_inverted(tmp_path):
    d = _base()
    d["region"]["east"] = 99.0
    assert "region.east" in _error(tmp_path, d)


def test_negative_grid_size(tmp_path):
    d = _base()
    d["grids"]["fine"] = -0.01
    msg = _error(tmp_path, d)
    assert "grids.fine" in msg and "positive" in msg


def test_grid_not_nesting(tmp_path):
    d = _base()
    d["grids"]["smap"] = 0.355
    msg = _error(tmp_path, d)
    assert "grids.smap" in msg and "multiple" in msg


def test_bad_source_and_profile(tmp_path):
    d = _base()
    d["source"] = "satellite"
    assert "source" in _error(tmp_path, d)
    d = _base()
    d["profile"] = "huge"
    assert "profile" in _error(tmp_path, d)


def test_missing_required(tmp_path):
    d = _base()
    del d["period"]
    assert "period: is required" in _error(tmp_path, d)


def test_bad_date(tmp_path):
    d = _base()
    d["period"]["start"] = "yesterday"
    assert "period.start" in _error(tmp_path, d)


def test_files_study_missing_file(tmp_path):
    d = _base()
    d["source"] = "files"
    d["files"] = {"smap": {"paths": "does_not_exist_*.h5"}}
    msg = _error(tmp_path, d)
    assert "files.smap.paths" in msg and "matches no file" in msg


def test_files_study_unknown_product(tmp_path):
    d = _base()
    d["source"] = "files"
    (tmp_path / "x.nc").write_text("")
    d["files"] = {"smapp": "x.nc"}
    msg = _error(tmp_path, d)
    assert "files.smapp" in msg and "did you mean 'smap'" in msg


def test_files_study_resolves_relative_paths(tmp_path):
    d = _base()
    d["source"] = "files"
    (tmp_path / "a.nc").write_text("")
    d["files"] = {"static": "a.nc"}
    st = study.load(_write(tmp_path, d))
    assert st.files["static"]["resolved"] == [str(tmp_path / "a.nc")]


def test_unknown_stage_and_stage_key(tmp_path):
    d = _base()
    d["stages"] = {"downscalling": {}}
    assert "did you mean 'downscaling'" in _error(tmp_path, d)
    d = _base()
    d["stages"] = {"validation": {"no_such_parameter": 1}}
    assert "stages.validation.no_such_parameter" in _error(tmp_path, d)


def test_stage_parameters_are_typed(tmp_path):
    params = {k: study.stage_parameters(k) for k in study.STAGE_KEYS}
    stage, name, default = next(((s, n, v) for s, p in params.items() for n, v in p.items()
                                 if isinstance(v, (int, float)) and not isinstance(v, bool)), (None, None, None))
    if stage is None:
        pytest.skip("no numeric stage parameter declared yet")
    d = _base()
    d["stages"] = {stage: {name: "not a number"}}
    msg = _error(tmp_path, d)
    assert f"stages.{stage}.{name}" in msg and "type" in msg


def test_missing_file_lists_studies():
    with pytest.raises(StudyError) as exc:
        study.load(ROOT / "data" / "studies" / "nope.yml")
    assert "not found" in str(exc.value) and "tiny" in str(exc.value)


def test_set_overrides_and_shorthand():
    st = study.load(ROOT / "data" / "studies" / "tiny.yml", sets=["seed=3", "period.end=2021-05-31"])
    assert st.seed == 3 and str(st.end.date()) == "2021-05-31"
    raw = study.apply_overrides({"stages": {}}, ["downscaling.x=[1, 2]"])
    assert raw["stages"]["downscaling"]["x"] == [1, 2]
    with pytest.raises(StudyError):
        study.parse_set("no_equals_sign")


def test_set_is_validated():
    with pytest.raises(StudyError, match="region.south"):
        study.load(ROOT / "data" / "studies" / "tiny.yml", sets=["region.south=36.3"])
