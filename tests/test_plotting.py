"""Plot helpers: offline-safe maps with colour bars, station series, density scatter."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from smlib import grid, plotting  # noqa: E402


@pytest.fixture
def field():
    g = grid.Grid(0.25, 100, 101, 36, 37)
    return g.template(0.2) + np.random.default_rng(0).random(g.shape).astype("float32") * 0.1


def test_map_field_has_colorbar_with_units(field):
    field.name = "ssm"
    ax = plotting.map_field(field, title="surface SM")
    fig = ax.figure
    labels = [a.get_ylabel() for a in fig.axes if a is not ax]
    assert any("m3/m3" in lab for lab in labels), labels
    plt.close(fig)


def test_map_never_needs_the_network(field, monkeypatch):
    monkeypatch.setattr(plotting, "coastlines_available", lambda: False)
    ax = plotting.map_field(field, name="ssm")
    assert ax is not None
    assert "without coastlines" in plotting.map_note()
    plt.close(ax.figure)


def test_map_panel_shared_colorbar(field):
    fig = plotting.map_panel({"a": field, "b": field * 2}, name="ssm", ncols=2)
    assert any("m3/m3" in a.get_ylabel() for a in fig.axes)
    plt.close(fig)


def test_station_series_and_scatter():
    t = pd.date_range("2021-05-01", periods=30)
    y = np.linspace(0.1, 0.3, 30)
    ax = plotting.station_series(t, {"station": y, "product": y + 0.01}, precip=np.r_[np.zeros(29), 20.0])
    assert "m3/m3" in ax.get_ylabel()
    plt.close(ax.figure)
    ax = plotting.scatter_density(y, y + 0.02)
    text = " ".join(t.get_text() for t in ax.texts)
    assert "bias=0.0200" in text and "r=1.000" in text
    plt.close(ax.figure)
