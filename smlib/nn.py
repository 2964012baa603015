"""Neural-network soil-moisture retrieval and downscaling (seed 003: Zhao et al. 2021, Remote Sens. 13, 1583).

Two trainers share one model interface (:class:`NNModel`, ``predict(X)``):

- :func:`fit_lm`: the paper's network, **one hidden layer** (``tanh``) and a linear output, trained with
  **Levenberg-Marquardt** (Levenberg 1944; Marquardt 1963) by **our own LM step** (not
  ``scipy.optimize.least_squares``): each epoch solves ``(J^T J + mu I) dw = -J^T e`` with the analytic
  Jacobian ``J`` of the residuals ``e`` over all weights (error back-propagation, Rumelhart & Chauvin
  1995), accepts the step and divides ``mu`` by ``mu_dec`` when the training error falls, otherwise
  multiplies ``mu`` by ``mu_inc`` and retries (the schedule of MATLAB's ``trainlm``, which the paper's
  set-up follows). An own step is used because **early stopping** needs the validation error after every
  epoch: training stops after ``max_fail`` epochs without a better validation error and the weights of the
  best validation epoch are kept. The paper repeats training ``restarts = 4`` times from random weights and
  keeps the best network (here: lowest validation mean squared error).
- :func:`fit_adam`: a PyTorch multilayer perceptron trained with Adam on mini-batches, for samples too
  large for the dense LM normal equations (memory ``O(n p)`` for ``n`` rows and ``p`` weights); same
  early stopping and restarts, and a ``device`` parameter (``"cpu"``, ``"cuda"``, ``"auto"``).

Inputs and target are standardised with the training rows' mean and standard deviation (stored in the
model), so inputs in K, dB and unitless indices are on a common scale. Soil moisture in m3/m3.

Downscaling (stage 05): :func:`fine_auxiliary` (gap-free 1-km auxiliaries), :func:`aux_scale_check` (which
auxiliaries keep their 1-km detail; our extension), :func:`downscale` (the 0.25-deg network applied at 1 km,
microwave inputs replicated or interpolated), :func:`correct_to_target`
(optional coarse residual correction, our extension) and :func:`cross_validate` (random vs spatial-block
folds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DataError
from .device import resolve_device  # noqa: F401  (re-exported: nn.resolve_device)

# ----------------------------------------------------------------------------------- the network


def n_weights(n_in: int, hidden: int) -> int:
    """Number of weights of a one-hidden-layer network: ``hidden * (n_in + 2) + 1``."""
    return hidden * (n_in + 2) + 1


def unpack(theta: np.ndarray, n_in: int, hidden: int):
    """Split the flat weight vector into ``(W1 [hidden, n_in], b1 [hidden], w2 [hidden], b2 scalar)``."""
    h = hidden
    W1 = theta[: h * n_in].reshape(h, n_in)
    b1 = theta[h * n_in: h * n_in + h]
    w2 = theta[h * n_in + h: h * n_in + 2 * h]
    b2 = theta[-1]
    return W1, b1, w2, b2


def init_weights(n_in: int, hidden: int, rng: np.random.Generator) -> np.ndarray:
    """Random initial weights (Nguyen & Widrow 1990 scaling for the hidden layer, small output layer)."""
    h = hidden
    W1 = rng.uniform(-1.0, 1.0, size=(h, n_in))
    W1 *= 0.7 * h ** (1.0 / max(n_in, 1)) / np.linalg.norm(W1, axis=1, keepdims=True)
    b1 = rng.uniform(-1.0, 1.0, size=h) * 0.7 * h ** (1.0 / max(n_in, 1))
    w2 = rng.uniform(-1.0, 1.0, size=h) / np.sqrt(h)
    return np.concatenate([W1.ravel(), b1, w2, [0.0]])


def forward(theta: np.ndarray, X: np.ndarray, hidden: int) -> np.ndarray:
    """Network output ``tanh(X W1^T + b1) w2 + b2`` for standardised inputs ``X [n, n_in]``."""
    W1, b1, w2, b2 = unpack(theta, X.shape[1], hidden)
    return np.tanh(X @ W1.T + b1) @ w2 + b2


def jacobian(theta: np.ndarray, X: np.ndarray, hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """Output and its Jacobian with respect to the flat weights (back-propagation): ``(yhat [n], J [n, p])``."""
    n, n_in = X.shape
    W1, b1, w2, b2 = unpack(theta, n_in, hidden)
    A = np.tanh(X @ W1.T + b1)
    yhat = A @ w2 + b2
    D = (1.0 - A * A) * w2  # d yhat / d z_j, [n, h]
    J = np.empty((n, n_weights(n_in, hidden)))
    J[:, : hidden * n_in] = (D[:, :, None] * X[:, None, :]).reshape(n, hidden * n_in)
    J[:, hidden * n_in: hidden * n_in + hidden] = D
    J[:, hidden * n_in + hidden: hidden * n_in + 2 * hidden] = A
    J[:, -1] = 1.0
    return yhat, J


def lm_step(J: np.ndarray, e: np.ndarray, mu: float) -> np.ndarray:
    """The Levenberg-Marquardt increment ``dw = -(J^T J + mu I)^{-1} J^T e`` (Marquardt 1963, eq. 6)."""
    return _lm_solve(J.T @ J, J.T @ e, mu)


def _lm_solve(JtJ: np.ndarray, g: np.ndarray, mu: float) -> np.ndarray:
    """:func:`lm_step` from a precomputed ``J^T J`` and gradient ``g = J^T e`` (reused across mu trials)."""
    A = JtJ + mu * np.eye(JtJ.shape[0])
    try:
        return -np.linalg.solve(A, g)
    except np.linalg.LinAlgError:
        return -np.linalg.lstsq(A, g, rcond=None)[0]


# ----------------------------------------------------------------------------------- the model
@dataclass
class NNModel:
    """A trained network with its input/target standardisation; ``predict`` works on raw units.

    ``kind`` is ``"lm"`` (one hidden layer, weights in ``theta``) or ``"adam"`` (PyTorch MLP,
    ``state`` holds its ``state_dict`` as NumPy arrays). ``history`` records, per restart, the
    training and validation mean squared errors (standardised units) per epoch and the epoch kept.
    """

    kind: str
    n_in: int
    hidden: tuple
    x_mean: np.ndarray
    x_sd: np.ndarray
    y_mean: float
    y_sd: float
    theta: np.ndarray | None = None
    state: dict | None = None
    features: tuple = ()
    history: list = field(default_factory=list)
    best_restart: int = 0

    def _standardise(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_in:
            raise DataError(f"the network expects {self.n_in} input column(s) {list(self.features)}, "
                            f"got an array of shape {X.shape}")
        return (X - self.x_mean) / self.x_sd

    def predict(self, X, chunk: int = 500_000, device: str = "cpu") -> np.ndarray:
        """Soil moisture (target units) for raw inputs ``X [n, n_in]``; NaN where any input is NaN.

        Rows are processed in chunks of ``chunk`` so that 1-km fields of millions of pixel-days stay
        within bounded memory.
        """
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_in:
            self._standardise(X)  # raises the one-line shape error
        out = np.full(X.shape[0], np.nan)
        idx = np.flatnonzero(np.isfinite(X).all(axis=1))
        for s in range(0, idx.size, chunk):
            rows = idx[s: s + chunk]
            Z = self._standardise(X[rows])
            if self.kind == "lm":
                z = forward(self.theta, Z, self.hidden[0])
            else:
                z = _torch_predict(self, Z, device)
            out[rows] = z * self.y_sd + self.y_mean
        return out


def _standardisation(X: np.ndarray, y: np.ndarray):
    x_mean = X.mean(axis=0)
    x_sd = X.std(axis=0)
    x_sd = np.where(x_sd > 0, x_sd, 1.0)
    y_mean = float(y.mean())
    y_sd = float(y.std()) or 1.0
    return x_mean, x_sd, y_mean, y_sd


def _check_xy(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise DataError(f"inputs X {X.shape} and target y {y.shape} must have the same number of rows")
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
    if ok.sum() < 10:
        raise DataError(f"only {int(ok.sum())} rows with every input and the target finite: need at least 10 "
                        "to train a network")
    return X[ok], y[ok]


def split_train_val(n: int, val_fraction: float, rng: np.random.Generator,
                    groups=None) -> tuple[np.ndarray, np.ndarray]:
    """Random training / validation row indices (``val_fraction`` of the rows held out for early stopping).

    With ``groups`` (one label per row), whole groups are held out together.
    """
    if not 0.0 < val_fraction < 0.9:
        raise DataError(f"val_fraction must lie in (0, 0.9), got {val_fraction}")
    if groups is None:
        perm = rng.permutation(n)
        nval = max(1, int(round(val_fraction * n)))
        return np.sort(perm[nval:]), np.sort(perm[:nval])
    groups = np.asarray(groups)
    uniq = rng.permutation(np.unique(groups))
    nval = max(1, int(round(val_fraction * uniq.size)))
    val = np.isin(groups, uniq[:nval])
    return np.flatnonzero(~val), np.flatnonzero(val)


def subsample(n: int, max_samples: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``max_samples`` rows drawn without replacement (all rows when ``None`` or 0)."""
    if not max_samples or n <= max_samples:
        return np.arange(n)
    return np.sort(rng.choice(n, size=int(max_samples), replace=False))


