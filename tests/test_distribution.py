"""Data-parallel training behind one setting, `devices`, tested on simulated CPU devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ferlib.distribution import DistributionError, batch_per_device, use_devices

SCRIPT = textwrap.dedent('''
    import json, os
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import keras, numpy as np
    from ferlib.distribution import DistributionError, use_devices

    def model():
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                keras.layers.Dense(3, activation="softmax")])
        net.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy", metrics=["accuracy"])
        return net

    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype("float32")
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)  # three separable classes
    y = keras.utils.to_categorical(labels, 3)
    out = {}
    for devices in (1, 2):
        out[f"used_{devices}"] = use_devices(devices)
        net = model()
        net.fit(x[:32], y[:32], batch_size=32, epochs=1, shuffle=False, verbose=0)  # one step, global batch 32
        out[f"weights_{devices}"] = [np.asarray(w).tolist() for w in net.get_weights()]
        out[f"kind_{devices}"] = type(keras.distribution.distribution()).__name__
    use_devices(2)
    net = model()
    history = net.fit(x, y, batch_size=32, epochs=30, verbose=0)
    out["accuracy"] = float(history.history["accuracy"][-1])
    try:
        use_devices(3)
    except DistributionError as err:
        out["three"] = str(err)
    # the report's training on both devices, its augmentation inside the (sharded) training step
    import tempfile
    from ferlib.data.synthetic import make_synthetic_faces
    from ferlib.models import build_cnn
    from ferlib.train import TrainConfig, train_model
    images, faces_labels = make_synthetic_faces(n_per_class=10, seed=0)
    faces = (images[..., None] / 255.0).astype("float32")
    use_devices(2)
    keras.utils.set_random_seed(0)
    cnn = build_cnn(filters=(8, 16, 16, 16), dense_units=(16, 16, 16), dropout=0.0)
    trained = train_model(cnn, (faces[:64], faces_labels[:64]), (faces[64:], faces_labels[64:]), tempfile.mkdtemp(),
                          TrainConfig(epochs=2, batch_size=16), augment=True, augment_in_step=True, verbose=0)
    out["in_step_losses"] = trained.history["loss"].tolist()
    print("RESULT" + json.dumps(out))
''')


@pytest.fixture(scope="module")
def simulated():
    """The script above, run once in a fresh Python with two simulated CPU devices under JAX."""
    pytest.importorskip("jax")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


def test_one_step_on_two_devices_equals_one_step_on_one(simulated):
    import numpy as np

    assert simulated["used_1"] == 1 and simulated["used_2"] == 2
    assert simulated["kind_2"] == "DataParallel" and simulated["kind_1"] == "NoneType"
    for one, two in zip(simulated["weights_1"], simulated["weights_2"]):
        assert np.allclose(one, two, atol=1e-6)


def test_a_short_data_parallel_fit_learns(simulated):
    assert simulated["accuracy"] > 0.9  # three classes: chance is about a third


def test_more_devices_than_found_says_how_to_simulate_them(simulated):
    assert "sees 2" in simulated["three"] and "xla_force_host_platform_device_count=3" in simulated["three"]


def test_several_devices_need_the_jax_backend(monkeypatch):
    import keras

    if keras.backend.backend() == "jax":
        pytest.skip("this process runs JAX")
    assert use_devices(None) == 1 and use_devices(1) == 1
    with pytest.raises(DistributionError, match="KERAS_BACKEND=jax"):
        use_devices(2)
    with pytest.raises(DistributionError, match="positive number"):
        use_devices(0)


def test_a_batch_must_split_evenly():
    assert batch_per_device(64, 2) == 32
    with pytest.raises(DistributionError, match="multiple of 3"):
        batch_per_device(64, 3)


def test_the_report_training_with_augmentation_in_the_step_runs_on_two_devices(simulated):
    losses = simulated["in_step_losses"]
    assert len(losses) == 2 and all(0 < loss < 10 for loss in losses)

