"""Train a tiny CNN with ferlib.train.train_model, optionally killing itself mid-run.

Used by tests/test_train.py to check that an interrupted run resumes where it stopped.

    python tests/scripts/train_until_killed.py RUN_DIR [--epochs 4] [--order-log FILE]
        [--model cnn|vit] [--learning-rate 1e-3] [--lr-patience 5] [--augment none|host|step]

With ``KILL_AT_EPOCH=k`` in the environment, the process sends itself SIGKILL at the
start of epoch ``k`` (0-based), i.e. after ``k`` finished epochs: no Python cleanup, no
``on_train_end``, exactly like a lost Colab runtime. With ``KILL_IN_CHECKPOINT=k`` it kills
itself while the checkpoint of epoch ``k`` (1-based count) is being written, half-way
through the weights file. Every epoch that starts prints
``EPOCH_BEGIN <k>``; a run that finishes prints ``TRAINING_DONE <n rows in history>``.
With ``--order-log``, every batch that ``BatchSequence`` hands to Keras is appended to
that file as one JSON line ``{"pid", "epoch", "index", "rows"}`` (the sequence's own
epoch counter, the batch index and the source rows in it), to compare shuffle orders.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

import keras
import numpy as np

from ferlib.augment import BatchSequence
from ferlib.models import build_cnn, build_vit
from ferlib.data.synthetic import make_synthetic_faces
from ferlib.train import TrainConfig, set_seed, train_model

N_TRAIN = 32
BATCH = 8
SEED = 7


class EpochMarker(keras.callbacks.Callback):
    def __init__(self, kill_at: int | None):
        super().__init__()
        self.kill_at = kill_at

    def on_epoch_begin(self, epoch, logs=None):
        if self.kill_at is not None and epoch == self.kill_at:
            print(f"KILLING_AT {epoch}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        print(f"EPOCH_BEGIN {epoch}", flush=True)


def kill_while_checkpointing(at: int) -> None:
    """Make the k-th checkpoint write half its weights file, then SIGKILL the process."""
    original = keras.Model.save_weights

    def save_weights(self, filepath, *args, **kwargs):
        if f"partial-{at:04d}" in str(filepath):
            original(self, filepath, *args, **kwargs)
            size = os.path.getsize(filepath)
            with open(filepath, "r+b") as f:
                f.truncate(size // 2)
            print(f"KILLING_IN_CHECKPOINT {at}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, filepath, *args, **kwargs)

    keras.Model.save_weights = save_weights


def log_batches(path: str) -> None:
    """Wrap BatchSequence.__getitem__ so that each batch's rows are logged to `path`."""
    original = BatchSequence.__getitem__

    def __getitem__(self, index):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        with open(path, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "epoch": int(self.epoch), "index": int(index),
                                "rows": [int(r) for r in rows]}) + "\n")
        return original(self, index)

    BatchSequence.__getitem__ = __getitem__


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--order-log")
    parser.add_argument("--model", choices=("cnn", "vit"), default="cnn")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--lr-patience", type=int, default=5)
    parser.add_argument("--lr-factor", type=float, default=0.9)
    parser.add_argument("--early-stopping-patience", type=int, default=None)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--n-per-class", type=int, default=6)
    # the report's augmentation: none, in the input pipeline, or inside the training step
    parser.add_argument("--augment", choices=("none", "host", "step"), default="none")
    args = parser.parse_args(argv)
    kill_at = os.environ.get("KILL_AT_EPOCH")
    if os.environ.get("KILL_IN_CHECKPOINT"):
        kill_while_checkpointing(int(os.environ["KILL_IN_CHECKPOINT"]))
    if args.order_log:
        log_batches(args.order_log)

    images, labels = make_synthetic_faces(n_per_class=args.n_per_class, seed=SEED)  # 42 images by default
    n_train = N_TRAIN
    if args.n_per_class != 6:  # a bigger set, shuffled so that validation holds every class
        order = np.random.default_rng(SEED).permutation(len(images))
        images, labels, n_train = images[order], labels[order], int(0.75 * len(images))
    x = (images[..., None] / 255.0).astype(np.float32)
    set_seed(SEED)
    if args.model == "cnn":
        model = build_cnn(filters=(8, 16, 16, 16), dense_units=(16, 16, 16), dropout=args.dropout)
    else:
        model = build_vit(projection_dim=8, num_heads=2, transformer_layers=1)
    result = train_model(
        model,
        (x[:n_train], labels[:n_train]),
        (x[n_train:], labels[n_train:]),
        args.folder,
        TrainConfig(epochs=args.epochs, batch_size=BATCH, early_stopping_patience=args.early_stopping_patience,
                    learning_rate=args.learning_rate, lr_patience=args.lr_patience, lr_factor=args.lr_factor),
        seed=SEED,
        augment=args.augment != "none",
        augment_in_step=args.augment == "step",
        verbose=0,
        callbacks=[EpochMarker(None if kill_at is None else int(kill_at))],
    )
    print(f"BACKEND {keras.backend.backend()}", flush=True)
    print(f"TRAINING_DONE {len(result.history)} reused={result.reused}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