# ----------------------------------------------------------------------------------- LM training
def train_lm_once(Xt, yt, Xv, yv, hidden: int, rng: np.random.Generator, max_epochs: int = 200,
                  max_fail: int = 6, mu: float = 1e-3, mu_dec: float = 0.1, mu_inc: float = 10.0,
                  mu_max: float = 1e10, min_grad: float = 1e-7) -> tuple[np.ndarray, dict]:
    """One LM training run from random weights with early stopping; returns ``(theta, record)``.

    ``Xt, yt`` training rows and ``Xv, yv`` validation rows (standardised). An epoch is one accepted LM
    step (after as many ``mu`` increases as needed). Training stops at ``max_epochs``, when the
    validation MSE has not improved for ``max_fail`` consecutive epochs (early stopping), when ``mu``
    exceeds ``mu_max`` or when the gradient norm falls below ``min_grad``. The weights of the epoch
    with the lowest validation MSE are returned.
    """
    theta = init_weights(Xt.shape[1], hidden, rng)
    yhat, J = jacobian(theta, Xt, hidden)
    e = yhat - yt
    sse = float(e @ e)
    best_val = float(np.mean((forward(theta, Xv, hidden) - yv) ** 2))
    best_theta, best_epoch = theta.copy(), 0
    train_hist, val_hist = [sse / yt.size], [best_val]
    fails, stop = 0, "max_epochs"
    for epoch in range(1, max_epochs + 1):
        grad = J.T @ e
        if np.linalg.norm(grad) / yt.size < min_grad:
            stop = "min_grad"
            break
        JtJ = J.T @ J
        accepted = False
        while mu <= mu_max:
            cand = theta + _lm_solve(JtJ, grad, mu)
            e_c = forward(cand, Xt, hidden) - yt
            sse_c = float(e_c @ e_c)
            if np.isfinite(sse_c) and sse_c < sse:
                accepted = True
                mu *= mu_dec
                break
            mu *= mu_inc
        if not accepted:
            stop = "mu_max"
            break
        theta = cand
        yhat, J = jacobian(theta, Xt, hidden)
        e = yhat - yt
        sse = float(e @ e)
        val = float(np.mean((forward(theta, Xv, hidden) - yv) ** 2))
        train_hist.append(sse / yt.size)
        val_hist.append(val)
        if val < best_val:
            best_val, best_theta, best_epoch, fails = val, theta.copy(), epoch, 0
        else:
            fails += 1
            if fails >= max_fail:
                stop = "early_stopping"
                break
    rec = {"train_mse": train_hist, "val_mse": val_hist, "best_epoch": best_epoch, "best_val_mse": best_val,
           "stop": stop, "epochs": len(train_hist) - 1}
    return best_theta, rec


