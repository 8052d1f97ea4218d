"""The model registry and the page list: a model or a page is added in one place.

The slow test registers a third network in one file (``tests/plugins/tiny_model.py``) and
runs the real results pages 04-06 again in a run of every page (``pages_run``: the synthetic
faces, or FER2013 in CI): the pages train it, Table 1 gets its column, the features page
shows its maps and its answers on a photo, and ``predict`` classifies a photo with it, with
no module of the package changed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "plugins" / "tiny_model.py"


@pytest.fixture
def tiny(monkeypatch):
    """The tiny third model, registered through FERLIB_MODELS, and taken away afterwards."""
    from ferlib.models import registry

    monkeypatch.setenv(registry.ENV_MODELS, str(TINY))
    yield "tiny"
    registry.unregister_model("tiny")
    registry._PLUGINS_LOADED.discard(str(TINY))


def test_build_model_refuses_an_unknown_name_with_the_known_ones():
    from ferlib.models import build_model

    with pytest.raises(ValueError, match=r"unknown model 'resnet'; the registered models are cnn, vit"):
        build_model("resnet")
    with pytest.raises(ValueError, match="unknown vit reading 'huge'"):
        build_model("vit", "huge")


def test_the_report_models_are_registered_with_what_the_package_reads():
    from ferlib.models import CNNConfig, ViTConfig, model_names, model_spec

    assert model_names()[:2] == ("cnn", "vit")
    cnn, vit = model_spec("cnn"), model_spec("vit")
    assert (cnn.display, cnn.config, cnn.family, cnn.bfloat16, cnn.phase1_page) == ("CNN", CNNConfig, "cnn", True, "02_cnn")
    assert (vit.display, vit.config, vit.family, vit.bfloat16, vit.phase1_page) == (
        "ViT", ViTConfig, "transformer", False, "03_vit_tuning")
    assert cnn.feature_layers == ("conv1", "conv4")


def test_a_registered_config_builds_the_same_network_as_the_builder(cnn, vit):
    from ferlib.models import build_model, count_params

    assert count_params(build_model("cnn"))["total"] == count_params(cnn)["total"]
    assert count_params(build_model("vit"))["total"] == count_params(vit)["total"]
    # a reading changes the registered config, and nothing else
    assert count_params(build_model("vit", "split-heads"))["total"] < count_params(vit)["total"]


def test_a_spec_refuses_readings_that_are_not_config_fields():
    from dataclasses import dataclass

    from ferlib.models import ModelSpec

    @dataclass(frozen=True)
    class Sizes:
        width: int = 4

    with pytest.raises(ValueError, match="not fields of Sizes"):
        ModelSpec("toy", "Toy", build=lambda c, **k: None, config=Sizes, family="cnn",
                  readings={"as-built": {}, "deep": {"depth": 9}}, reading_notes={"as-built": "", "deep": ""})
    with pytest.raises(ValueError, match="family"):
        ModelSpec("toy", "Toy", build=lambda c, **k: None, config=Sizes, family="mlp")


def test_a_model_named_in_the_environment_is_registered_everywhere(tiny):
    import ferlib as fl
    from ferlib.models import READINGS, build_model, model_names
    from ferlib.plots import plot_architecture
    from ferlib.recipes.run import choose_precision

    assert model_names()[-1] == "tiny" and set(READINGS["tiny"]) == {"as-built", "wider"}
    model = build_model("tiny", "wider")
    assert model.get_layer("conv1").filters == 8 and model.output_shape == (None, 7)
    assert choose_precision("tiny") == "float32"  # not registered for bfloat16
    assert fl.display_name("tiny") == "Tiny"
    figure = plot_architecture(model)
    drawn = " ".join(text.get_text() for ax in figure.axes for text in ax.texts)
    assert "tiny pooling" in drawn and "conv block 2" in drawn and "max pool 4x4" in drawn


def test_a_missing_plugin_file_is_named(monkeypatch, tmp_path):
    from ferlib.models import registry

    missing = tmp_path / "nowhere.py"
    monkeypatch.setenv(registry.ENV_MODELS, str(missing))
    try:
        with pytest.raises(FileNotFoundError, match="nowhere.py"):
            registry.model_names()
    finally:
        registry._PLUGINS_LOADED.discard(str(missing))


def test_table1_gives_a_third_model_its_column_without_report_numbers():
    from ferlib.recipes.report import table1

    scores = {"phase1": {"test": {"accuracy": 0.5, "loss": 1.0}}, "phase2": {"test": {"accuracy": 0.55, "loss": 1.1}}}
    table = table1({"cnn": scores, "tiny": scores})
    assert list(table.columns)[-3:] == ["TINY report", "TINY ours", "TINY difference"]
    assert table.loc["phase2 test accuracy", "TINY ours"] == 0.55
    assert table["TINY report"].isna().all() and table["TINY difference"].isna().all()
    # the report's columns stay (its rows; the rows it does not give, measured after training, are empty)
    assert table["VIT ours"].isna().all() and not table["VIT report"].iloc[:7].isna().any()


# --------------------------------------------------------------------------- pages


def _page(title: str):
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook(cells=[new_markdown_cell(f"# {title}"),
                             new_code_cell('run_dir = "."\nprofile = "smoke"', metadata={"tags": ["parameters"]}),
                             new_code_cell('import pathlib\npathlib.Path(run_dir, "toy.txt").write_text("ran")')])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_a_new_page_is_its_notebook(tmp_path):
    """A page added to the notebooks folder is listed, run in order and shown by status."""
    import nbformat

    from ferlib.notebooks import notebook_names
    from ferlib.runfolder import RunFolder
    from ferlib.tooling.pipeline import run_notebooks

    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(_page("first"), folder / "01_first.ipynb")
    nbformat.write(_page("toy"), folder / "02_toy.ipynb")
    (folder / "notes.ipynb").write_text("{}")  # not a page: no number
    assert notebook_names(folder) == ("01_first", "02_toy")
    outputs = run_notebooks(tmp_path / "run", notebooks_dir=folder, data="synthetic")
    assert [p.stem for p in outputs] == ["01_first", "02_toy"]
    assert (tmp_path / "run" / "toy.txt").read_text() == "ran"
    assert set(json.loads((tmp_path / "run" / "timings.json").read_text())) == {"01_first", "02_toy"}
    assert RunFolder(tmp_path / "run").notebook("02_toy").exists()
    nbformat.write(_page("twin"), folder / "02_twin.ipynb")
    with pytest.raises(ValueError, match="more than one notebook numbered 02"):
        notebook_names(folder)


def test_every_page_has_its_toc_entry_and_every_toc_page_exists(toc_files):
    from ferlib.notebooks import NOTEBOOKS

    results = [f for f in toc_files if f.startswith("results/") and f != "results/reproduction"]
    assert results == [f"results/{name}" for name in NOTEBOOKS]


# --------------------------------------------------------------------------- the third model end to end


@pytest.mark.slow
def test_a_third_registered_model_goes_through_the_results_pages(tiny, pages_run, tmp_path, monkeypatch):
    """Registered in a run whose pages already ran: the results pages train it on demand."""
    import papermill as pm
    from skimage import data as skdata
    from PIL import Image

    from ferlib.predict import load_run_model, predict_files

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    run_dir = pages_run.copy(tmp_path / "run")
    parameters = pages_run.parameters(monkeypatch)
    assert not (run_dir / "tiny").exists()
    for name in ("04_phase2", "05_comparison", "06_features"):
        pm.execute_notebook(str(REPO / "notebooks" / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
                            kernel_name="python3", cwd=str(run_dir), progress_bar=False, parameters=parameters)
    # 04 trained it (phase 1 on demand, then phase 2)
    assert (run_dir / "tiny" / "phase1" / "model.keras").exists()
    assert (run_dir / "tiny" / "phase2" / "augmentation" / "model.keras").exists()
    # 05: Table 1 has its column, its confusion matrix is there
    comparison = json.loads((run_dir / "metrics" / "comparison.json").read_text())
    assert "TINY ours" in json.dumps(comparison["table1"])
    assert {row["model"] for row in comparison["per_class"]} == {"CNN", "ViT", "Tiny"}
    # 06: feature maps for each convolutional network (the CNN's and its), its answers on the photo
    features = json.loads((tmp_path / "06_features.ipynb").read_text())["cells"]
    maps = next(c for c in features if "cnn_feature_maps" in "".join(c["source"]))
    assert sum("image/png" in o.get("data", {}) for o in maps["outputs"]) == 2
    assert not any(o.get("output_type") == "error" for c in features for o in c.get("outputs", []))
    assert "Tiny, face 1" in json.dumps(features)
    # predict: a photo classified with it
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    found = predict_files([photo], load_run_model(run_dir, "tiny"), out_dir=tmp_path / "out", label="Tiny")
    faces = found["faces"][str(photo)]
    assert faces and abs(sum(faces[0].probabilities.values()) - 1) < 1e-4
