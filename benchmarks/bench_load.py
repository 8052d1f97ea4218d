"""Benchmark: loading the full FER2013 CSV.gz, fast parser vs the naive parse, and the cache.

    python benchmarks/bench_load.py [PATH]       (default: FER2013_PATH)

Goals (issue: FER2013 loading): the fast parse takes at most 2.5 s and is at least 4x faster
than the naive per-row ``str.split`` parse, measured side by side in this one run; a second
load comes from the cache in at most 0.1 s.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ferlib.data import find_fer2013, load_fer2013, read_challenge_csv
from naive_parser import read_csv_naive


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def main() -> int:
    path = find_fer2013(sys.argv[1] if len(sys.argv) > 1 else None)
    if path is None or path.is_dir():
        print("needs the challenge CSV: pass its path or set FER2013_PATH")
        return 2
    print(f"file: {path.name} ({path.stat().st_size / 1e6:.1f} MB), {os.cpu_count()} CPU cores")
    naive_times, (naive_images, naive_labels) = timed(lambda: read_csv_naive(path), 1)
    fast_times, data = timed(lambda: read_challenge_csv(path), 3)
    assert np.array_equal(naive_images, data.images) and np.array_equal(naive_labels, data.labels)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FERLIB_CACHE"] = cache
        first_times, _ = timed(lambda: load_fer2013(path), 1)
        cached_times, cached = timed(lambda: load_fer2013(path), 5)
        assert np.array_equal(cached.images, data.images)
    naive, fast, hit = naive_times[0], statistics.median(fast_times), statistics.median(cached_times)
    rows = [
        ("naive parse (pandas + str.split per row)", naive, ""),
        ("fast parse, median of 3", fast, f"goal <= 2.5 s: {'met' if fast <= 2.5 else 'MISSED'}"),
        ("first load_fer2013 (parse + write cache)", first_times[0], ""),
        ("cached load_fer2013, median of 5", hit, f"goal <= 0.1 s: {'met' if hit <= 0.1 else 'MISSED'}"),
    ]
    for name, seconds, note in rows:
        print(f"{name:45s} {seconds:8.3f} s  {note}")
    ratio = naive / fast
    print(f"{'speed-up of the fast parse over the naive one':45s} {ratio:8.1f} x  goal >= 4x: {'met' if ratio >= 4 else 'MISSED'}")
    print(f"rows: {len(data):,}; identical arrays from both parsers and from the cache")
    return 0


if __name__ == "__main__":
    sys.exit(main())
