"""Parsed arrays kept on disk, so a second load of the same source is a plain array read.

A cache file is named after the source's path, sizes and mtimes, and written atomically;
a damaged or stale one is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from ..fer2013 import FER2013, USAGES
from ..files import atomic_write
from .image_folders import image_files
from .sources import ENV_CACHE, cache_dir

# Bump when the parsed-array format or the parsers change, so stale caches are ignored.
_CACHE_VERSION = "2"


def _source_stamp(path: Path) -> str:
    """Cheap identity of a source (paths, sizes, mtimes): decides whether the cache is fresh.

    Hashing the whole source on every load would cost more than the cached read saves, so
    a file rewritten with the same size and a restored mtime is not noticed; pass
    ``use_cache=False`` (or delete the cache folder) after editing data in place like that.
    """
    parts = [_CACHE_VERSION, str(path.resolve())]
    if path.is_dir():
        for entry in sorted(image_files(path)):
            st = entry.stat()
            parts.append(f"{entry.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}")
    else:
        st = path.stat()
        parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def cached_read(path: Path, reader) -> FER2013:
    cache_file = cache_dir() / f"parsed-{_source_stamp(path)}.npz"
    if cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as z:
                return FER2013(
                    images=z["images"],
                    labels=z["labels"],
                    usage=np.asarray(USAGES)[z["usage_code"]],
                    fingerprint=str(z["fingerprint"]),
                    source=str(path),
                    format=str(z["format"]),
                )
        except Exception:  # a damaged cache is rebuilt, never trusted
            pass
    data = reader(path)
    usage_code = np.zeros(len(data), np.int8)
    for code, usage in enumerate(USAGES):
        usage_code[data.usage == usage] = code
    try:
        atomic_write(
            cache_file,
            lambda f: np.savez(
                f,
                images=data.images,
                labels=data.labels,
                usage_code=usage_code,
                fingerprint=np.str_(data.fingerprint),
                format=np.str_(data.format),
            ),
        )
    except OSError as err:  # the data are fine; only the cache could not be written
        warnings.warn(f"ferlib could not write its cache {cache_file} ({err}); loading without a cache. "
                      f"Point {ENV_CACHE} at a writable folder to make later loads fast.", stacklevel=3)
    return data