def fit_lm(X, y, hidden: int = 10, restarts: int = 4, seed: int = 0, val_fraction: float = 0.15,
           max_epochs: int = 200, max_fail: int = 6, max_samples: int | None = 20000, mu: float = 1e-3,
           features=(), groups=None) -> NNModel:
    """Train the paper's one-hidden-layer network with Levenberg-Marquardt, ``restarts`` times, keep the best.

    Parameters: ``X [n, n_in]`` inputs in their own units, ``y [n]`` target (m3/m3); rows with any NaN are
    dropped. ``hidden`` hidden neurons (tanh); ``restarts`` random initialisations (paper: 4), the one
    with the lowest validation MSE is kept; ``seed`` makes it reproducible; ``val_fraction`` of the rows
    are held out for early stopping (``max_fail`` epochs without improvement); ``max_samples`` caps the
    training rows (random subsample: the dense LM normal equations cost ``O(n p^2)`` per epoch; the
    paper also trained on a subset); ``groups`` optionally keeps groups (e.g. pixels) together in the
    validation split. Reference: Zhao et al. (2021) section 2.2.3; Marquardt (1963).
    """
    X, y = _check_xy(X, y)
    if hidden < 1 or restarts < 1:
        raise DataError(f"hidden ({hidden}) and restarts ({restarts}) must be at least 1")
    rng = np.random.default_rng(seed)
    keep = subsample(X.shape[0], max_samples, rng)
    X, y = X[keep], y[keep]
    g = None if groups is None else np.asarray(groups)[keep]
    x_mean, x_sd, y_mean, y_sd = _standardisation(X, y)
    Z = (X - x_mean) / x_sd
    t = (y - y_mean) / y_sd
    tr, va = split_train_val(Z.shape[0], val_fraction, rng, g)
    best, hist = None, []
    for r in range(restarts):
        theta, rec = train_lm_once(Z[tr], t[tr], Z[va], t[va], hidden, rng, max_epochs=max_epochs,
                                   max_fail=max_fail, mu=mu)
        rec["restart"] = r
        hist.append(rec)
        if best is None or rec["best_val_mse"] < hist[best]["best_val_mse"]:
            best, best_theta = r, theta
    return NNModel(kind="lm", n_in=X.shape[1], hidden=(int(hidden),), x_mean=x_mean, x_sd=x_sd, y_mean=y_mean,
                   y_sd=y_sd, theta=best_theta, features=tuple(features), history=hist, best_restart=best)


