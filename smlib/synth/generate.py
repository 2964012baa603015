"""Orchestration of the synthetic study region: the truth at 1 km and every canonical input.

:func:`write_inputs` is the public entry point. The period is simulated day by day (after a
spin-up) in blocks of whole MODIS 16-day composite windows; each block's products are written
at once (one block) or as part files that are concatenated lazily at the end (several blocks,
the ``large`` profile), so memory stays bounded by the block size.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from ..grid import block_mean
from . import land, sensors, terrain
from .fields import day_number, gaussian_field, stream
from .params import DEFAULTS, MODEL_NAMES, validate_params
from .weather import Weather, net_longwave, priestley_taylor

PRODUCTS = ("static", "truth", "modis", "glass", "smap", "amsr2", "ascat", "fy3c",
            *(f"model_{m}" for m in MODEL_NAMES), "forcing", "stations")
#: revisit (days) and nominal resolution of each product (for attrs and the stage-01 table)
STEM_FACTOR = {terrain.WATER: 0.0, terrain.BARE: 0.2, terrain.GRASS: 0.5, terrain.CROP: 1.5, terrain.FOREST: 6.0}


def _agg(a: np.ndarray, k: int) -> np.ndarray:
    """NaN-aware mean over non-overlapping ``k x k`` blocks of the last two axes (nested grids)."""
    if k == 1:
        return a.astype("float32", copy=False)
    *lead, ny, nx = a.shape
    r = a.reshape(*lead, ny // k, k, nx // k, k)
    ok = np.isfinite(r)
    s = np.where(ok, r, 0.0).sum(axis=(-3, -1))
    n = ok.sum(axis=(-3, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = s / n
    return np.where(n > 0, out, np.nan).astype("float32")


class _Stats:
    """Running sums of (product - truth) for the realised bias and error sd in attrs."""

    def __init__(self):
        self.n = 0
        self.s = 0.0
        self.ss = 0.0

    def add(self, prod, truth) -> None:
        d = np.asarray(prod, float) - np.asarray(truth, float)
        d = d[np.isfinite(d)]
        self.n += d.size
        self.s += float(d.sum())
        self.ss += float((d * d).sum())

    def result(self) -> tuple[float, float]:
        if self.n < 2:
            return float("nan"), float("nan")
        m = self.s / self.n
        return m, float(np.sqrt(max(self.ss / self.n - m * m, 0.0)))


class Region:
    """The synthetic region of a study: static fields, stations and the evolving state."""

    def __init__(self, study, params: dict | None = None):
        self.study = study
        p = dict(DEFAULTS)
        p.update(params if params is not None else (study.synthetic or {}))
        self.p = validate_params(p)
        self.seed = int(study.seed)
        self.g_fine = study.grid("fine")
        self.g_coarse = study.grid("coarse")
        self.g_smap = study.grid("smap")
        self.g_glass = study.grid("glass")
        from ..grid import factor

        self.k_glass = factor(self.g_fine.res, self.g_glass.res)
        self.k_coarse = factor(self.g_fine.res, self.g_coarse.res)
        self.k_gc = factor(self.g_glass.res, self.g_coarse.res)
        fine = self.g_fine
        st = terrain.static_fields(fine.shape, fine.res, fine.lat, self.p, self.seed)
        self.static = st
        self.land = st["landcover"] != terrain.WATER
        drain, gw = land.hydro_factors(st["twi"])
        st["drain_factor"], st["gw_factor"] = drain, gw
        st["kt"] = land.lc_table(st["landcover"], 5)
        km = fine.res * 111.195
        vig = gaussian_field(fine.shape, max(2.0 / km, 0.8), stream(self.seed, "vigor"))
        st["vigor"] = land.vegetation_vigor(vig, st["precip_factor"], st["fc"] - st["wp"])
        st["stem"] = np.vectorize(STEM_FACTOR.get)(st["landcover"]).astype(float)
        self.soil = {k: st[k] for k in ("porosity", "fc", "wp", "resid", "b", "ksat")}
        self.veg = land.phenology_params(st["landcover"], st["dem"])
        self.weather = Weather(st, fine.lat, fine.res, self.p, self.seed)
        self.state = {"theta1": st["fc"] * 0.8, "theta2": st["fc"] * 0.85, "snow": np.zeros(fine.shape),
                      "stress": np.ones(fine.shape)}
        self._init_models()
        self.stations = self._place_stations()
        self.st_state = {"e1": np.zeros(len(self.stations["row"])), "e2": np.zeros(len(self.stations["row"])),
                         "down": np.zeros(len(self.stations["row"]), bool)}
        self.glass_ndvi_state = None
        self.stats: dict[str, _Stats] = {}
        self.meta: dict[str, dict] = {}

    # ------------------------------------------------------------------------- coarse models
    def _init_models(self) -> None:
        k = self.k_coarse
        lm = np.where(self.land, 1.0, np.nan)
        self.c_land = _agg(self.land.astype(float), k)
        base = {name: _agg(self.soil[name] * lm, k).astype(float) for name in ("porosity", "fc", "wp", "resid", "b")}
        base["ksat"] = np.exp(_agg(np.log(self.soil["ksat"]) * lm, k).astype(float))
        cst = {"drain_factor": np.ones(self.c_land.shape),
               "gw_factor": _agg(self.static["gw_factor"] * lm, k).astype(float),
               "kt": _agg(self.static["kt"] * lm, k).astype(float)}
        self.models = {}
        for m in MODEL_NAMES:
            bias = self.p["model_bias"][m]
            soil = {kk: v.copy() for kk, v in base.items()}
            for kk in ("fc", "wp", "resid"):
                soil[kk] = np.clip(soil[kk] + bias, 0.01, None)
            soil["porosity"] = np.maximum(soil["porosity"] + bias, soil["fc"] + 0.05)
            st = {"theta1": soil["fc"] * 0.8, "theta2": soil["fc"] * 0.85, "snow": np.zeros(self.c_land.shape)}
            self.models[m] = {"soil": soil, "static": cst, "state": st}

    # ------------------------------------------------------------------------------ stations
    def _place_stations(self) -> dict:
        from scipy import ndimage

        st = self.static
        fine = self.g_fine
        km = fine.res * 111.195
        dist_km = ndimage.distance_transform_edt(st["water_fraction"] < 0.05) * km
        ok = self.land & (dist_km >= self.p["station_min_water_km"]) & (st["slope"] < 15.0)
        # keep clear of the region edge (one coarse cell's quarter)
        e = max(self.k_coarse // 4, 1)
        ok[:e], ok[-e:], ok[:, :e], ok[:, -e:] = False, False, False, False
        cand = np.flatnonzero(ok.ravel())
        if cand.size == 0:
            raise ValueError("n_stations: no land pixel meets the station rules (away from water, slope < 15 deg)")
        rng = stream(self.seed, "stations")
        rng.shuffle(cand)
        n = self.p["n_stations"]
        min_sep = max(0.6 * np.sqrt(ok.sum() / max(n, 1)), 2.0)
        chosen: list[int] = []
        for sep in (min_sep, min_sep / 2, 1.0):
            for c in cand:
                if len(chosen) >= n:
                    break
                r, q = divmod(int(c), fine.nlon)
                if all((r - a) ** 2 + (q - b) ** 2 >= sep * sep for a, b in (divmod(x, fine.nlon) for x in chosen)):
                    chosen.append(int(c))
            if len(chosen) >= n:
                break
        rows, cols = np.divmod(np.array(chosen), fine.nlon)
        lon = fine.lon[cols]
        net = np.where(lon < (fine.west + fine.east) / 2, "SYN-W", "SYN-E")
        ids = [f"{nw}-{i + 1:02d}" for i, nw in enumerate(net)]
        return {"row": rows, "col": cols, "id": np.array(ids), "network": net, "lat": fine.lat[rows], "lon": lon,
                "bias": stream(self.seed, "station_bias").normal(0, self.p["station_bias_sd"], rows.size),
                "bias_rz": stream(self.seed, "station_bias_rz").normal(0, self.p["station_bias_sd"], rows.size)}

    # ------------------------------------------------------------------------------- one day
    def _day(self, date) -> dict:
        st, soil = self.static, self.soil
        w = self.weather.day(date)
        doy = w["doy"]
        fveg = land.vegetation_cover(doy, self.veg, st["vigor"], self.state["stress"])
        snowy = self.state["snow"] > 5.0
        albedo = np.where(snowy, 0.6, 0.25 * (1 - fveg) + 0.18 * fveg)
        rn = (1 - albedo) * w["rs"] - net_longwave(w["t2m"], w["ea"], w["rs"], w["rso"])
        pet = priestley_taylor(rn, w["t2m"], st["dem"])
        fl = land.step(self.state, soil, st, w["precip"], w["t2m"], pet, fveg)
        self.state["stress"] += (fl["beta_t"] - self.state["stress"]) / 20.0
        th1 = np.where(self.land, self.state["theta1"], np.nan)
        th2 = np.where(self.land, self.state["theta2"], np.nan)
        refl = land.reflectances(fveg, th1, st["sand_true"], st["water_fraction"])
        lst = land.land_surface_temperature(w["t2m"], w["rs"], fveg, fl["beta_s"], fl["beta_t"], st["slope"],
                                            st["aspect"], st["water_fraction"], self.state["snow"])
        out = {"ssm": th1, "rzsm": land.rootzone(th1, th2), "precip": w["precip"], "ndvi": land.ndvi(refl),
               "evi": land.evi(refl), "nsdsi": land.nsdsi(refl), "lst_day": lst, "cloud": w["cloud"],
               "t2m": w["t2m"], "ssrd": w["ssrd"], "vpd": w["vpd"], "wind": w["wind"], "pet": pet,
               "snow": self.state["snow"].copy(),
               "fveg_clim": land.vegetation_cover(doy, self.veg, st["vigor"], 1.0)}
        self._models_day(date, out)
        return out

    def _models_day(self, date, day: dict) -> None:
        """Forcing products and the five coarse model runs for one day (stored in ``day``)."""
        k = self.k_coarse
        dn = day_number(date)
        rng = stream(self.seed, "forcing", dn)
        shape = self.c_land.shape
        p_true = _agg(day["precip"], k).astype(float)

        def lognormal(sd):
            return np.exp(rng.normal(0, sd, shape) - 0.5 * sd * sd)

        f = {"precip": p_true * lognormal(self.p["era5_precip_error"]),
             "precip_mswep": p_true * lognormal(self.p["mswep_precip_error"]),
             "t2m": _agg(day["t2m"], k) - 0.5 + rng.normal(0, 0.7, shape),
             "ssrd": np.clip(_agg(day["ssrd"], k) + rng.normal(0, 12.0, shape), 0, None),
             "vpd": _agg(day["vpd"], k) * np.exp(rng.normal(0, 0.1, shape)),
             "wind": _agg(day["wind"], k) * np.exp(rng.normal(0, 0.15, shape))}
        day["forcing"] = f
        pet = _agg(day["pet"], k).astype(float)
        fveg = _agg(day["fveg_clim"], k).astype(float)
        t2m = _agg(day["t2m"], k).astype(float)
        mdays = {}
        for m, mod in self.models.items():
            r = stream(self.seed, f"model_{m}", dn)
            if m == "gleam":
                pr = f["precip_mswep"]
            elif m == "era5land":
                pr = f["precip"]
            else:
                sd = self.p["model_precip_error"]
                pr = p_true * np.exp(r.normal(0, sd, shape) - 0.5 * sd * sd)
            pm = pet * np.exp(r.normal(0.0, 0.1))
            tm = t2m + r.normal(0, 0.5)
            land.step(mod["state"], mod["soil"], mod["static"], pr, tm, pm, fveg)
            ok = self.c_land > 0
            mdays[m] = (np.where(ok, mod["state"]["theta1"], np.nan),
                        np.where(ok, land.rootzone(mod["state"]["theta1"], mod["state"]["theta2"]), np.nan))
        day["models"] = mdays

    def spinup(self, start) -> None:
        """Run the water balance for ``spinup_days`` before ``start`` (weather of those dates)."""
        for d in pd.date_range(end=pd.Timestamp(start) - pd.Timedelta(days=1), periods=self.p["spinup_days"], freq="D"):
            self._day(d)

    # ------------------------------------------------------------------------------ products
    def simulate(self, dates) -> dict:
        """Simulate consecutive ``dates``; returns the block's stacked daily fields."""
        keys = ("ssm", "rzsm", "precip", "ndvi", "evi", "nsdsi", "lst_day", "cloud", "t2m", "snow")
        fine = self.g_fine
        T = len(dates)
        blk = {kk: np.empty((T, *fine.shape), dtype=bool if kk == "cloud" else "float32") for kk in keys}
        cshape = self.c_land.shape
        blk["forcing"] = {kk: np.empty((T, *cshape), "float32")
                          for kk in ("precip", "precip_mswep", "t2m", "ssrd", "vpd", "wind")}
        blk["models"] = {m: (np.empty((T, *cshape), "float32"), np.empty((T, *cshape), "float32")) for m in self.models}
        for i, d in enumerate(dates):
            day = self._day(d)
            for kk in keys:
                blk[kk][i] = day[kk]
            for kk, v in day["forcing"].items():
                blk["forcing"][kk][i] = v
            for m, (a, b) in day["models"].items():
                blk["models"][m][0][i], blk["models"][m][1][i] = a, b
        return blk

    def _noise(self, purpose: str, dn, shape, sd: float) -> np.ndarray:
        """Gaussian noise ``(time, *shape)`` of sd ``sd``, drawn day by day from the stream of
        ``purpose`` (so a product's noise does not depend on how the period is cut into blocks)."""
        return np.stack([stream(self.seed, purpose, int(d)).normal(0.0, sd, shape) for d in dn])

    def _stat(self, name) -> _Stats:
        return self.stats.setdefault(name, _Stats())

    def _coords(self, grid, dates):
        t = pd.DatetimeIndex(dates).values.astype("datetime64[ns]")
        return {"time": ("time", t), **grid.coords()}

    def _ds(self, grid, dates, data: dict, names: dict | None = None) -> xr.Dataset:
        names = names or {}
        dv = {}
        for k, v in data.items():
            dv[k] = (("time", "lat", "lon"), np.asarray(v, "float32"), catalog.attrs(names.get(k, k)))
        return xr.Dataset(dv, coords=self._coords(grid, dates))

    def products(self, dates, blk: dict) -> dict[str, xr.Dataset]:
        """Every time-varying product of one block (static and attrs are added by the writer)."""
        p = self.p
        dates = pd.DatetimeIndex(dates)
        dn = np.array([day_number(d) for d in dates])
        fine, coarse, smapg = self.g_fine, self.g_coarse, self.g_smap
        out = {}
        out["truth"] = self._ds(fine, dates, {k: blk[k] for k in ("ssm", "rzsm", "ndvi", "lst_day", "precip")})

        # ---- MODIS-like
        T = len(dates)
        ndvi_o = np.empty_like(blk["ndvi"])
        evi_o = np.empty_like(blk["evi"])
        nsdsi_o = np.empty_like(blk["nsdsi"])
        lst_o = np.empty_like(blk["lst_day"])
        for i in range(T):
            r = stream(self.seed, "modis", dn[i])
            clear = ~blk["cloud"][i]
            e = r.standard_normal((4, *fine.shape)).astype("float32")
            ndvi_o[i] = np.where(clear, blk["ndvi"][i] + p["modis_ndvi_error"] * e[0], np.nan)
            evi_o[i] = np.where(clear, blk["evi"][i] + p["modis_ndvi_error"] * e[1], np.nan)
            nsdsi_o[i] = np.where(clear, blk["nsdsi"][i] + 0.015 * e[2], np.nan)
            lst_o[i] = np.where(clear, blk["lst_day"][i] + p["modis_lst_error_k"] * e[3], np.nan)
        self._stat("modis_lst").add(lst_o, blk["lst_day"])
        ndvi_c = np.full_like(ndvi_o, np.nan)
        evi_c = np.full_like(evi_o, np.nan)
        nsdsi_c = np.full_like(nsdsi_o, np.nan)
        dd = dates.values.astype("datetime64[D]")
        for period, src in ((16, "ndvi"), (8, "nsdsi")):
            win = sensors.composite_windows(dd, period)
            for w0 in np.unique(win):
                idx = np.flatnonzero(win == w0)
                if dd[idx[0]] != w0:
                    continue  # the window began before the period: its composite date is outside it
                if src == "ndvi":
                    ndvi_c[idx[0]] = sensors.max_value_composite(ndvi_o[idx], ndvi_o[idx])
                    evi_c[idx[0]] = sensors.max_value_composite(evi_o[idx], ndvi_o[idx])
                else:
                    with np.errstate(invalid="ignore"), _quiet():
                        nsdsi_c[idx[0]] = np.nanmean(nsdsi_o[idx], axis=0)
        self._stat("modis_ndvi").add(ndvi_c, _window_truth(blk["ndvi"], ndvi_c))
        out["modis"] = self._ds(fine, dates, {"ndvi": ndvi_c, "evi": evi_c, "lst_day": lst_o, "nsdsi": nsdsi_c})

        # ---- GLASS-like (0.05 deg, gap-free, smoothed, biased)
        kg = self.k_glass
        gn = _agg(blk["ndvi"], kg)
        gl = _agg(blk["lst_day"], kg)
        sm = np.empty_like(gn)
        s = self.glass_ndvi_state if self.glass_ndvi_state is not None else gn[0]
        for i in range(T):
            s = s + (gn[i] - s) / 4.0
            sm[i] = s
        self.glass_ndvi_state = s
        g_ndvi = sm + p["glass_ndvi_bias"] + self._noise("glass_ndvi", dn, sm.shape[1:], 0.01)
        g_lst = gl + p["glass_lst_bias_k"] + self._noise("glass_lst", dn, gl.shape[1:], 0.8)
        self._stat("glass_ndvi").add(g_ndvi, gn)
        self._stat("glass_lst").add(g_lst, gl)
        out["glass"] = self._ds(self.g_glass, dates, {"ndvi": g_ndvi, "lst_day": g_lst})

        # ---- microwave: emission computed at 0.05 deg from the fine state, then aggregated
        th = _agg(blk["ssm"], kg)
        por = _agg(np.where(self.land, self.soil["porosity"], np.nan)[None], kg)[0]
        por = np.where(np.isfinite(por), por, 0.45)
        wf = _agg(self.static["water_fraction"][None], kg)[0]
        vwc = sensors.vegetation_water_content(_agg(np.where(self.land, blk["ndvi"], np.nan), kg),
                                               _agg(self.static["stem"][None], kg)[0])
        vwc = np.nan_to_num(vwc, nan=0.0)
        t2 = _agg(blk["t2m"], kg)
        lst5 = _agg(blk["lst_day"], kg)
        teff = {"smap_asc": t2 + 1.0, "smap_des": t2 - 4.0, "amsr2_asc": 0.6 * lst5 + 0.4 * t2, "amsr2_des": t2 - 5.0,
                "fy3c": 0.5 * (lst5 + t2)}
        g05 = self.g_glass
        truth_smap = block_mean(xr.DataArray(blk["ssm"], dims=("time", "lat", "lon"),
                                             coords={"lat": fine.lat, "lon": fine.lon}), smapg).values
        truth_c = _agg(blk["ssm"], self.k_coarse)
        # frozen ground: daily-mean air temperature below 0 degC (no retrieval, QC bit 4)
        frozen_c = _agg(blk["t2m"], self.k_coarse) < 273.15

        def to_grid(a, g):
            if g is coarse:
                return _agg(a, self.k_gc)
            return block_mean(xr.DataArray(a, dims=("time", "lat", "lon"), coords={"lat": g05.lat, "lon": g05.lon}),
                              g).values

        # SMAP-like
        data = {}
        masks = {}
        for pas, phase in (("asc", 0.5), ("des", 0.0)):
            m = sensors.swath_mask(dn, smapg.lat, smapg.lon, p["smap_swath_fraction"], phase)
            masks[pas] = m
            tbh, tbv = sensors.brightness_temperatures("L", th, por, teff[f"smap_{pas}"], vwc, wf)
            for pol, tb in (("v", tbv), ("h", tbh)):
                a = to_grid(tb, smapg) + self._noise(f"smap_tb{pol}_{pas}", dn, m.shape[1:], p["tb_noise_k"])
                data[f"tb{pol}_{pas}"] = np.where(m, a, np.nan)
        frozen = to_grid(t2, smapg) < 273.15
        vwc_s = to_grid(vwc, smapg)
        wf_s = to_grid(wf[None], smapg)[0]
        qc = (1 * (vwc_s > 5.0) + 2 * (wf_s > 0.1)[None] + 4 * frozen).astype("float32")
        err = self._noise("smap_ssm", dn, truth_smap.shape[1:], p["smap_error_sd"])
        ssm = np.clip(truth_smap + p["smap_bias"] + err, 0.0, 0.6)
        ssm = np.where(masks["des"] & ~frozen & np.isfinite(truth_smap), ssm, np.nan)
        self._stat("smap").add(ssm, truth_smap)
        data["ssm"] = ssm
        data["qc"] = np.where(masks["des"], qc, np.nan)
        out["smap"] = self._ds(smapg, dates, data, {"qc": "qc"})

        # AMSR2-like and FY3C-like at 0.25 deg
        data = {}
        m_des = None
        for pas, phase in (("asc", 0.3), ("des", 0.8)):
            m = sensors.swath_mask(dn, coarse.lat, coarse.lon, p["amsr2_swath_fraction"], phase, tilt=-0.35)
            if pas == "des":
                m_des = m
            for band in ("c1", "c2", "x"):
                tbh, tbv = sensors.brightness_temperatures(band, th, por, teff[f"amsr2_{pas}"], vwc, wf)
                for pol, tb in (("v", tbv), ("h", tbh)):
                    a = to_grid(tb, coarse) + self._noise(f"amsr2_tb{pol}_{band}_{pas}", dn, m.shape[1:], 0.6)
                    data[f"tb{pol}_{band}_{pas}"] = np.where(m, a, np.nan)
        ssm = np.clip(truth_c + p["amsr2_bias"] + self._noise("amsr2_ssm", dn, truth_c.shape[1:], p["amsr2_error_sd"]), 0.0, 0.6)
        ssm = np.where(m_des & ~frozen_c & np.isfinite(truth_c), ssm, np.nan)
        self._stat("amsr2").add(ssm, truth_c)
        out["amsr2"] = self._ds(coarse, dates, {"ssm": ssm, **data})

        m = sensors.swath_mask(dn, coarse.lat, coarse.lon, p["amsr2_swath_fraction"], 0.55, tilt=0.3)
        tbh, tbv = sensors.brightness_temperatures("x", th, por, teff["fy3c"], vwc, wf)
        data = {"tbv_x": np.where(m, to_grid(tbv, coarse) + self._noise("fy3c_tbv", dn, m.shape[1:], 0.7), np.nan),
                "tbh_x": np.where(m, to_grid(tbh, coarse) + self._noise("fy3c_tbh", dn, m.shape[1:], 0.7), np.nan)}
        ssm = np.clip(truth_c + p["fy3c_bias"] + self._noise("fy3c_ssm", dn, truth_c.shape[1:], p["fy3c_error_sd"]), 0.0, 0.6)
        ssm = np.where(m & ~frozen_c & np.isfinite(truth_c), ssm, np.nan)
        self._stat("fy3c").add(ssm, truth_c)
        out["fy3c"] = self._ds(coarse, dates, {"ssm": ssm, **data})

        # ASCAT-like
        sat = _agg(blk["ssm"] / np.where(self.land, self.soil["porosity"], np.nan)[None], self.k_coarse)
        nd_c = _agg(np.where(self.land, blk["ndvi"], np.nan), self.k_coarse)
        slope_c = _agg(self.static["slope"][None], self.k_coarse)[0]
        m = sensors.swath_mask(dn, coarse.lat, coarse.lon, p["ascat_swath_fraction"], 0.15, speed_deg=5.3, tilt=0.5)
        S = p["ascat_sensitivity_db"]
        ref = sensors.backscatter_db(0.0, nd_c, slope_c, S)
        sig = ref + S * sat + self._noise("ascat_sig40", dn, sat.shape[1:], p["ascat_noise_db"])
        ok = m & ~frozen_c & np.isfinite(sat)
        sig = np.where(ok, sig, np.nan)
        ssm_pct = np.clip(100.0 * (sig - ref) / S, 0.0, 100.0)
        self._stat("ascat").add(ssm_pct, 100.0 * sat)
        out["ascat"] = self._ds(coarse, dates, {"sig40": sig, "ssm": ssm_pct}, {"ssm": "ssm_pct"})

        # forcing and models
        out["forcing"] = self._ds(coarse, dates, blk["forcing"])
        self._stat("forcing_precip").add(blk["forcing"]["precip"], _agg(blk["precip"], self.k_coarse))
        self._stat("forcing_precip_mswep").add(blk["forcing"]["precip_mswep"], _agg(blk["precip"], self.k_coarse))
        rz_c = _agg(blk["rzsm"], self.k_coarse)
        for mname, (a, b) in blk["models"].items():
            self._stat(f"model_{mname}").add(a, truth_c)
            self._stat(f"model_{mname}_rz").add(b, rz_c)
            out[f"model_{mname}"] = self._ds(coarse, dates, {"ssm": a, "rzsm": b})

        out["stations"] = self._stations(dates, dn, blk)
        return out

    def _stations(self, dates, dn, blk) -> xr.Dataset:
        s = self.stations
        p = self.p
        r, c = s["row"], s["col"]
        n = r.size
        ssm_t = blk["ssm"][:, r, c].astype(float)
        rz_t = blk["rzsm"][:, r, c].astype(float)
        pr_t = blk["precip"][:, r, c].astype(float)
        por = self.soil["porosity"][r, c]
        T = len(dates)
        e1 = np.empty((T, n))
        e2 = np.empty((T, n))
        down = np.empty((T, n), bool)
        phi1, phi2 = p["station_error_phi"], 0.97
        gap = p["station_gap_fraction"]
        p_rec = 0.1
        p_fail = gap * p_rec / max(1 - gap, 1e-6)
        st = self.st_state
        for i in range(T):
            rng = stream(self.seed, "station_series", dn[i])
            st["e1"] = phi1 * st["e1"] + rng.normal(0, p["station_error_sd"] * np.sqrt(1 - phi1 ** 2), n)
            st["e2"] = phi2 * st["e2"] + rng.normal(0, p["station_rz_error_sd"] * np.sqrt(1 - phi2 ** 2), n)
            u = rng.uniform(size=n)
            st["down"] = np.where(st["down"], u > p_rec, u < p_fail)
            e1[i], e2[i], down[i] = st["e1"], st["e2"], st["down"]
        frozen = blk["t2m"][:, r, c] < 273.15
        ssm = np.clip(ssm_t + s["bias"] + e1, 0.0, por)
        rz = np.clip(rz_t + s["bias_rz"] + e2, 0.0, por)
        ssm = np.where(down | frozen, np.nan, ssm)
        rz = np.where(down, np.nan, rz)
        prc = np.where(down, np.nan, pr_t * 0.95)
        self._stat("stations").add(ssm, ssm_t)
        self._stat("stations_rz").add(rz, rz_t)
        t = pd.DatetimeIndex(dates).values.astype("datetime64[ns]")
        fine = self.g_fine
        ds = xr.Dataset(
            {"ssm": (("station", "time"), ssm.T.astype("float32"), catalog.attrs("ssm", depth_from=0.0, depth_to=0.05)),
             "rzsm": (("station", "time"), rz.T.astype("float32"), catalog.attrs("rzsm", depth_from=0.0, depth_to=1.0)),
             "precip": (("station", "time"), prc.T.astype("float32"), catalog.attrs("precip"))},
            coords={"station": ("station", s["id"].astype(str)), "time": ("time", t),
                    "lat": ("station", fine.lat[r]), "lon": ("station", fine.lon[c]),
                    "network": ("station", s["network"].astype(str)),
                    "landcover": ("station", self.static["landcover"][r, c].astype("int16")),
                    "elevation": ("station", self.static["dem"][r, c].astype("float32")),
                    "depth_from": ("station", np.zeros(n, "float32")),
                    "depth_to": ("station", np.full(n, 0.05, "float32"))})
        ds["depth_from"].attrs = {"units": "m", "long_name": "top of the surface sensor"}
        ds["depth_to"].attrs = {"units": "m", "long_name": "bottom of the surface sensor (rzsm: 0-1 m)"}
        ds["elevation"].attrs = catalog.attrs("dem")
        return ds

    # --------------------------------------------------------------------------- static/attrs
    def static_datasets(self) -> dict[str, xr.Dataset]:
        st = self.static
        fine = self.g_fine
        lc_attrs = catalog.attrs("landcover", flag_values=np.array(sorted(terrain.LANDCOVER), "int8"),
                                 flag_meanings=" ".join(terrain.LANDCOVER[k] for k in sorted(terrain.LANDCOVER)))
        static = xr.Dataset(
            {"dem": (("lat", "lon"), st["dem"].astype("float32"), catalog.attrs("dem")),
             "slope": (("lat", "lon"), st["slope"].astype("float32"), catalog.attrs("slope")),
             "landcover": (("lat", "lon"), st["landcover"].astype("int8"), lc_attrs),
             "water_fraction": (("lat", "lon"), st["water_fraction"].astype("float32"), catalog.attrs("water_fraction")),
             "sand": (("lat", "lon"), st["sand"].astype("float32"),
                      catalog.attrs("sand", comment="soil-map estimate: the true texture smoothed over 8 km plus a "
                                                    "mapping error of sd 0.04")),
             "clay": (("lat", "lon"), st["clay"].astype("float32"),
                      catalog.attrs("clay", comment="soil-map estimate: the true texture smoothed over 8 km plus a "
                                                    "mapping error of sd 0.04"))},
            coords=fine.coords())
        return {"static": static}

    def product_attrs(self, name: str) -> dict:
        """Global attrs of product ``name``: its sensor and error model (nominal and realised)."""
        p = self.p

        def realised(key, unit="m3/m3"):
            b, sd = self._stat(key).result()
            return {"realised_bias": b, "realised_error_sd": sd, "realised_units": unit,
                    "realised_n": self._stat(key).n}

        f, c, s, g = (self.study.grids[k] for k in ("fine", "coarse", "smap", "glass"))
        base = {"synthetic": 1, "seed": self.seed}
        a = {
            "static": {"grid_res_deg": f, "revisit_days": 0.0, "description": "terrain, land cover and soil map"},
            "truth": {"grid_res_deg": f, "revisit_days": 1.0, "error_sd": 0.0, "bias": 0.0,
                      "description": "the synthetic truth: for validation only (no method may read it)"},
            "modis": {"grid_res_deg": f, "revisit_days": 1.0, "lst_error_sd_k": p["modis_lst_error_k"],
                      "ndvi_error_sd": p["modis_ndvi_error"], "nsdsi_error_sd": 0.015,
                      "ndvi_composite_days": 16, "nsdsi_composite_days": 8,
                      "description": "MODIS-like: 16-day maximum-value NDVI/EVI composites dated at the window "
                                     "start, daily clear-sky LST, 8-day mean NSDSI; NaN under clouds"},
            "glass": {"grid_res_deg": g, "revisit_days": 1.0, "ndvi_bias": p["glass_ndvi_bias"], "ndvi_error_sd": 0.01,
                      "lst_bias_k": p["glass_lst_bias_k"], "lst_error_sd_k": 0.8, "ndvi_smoothing_days": 4.0,
                      "description": "GLASS-like: 0.05 deg block means, NDVI exponentially smoothed (4 days), biased"},
            "smap": {"grid_res_deg": s, "revisit_days": 1.0 / p["smap_swath_fraction"], "error_sd": p["smap_error_sd"],
                     "bias": p["smap_bias"], "tb_noise_k": p["tb_noise_k"], "ssm_pass": "descending (06:00)",
                     "qc_bits": "1 vegetation water content > 5 kg/m2, 2 water fraction > 0.1, 4 frozen (no ssm)",
                     "description": "SMAP-like: tau-omega L-band TB at 40 deg; ssm = truth averaged to the cell + bias "
                                    "+ N(0, error_sd), clipped to [0, 0.6]"},
            "amsr2": {"grid_res_deg": c, "revisit_days": 1.0 / p["amsr2_swath_fraction"],
                      "error_sd": p["amsr2_error_sd"], "bias": p["amsr2_bias"], "tb_noise_k": 0.6,
                      "ssm_pass": "descending (01:30)",
                      "description": "AMSR2-like: C1 6.9, C2 7.3, X 10.7 GHz TB at 55 deg; ssm = truth + bias + noise"},
            "fy3c": {"grid_res_deg": c, "revisit_days": 1.0 / p["amsr2_swath_fraction"], "error_sd": p["fy3c_error_sd"],
                     "bias": p["fy3c_bias"], "tb_noise_k": 0.7,
                     "description": "FY3C-like: X-band 10.7 GHz TB; ssm = truth + bias + noise"},
            "ascat": {"grid_res_deg": c, "revisit_days": 1.0 / p["ascat_swath_fraction"],
                      "sig40_noise_db": p["ascat_noise_db"], "sensitivity_db": p["ascat_sensitivity_db"],
                      "error_sd": 100.0 * p["ascat_noise_db"] / p["ascat_sensitivity_db"], "error_units": "%",
                      "bias": 0.0,
                      "description": "ASCAT-like change detection: sig40 = dry reference + sensitivity x degree of "
                                     "saturation + vegetation + noise; ssm in % of saturation"},
            "forcing": {"grid_res_deg": c, "revisit_days": 1.0, "precip_log_error_sd": p["era5_precip_error"],
                        "precip_mswep_log_error_sd": p["mswep_precip_error"], "t2m_bias_k": -0.5, "t2m_error_sd_k": 0.7,
                        "description": "ERA5-like forcing: cell means with multiplicative precipitation error"},
            "stations": {"revisit_days": 1.0, "error_sd": p["station_error_sd"], "error_phi": p["station_error_phi"],
                         "rz_error_sd": p["station_rz_error_sd"], "bias_sd": p["station_bias_sd"],
                         "gap_fraction_nominal": p["station_gap_fraction"],
                         "description": "truth at the station pixel + AR(1) representativeness error + per-station "
                                        "sensor bias, with outages; no ssm on frozen days; gauges catch 95%; the "
                                        "realised error sd pools all stations, so it includes the spread of the "
                                        "sensor biases"},
        }
        for m in MODEL_NAMES:
            a[f"model_{m}"] = {
                "grid_res_deg": c, "revisit_days": 1.0, "bias": p["model_bias"][m],
                "precip_source": {"gleam": "precip_mswep", "era5land": "precip"}.get(m, "own perturbation"),
                "precip_log_error_sd": {"gleam": p["mswep_precip_error"], "era5land": p["era5_precip_error"]}.get(
                    m, p["model_precip_error"]),
                "description": "the two-layer water balance re-run at 0.25 deg with perturbed forcing and soil "
                               "parameters shifted by `bias`"}
        out = dict(base, product=name, **a[name])
        key = {"modis": "modis_lst", "glass": "glass_ndvi", "forcing": "forcing_precip"}.get(name, name)
        if name in ("static", "truth"):
            return out
        unit = {"modis": "K", "ascat": "%", "glass": "1", "forcing": "mm/day"}.get(name, "m3/m3")
        out.update(realised(key, unit))
        if name.startswith("model_"):
            b, sd = self._stat(f"{name}_rz").result()
            out.update(realised_rz_bias=b, realised_rz_error_sd=sd)
        if name == "stations":
            b, sd = self._stat("stations_rz").result()
            out.update(realised_rz_bias=b, realised_rz_error_sd=sd)
        return out


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def _window_truth(truth, comp) -> np.ndarray:
    """Truth NDVI on the composite dates (for the realised-error attrs): the window maximum is
    compared with the truth on its start date, an honest measure of the composite's error."""
    return np.where(np.isfinite(comp), truth, np.nan)


