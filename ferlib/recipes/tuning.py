"""The transformer search (chapter "Why the ViT loses, tested") with KerasTuner, on one machine
or several.

The report tuned its ViT by hand (section 5.2) and found that small projection sizes learn
where large ones stagnate. Here KerasTuner's Hyperband searches patch size, depth, heads and
width of a plain ViT (:class:`~ferlib.models.transformers.TransformerConfig` with patches)
trained with the transformers' fast recipe, choosing on PublicTest.

One search can spread over machines with KerasTuner's distributed mode: one *chief* process
runs the oracle (which hands out trials and collects their scores) and any number of
*workers* train the trials. Each process gets three environment variables
(:func:`cluster_environment`) and runs the same search; the chief's address must be reachable
from every worker. ``ferlib tune --role chief`` and ``ferlib tune --role worker --worker-id N``
do this from the command line. Hyperband goes on training a promising trial's model in a
later round, possibly in another worker, so every process must see the same folder (one machine,
or a folder shared between the machines).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluate import above_rate_p_value, majority_class, one_hot, stratified_permutation_p_value
from ..fer2013 import EMOTIONS
from ..models.fastcnn import with_augmentation
from ..models.transformers import TransformerConfig, build_transformer
from .fast import compile_fast
from .verdicts._shared import p_text
from .vit_question import TRANSFORMER_RECIPE

#: What the search may choose; the rest of TransformerConfig keeps its defaults.
SEARCH_SPACE = {
    "patch_size": (3, 4, 6),
    "transformer_layers": (1, 2, 4, 6),
    "num_heads": (1, 2, 4),
    "projection_dim": (16, 32, 64, 128),
}
PROJECT = "trials"  # KerasTuner's project: the folder of the trials inside the search's folder
#: The search's budget per trial: a network may cost at most this many times the report's
#: ViT's forward multiply-adds per face. The largest draws of the space cost 22 times as much
#: and train for about an hour an epoch on a 2-core CPU; this cap keeps most of the space
#: (including every width at 6 x 6 patches but the deepest) and skips those.
COST_CAP = 4
#: How many trials in a row may be skipped as over the budget before KerasTuner stops the
#: search (its default, 3, would end a search on a run of unlucky draws).
MAX_SKIPPED = 20


@functools.cache
def cost_limit() -> int:
    """The most forward multiply-adds per face a trial's network may cost: :data:`COST_CAP`
    times the report's ViT's, counted on the registered model (once per process)."""
    from ..models import build_model, count_multiply_adds

    return COST_CAP * count_multiply_adds(build_model("vit", "as-built"))


def check_cost(network) -> None:
    """Raise KerasTuner's ``FailedTrialError`` when `network` costs more than :func:`cost_limit`:
    KerasTuner then records the trial as failed and draws the next one, and Hyperband promotes
    only completed trials."""
    import keras_tuner as kt

    from ..models import count_multiply_adds

    cost, limit = count_multiply_adds(network), cost_limit()
    if cost > limit:
        raise kt.errors.FailedTrialError(f"over the search's budget: {cost / 1e6:.1f} M multiply-adds per face, "
                                         f"the cap is {limit / 1e6:.1f} M ({COST_CAP} times the report's ViT)")


def config_from(hp) -> TransformerConfig:
    """The transformer a KerasTuner ``HyperParameters`` draw describes."""
    return TransformerConfig(tokenizer="patches", **{name: hp.Choice(name, list(values))
                                                     for name, values in SEARCH_SPACE.items()})


def cluster_environment(role: str, *, port: int, address: str = "127.0.0.1", worker: int = 0) -> dict[str, str]:
    """The environment variables with which KerasTuner runs a process as the search's chief
    (``role="chief"``) or as its worker number `worker` (``role="worker"``)."""
    if role not in ("chief", "worker"):
        raise ValueError(f"role must be 'chief' or 'worker', got {role!r}")
    return {"KERASTUNER_TUNER_ID": "chief" if role == "chief" else f"tuner{worker}",
            "KERASTUNER_ORACLE_IP": address, "KERASTUNER_ORACLE_PORT": str(port)}


def trial_builder(steps_per_epoch: int, *, max_epochs: int = 9, recipe=None):
    """The ``build(hp)`` every trial of the search calls: the transformer `hp` draws, behind
    the fast recipe's augmentation, compiled with the recipe (its schedule as long as
    Hyperband's longest training, `max_epochs`)."""
    recipe = replace(recipe or TRANSFORMER_RECIPE, epochs=max_epochs)

    def build(hp):
        network = build_transformer(config_from(hp))
        check_cost(network)
        return compile_fast(with_augmentation(network, recipe.network), recipe, steps_per_epoch)

    return build