# ----------------------------------------------------------------------------------- Adam (PyTorch)


def _torch_net(n_in: int, hidden: tuple):
    import torch

    layers, prev = [], n_in
    for h in hidden:
        layers += [torch.nn.Linear(prev, int(h)), torch.nn.Tanh()]
        prev = int(h)
    layers.append(torch.nn.Linear(prev, 1))
    return torch.nn.Sequential(*layers)


def _torch_predict(model: NNModel, Z: np.ndarray, device: str = "cpu") -> np.ndarray:
    import torch

    net = _torch_net(model.n_in, model.hidden)
    net.load_state_dict({k: torch.as_tensor(v) for k, v in model.state.items()})
    dev = resolve_device(device)
    net = net.to(dev).eval()
    with torch.no_grad():
        z = net(torch.as_tensor(Z, dtype=torch.float32, device=dev)).squeeze(-1)
    return z.cpu().numpy().astype(float)


def fit_adam(X, y, hidden=(64,), restarts: int = 1, seed: int = 0, val_fraction: float = 0.15,
             max_epochs: int = 200, patience: int = 10, batch_size: int = 4096, lr: float = 1e-3,
             weight_decay: float = 0.0, max_samples: int | None = None, device: str = "auto",
             features=(), groups=None) -> NNModel:
    """Train a PyTorch MLP (``hidden`` sizes, tanh) with Adam (Kingma & Ba 2015) on mini-batches.

    For large samples where the LM normal equations are too costly. Early stopping after ``patience``
    epochs without a better validation MSE (weights of the best epoch kept), ``restarts`` random
    initialisations with the best kept, like :func:`fit_lm`. ``device``: ``"cpu"``, ``"cuda"`` or
    ``"auto"`` (CUDA when present).
    """
    import torch

    X, y = _check_xy(X, y)
    hidden = (int(hidden),) if np.isscalar(hidden) else tuple(int(h) for h in hidden)
    dev = resolve_device(device)
    rng = np.random.default_rng(seed)
    keep = subsample(X.shape[0], max_samples, rng)
    X, y = X[keep], y[keep]
    g = None if groups is None else np.asarray(groups)[keep]
    x_mean, x_sd, y_mean, y_sd = _standardisation(X, y)
    Z = torch.as_tensor((X - x_mean) / x_sd, dtype=torch.float32, device=dev)
    t = torch.as_tensor((y - y_mean) / y_sd, dtype=torch.float32, device=dev)
    tr, va = split_train_val(Z.shape[0], val_fraction, rng, g)
    tr_t = torch.as_tensor(tr, device=dev)
    Zv, tv = Z[torch.as_tensor(va, device=dev)], t[torch.as_tensor(va, device=dev)]
    best, best_state, hist = None, None, []
    for r in range(restarts):
        torch.manual_seed(int(rng.integers(2**31)))
        net = _torch_net(X.shape[1], hidden).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        gen = torch.Generator(device="cpu").manual_seed(int(rng.integers(2**31)))
        best_val, state, best_epoch, fails = np.inf, None, 0, 0
        tr_hist, va_hist = [], []
        for epoch in range(1, max_epochs + 1):
            net.train()
            perm = tr_t[torch.randperm(tr_t.numel(), generator=gen).to(dev)]
            tot = 0.0
            for s in range(0, perm.numel(), batch_size):
                b = perm[s: s + batch_size]
                opt.zero_grad()
                loss = torch.mean((net(Z[b]).squeeze(-1) - t[b]) ** 2)
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * b.numel()
            net.eval()
            with torch.no_grad():
                val = float(torch.mean((net(Zv).squeeze(-1) - tv) ** 2))
            tr_hist.append(tot / perm.numel())
            va_hist.append(val)
            if val < best_val:
                best_val, best_epoch, fails = val, epoch, 0
                state = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
            else:
                fails += 1
                if fails >= patience:
                    break
        rec = {"train_mse": tr_hist, "val_mse": va_hist, "best_epoch": best_epoch, "best_val_mse": best_val,
               "stop": "early_stopping" if fails >= patience else "max_epochs", "epochs": len(tr_hist),
               "restart": r}
        hist.append(rec)
        if best is None or best_val < hist[best]["best_val_mse"]:
            best, best_state = r, state
    return NNModel(kind="adam", n_in=X.shape[1], hidden=hidden, x_mean=x_mean, x_sd=x_sd, y_mean=y_mean,
                   y_sd=y_sd, state=best_state, features=tuple(features), history=hist, best_restart=best)


