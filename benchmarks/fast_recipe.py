"""Probe: how far a fast recipe takes a small CNN on FER2013 in a CPU budget.

    python benchmarks/fast_recipe.py --minutes 30 --seed 0 --out /tmp/fast/run0

Standard protocol: trains on the 28,709 ``Training`` rows, chooses on ``PublicTest``, and
logs ``PrivateTest`` each epoch only to draw the accuracy-against-time curve (nothing is
chosen on it). Ingredients (each switchable, for the ablation): label smoothing, Nesterov
SGD with a warm-up and cosine schedule, decoupled weight decay, an EMA of the weights,
flips and random crops inside the training step, flip test-time augmentation.

Writes ``log.jsonl`` (one line per epoch: wall seconds of training so far, train loss,
PublicTest and PrivateTest accuracy, plain and with flip TTA) and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def build_net(widths=(32, 64, 128, 256), convs_per_stage=2, dropout=0.0, head_dropout=0.2):
    import keras
    from keras import layers

    inputs = keras.Input((48, 48, 1), name="image", dtype="uint8")
    x = layers.Rescaling(1 / 255.0)(inputs)
    # Augmentation inside the compiled step: whole batches, no host round trip.
    x = layers.RandomFlip("horizontal")(x)
    x = layers.ZeroPadding2D(4)(x)
    x = layers.RandomCrop(48, 48)(x)
    for s, w in enumerate(widths):
        for c in range(convs_per_stage):
            x = layers.Conv2D(w, 3, padding="same", use_bias=False, name=f"s{s}c{c}")(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
        if s < len(widths) - 1:
            x = layers.MaxPooling2D(2)(x)
            if dropout:
                x = layers.Dropout(dropout)(x)
    x = layers.GlobalAveragePooling2D()(x)
    if head_dropout:
        x = layers.Dropout(head_dropout)(x)
    outputs = layers.Dense(7, activation="softmax", dtype="float32", name="softmax")(x)
    return keras.Model(inputs, outputs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--smoothing", type=float, default=0.1)
    ap.add_argument("--widths", default="32,64,128,256")
    ap.add_argument("--convs", type=int, default=2)
    ap.add_argument("--ema", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import keras
    import numpy as np

    from ferlib.data import load_fer2013
    from ferlib.splits import official_split

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    data = load_fer2013()
    split = official_split(data.usage)
    x = {p: data.images[idx][..., None] for p, idx in split.parts().items()}
    y = {p: data.labels[idx] for p, idx in split.parts().items()}

    model = build_net(tuple(int(w) for w in args.widths.split(",")), args.convs)
    steps = len(x["train"]) // args.batch
    total = steps * args.epochs
    warm = min(steps, total // 2)  # one epoch of warm-up
    schedule = keras.optimizers.schedules.CosineDecay(args.lr * 0.1, total - warm, alpha=0.01,
                                                      warmup_target=args.lr, warmup_steps=warm)
    opt = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=args.wd,
                               use_ema=args.ema > 0, ema_momentum=args.ema or 0.99)
    model.compile(opt, keras.losses.CategoricalCrossentropy(label_smoothing=args.smoothing), metrics=["accuracy"])
    print(f"params {model.count_params():,}, {steps} steps/epoch", flush=True)

    def score(part):
        p = model.predict(x[part], batch_size=512, verbose=0)
        pf = model.predict(x[part][:, :, ::-1], batch_size=512, verbose=0)
        return float(np.mean(p.argmax(1) == y[part])), float(np.mean((p + pf).argmax(1) == y[part]))

    trained = 0.0
    log = []
    onehot = keras.utils.to_categorical(y["train"], 7)
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        h = model.fit(x["train"], onehot, batch_size=args.batch, epochs=1, shuffle=True, verbose=0)
        trained += time.perf_counter() - t0
        if args.ema:
            backup = [v.numpy() for v in model.trainable_variables]
            opt.finalize_variable_values(model.trainable_variables)
        pub, pub_tta = score("val")
        priv, priv_tta = score("test")
        if args.ema:
            for v, b in zip(model.trainable_variables, backup):
                v.assign(b)
        row = {"epoch": epoch, "train_seconds": round(trained, 1), "loss": float(h.history["loss"][-1]),
               "train_acc": float(h.history["accuracy"][-1]), "public": pub, "public_tta": pub_tta,
               "private": priv, "private_tta": priv_tta}
        log.append(row)
        print(json.dumps(row), flush=True)
        with open(out / "log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if trained > args.minutes * 60:
            break
    (out / "summary.json").write_text(json.dumps({"args": vars(args), "last": log[-1],
                                                  "params": model.count_params()}, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    main()
