"""The device run's script (benchmarks/device_run.py) where no device is needed: the data's
pieces and their checks, and the table beside the CPU's. The GPU itself is measured only
when a machine is lent (the script's docstring says how)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def device_run():
    spec = importlib.util.spec_from_file_location("device_run", REPO / "benchmarks" / "device_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pieces_join_back_into_the_file(device_run, tmp_path):
    data = tmp_path / "fer2013.csv.gz"
    data.write_bytes(bytes(range(256)) * 41)  # 10,496 bytes: three pieces of 4,096 at most
    sums = device_run.pack_data(data, tmp_path / "pieces", piece_bytes=4096)
    assert list(sums["pieces"]) == ["part-1", "part-2", "part-3"]
    assert max(p.stat().st_size for p in (tmp_path / "pieces").glob("part-*")) <= 4096
    joined = device_run.join_pieces(tmp_path / "pieces", tmp_path / "out" / "fer2013.csv.gz")
    assert joined.read_bytes() == data.read_bytes()
    assert not list((tmp_path / "out").glob("*.partial"))


def test_a_missing_piece_is_named_with_what_to_do(device_run, tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 5000)
    device_run.pack_data(data, tmp_path / "pieces", piece_bytes=4096)
    (tmp_path / "pieces" / "part-1").unlink()  # a machine given back between the two calls
    with pytest.raises(SystemExit, match="part-1 missing.*warm"):
        device_run.join_pieces(tmp_path / "pieces", tmp_path / "joined")


def test_a_damaged_piece_is_refused(device_run, tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(b"y" * 5000)
    device_run.pack_data(data, tmp_path / "pieces", piece_bytes=4096)
    (tmp_path / "pieces" / "part-2").write_bytes(b"z" * 904)
    with pytest.raises(SystemExit, match="part-2: its SHA-256"):
        device_run.join_pieces(tmp_path / "pieces", tmp_path / "joined")
    assert not (tmp_path / "joined").exists()


def test_the_table_puts_each_training_beside_the_cpus_with_intervals(device_run):
    gpu = {"device": "gpu: NVIDIA H200", "profile": "full",
           "cnn_phase1": {"epochs": 40, "epoch_seconds": [30.0, 2.0, 2.0, 4.0], "train_seconds": 120.0,
                          "train_images": 18_000, "test_accuracy": 0.63, "test_images": 7000},
           "fast_recipe": {"epochs": 50, "epoch_seconds": [20.0, 1.0, 1.0], "train_seconds": 60.0,
                           "train_images": 28_709, "private_test_tta": 0.71, "test_images": 3589}}
    cpu = {"device": "cpu: Xeon (2 cores)",
           "cnn_phase1": {"epochs": 62, "epoch_seconds": [60.0, 70.0, 80.0], "train_seconds": 4100.0,
                          "train_images": 18_000, "test_accuracy": 0.634}}
    table = device_run.device_table(gpu, cpu).splitlines()
    assert len(table) == 2 + 3  # the CPU reference has no fast recipe: its row is left out
    gpu_cnn, cpu_cnn, gpu_fast = table[2:]
    assert "gpu: NVIDIA H200, full profile" in gpu_cnn and "| 2.0 | 9,000 |" in gpu_cnn  # median after the compile
    assert "cpu: Xeon (2 cores), full profile" in cpu_cnn and "| 75.0 | 240 |" in cpu_cnn
    assert "63.4%" in cpu_cnn and "62.3–64.5%" in cpu_cnn  # scored on the device's count of the same images
    assert "71.0%" in gpu_fast and "69.5–72.5%" in gpu_fast


def test_the_cpu_reference_names_the_run_and_holds_both_trainings():
    reference = json.loads((REPO / "benchmarks" / "results" / "device_run_cpu.json").read_text())
    assert reference["device"].startswith("cpu:") and reference["commit"] and reference["seed"] == 42
    for key in ("cnn_phase1", "fast_recipe"):
        row = reference[key]
        assert row["epochs"] == len(row["epoch_seconds"]) and row["train_images"] > 0