def fit(X, y, solver: str = "lm", **kwargs) -> NNModel:
    """Train with ``solver="lm"`` (:func:`fit_lm`, the paper's) or ``"adam"`` (:func:`fit_adam`)."""
    if solver == "lm":
        return fit_lm(X, y, **kwargs)
    if solver == "adam":
        return fit_adam(X, y, **kwargs)
    raise DataError(f"solver must be 'lm' (Levenberg-Marquardt) or 'adam' (PyTorch), got {solver!r}")


# ----------------------------------------------------------------------------------- persistence
def save_model(model: NNModel, path) -> None:
    """Write a trained model to ``path`` (``.npz``, atomically: temporary file then rename)."""
    import json
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"x_mean": model.x_mean, "x_sd": model.x_sd}
    if model.theta is not None:
        arrays["theta"] = model.theta
    for k, v in (model.state or {}).items():
        arrays[f"state::{k}"] = v
    meta = {"kind": model.kind, "n_in": model.n_in, "hidden": list(model.hidden), "y_mean": model.y_mean,
            "y_sd": model.y_sd, "features": list(model.features), "best_restart": model.best_restart}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    with open(tmp, "wb") as fh:
        np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def load_model(path) -> NNModel:
    """Read a model written by :func:`save_model`."""
    import json

    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        state = {k.split("::", 1)[1]: z[k] for k in z.files if k.startswith("state::")}
        return NNModel(kind=meta["kind"], n_in=meta["n_in"], hidden=tuple(meta["hidden"]), x_mean=z["x_mean"],
                       x_sd=z["x_sd"], y_mean=meta["y_mean"], y_sd=meta["y_sd"],
                       theta=z["theta"] if "theta" in z.files else None, state=state or None,
                       features=tuple(meta["features"]), best_restart=meta["best_restart"])


