"""Training DrcGAN: least-squares cycle GAN with identity and supervised losses (Jiang et al. 2025).

Notation (all fields standardized soil moisture on the SMAP grid): ``x`` the generator's inputs for a
day (model window, neighbouring observations, statics, season), ``n`` the model field on the day,
``s`` the SMAP-like observation, ``m`` the mask of observations used in training, ``s~`` the SMAP-like
field with its gaps filled by temporal interpolation, ``x[n := f]`` the inputs with the day's model
channel replaced by ``f``; ``G`` maps model to SMAP-like, ``F`` maps SMAP-like back to the model,
``D_S`` and ``D_N`` are PatchGAN discriminators. The generator minimizes

    L_G = l_sup * mean_m (G(x) - s)^2                                       supervised
        + l_cyc * ( |F(G(x)) - n|_1 + mean_m |G(x[n := F(s~)]) - s|_1 )      cycle consistency
        + l_id  * ( mean_m |G(x[n := s~]) - s|_1 + |F(n) - n|_1 )            identity
        + l_adv * ( mean_m (D_S(G(x) . m) - 1)^2 + mean (D_N(F(s~)) - 1)^2 )  least-squares adversarial

and the discriminators minimize ``1/2 [(D(real) - 1)^2 + D(fake)^2]`` (LSGAN, Mao et al. 2017), where
the SMAP-side discriminator sees real and generated fields through the same observation mask.
Setting ``lambda_adv = lambda_cyc = 0`` trains the same generator with the supervised and identity
terms only (the ablation baseline). Adam (``lr``, betas 0.5/0.999), constant learning rate for the
first half of the epochs then linear decay to zero (Zhu et al. 2017); random 90-degree rotations
and flips of whole batches; the generator with the lowest error on the validation observations is
kept.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..errors import DataError
from .data import FusionData
from .model import PatchDiscriminator, ResidualGenerator
from ..device import resolve_device as _resolve_device


@dataclass
class DrcGANConfig:
    """Hyper-parameters of DrcGAN (defaults: the demo study settings).

    ``width``/``n_blocks``: generator feature maps and residual blocks; ``disc_width``/``disc_layers``:
    PatchGAN size; ``epochs``, ``batch_size`` (days per batch), ``lr``; loss weights ``lambda_sup``,
    ``lambda_cyc``, ``lambda_id``, ``lambda_adv``; ``augment`` (rotations and flips); ``seed``.
    """

    width: int = 32
    n_blocks: int = 4
    disc_width: int = 32
    disc_layers: int = 3
    epochs: int = 40
    batch_size: int = 16
    lr: float = 2e-4
    lambda_sup: float = 10.0
    lambda_cyc: float = 5.0
    lambda_id: float = 2.0
    lambda_adv: float = 1.0
    augment: bool = True
    seed: int = 0

    def __post_init__(self):
        for k in ("width", "n_blocks", "epochs", "batch_size", "disc_width", "disc_layers"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise DataError(f"DrcGAN {k} must be a positive integer, got {v!r}")
        for k in ("lambda_sup", "lambda_cyc", "lambda_id", "lambda_adv", "lr"):
            if getattr(self, k) < 0:
                raise DataError(f"DrcGAN {k} must be non-negative, got {getattr(self, k)}")

    @property
    def adversarial(self) -> bool:
        """True when the second generator and the discriminators take part (cycle or adversarial terms)."""
        return self.lambda_adv > 0 or self.lambda_cyc > 0


@dataclass
class DrcGAN:
    """A trained (or freshly built) DrcGAN: the networks, the standardization and the loss history."""

    config: DrcGANConfig
    g: ResidualGenerator                       # model -> SMAP-like
    f: ResidualGenerator                       # SMAP-like -> model
    d_s: PatchDiscriminator
    d_n: PatchDiscriminator
    center: int
    sm_mean: float
    sm_sd: float
    channels: list = field(default_factory=list)
    history: pd.DataFrame | None = None
    best_epoch: int = -1
    seconds: float = float("nan")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a :class:`torch.device`: ``None``/``"auto"`` picks CUDA when present (see
    :func:`smlib.device.resolve_device`)."""
    return torch.device(_resolve_device(device))


def build(config: DrcGANConfig, in_channels: int, center: int, n_static: int, sm_mean: float = 0.0,
          sm_sd: float = 1.0, channels=None, device="cpu") -> DrcGAN:
    """Build the four networks with weights drawn from ``config.seed``."""
    dev = resolve_device(device)
    torch.manual_seed(config.seed)
    g = ResidualGenerator(in_channels, center, config.width, config.n_blocks)
    f = ResidualGenerator(1 + n_static + 2, 0, config.width, config.n_blocks)
    d_s = PatchDiscriminator(2 + n_static, config.disc_width, config.disc_layers)
    d_n = PatchDiscriminator(1 + n_static, config.disc_width, config.disc_layers)
    return DrcGAN(config, g.to(dev), f.to(dev), d_s.to(dev), d_n.to(dev), center, sm_mean, sm_sd,
                  list(channels or []))


