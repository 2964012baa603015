"""Tests of smlib.drcgan (seed 001): data windows, networks, training, checkpoints, baselines."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

from smlib import drcgan  # noqa: E402
from smlib.errors import DataError  # noqa: E402
from smlib.grid import Grid  # noqa: E402


def toy_fields(T=60, H=6, W=6, seed=0, gap_every=3):
    """A learnable toy: a smooth wetting/drying signal, a model that sees it with a bias and a gain,
    and observations = signal + noise on a swath pattern (every ``gap_every``-th day per column band)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None, None]
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    base = 0.2 + 0.05 * np.sin(2 * np.pi * t / 30.0) + 0.01 * (yy + xx)[None]
    storms = np.cumsum(rng.gamma(0.3, 0.02, size=(T, 1, 1)), axis=0) % 0.08
    signal = base + storms
    model = 0.6 * signal + 0.12 + 0.005 * rng.standard_normal((T, H, W))
    obs = signal + 0.01 + 0.02 * rng.standard_normal((T, H, W))
    swath = ((t + xx[None] // 2) % gap_every) == 0
    obs = np.where(swath, obs, np.nan)
    return signal, model, obs


def small_config(**kw):
    base = dict(width=8, n_blocks=2, disc_width=8, disc_layers=2, epochs=4, batch_size=8, seed=3)
    base.update(kw)
    return drcgan.DrcGANConfig(**base)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_neighbour_context_and_interpolation():
    vals = np.full((7, 1, 1), np.nan)
    vals[1], vals[5] = 0.1, 0.3
    avail = np.isfinite(vals)
    ctx = drcgan.neighbour_context(vals, avail, np.zeros_like(vals), tau=5.0)
    assert np.isnan(ctx["prev"][1, 0, 0])            # strictly before: day 1 has no earlier observation
    assert ctx["next"][1, 0, 0] == pytest.approx(0.3)  # and its next is day 5, not itself
    assert ctx["w_prev"][3, 0, 0] == pytest.approx(np.exp(-2 / 5.0))
    filled = drcgan.temporal_interpolation(vals, avail)
    np.testing.assert_allclose(filled[:, 0, 0], [0.1, 0.1, 0.15, 0.2, 0.25, 0.3, 0.3])


def test_holdout_is_seeded_fraction_of_observed():
    obs = np.random.default_rng(0).random((30, 5, 5)) > 0.5
    h1 = drcgan.holdout_mask(obs, 0.2, seed=1)
    h2 = drcgan.holdout_mask(obs, 0.2, seed=1)
    assert (h1 == h2).all() and not (h1 & ~obs).any()
    assert h1.sum() == round(0.2 * obs.sum())
    with pytest.raises(DataError):
        drcgan.holdout_mask(obs, 1.5)


def test_cdf_match_maps_distribution():
    rng = np.random.default_rng(1)
    model = rng.normal(0.3, 0.05, (200, 2, 2))
    obs = 0.5 * model - 0.02
    avail = rng.random(model.shape) > 0.3
    out = drcgan.cdf_match(model, obs, avail)
    np.testing.assert_allclose(out[avail], obs[avail], atol=2e-3)


def test_prepare_shapes_and_no_leak():
    _, model, obs = toy_fields()
    usable = np.isfinite(obs)
    d = drcgan.prepare(obs, model, usable, {"dem": np.arange(36.0).reshape(6, 6)}, holdout_fraction=0.15,
                       val_fraction=0.1, window=2, seed=0)
    T, C, H, W = d.x.shape
    assert (T, H, W) == obs.shape and C == len(d.channels) == 5 + 6 + 1 + 2
    assert not (d.holdout & d.avail_mask).any() and not (d.train_mask & d.val_mask).any()
    assert (d.target[~d.avail_mask] == 0).all()
    # held-out values never reach the inputs: changing them leaves the inputs unchanged
    obs2 = np.where(d.holdout, obs + 0.3, obs)
    d2 = drcgan.prepare(obs2, model, usable, {"dem": np.arange(36.0).reshape(6, 6)}, holdout_fraction=0.15,
                        val_fraction=0.1, window=2, seed=0)
    np.testing.assert_array_equal(d.x, d2.x)
    with pytest.raises(DataError):
        drcgan.prepare(obs, np.where(usable, np.nan, model), usable)


def test_generator_and_discriminator_shapes():
    cfg = small_config()
    net = drcgan.build(cfg, in_channels=13, center=2, n_static=1)
    x = torch.randn(3, 13, 6, 7)
    y = net.g(x)
    assert y.shape == (3, 1, 6, 7)
    assert net.d_s(torch.randn(3, 3, 6, 7)).shape == (3, 1, 6, 7)
    assert net.f(torch.randn(3, 4, 6, 7)).shape == (3, 1, 6, 7)


def test_training_is_deterministic_and_losses_decrease():
    _, model, obs = toy_fields()
    d = drcgan.prepare(obs, model, np.isfinite(obs), holdout_fraction=0.15, seed=0)
    a = drcgan.train(d, small_config(epochs=12, lr=1e-3), progress=False)
    b = drcgan.train(d, small_config(epochs=12, lr=1e-3), progress=False)
    pa, pb = drcgan.predict(a, d), drcgan.predict(b, d)
    np.testing.assert_array_equal(pa, pb)
    h = a.history
    assert list(h.columns[:6]) == ["sup", "cyc", "idt", "adv", "d_s", "d_n"]
    noise_floor = (0.02 / d.sm_sd) ** 2          # the observation noise variance in standardized units
    assert h["sup"].iloc[0] > 1.5 * noise_floor
    assert h["sup"].iloc[-3:].mean() < 0.7 * h["sup"].iloc[0]
    assert h["cyc"].iloc[-3:].mean() < 0.7 * h["cyc"].iloc[0]
    assert (h["d_s"] > 0).all() and (h["adv"] > 0).all()


def test_learns_toy_mapping_better_than_model_alone():
    signal, model, obs = toy_fields(T=90)
    d = drcgan.prepare(obs, model, np.isfinite(obs), holdout_fraction=0.15, seed=0)
    net = drcgan.train(d, small_config(epochs=20, width=16, lr=1e-3), progress=False)
    pred = drcgan.predict(net, d)
    gap = ~np.isfinite(obs)
    rmse_gan = np.sqrt(np.mean((pred[gap] - signal[gap]) ** 2))
    rmse_model = np.sqrt(np.mean((model[gap] - signal[gap]) ** 2))
    assert rmse_gan < 0.7 * rmse_model


def test_ablation_trains_generator_only():
    _, model, obs = toy_fields()
    d = drcgan.prepare(obs, model, np.isfinite(obs), seed=0)
    cfg = small_config(lambda_adv=0.0, lambda_cyc=0.0)
    net = drcgan.train(d, cfg, progress=False)
    f0 = drcgan.build(cfg, d.x.shape[1], d.center, 0).f.state_dict()
    for k, v in net.f.state_dict().items():
        torch.testing.assert_close(v, f0[k])
    assert (net.history["adv"] == 0).all() and (net.history["cyc"] == 0).all()


def test_checkpoint_round_trip(tmp_path):
    _, model, obs = toy_fields()
    d = drcgan.prepare(obs, model, np.isfinite(obs), seed=0)
    net = drcgan.train(d, small_config(epochs=2), progress=False)
    path = drcgan.save_checkpoint(net, tmp_path / "m" / "drcgan.pt")
    blob = torch.load(path, weights_only=True)
    assert blob["config"]["width"] == 8
    back = drcgan.load_checkpoint(path)
    np.testing.assert_array_equal(drcgan.predict(back, d), drcgan.predict(net, d))
    with pytest.raises(DataError):
        drcgan.load_checkpoint(tmp_path / "none.pt")


def test_bad_config_is_one_line_error():
    with pytest.raises(DataError, match="epochs"):
        drcgan.DrcGANConfig(epochs=0)


def test_noah_to_smap_grid_keeps_constant_and_mean():
    g25 = Grid(0.25, 100.0, 101.0, 36.0, 37.0)
    smap = Grid(0.36, 100.0, 101.0, 36.0, 37.0)
    vals = np.broadcast_to(np.linspace(0.1, 0.4, 4)[None, None, :], (3, 4, 4)).copy()
    da = xr.DataArray(vals, dims=("time", "lat", "lon"), coords={"time": np.arange(3), **g25.coords()})
    out = drcgan.noah_to_smap_grid(da, smap, fine_res=0.01)
    assert out.shape == (3, 3, 3)
    assert float(out.min()) >= 0.1 - 1e-9 and float(out.max()) <= 0.4 + 1e-9
    assert np.all(np.diff(out.values[0, 0]) > 0)  # the west-east gradient survives
    const = drcgan.noah_to_smap_grid(da * 0 + 0.25, smap, fine_res=0.01)
    np.testing.assert_allclose(const.values, 0.25, rtol=1e-6)


def _write_run(tmp_path, T=40):
    from smlib import io

    signal, model, obs = toy_fields(T=T, H=3, W=3, seed=2, gap_every=2)
    times = np.array(np.datetime64("2021-05-01") + np.arange(T), dtype="datetime64[ns]")
    sg = Grid(0.36, 100.0, 101.0, 36.0, 37.0)
    smap = xr.Dataset({"ssm": (("time", "lat", "lon"), obs.astype("float32")),
                       "qc": (("time", "lat", "lon"), np.zeros(obs.shape, "int16"))},
                      coords={"time": times, **sg.coords()})
    smap["qc"][:, 0, 0] = 1  # a cell flagged every day: never observed
    g25 = Grid(0.25, 100.0, 101.0, 36.0, 37.0)
    mfield = np.repeat(np.repeat(model, 2, axis=1), 2, axis=2)[:, :4, :4]
    noah = xr.Dataset({"ssm": (("time", "lat", "lon"), mfield.astype("float32"))},
                      coords={"time": times, **g25.coords()})
    io.write_dataset(smap, tmp_path / "inputs" / "smap.nc")
    io.write_dataset(noah, tmp_path / "inputs" / "model_noah.nc")
    return tmp_path


def test_run_fusion_keeps_observations_and_fills_gaps(tmp_path):
    run = _write_run(tmp_path)
    res = drcgan.run_fusion(run, config=small_config(epochs=3), device="cpu", progress=False)
    prod = res.product.values
    assert np.isfinite(prod).all()
    obs = res.masks["observed"].values
    np.testing.assert_allclose(prod[obs], res.smap.values[obs], rtol=1e-6)
    assert res.masks["gap"].values[:, 0, 0].all()           # the QC-flagged cell counts as a gap
    assert not (res.masks["holdout"].values & obs).any()
    assert set(res.baselines) == {"interpolation", "noah_cdf", "supervised"}
    paths = drcgan.write_outputs(run, res, study="toy")
    from smlib import io

    back = io.read_product(run, "drcgan")
    assert back["ssm"].attrs["units"] == "m3/m3" and back["ssm"].shape == prod.shape
    assert all(p.exists() for p in paths)
    tab = drcgan.score_subsets({"drcgan": res.product}, {"gap": res.masks["gap"]},
                               lambda da: {"n": int(np.isfinite(da.values).sum())})
    assert tab.loc[0, "n"] == int(res.masks["gap"].sum())


def test_summarize_counts_baselines_beaten():
    import pandas as pd

    rows = [("real gaps", "drcgan", 0.9, 0.010), ("real gaps", "interpolation", 0.8, 0.020),
            ("real gaps", "noah_cdf", 0.92, 0.015), ("real gaps", "supervised", 0.85, 0.012),
            ("observed", "smap", 0.80, 0.04), ("observed", "drcgan", 0.80, 0.04),
            ("observed", "drcgan_generated", 0.95, 0.015)]
    df = pd.DataFrame([{"subset": a, "product": b, "n": 10, "r": r, "bias": 0.0, "ubrmse": u} for a, b, r, u in rows])
    text = drcgan.summarize(df, {"smap": {"n": 0, "r": float("nan")}, "drcgan": {"n": 5, "r": 0.6},
                                 "drcgan_generated": {"n": 5, "r": 0.7}})
    assert "better on both than 2 of 3 baselines (interpolation, supervised)" in text
    assert "loss 0.0000" in text and "change +0.1500" in text
    assert "no station with enough paired days" in text