# ----------------------------------------------------------------------------------- downscaling (1 km)
def fine_auxiliary(run_dir, names, fine_lat, fine_lon, coarse_aux=None, max_gap_days: int = 16,
                   use_estarfm: bool = True):
    """Gap-free daily 1-km auxiliaries ``names`` (subset of lst, ndvi, evi, nsdsi, dem, slope).

    Sources, in order: ``products/estarfm.nc`` (gap-free daily ``ndvi``, ``lst_day`` from stage 03) when
    present and ``use_estarfm``; otherwise the MODIS-like 1-km series with each pixel's gaps filled by
    linear interpolation in time over at most ``max_gap_days`` days
    (:func:`smlib.bandsel.fill_time_gaps`); pixel-days still missing (long cloudy spells) take the
    0.25-deg value of ``coarse_aux`` replicated onto the 1-km grid (the series the network was trained
    on). DEM and slope come from ``static.nc``. Returns ``(Dataset, {name: source})``.
    """
    import xarray as xr

    from . import bandsel, grid as _grid, io as _io

    out, src = {}, {}
    est = None
    if use_estarfm and (_io.products_dir(run_dir) / "estarfm.nc").exists():
        est = _io.read_product(run_dir, "estarfm")
    modis = None
    for name in names:
        product, var = bandsel.AUXILIARY[name]
        if product == "static":
            da = _io.read_input(run_dir, "static", [var])[var].astype("float32")
            out[name] = da.sel(lat=fine_lat, lon=fine_lon, method="nearest").assign_coords(lat=fine_lat,
                                                                                          lon=fine_lon)
            src[name] = "static.nc"
            continue
        if est is not None and var in est:
            da = est[var].astype("float32")
            src[name] = "products/estarfm.nc (ESTARFM, gap-free)"
        else:
            if modis is None:
                modis = _io.read_input(run_dir, "modis")
            if var not in modis:
                raise DataError(f"auxiliary {name!r} needs modis.nc variable {var!r}, which is absent")
            da = bandsel.fill_time_gaps(modis[var].astype("float32"), max_gap_days)
            src[name] = f"modis.nc, gaps filled in time (<= {max_gap_days} days)"
        if coarse_aux is not None and name in coarse_aux and bool(da.isnull().any()):
            rep = _grid.replicate(coarse_aux[name].sel(time=da["time"]), da["lat"].values, da["lon"].values)
            da = da.fillna(rep)
            src[name] += ", remaining gaps from the 0.25-deg cell"
        out[name] = da.sel(lat=fine_lat, lon=fine_lon, method="nearest").assign_coords(lat=fine_lat, lon=fine_lon)
    return xr.Dataset(out), src


def aux_scale_check(coarse_features, fine_aux, coarse, max_mismatch: float = 0.1, max_spread: float = 1.0):
    """Which 1-km auxiliaries can carry their 1-km detail into a network trained at 0.25 deg (our extension).

    The network learned how soil moisture varies with each auxiliary **across** 0.25-deg cells, on the
    0.25-deg training series (``coarse_features``, e.g. MODIS LST block-averaged over clear pixels). Applying
    it to a 1-km field assumes the 1-km auxiliary is the same quantity at a finer scale. Two checks, on the
    inputs alone, per auxiliary in ``fine_aux``:

    - ``mismatch``: standard deviation of (block mean of the 1-km field minus the training series) over the
      cell-days, divided by the standard deviation of the training series. Large when the 1-km field is a
      different product (ESTARFM's gap-free all-sky LST against clear-sky MODIS means), so its detail would
      come with an offset the network never saw;
    - ``spread``: standard deviation of the within-cell detail (1-km value minus its cell mean) divided by the
      across-cell standard deviation of the training series. Above 1 the 1-km values lie mostly outside the
      range the network was fitted on (1-km slope varies three times more inside a cell than between cells),
      and a tanh network extrapolates.

    ``fine_detail`` is True where ``mismatch <= max_mismatch`` and ``spread <= max_spread``. Auxiliaries that
    fail are applied like the microwave inputs (their 0.25-deg training series brought to 1 km) by
    :func:`downscale` when only the passing ones are given as ``fine_aux``. Returns a DataFrame indexed by name.
    """
    import pandas as pd

    from . import grid as _grid

    rows = []
    for name in fine_aux.data_vars:
        if name not in coarse_features:
            continue
        a = fine_aux[name]
        c = coarse_features[name]
        bm = _grid.block_mean(a, coarse)
        if "time" in a.dims and "time" in c.dims:
            c = c.sel(time=a["time"])
        sd = float(c.std())
        sd = sd if sd > 0 else float("nan")
        mismatch = float((bm - c).std()) / sd
        within = float((a - _grid.replicate(bm, a["lat"].values, a["lon"].values).transpose(*a.dims).values).std())
        spread = within / sd
        rows.append({"name": name, "mismatch": mismatch, "spread": spread,
                     "fine_detail": bool(mismatch <= max_mismatch and spread <= max_spread)})
    return pd.DataFrame(rows, columns=["name", "mismatch", "spread", "fine_detail"]).set_index("name")



