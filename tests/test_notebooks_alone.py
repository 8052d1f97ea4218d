"""Each notebook executed on its own in a fresh folder, as Colab runs it: it must train (at
the smoke profile, on the synthetic faces) whatever the notebooks before it would have made.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ALONE = ("04_phase2", "05_comparison", "06_features", "07_beyond")


@pytest.mark.slow
@pytest.mark.parametrize("name", ALONE)
def test_a_notebook_runs_alone_in_a_fresh_folder(name, tmp_path, monkeypatch):
    import papermill as pm

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    output = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(REPO / "notebooks" / f"{name}.ipynb"), str(output), kernel_name="python3", cwd=str(tmp_path),
                        parameters={"data": "synthetic", "profile": "smoke", "run_dir": "."}, progress_bar=False)
    cells = json.loads(output.read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "training it now at the smoke profile" in text  # it said what it did
    assert (tmp_path / "cnn" / "phase1" / "model.keras").exists()
    assert not any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
