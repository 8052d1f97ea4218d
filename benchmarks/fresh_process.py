"""What the benchmarks share: each option measured in a fresh Python process, and the CPU's
own matrix-multiply peak that their FLOP/s are set beside.

A fresh process per option gives each its own thread pools, traced steps, backend and
environment flags, so that one option's warm state never speeds up or slows down the next.
The worker prints its result as one ``RESULT {json}`` line; everything else it prints (the
backends' logs) is ignored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

RESULT = "RESULT "


def report(result: dict) -> None:
    """The worker's side: hand ``result`` back to :func:`run_fresh`."""
    print(RESULT + json.dumps(result), flush=True)


def run_fresh(arguments: list[str], what: str, env: dict[str, str] | None = None) -> dict:
    """Run ``python ARGUMENTS`` in a fresh process and return the dict its worker reported.

    Raises RuntimeError, naming ``what`` and ending with the worker's last error output,
    when it fails or reports nothing."""
    proc = subprocess.run([sys.executable, *arguments], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT):])


def matmul_peak(dtype: str = "float32", size: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of the best of ``repeats`` (size x size) products in ``dtype``, through
    TensorFlow's CPU kernels (the ones Keras trains with)."""
    import tensorflow as tf

    a = tf.cast(tf.random.uniform((size, size), dtype=tf.float32), dtype)
    product = tf.function(lambda m: tf.linalg.matmul(m, m))
    product(a).numpy()  # trace, and warm the thread pools
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        product(a).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best
