"""Does a larger batch train the report's ViT as well, epoch for epoch, and how much sooner?

    python benchmarks/vit_batch_curve.py --root DIR --data PATH [--epochs 6] [--batches 64 256]

(``KERAS_BACKEND=jax`` in front trains on the JAX backend.)

``benchmarks/bench_vit.py`` shows that larger batches (and the JAX backend) push more faces per
second through the report's ViT, but a larger batch takes fewer steps per epoch, so it is another
training. This script measures what that costs in learning: the report's ViT trained the report's
way (Adam, the learning-rate plateau, no early stopping, no augmentation) on the standard
protocol's Training faces for ``--epochs`` at each batch size, scoring PublicTest after every
epoch. Adam's learning rate is scaled by the square root of the batch ratio (1e-3 at 64, 2e-3 at
256), the usual rule for adaptive optimisers.

It prints, per batch size, the faces per training second and the PublicTest accuracy after each
epoch, and writes ``DIR/curve.json``. Each training checkpoints its epochs in ``DIR/batch-N``,
so the same command resumes. Run it alone on the machine: the faces per second are wall clock.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="the folder that keeps one training per batch size")
    parser.add_argument("--data", default="auto", help="FER2013 source, as for `ferlib run --data`")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import keras

    from ferlib.data import load_data
    from ferlib.files import write_json
    from ferlib.models import build_model
    from ferlib.provenance import device_name, git_commit
    from ferlib.splits import standard_protocol_arrays
    from ferlib.train import TrainConfig, set_seed, train_model

    arrays = standard_protocol_arrays(load_data(args.data))
    images = len(arrays["train"][1])
    base = min(args.batches)
    rows = []
    for batch in args.batches:
        rate = 1e-3 * math.sqrt(batch / base)
        config = TrainConfig(epochs=args.epochs, batch_size=batch, learning_rate=rate, early_stopping_patience=None,
                             restore_best_weights=False)
        set_seed(args.seed)
        result = train_model(build_model("vit"), arrays["train"], arrays["val"], args.root / f"batch-{batch}", config,
                             seed=args.seed, verbose=0)
        curve = [float(a) for a in result.history["val_accuracy"]]
        rows.append({"batch_size": batch, "learning_rate": rate, "epochs": result.epochs,
                     "train_seconds": result.seconds, "images_per_second": images * result.epochs / result.seconds,
                     "public_test_by_epoch": curve, "reused": result.reused})
        print(f"batch {batch:>4} (Adam {rate:.1e}): {rows[-1]['images_per_second']:.0f} faces/s; PublicTest by epoch "
              + " ".join(f"{a:.1%}" for a in curve) + (" (read back)" if result.reused else ""), flush=True)
    first = rows[0]
    for row in rows[1:]:
        gap = 100 * (row["public_test_by_epoch"][-1] - first["public_test_by_epoch"][-1])
        print(f"batch {row['batch_size']} against {first['batch_size']}: "
              f"{row['images_per_second'] / first['images_per_second']:.2f} times the faces per second; "
              f"after {row['epochs']} epochs {gap:+.1f} points on PublicTest", flush=True)
    write_json(args.root / "curve.json", {
        "model": "vit", "training": "report (Adam, plateau; no early stopping, no augmentation)",
        "protocol": "standard (Training / PublicTest)", "train_images": images, "seed": args.seed,
        "machine": device_name(), "backend": keras.backend.backend(), "load_average_1min": os.getloadavg()[0],
        "commit": git_commit(Path(__file__).resolve().parents[1]), "runs": rows})
    print(json.dumps({"curve": str(args.root / "curve.json")}))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.exit(main())