def check_same_build(build, steps_per_epoch: int, *, max_epochs: int) -> None:
    """Raise AssertionError unless `build` (a page's ``build(hp)``) builds and compiles what the
    search's trials do (:func:`trial_builder`), for the smallest and the largest draw of every
    size in :data:`SEARCH_SPACE`, and the widest draw within the budget: the same layers, shapes,
    weights and compile settings, and the same draws skipped as over the budget."""
    import keras
    import keras_tuner as kt

    from ..models import network_differences
    from ..train import compile_differences

    reference = trial_builder(steps_per_epoch, max_epochs=max_epochs)
    differences = []
    largest = {name: max(values) for name, values in SEARCH_SPACE.items()}  # over the budget: both must skip it
    draws = [{name: min(values) for name, values in SEARCH_SPACE.items()}, largest,
             largest | {"transformer_layers": min(SEARCH_SPACE["transformer_layers"])}]  # the widest within it
    for draw in draws:
        models = []
        for builder in (build, reference):
            hp = kt.HyperParameters()
            for name, values in SEARCH_SPACE.items():
                hp.Choice(name, list(values))
                hp.values[name] = draw[name]  # a registered name gives this value back to build
            keras.utils.set_random_seed(0)  # the same initial weights for both
            try:
                models.append(builder(hp))
            except kt.errors.FailedTrialError:
                models.append(None)
        if models.count(None) == 1:
            differences.append(f"{draw}: only {'the search' if models[0] is not None else 'the page'} skips it as "
                               "over the budget")
        elif models[0] is not None:
            differences += [f"{draw}: {line}" for line in network_differences(*models) + compile_differences(*models)]
    assert not differences, "the page's build(hp) is not the search's:\n" + "\n".join(differences)


def make_tuner(folder, steps_per_epoch: int, *, max_epochs: int = 9, factor: int = 3, seed: int = 0,
               recipe=None, overwrite: bool = False):
    """A Hyperband tuner over :data:`SEARCH_SPACE` that keeps its trials under `folder`.

    Each trial builds its network behind the fast recipe's augmentation and compiles it with
    the recipe (:data:`~ferlib.recipes.vit_question.TRANSFORMER_RECIPE` by default), its
    schedule as long as Hyperband's longest training (`max_epochs`). A search started again on
    the same folder resumes; with `overwrite` it starts afresh.
    """
    import keras_tuner as kt

    build = trial_builder(steps_per_epoch, max_epochs=max_epochs, recipe=recipe)

    class Search(kt.Hyperband):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if trial.status != "COMPLETED":  # a draw skipped as over the budget trained nothing
                return
            # Which process trained which trial: one file per process, so that none writes another's.
            path = Path(folder, PROJECT, f"trained-by-{os.environ.get('KERASTUNER_TUNER_ID', 'alone')}.txt")
            with open(path, "a") as out:
                out.write(f"{trial.trial_id}\n")

    return Search(build, objective="val_accuracy", max_epochs=max_epochs, factor=factor, seed=seed,
                  max_consecutive_failed_trials=MAX_SKIPPED, directory=str(folder), project_name=PROJECT,
                  overwrite=overwrite)


