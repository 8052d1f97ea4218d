"""The usual tutorial parse of the challenge CSV: the loader benchmark's baseline.

It lives with the benchmarks, not in the package: nothing in ferlib uses it. The tests use
it to check that the fast parser gives the same arrays.
"""

from __future__ import annotations

import os

import numpy as np

from ferlib.data import IMAGE_SIZE


def read_csv_naive(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """pandas, then one ``str.split`` per row."""
    import pandas as pd

    frame = pd.read_csv(path)
    images = np.stack([np.array(p.split(), dtype=np.uint8) for p in frame["pixels"]])
    return images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE), frame["emotion"].to_numpy()