def _augment(tensors, k: int, flip: bool):
    out = []
    for t in tensors:
        t = torch.rot90(t, k, dims=(-2, -1)) if k else t
        out.append(torch.flip(t, dims=(-1,)) if flip else t)
    return out


def _mmean(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Mean of ``v`` over the cells where ``m`` is 1 (0 if none)."""
    return (v * m).sum() / m.sum().clamp(min=1.0)


def train(data: FusionData, config: DrcGANConfig | None = None, device="cpu", progress: bool = True,
          desc: str = "DrcGAN", cpu_threads: int | None = None) -> DrcGAN:
    """Train DrcGAN on ``data`` and return it with its per-epoch loss history.

    ``history`` columns: ``sup``, ``cyc``, ``idt``, ``adv`` (generator terms, unweighted means),
    ``d_s``, ``d_n`` (discriminator losses), ``val_rmse`` (m3/m3, on the validation observations;
    NaN without them) and ``lr``. ``device``: ``"cpu"``, ``"cuda"`` or ``"auto"``. ``cpu_threads``: torch
    intra-op threads while training on the CPU (``None`` leaves the setting alone; the grids are small,
    so one thread is usually fastest on a busy machine). Deterministic for a given ``config.seed`` on a
    given device.
    """
    n_threads = torch.get_num_threads()
    if cpu_threads and resolve_device(device).type == "cpu":
        torch.set_num_threads(int(cpu_threads))
    try:
        return _train(data, config, device, progress, desc)
    finally:
        torch.set_num_threads(n_threads)


def _train(data: FusionData, config: DrcGANConfig | None, device, progress: bool, desc: str) -> DrcGAN:
    from tqdm.std import tqdm

    cfg = config or DrcGANConfig()
    dev = resolve_device(device)
    T, C, H, W = data.x.shape
    S = data.statics.shape[0]
    if data.train_mask.sum() == 0:
        raise DataError("no training observations left after the hold-out and validation split")
    if dev.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    net = build(cfg, C, data.center, S, data.sm_mean, data.sm_sd, data.channels, dev)
    t_ = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=dev)  # noqa: E731
    X = t_(data.x)
    N = t_(data.model)[:, None]
    Sv = t_(data.target)[:, None]
    M = t_(data.train_mask)[:, None]
    FL = t_(data.filled)[:, None]
    ST = t_(data.statics)[None].expand(T, S, H, W) if S else torch.zeros((T, 0, H, W), device=dev)
    doy = X[:, -2:]                                             # sin/cos of the day of year
    VAL = t_(data.val_mask)[:, None]
    has_val = bool(data.val_mask.any())

    g_params = list(net.g.parameters()) + (list(net.f.parameters()) if cfg.adversarial else [])
    opt_g = torch.optim.Adam(g_params, lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(net.d_s.parameters()) + list(net.d_n.parameters()), lr=cfg.lr,
                             betas=(0.5, 0.999))
    decay_from = cfg.epochs // 2
    sched = lambda e: 1.0 if e < decay_from else max(0.0, 1.0 - (e - decay_from) / max(1, cfg.epochs - decay_from))  # noqa: E731
    lr_g = torch.optim.lr_scheduler.LambdaLR(opt_g, sched)
    lr_d = torch.optim.lr_scheduler.LambdaLR(opt_d, sched)
    rng = np.random.default_rng(cfg.seed)
    rows, best, best_state, best_epoch = [], np.inf, None, -1
    t0 = time.perf_counter()

    def swap(x, field_):
        return torch.cat([x[:, :data.center], field_, x[:, data.center + 1:]], dim=1)

    bar = tqdm(range(cfg.epochs), desc=desc, disable=not progress, mininterval=2.0,
               miniters=max(1, cfg.epochs // 10))
    for epoch in bar:
        net.g.train(), net.f.train(), net.d_s.train(), net.d_n.train()
        order = rng.permutation(T)
        acc = {k: 0.0 for k in ("sup", "cyc", "idt", "adv", "d_s", "d_n")}
        nb = 0
        for i in range(0, T, cfg.batch_size):
            b = torch.as_tensor(order[i:i + cfg.batch_size], device=dev)
            xb, nb_, sb, mb, fb, stb, db = X[b], N[b], Sv[b], M[b], FL[b], ST[b], doy[b]
            if cfg.augment:
                k, flip = int(rng.integers(4)), bool(rng.integers(2))
                xb, nb_, sb, mb, fb, stb, db = _augment((xb, nb_, sb, mb, fb, stb, db), k, flip)
            f_in = lambda fld: torch.cat([fld, stb, db], dim=1)  # noqa: E731
            # ---- generators
            fake_s = net.g(xb)
            sup = _mmean((fake_s - sb) ** 2, mb)
            idt = _mmean((net.g(swap(xb, fb)) - sb).abs(), mb)
            cyc = adv = torch.zeros((), device=dev)
            if cfg.adversarial:
                rec_n = net.f(f_in(fake_s))
                fake_n = net.f(f_in(fb))
                rec_s = net.g(swap(xb, fake_n))
                cyc = (rec_n - nb_).abs().mean() + _mmean((rec_s - sb).abs(), mb)
                idt = idt + (net.f(f_in(nb_)) - nb_).abs().mean()
                if cfg.lambda_adv > 0:
                    ps = net.d_s(torch.cat([fake_s * mb, mb, stb], dim=1))
                    pn = net.d_n(torch.cat([fake_n, stb], dim=1))
                    adv = _mmean((ps - 1) ** 2, mb) + ((pn - 1) ** 2).mean()
            loss_g = cfg.lambda_sup * sup + cfg.lambda_cyc * cyc + cfg.lambda_id * idt + cfg.lambda_adv * adv
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            # ---- discriminators
            ld_s = ld_n = torch.zeros((), device=dev)
            if cfg.lambda_adv > 0:
                real_s = net.d_s(torch.cat([sb * mb, mb, stb], dim=1))
                gen_s = net.d_s(torch.cat([fake_s.detach() * mb, mb, stb], dim=1))
                ld_s = 0.5 * (_mmean((real_s - 1) ** 2, mb) + _mmean(gen_s ** 2, mb))
                real_n = net.d_n(torch.cat([nb_, stb], dim=1))
                gen_n = net.d_n(torch.cat([fake_n.detach(), stb], dim=1))
                ld_n = 0.5 * (((real_n - 1) ** 2).mean() + (gen_n ** 2).mean())
                opt_d.zero_grad(set_to_none=True)
                (ld_s + ld_n).backward()
                opt_d.step()
            for k, v in (("sup", sup), ("cyc", cyc), ("idt", idt), ("adv", adv), ("d_s", ld_s), ("d_n", ld_n)):
                acc[k] += float(v.detach())
            nb += 1
        row = {k: v / nb for k, v in acc.items()}
        row["lr"] = opt_g.param_groups[0]["lr"]
        lr_g.step()
        if cfg.lambda_adv > 0:
            lr_d.step()
        if has_val:
            net.g.eval()
            with torch.no_grad():
                pred = torch.cat([net.g(X[j:j + 64]) for j in range(0, T, 64)])
            row["val_rmse"] = float(torch.sqrt(_mmean((pred - Sv) ** 2, VAL))) * data.sm_sd
            if row["val_rmse"] < best:
                best, best_epoch = row["val_rmse"], epoch
                best_state = copy.deepcopy(net.g.state_dict())
        else:
            row["val_rmse"] = float("nan")
        row["epoch"] = epoch
        rows.append(row)
        bar.set_postfix(sup=f"{row['sup']:.3f}", cyc=f"{row['cyc']:.3f}", adv=f"{row['adv']:.3f}",
                        D=f"{row['d_s'] + row['d_n']:.3f}", val=f"{row['val_rmse']:.4f}", refresh=False)
    if best_state is not None:
        net.g.load_state_dict(best_state)
    else:
        best_epoch = cfg.epochs - 1
    net.history = pd.DataFrame(rows).set_index("epoch")
    net.best_epoch = best_epoch
    net.seconds = time.perf_counter() - t0
    return net


def predict(net: DrcGAN, data: FusionData, device=None, batch: int = 64) -> np.ndarray:
    """The generator's SMAP-like field for every day, ``(T, H, W)`` in m3/m3."""
    dev = next(net.g.parameters()).device if device is None else resolve_device(device)
    net.g.to(dev).eval()
    X = torch.as_tensor(data.x, dtype=torch.float32, device=dev)
    with torch.no_grad():
        out = torch.cat([net.g(X[j:j + batch]) for j in range(0, X.shape[0], batch)])
    return out[:, 0].cpu().numpy().astype("float64") * net.sm_sd + net.sm_mean


def save_checkpoint(net: DrcGAN, path) -> Path:
    """Save the networks, configuration and standardization to ``path`` (a ``torch.save`` file whose
    content loads with ``torch.load(..., weights_only=True)``), atomically."""
    from ..io import _atomic_target
    import os

    path = Path(path)
    blob = {"config": asdict(net.config), "g": net.g.state_dict(), "f": net.f.state_dict(),
            "d_s": net.d_s.state_dict(), "d_n": net.d_n.state_dict(), "center": int(net.center),
            "sm_mean": float(net.sm_mean), "sm_sd": float(net.sm_sd), "channels": list(net.channels),
            "in_channels": int(net.g.head[0].in_channels), "n_static": int(net.f.head[0].in_channels) - 3,
            "best_epoch": int(net.best_epoch)}
    tmp = _atomic_target(path)
    try:
        torch.save(blob, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path, device="cpu") -> DrcGAN:
    """Load a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: DrcGAN checkpoint not found")
    dev = resolve_device(device)
    blob = torch.load(path, map_location=dev, weights_only=True)
    cfg = DrcGANConfig(**blob["config"])
    net = build(cfg, blob["in_channels"], blob["center"], blob["n_static"], blob["sm_mean"], blob["sm_sd"],
                blob["channels"], dev)
    for name in ("g", "f", "d_s", "d_n"):
        getattr(net, name).load_state_dict(blob[name])
    net.best_epoch = blob["best_epoch"]
    return net
