"""The one RGB -> YUV 4:2:0 10-bit conversion: the fast path gives exactly the samples of its definition
(a float32 3x3 transform, the 2x2 mean of the float chroma, rounding), and stays within 1 LSB of exact math.

The definition below is the conversion as it was first written (numpy's reshaped mean); the fast one in
vcm.codec.colour must match it bit for bit, so encodes, cache keys and published numbers do not move.
"""
from __future__ import annotations

import numpy as np
import pytest

from vcm.codec.colour import MATRICES, pad_to_even, rgb_to_yuv


def definition(rgb: np.ndarray, matrix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import cv2

    kr, kb = MATRICES[matrix]
    kg = 1.0 - kr - kb
    m = np.array([[kr, kg, kb],
                  [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
                  [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))]], dtype=np.float32) / 255.0
    ycc = cv2.transform(pad_to_even(rgb).astype(np.float32), m)
    H, W = ycc.shape[:2]
    y = np.clip(np.rint(64.0 + 876.0 * ycc[..., 0]), 0, 1023).astype(np.uint16)
    c = ycc[..., 1:].reshape(H // 2, 2, W // 2, 2, 2).mean(axis=(1, 3))
    c = np.clip(np.rint(512.0 + 896.0 * c), 0, 1023).astype(np.uint16)
    return y, c[..., 0], c[..., 1]


def exact(rgb: np.ndarray, matrix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same conversion in float64."""
    kr, kb = MATRICES[matrix]
    kg = 1.0 - kr - kb
    p = pad_to_even(rgb).astype(np.float64) / 255.0
    r, g, b = p[..., 0], p[..., 1], p[..., 2]
    y = kr * r + kg * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    H, W = y.shape

    def mean2(a):
        return a.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))

    return (np.rint(64 + 876 * y), np.rint(512 + 896 * mean2(cb)), np.rint(512 + 896 * mean2(cr)))


def _pictures(astronaut_png):
    import cv2

    rng = np.random.default_rng(7)
    photo = cv2.cvtColor(cv2.imread(str(astronaut_png)), cv2.COLOR_BGR2RGB)
    gx, gy = np.meshgrid(np.arange(256), np.arange(256))
    return {"astronaut": photo, "odd crop": np.ascontiguousarray(photo[3:104, 5:82]),
            "noise": (rng.random((96, 130, 3)) * 256).astype(np.uint8),
            "ramps": np.dstack([gx, gy, (gx + gy) // 2]).astype(np.uint8),
            "saturated": np.where(rng.random((64, 64, 3)) < 0.5, 0, 255).astype(np.uint8)}


@pytest.mark.parametrize("matrix", sorted(MATRICES))
def test_fast_conversion_is_bit_identical_to_its_definition(astronaut_png, matrix):
    for name, rgb in _pictures(astronaut_png).items():
        frame = rgb_to_yuv(rgb, matrix)
        for plane, want in zip((frame.y, frame.u, frame.v), definition(rgb, matrix)):
            assert plane.dtype == np.uint16 and plane.flags.c_contiguous
            assert np.array_equal(plane, want), f"{name} {matrix}: {int(np.sum(plane != want))} samples differ"
        h, w = rgb.shape[:2]
        assert frame.display_size == (w, h)


def test_conversion_is_within_one_lsb_of_exact_math(astronaut_png):
    rgb = _pictures(astronaut_png)["astronaut"]
    frame = rgb_to_yuv(rgb, "bt709")
    for plane, want in zip((frame.y, frame.u, frame.v), exact(rgb, "bt709")):
        d = np.abs(plane.astype(np.float64) - want)
        assert d.max() <= 1 and np.mean(d > 0) < 1e-3
