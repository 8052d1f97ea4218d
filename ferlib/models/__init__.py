"""The networks, in backend-neutral Keras 3, and the registry that names them.

Every network takes ``(48, 48, 1)`` images scaled to [0, 1] and ends in a 7-way softmax
named ``softmax`` that computes in float32. Layers carry stable names (``conv1`` ..
``conv4``, ``block1`` .. ``blockN``) so that :mod:`ferlib.features` can read their outputs.

* :mod:`.registry`: :class:`ModelSpec`, :func:`register_model`, :func:`model_names`;
* :mod:`.cnn`: the report's CNN (``"cnn"``); :mod:`.vit`: the report's ViT (``"vit"``);
* :mod:`.fastcnn`: the fast recipe's CNN; :mod:`.transformers`: transformers built for small images;
* :mod:`.layers`: the layers they share; :mod:`.measure`: parameters and multiply-adds.

Adding a network is one module that builds it and calls :func:`register_model`, imported
below (or named in ``FERLIB_MODELS``); nothing else in the package names a model.
"""

from __future__ import annotations

from pathlib import Path

import keras

from .layers import FusedBatchNormalization, PatchEncoder, Patches
from .registry import (
    ENV_MODELS,
    READING_NOTES,
    READINGS,
    ModelSpec,
    display_name,
    model_names,
    model_spec,
    register_model,
    unregister_model,
)
from .cnn import CNN_READING_NOTES, CNN_READINGS, INPUT_SHAPE, CNNConfig, build_cnn  # registers "cnn"
from .vit import VIT_READING_NOTES, VIT_READINGS, VIT_TUNING_STORY, ViTConfig, build_vit  # registers "vit"
from .fastcnn import FastCNNConfig, build_fast_cnn  # registers "fastcnn" (a later chapter's, not the report's)
from .transformers import TransformerConfig, build_transformer  # registers "vit-spt", "cct", "hybrid" (later chapters')
from .measure import count_multiply_adds, count_params, model_summary, model_table, network_differences


def build_model(model: str, reading: str = "as-built", *, config=None, vit_config: ViTConfig | None = None,
                precision: str = "float32", name: str | None = None, seed: int | None = None) -> keras.Model:
    """A registered model by name, in one of its readings (see :data:`READINGS`).

    `config` (or, for the ViT, `vit_config`) replaces the default sizes before the
    reading's changes apply. With `seed`, the random state is seeded first, so one seed
    gives one set of initial weights.
    """
    spec = model_spec(model)
    sizes = spec.make_config(reading, config if config is not None else vit_config)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return spec.build(sizes, precision=precision, name=name or spec.name)


def load_model(path) -> keras.Model:
    """A model this package saved (``.keras``). Loading through this module registers its
    own layers (:class:`FusedBatchNormalization`) first, which ``keras.saving`` needs.
    A file that is not a whole model (cut short by a full disk, say) raises
    :class:`~ferlib.files.DamagedFile`, naming it."""
    import zipfile

    from ..files import DamagedFile

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        return keras.saving.load_model(path)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as err:  # Keras says "File not found" for a non-zip
        raise DamagedFile(f"{path}: not a readable Keras model ({type(err).__name__}: {err}); it may be cut "
                          "short: delete it and train it again, or restore it from a copy") from None


__all__ = [
    "ENV_MODELS", "READING_NOTES", "READINGS", "ModelSpec", "display_name", "model_names", "model_spec",
    "register_model", "unregister_model", "FusedBatchNormalization", "PatchEncoder", "Patches",
    "CNN_READING_NOTES", "CNN_READINGS", "INPUT_SHAPE", "CNNConfig", "build_cnn", "FastCNNConfig", "build_fast_cnn",
    "VIT_READING_NOTES", "VIT_READINGS", "VIT_TUNING_STORY", "ViTConfig", "build_vit",
    "TransformerConfig", "build_transformer",
    "count_multiply_adds", "count_params", "model_summary", "model_table", "build_model", "load_model",
]
