"""Provenance: which data, split, profile, seed, backend, precision, device and commit made a result.

Results are JSON files in the run folder; every one carries a ``provenance`` block, and
every results page of the book opens with the run card built from it.
"""

from __future__ import annotations

import functools

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from .files import read_json, write_json



def git_commit(path: str | Path = ".") -> str:
    """The commit of the checkout at `path` (``+dirty`` when it has changes), or ``unknown``."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=path, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path, capture_output=True, text=True).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("FERLIB_COMMIT", "unknown")


def device_name() -> str:
    """The accelerator Keras trains on (e.g. ``gpu: NVIDIA H100``) or the CPU."""
    import keras  # here, not at import: `ferlib status` should not load TensorFlow
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":  # on a CPU, JAX names no model: the system does, below
                return f"{device.platform}: {getattr(device, 'device_kind', device)}"
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return f"gpu: {details.get('device_name', gpus[0].name)}"
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"gpu: {torch.cuda.get_device_name(0)}"
    except Exception:  # a device query must never stop a run
        pass
    return f"cpu: {cpu_model()} ({os.cpu_count()} cores)"


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC 7B13", "Intel(R) Xeon(R) Platinum ..."), where the
    system says it; its architecture otherwise. Speeds differ several-fold between the CPUs
    that one "2-core machine" can be, so timings name it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_compute_capability() -> float | None:
    """The first GPU's compute capability (7.5 for a T4, 9.0 for an H100), None without a GPU."""
    import keras  # here, not at import: `ferlib status` should not load TensorFlow

    return _gpu_capability(keras.backend.backend())


@functools.lru_cache(maxsize=None)  # the devices do not change while a process runs; each page asks per model
def _gpu_capability(backend: str) -> float | None:
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform == "gpu":
                return float(getattr(device, "compute_capability", "0"))
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                major, minor = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
                return major + minor / 10
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                major, minor = torch.cuda.get_device_capability(0)
                return major + minor / 10
    except Exception:  # a device query must never stop a run
        pass
    return None


def supports_bfloat16() -> bool:
    """Whether this machine computes bfloat16 natively: a GPU of compute capability 8 or
    newer, or a CPU with AVX-512 BF16 or AMX (where oneDNN uses it). Elsewhere bfloat16 is
    emulated and slower than float32."""
    capability = gpu_compute_capability()
    if capability is not None:
        return capability >= 8.0
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def supports_float16() -> bool:
    """Whether this machine has fast float16 arithmetic: a GPU with tensor cores (compute
    capability 7 or newer: a T4, a V100 and every later one). CPUs emulate float16."""
    capability = gpu_compute_capability()
    return capability is not None and capability >= 7.0


def provenance(data, split, profile: str, seed: int, started: datetime | None = None, **extra) -> dict:
    """Everything a results table must say about the run that made it."""
    import keras  # here, not at import: `ferlib status` should not load TensorFlow
    return {
        "data": data.name,
        "data_source": Path(data.source).name if data.format != "synthetic" else data.source,
        "data_fingerprint": data.fingerprint,
        "synthetic": data.is_synthetic,
        "split": split.describe(),
        "profile": profile,
        "seed": seed,
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "device": device_name(),
        "commit": git_commit(Path(__file__).resolve().parent),
        "started": (started or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def save_results(path: str | Path, results: dict, provenance: dict) -> Path:
    """Write ``{**results, "provenance": provenance}`` as JSON, atomically."""
    return write_json(path, {**results, "provenance": provenance})


def load_results(path: str | Path) -> dict:
    """The results :func:`save_results` wrote, their ``provenance`` included."""
    results = read_json(path)
    if results is None:
        raise FileNotFoundError(f"{path}: no results there yet; run the notebook that writes them in this run folder")
    return results


def describe_run(prov: dict) -> str:
    """One line naming the run, for the top of a results page."""
    precision = prov.get("precision")
    names = prov.get("display_names") or {}  # written into the card by the run (an older card: the callers add them)
    # a dict names each model's dtype policy; a text (a page whose networks each train in their
    # own, named in its tables) is shown as it is
    precision = (", ".join(f"{names.get(model, model)} {policy}" for model, policy in precision.items())
                 if isinstance(precision, dict) else precision if isinstance(precision, str) else None)
    fingerprint = str(prov.get("data_fingerprint", ""))
    parts = [
        f"{prov['profile']} profile",
        f"{prov['data']} ({prov.get('data_source', '')}, {fingerprint[:19]}…) · {prov['split']}" if fingerprint else f"{prov['data']} · {prov['split']}",
        *([] if f"seed {prov['seed']}" in str(prov["split"]) else [f"seed {prov['seed']}"]),  # the split names it
        f"Keras {prov['keras_version']} on {prov['backend']}" + (f" ({precision})" if precision else ""),
        str(prov["device"]),
        f"commit {prov['commit']}",
        f"{prov['started'][:10]} to {prov['finished'][:10]}" if prov["started"][:10] != prov["finished"][:10] else prov["started"][:10],
    ]
    return " · ".join(parts)
