"""One tiny end-to-end fit of each model through ferlib on the backend in KERAS_BACKEND.

Used by tests/test_train.py with ``KERAS_BACKEND=jax``. With ``FERLIB_TEST_BLOCK_TENSORFLOW=1``
``import tensorflow`` fails, as on a machine that has JAX but no TensorFlow. Prints one
line ``RESULT {json}`` with the backend and, per model, the history and the scores.

    python tests/scripts/jax_smoke.py RUN_DIR
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
import time


class _BlockTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"{name} is blocked: this run simulates a machine without TensorFlow")
        return None


def main(run_dir: str) -> int:
    if os.environ.get("FERLIB_TEST_BLOCK_TENSORFLOW") == "1":
        sys.meta_path.insert(0, _BlockTensorFlow())

    import keras
    import numpy as np

    from ferlib.evaluate import evaluate_model
    from ferlib.models import build_cnn, build_vit
    from ferlib.data.synthetic import make_synthetic_faces
    from ferlib.train import TrainConfig, set_seed, train_model

    t0 = time.time()
    images, labels = make_synthetic_faces(n_per_class=4, seed=3)  # 28 images
    x = (images[..., None] / 255.0).astype(np.float32)
    # equal-sized parts and full batches keep the number of JAX compilations small
    parts = {"train": (x[:16], labels[:16]), "val": (x[16:24], labels[16:24]), "test": (x[20:28], labels[20:28])}
    out = {"backend": keras.backend.backend(), "models": {},
           "tensorflow_imported": "tensorflow" in sys.modules}
    builders = {
        "vit": lambda: build_vit(projection_dim=8, num_heads=2, transformer_layers=1),
        "cnn": lambda: build_cnn(filters=(8, 16, 16, 16), dense_units=(16, 16, 16)),
    }
    for name, build in builders.items():
        set_seed(0)
        result = train_model(build(), parts["train"], parts["val"], os.path.join(run_dir, name),
                             TrainConfig(epochs=1, batch_size=8), augment=True, seed=0, verbose=0)
        out["models"][name] = {
            "history": result.history.to_dict(orient="list"),
            "scores": evaluate_model(result.model, parts),
            "reused": result.reused,
            "seconds": round(time.time() - t0, 1),
        }
    out["tensorflow_imported"] = "tensorflow" in sys.modules
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