def select_fine_aux(names, scale: pd.DataFrame, mode="auto") -> list[str]:
    """Which auxiliaries of ``names`` are applied with their 1-km detail (the rest come from the 0.25-deg
    training series). ``mode``: ``"auto"`` keeps those that pass :func:`aux_scale_check` (``scale``'s
    ``fine_detail``; a name the check could not assess is kept), ``"all"`` keeps every one (the paper's
    setting), or a list of names keeps those listed. Raises :class:`~smlib.errors.DataError` for any other
    string or for listed names that are not auxiliaries of the model."""
    names = list(names)
    if isinstance(mode, str):
        if mode == "auto":
            return [f for f in names if f not in scale.index or bool(scale.loc[f, "fine_detail"])]
        if mode == "all":
            return names
        raise DataError(f"nn_fine_aux must be 'auto', 'all' or a list of auxiliary names, got {mode!r}")
    unknown = [f for f in mode if f not in names]
    if unknown:
        raise DataError(f"nn_fine_aux names {unknown} are not auxiliary inputs of the model ({names or 'none'})")
    return [f for f in names if f in list(mode)]

def fine_inputs(coarse_features, fine_aux, inputs, fine_lat, fine_lon, times, resampling: str = "replicate"):
    """Inputs on the 1-km grid for ``times``: microwave features of ``coarse_features`` brought to 1 km by
    ``resampling`` (``replicate``: nearest replication of the 0.25-deg value, the paper's "replication
    expansion"; ``bilinear``: interpolation between cell centres, the cell's own value where a neighbouring
    cell is missing) and 1-km auxiliaries from ``fine_aux``. An input found in ``fine_aux`` is taken at 1 km;
    any other input (including an auxiliary left out of ``fine_aux``, see :func:`aux_scale_check`) comes from
    ``coarse_features`` by ``resampling``."""
    import xarray as xr

    from . import grid as _grid

    cols = {}
    for f in inputs:
        if f in fine_aux:
            da = fine_aux[f]
            cols[f] = da.sel(time=times) if "time" in da.dims else da
        elif f in coarse_features:
            da = coarse_features[f]
            da = da.sel(time=times) if "time" in da.dims else da
            if resampling == "replicate":
                cols[f] = _grid.replicate(da, fine_lat, fine_lon)
            elif resampling == "bilinear":
                # a 1-km pixel next to a missing cell (swath edge) keeps its own cell's value
                cols[f] = _grid.bilinear(da, fine_lat, fine_lon).fillna(_grid.replicate(da, fine_lat, fine_lon))
            else:
                raise DataError(f"resampling must be 'replicate' or 'bilinear', got {resampling!r}")
        else:
            raise DataError(f"input {f!r} is neither a 0.25-deg feature nor a 1-km auxiliary")
    return xr.Dataset(cols)


def downscale(model: NNModel, coarse_features, fine_aux, fine_lat, fine_lon, resampling: str = "replicate",
              chunk_days: int = 16, device: str = "cpu"):
    """Apply a network trained at 0.25 deg to 1-km inputs, ``chunk_days`` days at a time (bounded memory).

    Returns ``ssm`` (m3/m3, float32) on ``(time, lat, lon)`` at 1 km; NaN where an input is missing
    (e.g. a microwave swath gap). Reference: Zhao et al. (2021) section 2.2.3, Figure 3.
    """
    import xarray as xr

    from . import bandsel

    inputs = list(model.features)
    times = coarse_features["time"].values
    fine_lat = np.asarray(fine_lat)
    fine_lon = np.asarray(fine_lon)
    out = np.full((times.size, fine_lat.size, fine_lon.size), np.nan, dtype="float32")
    for s in range(0, times.size, chunk_days):
        t = times[s: s + chunk_days]
        ds = fine_inputs(coarse_features, fine_aux, inputs, fine_lat, fine_lon, t, resampling=resampling)
        ref = xr.DataArray(np.zeros((t.size, fine_lat.size, fine_lon.size), dtype="float32"),
                           dims=("time", "lat", "lon"), coords={"time": t, "lat": fine_lat, "lon": fine_lon})
        X, _ = bandsel.stack(ds, inputs, ref)
        out[s: s + t.size] = model.predict(X, device=device).reshape(t.size, fine_lat.size, fine_lon.size)
    from .catalog import attrs

    return xr.DataArray(out, dims=("time", "lat", "lon"), coords={"time": times, "lat": fine_lat, "lon": fine_lon},
                        name="ssm", attrs=attrs("ssm", method="one-hidden-layer NN (Levenberg-Marquardt), "
                                                "trained at 0.25 deg, applied at 1 km (Zhao et al. 2021)"))