def blocks(dates, block_days: int) -> list[pd.DatetimeIndex]:
    """Split ``dates`` into blocks of about ``block_days`` days that start on MODIS 16-day window
    starts (0 = one block)."""
    dates = pd.DatetimeIndex(dates)
    if not block_days or block_days >= len(dates):
        return [dates]
    win = sensors.composite_windows(dates.values.astype("datetime64[D]"), 16)
    starts = [0] + [i for i in range(1, len(dates)) if win[i] != win[i - 1]]
    out, cur = [], 0
    for s in starts[1:]:
        if s - cur >= block_days:
            out.append(dates[cur:s])
            cur = s
    out.append(dates[cur:])
    return out


def _gap_fraction(ds: xr.Dataset, var: str) -> float:
    v = ds[var]
    return float(v.isnull().mean().compute()) if hasattr(v.data, "compute") else float(v.isnull().mean())


def write_inputs(study, out_dir, params: dict | None = None, progress=None, timings: dict | None = None) -> list[Path]:
    """Generate the synthetic region of ``study`` and write every canonical input into ``out_dir``.

    ``study`` is a :class:`smlib.study.Study` (grids, dates, seed, ``synthetic`` parameters);
    ``params`` overrides the study's generator parameters. Writes ``static.nc``, ``modis.nc``,
    ``glass.nc``, ``smap.nc``, ``amsr2.nc``, ``ascat.nc``, ``fy3c.nc``, ``model_<name>.nc``,
    ``forcing.nc``, ``stations.nc`` and ``truth.nc`` (DESIGN.md section 4) through
    :func:`smlib.io.write_dataset` and returns their paths. ``progress`` is an optional
    callable taking a message; ``timings``, if given, is filled with the seconds spent in each
    phase (``setup`` (terrain, soils, stations), ``spinup``, ``simulate``, ``products``, ``write``,
    ``total``).
    """
    from ..io import write_dataset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    reg = Region(study, params)
    say = progress or (lambda msg: None)
    setup_s = time.perf_counter() - t0
    hash_params = dict(reg.p)
    comp = reg.p["compress"]
    written: list[Path] = []
    tm = timings if timings is not None else {}
    tm["setup"] = setup_s
    for k in ("spinup", "simulate", "products", "write"):
        tm[k] = 0.0

    def clock(phase, t_start):
        tm[phase] += time.perf_counter() - t_start
        return time.perf_counter()

    def finish(name, ds):
        t_w = time.perf_counter()
        ds.attrs.update(reg.product_attrs(name))
        if "time" in ds.dims:
            var = "ssm" if "ssm" in ds else ("lst_day" if name == "modis" else next(iter(ds.data_vars)))
            ds.attrs["gap_fraction"] = _gap_fraction(ds, var)
        path = write_dataset(ds, out_dir / f"{name}.nc", study=study.name, params=hash_params, compress=comp)
        written.append(path)
        clock("write", t_w)

    st = reg.static_datasets()["static"]
    finish("static", st)
    t1 = time.perf_counter()
    reg.spinup(study.dates[0])
    clock("spinup", t1)
    say(f"spin-up done in {time.perf_counter() - t0:.1f} s")
    parts = blocks(study.dates, reg.p["block_days"])
    porosity = xr.DataArray(np.where(reg.land, reg.soil["porosity"], np.nan).astype("float32"), dims=("lat", "lon"),
                            coords=reg.g_fine.coords(), attrs=catalog.attrs("porosity"))
    if len(parts) == 1:
        t1 = time.perf_counter()
        blk = reg.simulate(parts[0])
        t1 = clock("simulate", t1)
        prods = reg.products(parts[0], blk)
        clock("products", t1)
        del blk
        prods["truth"]["porosity"] = porosity
        for name in PRODUCTS[1:]:
            finish(name, prods[name])
        tm["total"] = time.perf_counter() - t0
        say(f"wrote {len(written)} files in {tm['total']:.1f} s")
        return written
    tmp = out_dir / ".synth_parts"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for i, dates in enumerate(parts):
            t1 = time.perf_counter()
            blk = reg.simulate(dates)
            t1 = clock("simulate", t1)
            prods = reg.products(dates, blk)
            t1 = clock("products", t1)
            del blk
            for name, ds in prods.items():   # parts uncompressed (fast); the assembled files honour `compress`
                write_dataset(ds, tmp / f"{name}_{i:04d}.nc", study=study.name, params=hash_params)
            clock("write", t1)
            del prods
            say(f"block {i + 1}/{len(parts)} ({dates[0].date()}..{dates[-1].date()}) "
                f"{time.perf_counter() - t0:.1f} s")
        for name in PRODUCTS[1:]:
            files = sorted(tmp.glob(f"{name}_[0-9][0-9][0-9][0-9].nc"))
            ds = xr.open_mfdataset(files, combine="nested", concat_dim="time", data_vars="all", coords="minimal",
                                   compat="override", join="override" if name == "stations" else "outer")
            for k in list(ds.attrs):
                del ds.attrs[k]
            if name == "truth":
                ds["porosity"] = porosity
            finish(name, ds)
            ds.close()
            for f in files:
                f.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tm["total"] = time.perf_counter() - t0
    say(f"wrote {len(written)} files in {tm['total']:.1f} s")
    return written
