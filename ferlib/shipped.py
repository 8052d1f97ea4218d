"""The model that ships inside the package: ``ferlib predict photo.jpg`` answers at once.

It is the fast recipe's network (page 8, "Closing the gap"), trained on FER2013's 28,709
``Training`` faces under the standard protocol and chosen on ``PublicTest``. Its weights are
stored in float16 (``fastcnn.weights.h5``, half the size of float32, with no measurable change in
its answers) beside a card (``card.json``, and ``MODEL_CARD.md`` for people) that says how it
was made and what it scores on ``PrivateTest``, with and without flip averaging, and the
weights file's SHA-256. :func:`load_shipped_model` checks that checksum before it loads.

``ferlib ship`` makes the three files again from scratch (see :func:`ship`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .files import sha256_of

FOLDER = Path(__file__).resolve().parent / "shipped"
WEIGHTS = "fastcnn.weights.h5"
CARD = "card.json"
MODEL_CARD = "MODEL_CARD.md"
MAX_BYTES = 4 * 2**20  # the repository holds one trained-weights file, and a small one


def shipped_card(folder: str | Path = FOLDER) -> dict:
    """The shipped model's card; FileNotFoundError when this copy of ferlib has none."""
    from .files import read_json

    card = read_json(Path(folder) / CARD)
    if card is None:
        raise FileNotFoundError(f"{Path(folder) / CARD}: no model ships with this copy of ferlib; "
                                "give `--run RUN_DIR`, or make one with `ferlib ship`")
    return card


def shipped_network(recipe: dict, precision: str = "float32"):
    """The fast CNN of a recipe as a card stores it (``card["recipe"]``), untrained."""
    from .models import build_model
    from .models.fastcnn import FastCNNConfig

    network = recipe["network"]
    return build_model("fastcnn", config=FastCNNConfig(**{**network, "widths": tuple(network["widths"])}),
                       precision=precision)


def as_stored(model, recipe: dict):
    """`model` as :func:`load_shipped_model` will give it back: its weights rounded to float16,
    in a network that computes in float32 (whatever precision it trained in)."""
    import numpy as np

    stored = shipped_network(recipe)
    stored.set_weights([w.astype(np.float16).astype(np.float32) for w in model.get_weights()])
    return stored


def load_shipped_model(folder: str | Path = FOLDER):
    """The shipped network, in float32, after checking its weights against the card's checksum."""
    from .files import DamagedFile

    folder = Path(folder)
    card = shipped_card(folder)
    weights = folder / WEIGHTS
    if not weights.is_file() or sha256_of(weights) != card["weights_sha256"]:
        raise DamagedFile(f"{weights}: missing, or not the file its card describes (SHA-256 differs); "
                          "reinstall ferlib or run `ferlib ship` again")
    model = shipped_network(card["recipe"])
    model.load_weights(weights)
    return model


def export_model(model, folder: str | Path, card: dict) -> Path:
    """Write `model`'s weights in float16, and its card (with their checksum), into `folder`;
    each file atomically. Refuses weights over :data:`MAX_BYTES`."""
    from .files import atomic_write, write_json, write_text

    folder = Path(folder)
    half = shipped_network(card["recipe"], precision="float16")  # float16 variables: half the bytes
    half.set_weights([w.astype("float16") for w in model.get_weights()])
    partial = folder / f".{WEIGHTS}.partial.weights.h5"
    folder.mkdir(parents=True, exist_ok=True)
    half.save_weights(partial)
    size = partial.stat().st_size
    if size > MAX_BYTES:
        partial.unlink()
        raise ValueError(f"the weights take {size:,} bytes, more than the {MAX_BYTES:,} a shipped model may")
    atomic_write(folder / WEIGHTS, lambda f: f.write(partial.read_bytes()))
    partial.unlink()
    card = {**card, "weights_sha256": sha256_of(folder / WEIGHTS), "weights_bytes": size}
    write_json(folder / CARD, card)
    write_text(folder / MODEL_CARD, model_card(card))
    return folder


def model_card(card: dict) -> str:
    """The card as Markdown, for people."""
    recipe = card["recipe"]
    return f"""# The model ferlib ships

The fast recipe's CNN ({card['parameters']:,} weights, widths {', '.join(map(str, recipe['network']['widths']))}),
trained by `ferlib ship` for {recipe['epochs']} epochs on FER2013's Training faces.

| | |
|---|---|
| protocol | {card['protocol']} |
| PrivateTest accuracy | {card['private_test']:.2%} ({card['private_test_correct']:,} of {card['private_test_faces']:,} faces) |
| PrivateTest, flip averaging | {card['private_test_tta']:.2%} |
| PublicTest accuracy (the set it was chosen on) | {card['public_test']:.2%} |
| chosen | {card['chosen']} |
| data | {card['data']} ({card['data_fingerprint']}) |
| seed | {card['seed']} |
| commit | {card['commit']} (exported); {card.get('training_commit', 'not recorded')} (trained) |
| trained on | {card['machine']}, {card['train_seconds'] / 60:.0f} minutes, {card['precision']} |
| weights | `{WEIGHTS}`, float16, {card['weights_bytes']:,} bytes, {card['weights_sha256']} |

Inputs are 48 × 48 grey faces scaled to [0, 1]; the seven outputs are, in order, Angry,
Disgust, Fear, Happy, Sad, Surprise and Neutral. FER2013's labels are noisy (human labellers
agree with them about 65% of the time), its faces are mostly frontal web images, and its
emotions are posed or guessed by annotators: treat the answers as a course exercise, not as
a measurement of what a person feels.

The recipe in full:

```json
{json.dumps(recipe, indent=2)}
```
"""


def card_for(run, *, private: tuple[int, int], private_tta: float, public: float, seed: int, chosen: str,
             dataset, commit: str) -> dict:
    """The card of a finished fast-recipe run (:class:`~ferlib.recipes.fast.FastRun`), with the
    scores of the float16 weights as shipped (`private`: faces right, faces)."""
    from .literature import STANDARD_PROTOCOL

    summary = run.summary
    return {
        "protocol": STANDARD_PROTOCOL, "private_test": private[0] / private[1],
        "private_test_correct": private[0], "private_test_faces": private[1], "private_test_tta": private_tta,
        "public_test": public, "chosen": chosen, "seed": seed, "commit": commit,
        "training_commit": summary.get("commit", "not recorded (trained before runs recorded it)"),
        "data": f"{dataset.name} ({Path(str(dataset.source)).name})", "data_fingerprint": dataset.fingerprint,
        "recipe": summary["signature"]["recipe"], "parameters": summary["parameters"],
        "train_seconds": summary["train_seconds"], "machine": ", ".join(summary.get("machines", [])) or "not recorded",
        "precision": ", ".join(summary.get("precisions", [])) or summary["signature"]["recipe"].get("precision"),
    }