def search(arrays: dict, folder, *, max_epochs: int = 9, factor: int = 3, batch_size: int = 128, seed: int = 0,
           overwrite: bool = False):
    """Run the search on ``arrays["train"]``, scoring ``arrays["val"]`` (PublicTest), and return
    the tuner. In a process started with :func:`cluster_environment`'s variables, this is that
    process's part of a distributed search (the chief's call returns when every trial is done)."""
    import keras

    keras.utils.set_random_seed(seed)
    x, y = arrays["train"]
    steps = int(np.ceil(len(y) / batch_size))
    tuner = make_tuner(folder, steps, max_epochs=max_epochs, factor=factor, seed=seed, overwrite=overwrite)
    x_val, y_val = arrays["val"]
    tuner.search(x, one_hot(y), validation_data=(x_val, one_hot(y_val)), batch_size=batch_size, verbose=0)
    return tuner


def trials_frame(folder) -> pd.DataFrame:
    """Every finished trial of the search kept under `folder`, best first: its hyperparameters,
    epochs, PublicTest accuracy, its id and the id of the trial it continues ("" for none). Read
    from the trial files, so it works in any process (the chief's, a worker's, or a notebook's
    afterwards)."""
    rows = []
    for trial in _trials(folder):
        if trial.get("status") != "COMPLETED" or trial.get("score") is None:
            continue
        values = trial["hyperparameters"]["values"]
        rows.append({**{name: values.get(name) for name in SEARCH_SPACE},
                     "epochs": values.get("tuner/epochs"), "public_test": trial["score"],
                     "trial": trial["trial_id"],
                     # Hyperband trains a promising trial on in a new trial of the next round
                     "continues": values.get("tuner/trial_id") or ""})
    frame = pd.DataFrame(rows)
    return frame.sort_values("public_test", ascending=False, ignore_index=True) if len(frame) else frame


def skipped_trials(folder) -> int:
    """How many draws of the search under `folder` were skipped as over the budget
    (:func:`check_cost`): the trials KerasTuner recorded as failed with that reason."""
    return sum(1 for trial in _trials(folder)
               if trial.get("status") == "FAILED" and "over the search's budget" in (trial.get("message") or ""))


def _trials(folder):
    """Each trial file KerasTuner wrote for the search under `folder`, in trial order."""
    for path in sorted(Path(folder, PROJECT).glob("trial_*/trial.json")):
        yield json.loads(path.read_text())


def budget_sentence(max_epochs: int, skipped: int = 0) -> str:
    """The search's budget in words: the cost cap per trial and Hyperband's longest training."""
    sentence = (f"Each trial may cost at most {COST_CAP} times the report's ViT's multiply-adds per face "
                f"({cost_limit() / 1e6:.1f} million) and trains for at most {max_epochs} epochs")
    if skipped:
        sentence += f"; {skipped} draw{'s' if skipped != 1 else ''} over that cost {'were' if skipped != 1 else 'was'} skipped"
    return sentence + "."


