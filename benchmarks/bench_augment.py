"""Benchmark: one CPU epoch of the report's CNN without augmentation, with it in the input
pipeline (on the host, as the published runs train), and with it inside the training step
(``augment_on="device"``, what a GPU does).

    python benchmarks/bench_augment.py [--images 1024] [--rounds 2]

All variants go through the same input pipeline (``BatchSequence``), on the same fixed
subset (FER2013 when FER2013_PATH finds it, else the synthetic faces), alternating epochs
so that all see the same machine load. Goal (issue: models and training): augmentation
costs at most 15% more per epoch. The in-step line says whether ``augment_on="auto"`` should
keep the pipeline on a CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import keras
import numpy as np

from ferlib.augment import BatchSequence, augmenting_trainer, make_augmenter
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
    in_step = compile_model(augmenting_trainer(model, make_augmenter(seed=0)))  # the same weights
    variants = {  # name: (the model fit trains, its batches)
        "without augmentation": (model, BatchSequence(x, y, 64, None, seed=0)),
        "with augmentation": (model, BatchSequence(x, y, 64, make_augmenter(seed=0), seed=0)),
        "augmentation in step": (in_step, BatchSequence(x, y, 64, None, seed=0)),
    }
    for trained, batches in variants.values():  # warm-up: compilation and first-call costs
        trained.fit(batches, epochs=1, verbose=0, shuffle=False)
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (trained, batches) in variants.items():
            # Time the epochs themselves (callback), not fit()'s set-up and tear-down: on the
            # TensorFlow backend those add a few seconds at random to some fit() calls.
            trained.fit(batches, epochs=2, verbose=0, shuffle=False, callbacks=[EpochTimer(times[name])])
    base = statistics.median(times["without augmentation"])
    aug = statistics.median(times["with augmentation"])
    step = statistics.median(times["augmentation in step"])
    for name, values in times.items():
        print(f"epoch {name:22s} median {statistics.median(values):7.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
    overhead = 100 * (aug / base - 1)
    print(f"augmentation overhead: {overhead:+.1f}%  goal <= 15%: {'met' if overhead <= 15 else 'MISSED'}")
    print(f"in the training step instead: {100 * (step / base - 1):+.1f}% over none, "
          f"{step / aug:.2f}x the pipeline's epoch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
