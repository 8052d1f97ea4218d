"""Benchmark: where the report's ViT's training step spends its time.

    python benchmarks/vit_step_parts.py [--rounds 5] [--json OUT]

``bench_vit.py`` finds no way to train the report's ViT five times faster on a CPU. This
script says why, from one run on one machine. It times, as the report's pages train (TensorFlow,
op determinism on, float32, batches of 64):

* ``step``: one whole training step (forward, backward, Adam) of the report's ViT;
* ``attention core``: what each of the four blocks computes between its projections, forward
  and backward: the scores Q·Kᵀ, their softmax, the dropout on the 144 x 144 attention weights
  and the weighted sum of the values. This is Keras's own ``MultiHeadAttention._compute_attention``,
  called on tensors of the shapes the network feeds it, four times (one per block);
* ``attention core, no dropout``: the same in inference mode (no dropout on the weights);
* ``attention products``: the two products alone (Q·Kᵀ and weights·V), forward and backward.

Each part runs in its own compiled function and the parts are interleaved in rounds, so all
see the same machine load; medians are reported. What the other layers (patches, projections,
layer norms, the MLPs, the head, the optimizer) take is the step less the attention core.

The attention weights are 64 x 4 x 144 x 144 numbers per block (21 MB in float32): the softmax
and the dropout read and write them several times each way, so that part of the step runs at
the speed of memory, whatever compiles it. Measure on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

BATCH = 64


def _timed(function, repeats: int) -> float:
    """Median seconds of one call of `function` over `repeats` calls (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(rounds: int, repeats: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    from ferlib.evaluate import one_hot
    from ferlib.models import build_model
    from ferlib.train import compile_model, set_seed

    from fresh_process import matmul_peak  # the CPU's float32 peak, measured as in every benchmark

    set_seed(0)  # as ferlib.train: op determinism on, and with it XLA off
    model = compile_model(build_model("vit"))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((BATCH, 48, 48, 1), dtype=np.float32))
    y = tf.constant(one_hot(rng.integers(0, 7, BATCH)))
    model.train_on_batch(x, y)  # builds the optimizer and traces the step

    attention = model.get_layer("attention1")
    blocks = sum(1 for layer in model.layers if layer.name.startswith("attention"))
    tokens = model.get_layer("patch_encoder").output.shape[1]
    heads, key_dim = attention.num_heads, attention.key_dim
    q, k, v = (tf.Variable(rng.standard_normal((BATCH, tokens, heads, key_dim), dtype=np.float32)) for _ in "qkv")

    def core(training: bool):
        @tf.function
        def run():
            with tf.GradientTape() as tape:
                total = 0.0
                for _ in range(blocks):
                    out, _ = attention._compute_attention(q, k, v, training=training)
                    total += tf.reduce_sum(out)
            return tape.gradient(total, [q, k, v])
        return run

    @tf.function
    def products():
        with tf.GradientTape() as tape:
            total = 0.0
            for _ in range(blocks):
                scores = tf.einsum("aecd,abcd->acbe", k, q)
                total += tf.reduce_sum(tf.einsum("acbe,aecd->abcd", scores, v))
        return tape.gradient(total, [q, k, v])

    parts = {"step": lambda: model.train_on_batch(x, y), "attention core": core(True),
             "attention core, no dropout": core(False), "attention products": products}
    seconds: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(rounds):
        for name, function in parts.items():
            seconds[name].append(_timed(function, repeats))
    median = {name: statistics.median(values) for name, values in seconds.items()}
    # the two products, forward (2) and backward (4), of every block: multiply-adds x 2
    product_flop = 2 * 6 * blocks * BATCH * heads * tokens * tokens * key_dim
    return {"matmul_peak_flops": matmul_peak(), "product_flop": product_flop,
            "product_flop_per_second": product_flop / median["attention products"],
            "batch_size": BATCH, "blocks": blocks, "tokens": tokens, "heads": heads, "key_dim": key_dim,
            "attention_weights_bytes": BATCH * heads * tokens * tokens * 4,
            "seconds": median, "rounds": seconds,
            "images_per_second": BATCH / median["step"],
            "attention_share": median["attention core"] / median["step"],
            # if everything but the attention core took no time at all
            "ceiling_speedup": median["step"] / median["attention core"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10, help="calls timed per part and round")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--note", default="", help="how the machine was kept idle, kept in the JSON file")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ferlib.provenance import device_name, git_commit

    result = measure(args.rounds, args.repeats)
    step = result["seconds"]["step"]
    print(f"{device_name()}; the report's ViT, batch {BATCH}, {result['blocks']} blocks of "
          f"{result['heads']} heads over {result['tokens']} patches")
    print(f"{'part':<28} {'ms per batch':>13} {'of the step':>12}")
    for name, value in result["seconds"].items():
        print(f"{name:<28} {1000 * value:>13.1f} {value / step:>12.0%}")
    print(f"step: {result['images_per_second']:.0f} images/s; with nothing but the attention core left, "
          f"{result['ceiling_speedup']:.2f}x that")
    print(f"attention products: {result['product_flop_per_second'] / 1e9:.0f} GFLOP/s, "
          f"{result['product_flop_per_second'] / result['matmul_peak_flops']:.0%} of the float32 matrix-multiply "
          f"peak measured in this run ({result['matmul_peak_flops'] / 1e9:.0f} GFLOP/s)")
    if args.json:
        from ferlib.files import write_json

        write_json(args.json, {**result, "machine": device_name(), "load_average_1min": os.getloadavg()[0],
                               "commit": git_commit(Path(__file__).parents[1]), "backend": "tensorflow",
                               "note": args.note})
    return 0


if __name__ == "__main__":
    sys.exit(main())