def search_note(trials: pd.DataFrame, val_labels: np.ndarray | None = None, level: float = 0.05) -> str:
    """What the search's trials (:func:`trials_frame`) say: the best one, and whether the
    report's finding (small widths learn, large ones stagnate) holds across them.

    Hyperband trains its trials for different numbers of epochs, so widths are compared only
    between trials trained as long as each other (a permutation test within each length).
    Given PublicTest's labels (`val_labels`), each wide configuration is also tested against
    always answering PublicTest's most common emotion: one that stagnates does no better. A
    configuration that Hyperband trained on in a later round counts once, at its longest
    training (the trial it continued is left out), so that the tests see independent draws."""
    if trials.empty:
        return "No trial of the search over the ViT's sizes has finished in this run yet."

    def count(n, word):
        return f"{n} {word}" + ("" if n == 1 else "s")

    best = trials.iloc[0]
    note = (f"Of the search over the ViT's sizes, {count(len(trials), 'trial')} finished. "
            f"The best reaches {best['public_test']:.1%} on PublicTest with "
            f"{count(int(best['transformer_layers']), 'layer')}, {count(int(best['num_heads']), 'head')}, width "
            f"{int(best['projection_dim'])} and {int(best['patch_size'])} x {int(best['patch_size'])} patches.")
    # A trial that Hyperband trained on in a later round is the same network: each configuration
    # counts once, at the longest training it got, so that the tests below see independent draws.
    continued = set(trials["continues"]) if "continues" in trials else set()
    configs = trials[~trials["trial"].isin(continued)] if continued and "trial" in trials else trials
    wide = (configs["projection_dim"] >= 64).to_numpy()
    lengths = configs["epochs"] if "epochs" in configs else pd.Series(0, index=configs.index)
    # each length's mean accuracy, wide and narrow, where both were trained that long
    by_length = (configs.groupby([lengths.to_numpy(), wide])["public_test"].mean().unstack()
                 .reindex(columns=[True, False]).dropna())
    once = " (each configuration once, at its longest training)" if continued else ""
    if len(by_length):
        means = [(e, row[True], row[False]) for e, row in by_length.iterrows()]
        pairs = [f"{w:.1%} against {n:.1%}" + (f" after {count(int(e), 'epoch')}" if e else "") for e, w, n in means]
        pairs = ", ".join(pairs[:-1]) + (" and " if len(pairs) > 1 else "") + pairs[-1]
        p_value = stratified_permutation_p_value(configs["public_test"], wide, lengths)
        note += (f" Trained as long as each other{once}, widths of 64 or more and widths of 32 or less "
                 f"average {pairs} (a permutation test within each length, {p_text(p_value)}): ")
        wider_better = sum(w - n for _, w, n in means) > 0
        if p_value >= level:
            note += "a difference of this size could be chance."
        elif wider_better:
            note += ("in this search the wider networks did better, the reverse of what the report found with "
                     "its own training.")
        else:
            note += "in this search the narrower networks did better, as the report found with its own training."
    if val_labels is not None and wide.any():
        val_labels = np.asarray(val_labels)
        common = majority_class(val_labels)
        share = float(np.mean(val_labels == common))
        beats = np.array([above_rate_p_value(a, len(val_labels), share) < level
                          for a in configs.loc[wide, "public_test"]])
        wide_lengths = lengths[wide].to_numpy()
        note += (f" Of the {count(int(wide.sum()), 'configuration')} of width 64 or more, {int(beats.sum())} beat "
                 f"always answering {EMOTIONS[common]} ({share:.1%} of PublicTest; a one-sided binomial "
                 f"test, p < {level:g} each)")
        enough = [e for e in sorted(set(wide_lengths)) if beats[wide_lengths >= e].all()]
        if beats.all():
            note += ": none of them stagnated."
        elif enough and enough[0] > 0:
            note += f"; every one trained for {count(int(enough[0]), 'epoch')} or more did."
        else:
            note += "."
    return note


def trained_by(folder) -> dict[str, list[str]]:
    """Which process of the search trained which trials: ``{"tuner0": ["0000", ...], ...}``
    (``"alone"`` for a search in one process)."""
    return {path.stem.removeprefix("trained-by-"): path.read_text().split()
            for path in sorted(Path(folder, PROJECT).glob("trained-by-*.txt"))}


def best_config(folder) -> TransformerConfig:
    """The best finished trial's transformer."""
    frame = trials_frame(folder)
    if frame.empty:
        raise FileNotFoundError(f"{folder}: no finished trial of the transformer search")
    best = frame.iloc[0]
    return TransformerConfig(tokenizer="patches", **{name: int(best[name]) for name in SEARCH_SPACE})


def in_cluster() -> bool:
    """True in a process that KerasTuner runs as part of a distributed search."""
    return "KERASTUNER_ORACLE_IP" in os.environ


__all__ = ["COST_CAP", "MAX_SKIPPED", "SEARCH_SPACE", "best_config", "budget_sentence", "check_cost", "cluster_environment",
           "config_from", "cost_limit", "in_cluster", "make_tuner", "search", "skipped_trials", "trained_by",
           "trials_frame"]
