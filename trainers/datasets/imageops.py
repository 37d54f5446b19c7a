"""Image arithmetic shared by the overlay datasets: pasting with max, and the MDMTN
MultiMNIST downscaling.

``skimage_resize`` reproduces what scikit-image's ``transform.resize`` does at its defaults
for a float image that is shrunk (docs/datasets.md#multimnist-downscaling), with the same
SciPy calls scikit-image makes, so without depending on scikit-image:

1. anti-aliasing: ``scipy.ndimage.gaussian_filter`` with sigma = max(0, (in/out - 1) / 2)
   per axis (0.1429 for 36 -> 28), boundary ``mirror`` (scikit-image's ``reflect``),
   truncate 4.0 (a 3-tap kernel here);
2. ``scipy.ndimage.zoom`` with order 1 (bilinear), ``grid_mode=True`` (pixel *areas* are
   aligned: input coordinate = (output + 0.5) * in/out - 0.5), boundary ``mirror``;
3. clipping to the input image's own [min, max] (scikit-image's ``clip=True``).

Values keep their 0-255 scale (float input is not rescaled). Whole stacks are processed
at once with a zero sigma and a unit zoom along the stack axis, which leaves every image
exactly as a per-image call would.
"""
from __future__ import annotations

import numpy as np


def place_max(canvas: np.ndarray, images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    """Paste ``images[k]`` (h x w) at (rows[k], cols[k]) of ``canvas[k]``, keeping the
    pixel-wise maximum where it overlaps what is already there. In place."""
    h, w = images.shape[1:]
    offsets = np.stack([rows, cols], axis=1)
    for r, c in np.unique(offsets, axis=0):
        idx = np.flatnonzero((rows == r) & (cols == c))
        window = canvas[idx, r:r + h, c:c + w]
        canvas[idx, r:r + h, c:c + w] = np.maximum(window, images[idx])


def skimage_resize(images: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """``skimage.transform.resize(image, out_shape)`` (defaults) of every image of a
    float64 stack (N, H, W), returned as float64 (N, h, w)."""
    images = np.asarray(images, dtype=np.float64)
    factors = np.array(images.shape[1:], dtype=np.float64) / np.array(out_shape, dtype=np.float64)
    sigma = np.maximum(0.0, (factors - 1.0) / 2.0)
    from scipy import ndimage  # lazy: only dataset builds resize

    filtered = ndimage.gaussian_filter(images, sigma=(0.0, *sigma), mode="mirror", cval=0.0)
    zoom = (1.0, *(1.0 / factors))
    out = ndimage.zoom(filtered, zoom, order=1, mode="mirror", cval=0.0, grid_mode=True)
    low = images.min(axis=(1, 2), keepdims=True)
    high = images.max(axis=(1, 2), keepdims=True)
    return np.clip(out, low, high)
