"""Random fields and random streams of the synthetic generator.

Every random draw comes from a :func:`stream` keyed by the study seed, a named purpose and, for daily
draws, the calendar day: the same seed gives the same arrays whatever the period is cut into
blocks, and two purposes never share numbers.

Spatial fields are Gaussian random fields made by spectral synthesis (filtering white noise in the
Fourier domain; Lang et al. 1997-style spectral method, see e.g. Saupe 1988 for fractal surfaces).
"""

from __future__ import annotations

import zlib

import numpy as np

#: 1 degree of latitude in km (spherical Earth, R = 6371 km)
KM_PER_DEG = 111.195


def stream(seed: int, purpose: str, day: int | None = None) -> np.random.Generator:
    """A NumPy generator for ``purpose`` (a name) and optionally a ``day`` (days since 1970-01-01)."""
    key = [int(seed), zlib.crc32(purpose.encode())]
    if day is not None:
        key.append(int(day) + 1_000_000)
    return np.random.default_rng(key)


def day_number(date) -> int:
    """Days since 1970-01-01 of a date (``numpy.datetime64`` or ``pandas.Timestamp``)."""
    return int(np.datetime64(date, "D").astype("int64"))


def _rfft2(a):
    from scipy import fft

    return fft.rfft2(a)


def _irfft2(a, shape):
    from scipy import fft

    return fft.irfft2(a, s=shape)


def _wavenumbers(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    return ky, kx


def gaussian_field(shape: tuple[int, int], length_px: float, rng: np.random.Generator,
                   pad: float = 0.25) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with a Gaussian covariance of e-folding
    length ``length_px`` pixels (spectral synthesis on a grid padded by ``pad`` to weaken the
    periodic wrap-around). Returns float64 of ``shape``."""
    from scipy.fft import next_fast_len

    ny, nx = shape
    py = next_fast_len(ny + int(np.ceil(pad * ny)) + 2, real=True)
    px = next_fast_len(nx + int(np.ceil(pad * nx)) + 2, real=True)
    noise = rng.standard_normal((py, px))
    ky, kx = _wavenumbers((py, px))
    k2 = ky ** 2 + kx ** 2
    filt = np.exp(-0.5 * (np.pi * length_px) ** 2 * k2)
    f = _irfft2(_rfft2(noise) * filt, (py, px))[:ny, :nx]
    sd = f.std()
    return (f - f.mean()) / (sd if sd > 0 else 1.0)


def fractal_field(shape: tuple[int, int], beta: float, rng: np.random.Generator,
                  min_length_px: float = 1.0) -> np.ndarray:
    """Fractal (power-law) surface, spectral density ``~ k**-beta`` (``beta`` 3 gives a
    Brownian-like terrain of fractal dimension 2.5; Saupe 1988). Zero mean, unit variance."""
    from scipy.fft import next_fast_len

    ny, nx = shape
    py, px = next_fast_len(int(ny * 1.25) + 2, real=True), next_fast_len(int(nx * 1.25) + 2, real=True)
    noise = rng.standard_normal((py, px))
    ky, kx = _wavenumbers((py, px))
    k = np.sqrt(ky ** 2 + kx ** 2)
    k[0, 0] = 1.0 / max(py, px)
    amp = k ** (-beta / 2.0) * np.exp(-0.5 * (np.pi * min_length_px * k) ** 2)
    amp[0, 0] = 0.0
    f = _irfft2(_rfft2(noise) * amp, (py, px))[:ny, :nx]
    sd = f.std()
    return (f - f.mean()) / (sd if sd > 0 else 1.0)


def smooth(field: np.ndarray, length_px: float) -> np.ndarray:
    """Gaussian smoothing with e-folding ``length_px`` pixels (reflecting edges)."""
    from scipy import ndimage

    if length_px <= 0:
        return field.copy()
    return ndimage.gaussian_filter(field, sigma=length_px / np.sqrt(2.0), mode="reflect")


def pixel_km(res_deg: float, lat_deg: float) -> tuple[float, float]:
    """(north-south, east-west) size in km of a ``res_deg`` pixel at latitude ``lat_deg``."""
    return res_deg * KM_PER_DEG, res_deg * KM_PER_DEG * np.cos(np.radians(lat_deg))
