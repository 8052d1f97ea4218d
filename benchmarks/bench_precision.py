"""Benchmark: training speed of the report's CNN and ViT under each precision and setting.

    python benchmarks/bench_precision.py [--steps 60] [--rounds 3] [--full-epochs 2] [--reading dense-batchnorm]

Each option trains in a fresh subprocess (TensorFlow's op determinism cannot be switched
off once on, and a dtype policy is best kept out of a shared process); rounds interleave
the options, so all see the same machine load. Printed: training images/s per option
(median and range over rounds) and each option's ratio to float32 of the same model.

Options: ``float32`` and ``mixed_bfloat16`` (Keras dtype policies), each with
TensorFlow's op determinism on (what ``ferlib.train.set_seed`` does) and off; for the CNN,
also with Keras's own ``BatchNormalization`` instead of the package's fused one (the
difference is the reason the package has its own); the TensorFlow options only on that
backend. The CNN is built in `--reading` (default: the reading the published full run chose).

With ``--full-epochs N`` it also times N whole epochs of the CNN on the report's training
split (18,373 images, with validation on 4,594) in float32 and in mixed_bfloat16, one
epoch of each in turn, and prints every epoch's seconds: the spread shows stalls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from fresh_process import report, run_fresh

OPTIONS = [  # (model, precision, op determinism, fused batch norm)
    ("cnn", "float32", True, True),
    ("cnn", "mixed_bfloat16", True, True),
    ("cnn", "mixed_bfloat16", False, True),
    ("cnn", "float32", True, False),
    ("cnn", "mixed_bfloat16", True, False),
    ("vit", "float32", True, True),
    ("vit", "mixed_bfloat16", True, True),
    ("vit", "float32", False, True),
]


def worker(model_name: str, precision: str, determinism: bool, fused: bool, reading: str, steps: int,
           full_epochs: int) -> dict:
    """Runs in the subprocess: train `steps` batches (after a warm-up) and time them."""
    import keras
    import numpy as np

    from ferlib.augment import BatchSequence
    from ferlib.data import FER2013NotFound, load_fer2013, load_synthetic
    from ferlib.evaluate import one_hot
    from ferlib.models import READINGS, build_cnn, build_model
    from ferlib.splits import report_split, split_arrays
    from ferlib.train import EpochTimer, compile_model

    keras.utils.set_random_seed(0)
    if determinism and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    try:
        data = load_fer2013(download=False)
    except FER2013NotFound:
        data = load_synthetic(n_per_class=3000)
    if model_name == "cnn":
        net = build_cnn(**READINGS["cnn"][reading], precision=precision, fused_batchnorm=fused)
    else:
        net = build_model(model_name, precision=precision)
    model = compile_model(net)
    if full_epochs:
        arrays = split_arrays(data.images, data.labels, report_split(data.labels, data.usage))
        (x, y), (xv, yv) = arrays["train"], arrays["val"]
        timer = EpochTimer()
        seconds = []

        class Keep(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                seconds.append(logs["epoch_seconds"])

        model.fit(BatchSequence(x, one_hot(y), 64, seed=0), validation_data=(xv, one_hot(yv)), epochs=full_epochs,
                  callbacks=[timer, Keep()], verbose=0)
        return {"epoch_seconds": seconds, "images": len(x)}
    n = steps * 64
    x = (data.images[:n].astype(np.float32) / 255.0)[..., None]
    y = one_hot(data.labels[:n])
    warm = BatchSequence(x[:640], y[:640], 64, seed=0)
    model.fit(warm, epochs=1, verbose=0)  # compile the graph, warm the thread pools
    started = time.perf_counter()
    model.fit(BatchSequence(x, y, 64, seed=1), epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    return {"images_per_second": n / seconds, "seconds": seconds, "images": n}


def _run_worker(option, reading: str, steps: int, full_epochs: int = 0) -> dict:
    model, precision, determinism, fused = option
    return run_fresh([__file__, "--worker", model, precision, str(int(determinism)), str(int(fused)),
                      "--reading", reading, "--steps", str(steps), "--full-epochs", str(full_epochs)], str(option))


def _label(option) -> str:
    model, precision, determinism, fused = option
    return (f"{model.upper()} {precision}{'' if determinism else ', determinism off'}"
            f"{'' if fused else ', Keras batch norm'}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60, help="timed batches of 64 per option and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--full-epochs", type=int, default=0, help="also time this many full-split CNN epochs per precision")
    parser.add_argument("--reading", default="dense-batchnorm", help="the CNN reading to time")
    parser.add_argument("--worker", nargs=4, metavar=("MODEL", "PRECISION", "DETERMINISM", "FUSED"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.worker:
        model, precision, determinism, fused = args.worker
        result = worker(model, precision, determinism == "1", fused == "1", args.reading, args.steps, args.full_epochs)
        report(result)
        return 0

    import keras

    from ferlib.provenance import device_name, supports_bfloat16

    print(f"Keras {keras.__version__} on {keras.backend.backend()}, {device_name()}, native bfloat16: {supports_bfloat16()}")
    print(f"{args.rounds} rounds x {args.steps} batches of 64 per option, options interleaved; "
          f"CNN reading {args.reading}\n")
    options = [o for o in OPTIONS if (o[2] and o[3]) or keras.backend.backend() == "tensorflow"]
    speeds: dict[tuple, list[float]] = {o: [] for o in options}
    for round_ in range(1, args.rounds + 1):
        for option in options:
            speeds[option].append(_run_worker(option, args.reading, args.steps)["images_per_second"])
        print(f"round {round_}: " + ", ".join(f"{_label(o)} {speeds[o][-1]:.0f}/s" for o in options), flush=True)
    print(f"\n{'option':<40} {'images/s (median)':>18} {'range':>14} {'vs float32':>11}")
    for option in options:
        base = statistics.median(speeds[(option[0], "float32", True, True)])
        median = statistics.median(speeds[option])
        print(f"{_label(option):<40} {median:>18.0f} {min(speeds[option]):>6.0f}-{max(speeds[option]):<7.0f} "
              f"{median / base:>10.2f}x")

    if args.full_epochs:
        print(f"\nCNN, full report split: {args.full_epochs} epoch(s) per precision, alternating")
        epochs: dict[str, list[float]] = {"float32": [], "mixed_bfloat16": []}
        for _ in range(args.full_epochs):
            for precision in epochs:
                epochs[precision] += _run_worker(("cnn", precision, True, True), args.reading, args.steps,
                                                 full_epochs=1)["epoch_seconds"]
        for precision, seconds in epochs.items():
            print(f"  {precision:<15} epochs {', '.join(f'{s:.1f}' for s in seconds)} s "
                  f"(median {statistics.median(seconds):.1f}, spread {max(seconds) - min(seconds):.1f} s)")
        ratio = statistics.median(epochs["float32"]) / statistics.median(epochs["mixed_bfloat16"])
        print(f"  mixed_bfloat16 epoch is {ratio:.2f}x faster than float32 (goal: at least 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
