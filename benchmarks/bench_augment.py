"""Benchmark: one CPU epoch of the report's CNN with and without augmentation.

    python benchmarks/bench_augment.py [--images 1024] [--rounds 2]

Both variants go through the same input pipeline (``BatchSequence``), on the same fixed
subset (FER2013 when FER2013_PATH finds it, else the synthetic faces), alternating epochs
so that both see the same machine load. Goal (issue: models and training): augmentation
costs at most 15% more per epoch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import keras
import numpy as np

from ferlib.augment import BatchSequence, make_augmenter
from ferlib.data import FER2013NotFound, load_fer2013, load_synthetic
from ferlib.models import build_cnn
from ferlib.train import compile_model, one_hot, set_seed


class EpochTimer(keras.callbacks.Callback):
    def __init__(self, times: list[float]):
        super().__init__()
        self.times = times

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    try:
        data = load_fer2013(download=False)
    except FER2013NotFound:
        data = load_synthetic(n_per_class=args.images // 7 + 1)
    x = (data.images[: args.images].astype(np.float32) / 255.0)[..., None]
    y = one_hot(data.labels[: args.images])
    print(f"{data.name}: {len(x)} images, Keras {keras.__version__} on {keras.backend.backend()}, batch 64")

    set_seed(0)
    model = compile_model(build_cnn())
    variants = {
        "without augmentation": BatchSequence(x, y, 64, None, seed=0),
        "with augmentation": BatchSequence(x, y, 64, make_augmenter(seed=0), seed=0),
    }
    for batches in variants.values():  # warm-up: compilation and first-call costs
        model.fit(batches, epochs=1, verbose=0)
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, batches in variants.items():
            # Time the epochs themselves (callback), not fit()'s set-up and tear-down: on the
            # TensorFlow backend those add a few seconds at random to some fit() calls.
            model.fit(batches, epochs=2, verbose=0, callbacks=[EpochTimer(times[name])])
    base = statistics.median(times["without augmentation"])
    aug = statistics.median(times["with augmentation"])
    for name, values in times.items():
        print(f"epoch {name:22s} median {statistics.median(values):7.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
    overhead = 100 * (aug / base - 1)
    print(f"augmentation overhead: {overhead:+.1f}%  goal <= 15%: {'met' if overhead <= 15 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
