"""Benchmark: the fast CNN's training speed against the CPU's own matrix-multiply peak.

    python benchmarks/bench_fast.py [--steps 20] [--rounds 2]

Prints, in one run on one machine:

* the CPU's float32 and bfloat16 matrix-multiply FLOP/s (2048 x 2048 products in TensorFlow,
  the best of several), the ceiling any network's training can approach;
* for each option (network and its widths, precision, batch norm): training images/s with the fast recipe
  (batches of 128, augmentation inside the model, SGD with the EMA), the training FLOP/s that
  makes (3 x 2 x the forward multiply-adds per image: forward, and a backward pass about twice
  its cost), and that as a share of the peak of its precision.

Each option trains in a fresh subprocess (a dtype policy is best kept out of a shared process),
and rounds interleave the options, so that all see the same machine load: the ratios between
them hold even on a busy machine; the absolute figures need an idle one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from fresh_process import matmul_peak, report, run_fresh

FIRST = "24,48,96,192"  # the first recipe's widths
FINAL = "recipe"  # FastCNNConfig's widths: the final recipe's
OPTIONS = [  # (model, widths of the fast CNN, precision, fused batch norm)
    ("fastcnn", FIRST, "float32", False),  # the first recipe, as it trained
    ("fastcnn", FIRST, "mixed_bfloat16", True),
    ("fastcnn", FINAL, "float32", True),
    ("fastcnn", FINAL, "mixed_bfloat16", False),
    ("fastcnn", FINAL, "mixed_bfloat16", True),  # the final recipe
    # Wider networks (page 8's wide run; a candidate for the fast goal): do the matrix units'
    # share of peak grow with the widths, and what does each width cost per image?
    ("fastcnn", "48,96,192,384", "mixed_bfloat16", True),
    ("fastcnn", "64,128,256,512", "mixed_bfloat16", True),
    ("cnn", "", "float32", True),
    ("cnn", "", "mixed_bfloat16", True),
]



def worker(model_name: str, widths: str, precision: str, fused: bool, steps: int) -> dict:
    """Runs in the subprocess: train `steps` batches of 128 (after a warm-up) and time them."""
    import keras
    import numpy as np

    from ferlib.evaluate import one_hot
    from ferlib.models import build_model, count_multiply_adds
    from ferlib.models.fastcnn import FastCNNConfig
    from ferlib.recipes.fast import FastRecipe, compile_fast

    keras.utils.set_random_seed(0)
    if model_name == "fastcnn":
        sizes = FastCNNConfig().widths if widths == FINAL else tuple(int(w) for w in widths.split(","))
        config = FastCNNConfig(widths=sizes, fused_batchnorm=fused)
        model = build_model("fastcnn", config=config, precision=precision)
    else:
        model = build_model(model_name, precision=precision)
    madds = count_multiply_adds(model)
    compile_fast(model, FastRecipe(), steps)
    n = steps * 128
    rng = np.random.default_rng(0)
    x = rng.random((n, 48, 48, 1), dtype=np.float32)
    y = one_hot(rng.integers(0, 7, n))
    model.fit(x[:1280], y[:1280], batch_size=128, epochs=1, verbose=0)  # trace, warm the thread pools
    started = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    return {"images_per_second": n / seconds, "multiply_adds": madds}


def _run_worker(option, steps: int) -> dict:
    model, widths, precision, fused = option
    return run_fresh([__file__, "--worker", model, widths or "-", precision, str(int(fused)), "--steps", str(steps)],
                     str(option))


def _label(option) -> str:
    model, widths, precision, fused = option
    return f"{model}{f' ({widths})' if widths else ''} {precision}{', fused BN' if fused else ', Keras BN'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed batches of 128 per option and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", nargs=4, metavar=("MODEL", "WIDTHS", "PRECISION", "FUSED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if args.worker:
        model, widths, precision, fused = args.worker
        report(worker(model, widths, precision, fused == "1", args.steps))
        return 0

    import keras

    from ferlib.provenance import device_name, supports_bfloat16

    peaks = {"float32": matmul_peak("float32"), "mixed_bfloat16": matmul_peak("bfloat16")}
    print(f"Keras {keras.__version__} on {keras.backend.backend()}, {device_name()}, native bfloat16: "
          f"{supports_bfloat16()}")
    print(f"matrix-multiply peak: float32 {peaks['float32'] / 1e9:.0f} GFLOP/s, "
          f"bfloat16 {peaks['mixed_bfloat16'] / 1e9:.0f} GFLOP/s\n")
    speeds: dict[tuple, list[float]] = {o: [] for o in OPTIONS}
    madds = {}
    for round_ in range(1, args.rounds + 1):
        for option in OPTIONS:
            result = _run_worker(option, args.steps)
            speeds[option].append(result["images_per_second"])
            madds[option] = result["multiply_adds"]
        print(f"round {round_}: " + ", ".join(f"{_label(o)} {speeds[o][-1]:.0f}/s" for o in OPTIONS), flush=True)
    print(f"\n{'option':<50} {'images/s':>9} {'GFLOP/image':>12} {'GFLOP/s':>8} {'of peak':>8} {'vs first':>9}")
    base = statistics.median(speeds[OPTIONS[0]])
    for option in OPTIONS:
        rate = statistics.median(speeds[option])
        flop = 6 * madds[option]
        print(f"{_label(option):<50} {rate:>9.0f} {flop / 1e9:>12.2f} {rate * flop / 1e9:>8.0f} "
              f"{rate * flop / peaks[option[2]]:>8.0%} {rate / base:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
