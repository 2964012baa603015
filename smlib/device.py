"""Choosing the PyTorch device: CUDA when it is there, else the CPU (DESIGN.md section 9)."""

from __future__ import annotations

from .errors import DataError


def resolve_device(device=None) -> str:
    """``None`` or ``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; any other value
    (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``) is returned as a string.

    Raises :class:`~smlib.errors.DataError` when CUDA is requested but torch sees no CUDA device.
    """
    import torch

    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DataError(f"device {device!r} requested but torch sees no CUDA device; use 'cpu' or 'auto'")
    return device
