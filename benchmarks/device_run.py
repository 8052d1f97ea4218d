"""One run on a lent GPU machine (an H100 or H200 with JAX, no TensorFlow, no internet):
what the full profile's CNN phase 1 and the fast recipe take there, beside the 2-core CPU.

The machine lacks Keras (and two packages Keras needs) and the data, and takes at most 64 MiB
per call, the repository included. So the data travels in two pieces, one per call, and the
second call must come while the machine is still warm (it keeps the first piece).

Here, once (needs pip's index and the data)::

    python benchmarks/device_run.py pack --data ../shared/data/fer2013.csv.gz
    python benchmarks/device_run.py reference --run-dir ~/.cache/ferlib/runs/full

``pack`` fills ``.device/`` (ignored by git): ``wheels/`` (keras, namex, optree for Python 3.12)
and ``data/`` (the CSV cut into pieces of at most 45 MiB, with their SHA-256). ``reference``
writes ``benchmarks/results/device_run_cpu.json``: the CPU's figures, read from a finished
full run, which the device's table stands beside.

There, two calls of the device tool, the second at once after the first::

    1. carry .device/wheels, .device/data/part-1 and .device/data/SHA256SUMS.json:
       python3 benchmarks/device_run.py speed --out $OUT
    2. carry .device/data/part-2 (the machine kept the rest):
       python3 benchmarks/device_run.py train --out $OUT

``speed`` measures, on random images the size of the report's training split, images/s and
epoch times of both CNNs with op determinism on and off (XLA's deterministic GPU kernels),
with the report's augmentation inside the training step. ``train`` joins and checks the
pieces, trains the CNN's phase 1 at the full profile (the reading the CPU run chose, up to
100 epochs with the report's early stopping) and the final fast recipe (50 epochs, seed 0),
and prints the table beside the CPU's. Both write JSON into ``--out``, epoch by epoch, so an
interrupted call still brings back what it measured. Every subcommand installs the carried
wheels itself when Keras is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")  # the machine has JAX, not TensorFlow
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # for fresh_process, also when a test loads this file

from fresh_process import report, run_fresh  # noqa: E402

DEVICE = REPO / ".device"
PIECE_BYTES = 45 * 2**20  # two pieces of FER2013's 90 MiB, each beside the repository under 64 MiB
WHEELS = ("keras", "namex", "optree")  # what the machine's image lacks (its KINDS.md package list)
SITE = Path("/tmp/ferlib-device-site")
CPU_REFERENCE = REPO / "benchmarks" / "results" / "device_run_cpu.json"
DATA_NAME = "fer2013.csv.gz"


# --------------------------------------------------------------------------- here: pack, reference


def pack(data: Path, out: Path, python_version: str) -> None:
    """The wheels the machine lacks, for its Python, and the data in pieces with checksums."""
    import importlib.metadata

    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    platforms = [f"--platform=manylinux_2_{n}_x86_64" for n in (17, 27, 28)] + ["--platform=manylinux2014_x86_64"]
    for name in WHEELS:
        version = importlib.metadata.version(name)  # the versions this project is tested with
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        f"--python-version={python_version}", "--implementation=cp", *platforms,
                        "-d", str(wheels), f"{name}=={version}"], check=True)
    pack_data(data, out / "data")
    shipped = sorted(p.name for p in wheels.glob("*.whl"))
    print(f"{out}: wheels {', '.join(shipped)}; data in {len(list((out / 'data').glob('part-*')))} pieces")


def pack_data(data: Path, pieces: Path, piece_bytes: int = PIECE_BYTES) -> dict:
    """`data` cut into ``part-1``, ``part-2`` .. of at most `piece_bytes`, and their SHA-256
    (and the whole file's) in ``SHA256SUMS.json``."""
    pieces.mkdir(parents=True, exist_ok=True)
    raw = data.read_bytes()
    sums = {"whole": hashlib.sha256(raw).hexdigest(), "name": DATA_NAME, "pieces": {}}
    for i in range(0, len(raw), piece_bytes):
        piece = raw[i:i + piece_bytes]
        name = f"part-{i // piece_bytes + 1}"
        (pieces / name).write_bytes(piece)
        sums["pieces"][name] = hashlib.sha256(piece).hexdigest()
    (pieces / "SHA256SUMS.json").write_text(json.dumps(sums, indent=2))
    return sums


def reference(run_dir: Path, out: Path) -> None:
    """The CPU's figures, from a finished full run: CNN phase 1 (its metrics file) and the
    final fast recipe's seed-0 run (its epoch log)."""
    from ferlib.files import read_json, write_json

    card = read_json(run_dir / "run.json", {})
    phase1 = read_json(run_dir / "metrics" / "cnn_phase1.json")
    trained = read_json(run_dir / "cnn" / "phase1" / "train.json", {})
    if phase1 is None:
        raise SystemExit(f"{run_dir}: no metrics/cnn_phase1.json; the run has not finished the CNN's phase 1")
    history = phase1["history"]
    fast_dir = run_dir / "closing-the-gap" / "fast-50ep-seed0"
    fast = read_json(fast_dir / "summary.json")
    rows = [json.loads(line) for line in (fast_dir / "log.jsonl").read_text().splitlines()] if fast else []
    write_json(out, {
        # the folder's name, not this machine's path to it
        "source": f"the run folder {run_dir.name!r}", "device": card.get("device"), "backend": card.get("backend"),
        "commit": card.get("commit"), "seed": card.get("seed"),
        "cnn_phase1": {"reading": phase1.get("reading"), "precision": card.get("precision", {}).get("cnn"),
                       "train_images": trained.get("signature", {}).get("n_train"),
                       "epochs": phase1["epochs"], "train_seconds": phase1["train_seconds"],
                       "epoch_seconds": history.get("epoch_seconds"),
                       "test_accuracy": phase1["scores"]["test"]["accuracy"]},
        "fast_recipe": None if fast is None else {
            "epochs": fast["epochs"], "train_seconds": fast["train_seconds"],
            "epoch_seconds": [row["epoch_seconds"] for row in rows], "train_images": fast["signature"]["train_images"],
            "private_test": fast["private_test"], "private_test_tta": fast["private_test_tta"],
            "machine": ", ".join(fast.get("machines", [])), "precision": ", ".join(fast.get("precisions", []))},
    })
    print(f"wrote {out}")


# --------------------------------------------------------------------------- there


def ensure_keras() -> None:
    """Install the carried wheels into a folder of their own and start again, where Keras is missing."""
    try:
        import keras  # noqa: F401
        return
    except ImportError as error:
        if os.environ.get("FERLIB_DEVICE_SITE"):  # installed already, and still missing something
            raise SystemExit(f"Keras does not import from the carried wheels ({error}); carry the package "
                             "it names as a wheel too (see /work/.library/device/README.md)") from error
    wheels = sorted((DEVICE / "wheels").glob("*.whl"))
    if not wheels:
        raise SystemExit(f"Keras is missing and {DEVICE / 'wheels'} holds no wheels: run "
                         "`python benchmarks/device_run.py pack` here, and carry .device/wheels")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--upgrade", "--target", str(SITE), *map(str, wheels)], check=True)
    path = os.pathsep.join(p for p in (str(SITE), str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    os.execve(sys.executable, [sys.executable, *sys.argv],
              {**os.environ, "PYTHONPATH": path, "FERLIB_DEVICE_SITE": str(SITE)})


def join_pieces(pieces: Path, target: Path) -> Path:
    """The data file from its pieces, each checked; a missing piece is named with the call that carries it."""
    sums = json.loads((pieces / "SHA256SUMS.json").read_text())
    missing = [name for name in sums["pieces"] if not (pieces / name).exists()]
    if missing:
        raise SystemExit(f"{pieces}: {', '.join(missing)} missing. The machine keeps a piece only while it "
                         "stays warm: carry the missing piece in this call, or make the calls again in order")
    parts = []
    for name, digest in sums["pieces"].items():
        data = (pieces / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise SystemExit(f"{pieces / name}: its SHA-256 is not the one pack wrote; carry it again")
        parts.append(data)
    whole = b"".join(parts)
    if hashlib.sha256(whole).hexdigest() != sums["whole"]:
        raise SystemExit(f"{pieces}: the joined pieces are not the packed file; pack again")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(whole)
    partial.replace(target)
    return target


def _write(out: Path, name: str, value) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{name}.partial"
    tmp.write_text(json.dumps(value, indent=2, default=str))
    tmp.replace(out / name)


def epoch_seconds_child(model_name: str, images: int, epochs: int, augment: bool) -> dict:
    """In a process of its own (XLA reads its flags once): `epochs` epochs of `model_name` on
    random faces, batch 64 for the report's CNN and 128 for the fast one, as their recipes train."""
    import keras
    import numpy as np

    from ferlib.augment import augmenting_trainer, make_augmenter
    from ferlib.evaluate import one_hot
    from ferlib.models import build_model
    from ferlib.provenance import device_name
    from ferlib.recipes.run import choose_precision
    from ferlib.train import compile_model

    rng = np.random.default_rng(0)
    x = rng.random((images, 48, 48, 1), dtype=np.float32)
    y = one_hot(rng.integers(0, 7, images))
    precision = choose_precision(model_name)
    model = build_model(model_name, precision=precision)
    trainer = augmenting_trainer(model, make_augmenter(seed=0)) if augment and model_name == "cnn" else model
    compile_model(trainer)
    batch = 64 if model_name == "cnn" else 128
    seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    trainer.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[Timer()])
    steady = sorted(seconds[1:])[len(seconds[1:]) // 2]  # the median after the first (compiling) epoch
    return {"model": model_name, "augment_in_step": augment and model_name == "cnn", "precision": precision,
            "device": device_name(), "epoch_seconds": seconds, "images_per_second": images / steady,
            "deterministic": "xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", "")}


def speed(out: Path, images: int, epochs: int) -> list[dict]:
    """Each CNN with determinism off and on, each in a fresh process."""
    rows = []
    for model_name, augment in (("cnn", False), ("cnn", True), ("fastcnn", False)):
        for deterministic in (False, True):
            flags = os.environ.get("XLA_FLAGS", "")
            env = {"XLA_FLAGS": (flags + " --xla_gpu_deterministic_ops=true").strip()
                   if deterministic else flags}
            try:
                rows.append(run_fresh([__file__, "epoch-seconds", model_name, str(images), str(epochs),
                                       "1" if augment else "0"], model_name, env=env))
            except RuntimeError as error:
                rows.append({"model": model_name, "deterministic": deterministic, "error": str(error)[-1500:]})
            _write(out, "device_speed.json", rows)
            print(_speed_line(rows[-1]), flush=True)
    return rows


def _speed_line(row: dict) -> str:
    if "error" in row:
        return f"{row['model']:8s} deterministic={row['deterministic']!s:5s} FAILED: {row['error'].splitlines()[-1:]}"
    return (f"{row['model']:8s} augment in step={row['augment_in_step']!s:5s} deterministic={row['deterministic']!s:5s} "
            f"{row['images_per_second']:9.0f} img/s  epochs {', '.join(f'{s:.1f}' for s in row['epoch_seconds'])} s  "
            f"({row['precision']}, {row['device']})")


def train(out: Path, minutes: float, smoke: bool) -> dict:
    """CNN phase 1 at the full profile, then the fast recipe, each timed; the table beside the CPU's."""
    import keras

    from ferlib.display import training_progress
    from ferlib.evaluate import evaluate_model
    from ferlib.models import build_model
    from ferlib.provenance import device_name
    from ferlib.recipes.closing_gap import standard_arrays
    from ferlib.recipes.fast import FastRecipe, train_fast
    from ferlib.recipes.run import prepare_run
    from ferlib.train import read_history, train_model

    started = time.time()
    cpu = json.loads(CPU_REFERENCE.read_text()) if CPU_REFERENCE.exists() else {}
    data = join_pieces(DEVICE / "data", Path("/tmp/ferlib-device") / DATA_NAME)
    runs = Path("/tmp/ferlib-device/runs")
    run = prepare_run(data=str(data), profile="smoke" if smoke else "full", seed=cpu.get("seed") or 42,
                      run_dir=str(runs / "full"), augment_on="auto")
    reading = (cpu.get("cnn_phase1") or {}).get("reading") or "as-built"
    results = {"device": device_name(), "backend": "jax", "started": started, "profile": run.profile_name}

    # 1. the report's CNN, phase 1, as the full profile trains it (its early stopping included);
    # past its share of the call's minutes it stops after the epoch, and the table says so
    class Deadline(keras.callbacks.Callback):
        stopped = False

        def on_epoch_end(self, epoch, logs=None):
            if time.time() > started + minutes * 60 * 0.55:
                self.model.stop_training = self.stopped = True

    deadline = Deadline()
    model = build_model("cnn", reading, precision=run.precision["cnn"], seed=run.seed)
    begun = time.perf_counter()
    result = train_model(model, run.arrays["train"], run.arrays["val"], runs / "cnn-phase1", run.train_config(),
                         seed=run.seed, verbose=0, callbacks=[deadline])
    history = read_history(result.folder)
    results["cnn_phase1"] = {
        "reading": reading, "precision": run.precision["cnn"], "train_images": int(len(run.arrays["train"][1])),
        "epochs": len(history), "train_seconds": time.perf_counter() - begun,
        "epoch_seconds": history["epoch_seconds"].tolist(), "stopped_by_deadline": deadline.stopped,
        "test_accuracy": evaluate_model(result.model, {"test": run.arrays["test"]})["test"]["accuracy"],
        "test_images": int(len(run.arrays["test"][1]))}
    _write(out, "device_train.json", results)

    # 2. the fast recipe, final (50 epochs, seed 0), on the standard protocol
    recipe = FastRecipe() if not smoke else FastRecipe(epochs=2)
    arrays = standard_arrays(run)
    fast = train_fast(arrays, recipe, folder=runs / "fast-50ep-seed0", seed=0, keep_model=False,
                      progress=training_progress("fast recipe"))
    results["fast_recipe"] = {
        "epochs": fast.summary["epochs"], "train_seconds": fast.summary["train_seconds"],
        "epoch_seconds": [row["epoch_seconds"] for row in fast.log], "train_images": int(len(arrays["train"][1])),
        "private_test": fast.summary["private_test"], "private_test_tta": fast.summary["private_test_tta"],
        "test_images": int(len(arrays["test"][1])), "precision": ", ".join(fast.summary["precisions"])}
    results["seconds"] = time.time() - started
    _write(out, "device_train.json", results)
    table = device_table(results, cpu)
    (out / "device_table.md").write_text(table + "\n")
    print(table)
    return results


def device_table(device: dict, cpu: dict) -> str:
    """Markdown: per training and machine, epochs, median epoch time, images/s, training time,
    accuracy with its 95% Wilson interval. Both runs score the same images (same data, split
    and seed), so the device's count serves the CPU's row too."""
    import numpy as np

    from ferlib.display import interval_text
    from ferlib.evaluate import interval

    lines = ["| training | machine | epochs | s/epoch | images/s | minutes | accuracy | 95% interval |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    machines = ((f"{device.get('device', 'device')}, {device.get('profile', 'full')} profile", device),
                (f"{cpu.get('device', 'CPU')}, full profile", cpu))
    for key, label, score in (("cnn_phase1", "CNN phase 1 (test)", "test_accuracy"),
                              ("fast_recipe", "fast recipe (PrivateTest, flip TTA)", "private_test_tta")):
        for machine, source in machines:
            row = (source or {}).get(key)
            if not row:
                continue
            # the median epoch after the first, which compiles (on the CPU run: the first too)
            median = float(np.median(row["epoch_seconds"][1:] or row["epoch_seconds"]))
            rate = f"{row['train_images'] / median:,.0f}" if row.get("train_images") else "-"
            n = row.get("test_images") or (device.get(key) or {}).get("test_images")
            span = interval_text(*interval(row[score], n)) if n else "-"
            lines.append(f"| {label} | {machine} | {row['epochs']} | {median:.1f} | {rate} | "
                         f"{row['train_seconds'] / 60:.1f} | {100 * row[score]:.1f}% | {span} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="here: the wheels and the data pieces into .device/")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, default=DEVICE)
    p.add_argument("--python-version", default="3.12", help="the device machine's Python")
    p = commands.add_parser("reference", help="here: the CPU's figures from a finished full run")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, default=CPU_REFERENCE)
    p = commands.add_parser("speed", help="there: images/s and epoch times, determinism off and on")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--images", type=int, default=18_373, help="the report split's training images")
    p.add_argument("--epochs", type=int, default=3)
    p = commands.add_parser("train", help="there: CNN phase 1 (full profile) and the fast recipe")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--minutes", type=float, default=9.0, help="the call's limit, with a margin")
    p.add_argument("--smoke", action="store_true", help="a tiny run that checks the script, not the machine")
    p = commands.add_parser("epoch-seconds")  # the child of `speed`
    p.add_argument("model")
    p.add_argument("images", type=int)
    p.add_argument("epochs", type=int)
    p.add_argument("augment", type=int)
    args = parser.parse_args(argv)
    if args.command == "pack":
        pack(args.data, args.out, args.python_version)
    elif args.command == "reference":
        reference(args.run_dir, args.out)
    else:
        ensure_keras()
        if args.command == "speed":
            speed(args.out, args.images, args.epochs)
        elif args.command == "train":
            train(args.out, args.minutes, args.smoke)
        else:
            report(epoch_seconds_child(args.model, args.images, args.epochs, bool(args.augment)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
