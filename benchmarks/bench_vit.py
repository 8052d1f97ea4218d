"""Benchmark: how fast the report's ViT trains, as the report's pages train it and with compiled steps.

    python benchmarks/bench_vit.py [--steps 40] [--rounds 2] [--json OUT]

The report's ViT (section 3.2: 4x4 patches, 4 blocks, 4 heads, dimension 16) costs about 8
MFLOP forward per image, yet trains at a few hundred images/s on a CPU: the time goes to
overhead, not arithmetic. Each option below trains with the same optimizer (Adam at 1e-3) and
the same batch of 64 (unless the option names another); what changes is how the step runs:

* ``as trained``: phase 1 as the report's pages train it (``ferlib.train``): TensorFlow with
  op determinism on (which turns XLA off), batches from ``BatchSequence`` (two worker threads);
  ``+ aug``: the augmentation round of phase 2, the report's augmentation drawn batch by batch
  in that pipeline, with a round trip to the host;
* ``XLA``: TensorFlow, the step compiled by XLA (``jit_compile=True``); ``JAX``: the JAX
  backend, which always compiles the step; ``+ aug in step``: the same augmentation as a layer
  in front of the network, drawn inside the compiled step on the whole batch (possible since
  ``RandomAffine`` samples with plain gathers, ``ferlib.augment.affine_bilinear``);
* ``bfloat16``: Keras's ``mixed_bfloat16`` policy, otherwise as trained;
* ``batch 256``, ``JAX, batch 256``: as trained, or compiled on JAX, with batches of 256, to fill
  the two cores with larger matrix products. The network is the same, but its training is not:
  fewer, larger steps per epoch (``benchmarks/vit_batch_curve.py`` measures the learning curve
  that gives);
* ``no attention dropout``: *another network* (no dropout inside the blocks, which lets Keras
  call its fused attention), shown only to say what the dropout on the 144 x 144 attention
  weights costs.

Printed in one run: the CPU's float32 matrix-multiply FLOP/s, and for each option training
images/s, the FLOP/s that makes (3 x 2 x forward multiply-adds per image) and the ratio to
``as trained``. Options run in fresh subprocesses (one backend per process), interleaved in
rounds so that all see the same machine load: the ratios hold on a busy machine, the absolute
figures need an idle one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from fresh_process import matmul_peak, report, run_fresh

BATCH = 64
OPTIONS = [  # (label, backend, how the step runs, batch); "+ aug": the report's augmentation in every batch
    ("as trained", "tensorflow", "report", BATCH),
    ("as trained + aug", "tensorflow", "report-augment", BATCH),
    ("XLA", "tensorflow", "xla", BATCH),
    ("XLA + aug in step", "tensorflow", "xla-augment", BATCH),
    ("JAX", "jax", "xla", BATCH),
    ("JAX + aug in step", "jax", "xla-augment", BATCH),
    ("bfloat16", "tensorflow", "bfloat16", BATCH),
    ("batch 256", "tensorflow", "report", 256),
    ("JAX, batch 256", "jax", "xla", 256),
    ("no attention dropout", "tensorflow", "no-attention-dropout", BATCH),
]
#: Options that train another network (shown to attribute the time, not as a speed-up).
OTHER_NETWORK = {"no attention dropout"}


def worker(how: str, steps: int, model_name: str, batch: int = BATCH) -> dict:
    """Runs in the subprocess: train `steps` batches of 64 images' worth (`steps` x 64 images,
    in batches of `batch`), after a warm-up, and time them."""
    from dataclasses import replace

    import keras
    import numpy as np

    from ferlib.augment import BatchSequence, make_augmenter
    from ferlib.evaluate import one_hot
    from ferlib.models import build_model, count_multiply_adds, model_spec
    from ferlib.train import compile_model, set_seed

    n = max(steps * BATCH // batch, 1) * batch  # whole batches: a last, smaller one would retrace the step
    rng = np.random.default_rng(0)
    x = rng.random((n, 48, 48, 1), dtype=np.float32)
    y = one_hot(rng.integers(0, 7, n))
    if how.startswith("report") or how in ("bfloat16", "no-attention-dropout"):
        set_seed(0)  # as ferlib.train: on TensorFlow, op determinism on, and with it XLA off
    else:
        keras.utils.set_random_seed(0)
    config = model_spec(model_name).config()
    if how == "no-attention-dropout":
        config = replace(config, block_dropout=0.0)  # another network: what the dropout costs, for attribution
    network = build_model(model_name, config=config, precision="mixed_bfloat16" if how == "bfloat16" else "float32")
    madds = count_multiply_adds(network)
    model = network
    if how == "xla-augment":  # the same augmentation, drawn inside the compiled step on the whole batch
        inputs = keras.Input(network.input_shape[1:])
        model = keras.Model(inputs, network(make_augmenter(seed=0)(inputs)))
    compile_model(model)
    if how.startswith("xla"):
        model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"], jit_compile=True)

    def fit(count):
        if how.startswith("report"):  # the report pages' input pipeline (two worker threads)
            augmenter = make_augmenter(seed=0) if how == "report-augment" else None
            model.fit(BatchSequence(x[:count], y[:count], batch_size=batch, augmenter=augmenter, seed=0),
                      epochs=1, verbose=0)
        else:
            model.fit(x[:count], y[:count], batch_size=batch, epochs=1, verbose=0)

    fit(max(10 * BATCH, 2 * batch))  # trace the step, warm the thread pools
    started = time.perf_counter()
    fit(n)
    seconds = time.perf_counter() - started
    return {"images_per_second": n / seconds, "multiply_adds": madds}



def _run_worker(option, steps: int, model_name: str) -> dict:
    _, backend, how, batch = option
    return run_fresh([__file__, "--worker", how, "--steps", str(steps), "--model", model_name, "--batch", str(batch)],
                     option[0], env={"KERAS_BACKEND": backend})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed batches of 64 per option and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="vit", help="a registered model (default: the report's ViT)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=BATCH, help=argparse.SUPPRESS)  # a worker's batch
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.worker:
        report(worker(args.worker, args.steps, args.model, args.batch))
        return 0

    from ferlib.provenance import device_name

    peak = matmul_peak()
    print(f"{device_name()}; float32 matrix-multiply peak {peak / 1e9:.0f} GFLOP/s; model {args.model}, batch {BATCH}")
    speeds: dict[str, list[float]] = {o[0]: [] for o in OPTIONS}
    madds = 0
    for round_ in range(1, args.rounds + 1):
        for option in OPTIONS:
            result = _run_worker(option, args.steps, args.model)
            speeds[option[0]].append(result["images_per_second"])
            madds = result["multiply_adds"]
        print(f"round {round_}: " + ", ".join(f"{label} {speeds[label][-1]:.0f}/s" for label in speeds), flush=True)
    base = statistics.median(speeds[OPTIONS[0][0]])
    flop = 6 * madds
    print(f"\n{'option':<22} {'images/s':>9} {'MFLOP/image':>12} {'GFLOP/s':>8} {'of peak':>8} {'vs as trained':>14}")
    rows = []
    for label, backend, _, batch in OPTIONS:
        rate = statistics.median(speeds[label])
        rows.append({"option": label, "backend": backend, "batch_size": batch, "images_per_second": rate,
                     "flop_per_second": rate * flop, "speedup": rate / base, "rounds": speeds[label],
                     "same_network": label not in OTHER_NETWORK, "augmentation": "aug" in label})
        print(f"{label:<22} {rate:>9.0f} {flop / 1e6:>12.1f} {rate * flop / 1e9:>8.1f} {rate * flop / peak:>8.1%} "
              f"{rate / base:>13.2f}x")
    if args.json:
        from ferlib.files import write_json
        from ferlib.provenance import git_commit

        # the load says whether the machine was shared while it measured (ratios hold; absolute figures do not)
        write_json(args.json, {"model": args.model, "batch_size": BATCH, "steps": args.steps, "machine": device_name(),
                               "load_average_1min": os.getloadavg()[0], "commit": git_commit(Path(__file__).parents[1]),
                               "matmul_peak_flops": peak, "training_flop_per_image": flop, "options": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
