"""Training on several devices: Keras's distribution API behind one setting, `devices`.

Data parallelism copies the model to every device and splits each batch between them; the
gradients are averaged, so one step on n devices is one step on the whole batch. Keras offers
it on the JAX backend (``keras.distribution.DataParallel``), the backend of the lent GPU
machines. Several hosts join through ``keras.distribution.initialize`` before any device is
used; each then sees every device of the job.

On a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (set before JAX starts)
simulates two devices; the tests train on them.
"""

from __future__ import annotations

import os

import keras


class DistributionError(RuntimeError):
    """A device setting this machine or backend cannot honour (the message says how to fix it)."""


def use_devices(devices: int | None) -> int:
    """Train on `devices` devices from now on (None or 1: one device, Keras's default), and
    return how many are used. More than one needs the JAX backend and that many devices."""
    if devices is None or devices == 1:
        if keras.backend.backend() == "jax":
            keras.distribution.set_distribution(None)
        return 1
    if devices < 1:
        raise DistributionError(f"devices = {devices}: give a positive number of devices, or None for one")
    if keras.backend.backend() != "jax":
        raise DistributionError(
            f"devices = {devices} needs Keras's JAX backend (this process runs {keras.backend.backend()!r}): "
            "set KERAS_BACKEND=jax before starting Python, or ferlib run --backend jax")
    found = keras.distribution.list_devices()
    if len(found) < devices:
        raise DistributionError(
            f"devices = {devices}, but this process sees {len(found)} ({', '.join(found)}); on a CPU, simulate more "
            f"with XLA_FLAGS=--xla_force_host_platform_device_count={devices} set before JAX starts")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=found[:devices]))
    return devices


def join_hosts() -> bool:
    """Join a job that spans several hosts, when the environment describes one
    (``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and
    ``KERAS_DISTRIBUTION_PROCESS_ID``, as ``keras.distribution.initialize`` reads them); True if it
    did. Call it before anything touches a device."""
    if int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) <= 1:
        return False
    if keras.backend.backend() != "jax":
        raise DistributionError("training across hosts needs Keras's JAX backend: set KERAS_BACKEND=jax")
    keras.distribution.initialize()
    return True


def batch_per_device(global_batch: int, devices: int) -> int:
    """Each device's share of a batch; the batch must split evenly."""
    if global_batch % devices:
        raise DistributionError(f"a batch of {global_batch} does not split evenly over {devices} devices; "
                                f"use a multiple of {devices}")
    return global_batch // devices