def correct_to_target(fine, target, method: str = "bilinear"):
    """Residual correction of the 1-km NN field toward the coarse target (our extension of the paper).

    The residual ``target - block_mean(fine)`` of each 0.25-deg cell and day is added to the 1-km field:
    ``bilinear`` interpolates it between cell centres (smooth, no steps at cell edges), ``block`` adds it to
    every pixel of the cell (cell means then equal the target exactly), ``none`` leaves the field as the
    network made it (the paper). The coarse-scale part of the result then follows the daily target while the
    within-cell detail is the network's. Uses :func:`smlib.downscale.residual_correction` (seed 000's
    step). Pixel-days without an NN value stay missing. ``fine`` and ``target`` in m3/m3.
    """
    from .downscale import residual_correction
    from .grid import block_mean, grid_of

    if method == "none":
        return fine
    if method not in ("bilinear", "block"):
        raise DataError(f"residual correction must be 'bilinear', 'block' or 'none', got {method!r}")
    tgt = target.sel(time=fine["time"]).transpose("time", "lat", "lon")
    pred = block_mean(fine.transpose("time", "lat", "lon"), grid_of(tgt)) if method == "bilinear" else None
    out = residual_correction(fine.transpose("time", "lat", "lon"), tgt, coarse_pred=pred, method=method)
    out = out.where(fine.notnull()).astype("float32")
    out.attrs = dict(fine.attrs, residual_correction=method)
    return out.rename(fine.name)


# ----------------------------------------------------------------------------------- cross-validation
def cross_validate(features, target, inputs, scheme: str = "random", k: int = 5, block_deg: float = 0.5,
                   seed: int = 0, solver: str = "lm", **nn_kwargs):
    """k-fold cross-validation of the 0.25-deg retrieval against ``target``: ``scheme="random"`` folds over
    pixel-days (:func:`smlib.cv.random_kfold`) or ``"block"`` folds of whole ``block_deg`` spatial blocks
    (:func:`smlib.cv.spatial_block_kfold`). Each fold's network is trained on the other folds and predicts
    the held-out rows. Returns ``(pred DataArray of out-of-fold predictions, per-fold DataFrame)`` with
    n, r, bias, rmse, ubrmse (m3/m3) per fold and pooled (row ``fold = "all"``)."""
    import pandas as pd
    import xarray as xr

    from . import bandsel, cv

    X, y = bandsel.stack(features, list(inputs), target)
    tgt = target.transpose("time", "lat", "lon")
    nt, ny, nx = tgt.shape
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
    rows = np.flatnonzero(ok)
    if scheme == "random":
        folds = cv.random_kfold(rows.size, k=k, seed=seed)
    elif scheme == "block":
        lat = np.broadcast_to(tgt["lat"].values[None, :, None], (nt, ny, nx)).reshape(-1)[rows]
        lon = np.broadcast_to(tgt["lon"].values[None, None, :], (nt, ny, nx)).reshape(-1)[rows]
        folds = cv.spatial_block_kfold(lat, lon, block_deg=block_deg, k=k, seed=seed)
    else:
        raise DataError(f"scheme must be 'random' or 'block', got {scheme!r}")
    pred = np.full(X.shape[0], np.nan)
    table = []
    for f in range(k):
        te = rows[folds == f]
        tr = rows[folds != f]
        model = fit(X[tr], y[tr], solver=solver, features=list(inputs), seed=seed + f, **nn_kwargs)
        pred[te] = model.predict(X[te])
        table.append({"fold": str(f), **_fold_scores(pred[te], y[te])})
    table.append({"fold": "all", **_fold_scores(pred[rows], y[rows])})
    da = xr.DataArray(pred.reshape(nt, ny, nx).astype("float32"), dims=("time", "lat", "lon"),
                      coords={d: tgt[d] for d in ("time", "lat", "lon")}, name="ssm")
    df = pd.DataFrame(table)
    df.insert(0, "scheme", scheme)
    return da, df


def _fold_scores(p: np.ndarray, o: np.ndarray) -> dict:
    """n, Pearson r, bias, RMSE and ubRMSE (m3/m3) of predictions ``p`` against ``o``, pooled
    (:func:`smlib.validate.pooled`, pytesmo definitions)."""
    from . import validate

    ok = np.isfinite(p) & np.isfinite(o)
    if ok.sum() < 3:
        return {"n": int(ok.sum()), "r": np.nan, "bias": np.nan, "rmse": np.nan, "ubrmse": np.nan}
    m = validate.pooled(p[ok], o[ok])
    return {k: m[k] for k in ("n", "r", "bias", "rmse", "ubrmse")}
