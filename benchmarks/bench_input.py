"""Why some epochs of the fast recipe take twice as long: the input pipeline, measured.

    python benchmarks/bench_input.py [--epochs 6] [--images 28709]

On the 2-core CPU about a third of the fast recipe's epochs took twice the others' time. During
those epochs the process sat idle for half a minute. `py-spy dump --native` showed the main thread
inside ``TensorFlowTrainer.fit`` destroying the last epoch's tf.data iterator, waiting on
tf.data's thread pool. Keras makes a new iterator every epoch when ``fit`` is given numpy
arrays. This benchmark trains the fast recipe (``train_fast``: its per-epoch scoring of PublicTest and
PrivateTest and its backups included) for a few epochs in two ways:

* ``arrays``: ``fit(x, y, batch_size=128, shuffle=True)``, a new iterator every epoch (the
  recipe before this change);
* ``repeated``: one ``tf.data`` pipeline that shuffles indices every pass, gathers the batch and
  repeats, given to ``fit`` with ``steps_per_epoch`` (:func:`ferlib.recipes.fast.training_batches`),
  so one iterator lives for the whole training.

It prints every epoch's seconds, and the median and the slowest epoch of each way, side by side.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402


def main(argv=None) -> int:
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    import ferlib.recipes.fast as fast

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--data", default=None, help="FER2013 (standard protocol); default: random arrays of its size")
    args = parser.parse_args(argv)
    if args.data:
        from ferlib.data import load_data
        from ferlib.splits import official_split, split_arrays

        data = load_data(args.data)
        arrays = split_arrays(data.images, data.labels, official_split(data.usage))
    else:
        rng = np.random.default_rng(0)
        arrays = {part: (rng.random((n, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, n))
                  for part, n in (("train", 28_709), ("val", 3_589), ("test", 3_589))}
    recipe = replace(fast.RECIPE, epochs=args.epochs)
    results = {}
    with_iterator_per_epoch = lambda *a, **k: None  # noqa: E731 - train_fast then gives fit the arrays
    for way, batches in (("arrays", with_iterator_per_epoch), ("repeated", fast.training_batches)):
        original, fast.training_batches = fast.training_batches, batches
        try:
            with tempfile.TemporaryDirectory() as folder:
                run = fast.train_fast(arrays, recipe, folder=Path(folder) / way, seed=0, keep_model=False)
        finally:
            fast.training_batches = original
        results[way] = [row["epoch_seconds"] for row in run.log]
        print(f"{way:9s} epochs (s): {results[way]}", flush=True)
    print(f"{'':9s} {'median':>8s} {'slowest':>8s}   (first epoch left out: it compiles)")
    for way, seconds in results.items():
        print(f"{way:9s} {np.median(seconds[1:]):8.1f} {max(seconds[1:]):8.1f}")
    print(json.dumps({"epochs": args.epochs, "data": "FER2013" if args.data else "random", **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
