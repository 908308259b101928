"""The train step end to end on small simulated data: artifacts, ONNX parity, reproducibility,
--parallel, resume after SIGKILL, and clear errors for bad flags and bad data.

Small data and few epochs keep this affordable; the targets themselves are checked on the
default data by tests/test_targets.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dwcp_training.models import REGISTRY, TrainSettings
from dwcp_training.models.onnx_export import run_onnx
from dwcp_training.reports import MODEL_REPORT_FIELDS
from dwcp_training.train import TrainRequest, train
from dwcp_training.window import load_windows

ALL = list(REGISTRY)
EPOCHS = 2


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    from dwcp_training.simulator import generate

    out = tmp_path_factory.mktemp("data")
    return generate(out, links=8, hours=10, interval_s=60, seed=42).train_path


def _train(data: Path, out: Path, models=None, parallel=False, epochs=EPOCHS) -> dict:
    request = TrainRequest(
        data_path=data,
        output_dir=out,
        models=list(models or ALL),
        settings=TrainSettings(seed=42, epochs=epochs, threads=2, verbose=0),
        parallel=parallel,
    )
    return train(request, log=lambda _m: None)


@pytest.fixture(scope="module")
def trained(small_data, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run") / "dwcp_v1"
    return out, _train(small_data, out)


def _weights(model_dir: Path, name: str) -> list[np.ndarray]:
    if name == "reliability":
        doc = json.loads((model_dir / "reliability.forest.json").read_text())
        return [np.asarray(t["threshold"]) for t in doc["trees"]] + [np.asarray(doc["threshold"])]
    import keras

    import dwcp_training.models.keras_layers  # noqa: F401

    return keras.saving.load_model(model_dir / f"{name}.keras").get_weights()


def test_every_model_writes_native_onnx_contract_and_reports(trained):
    out, master = trained
    assert (out / "training_report.json").is_file() and (out / "training_report.md").is_file()
    assert master["models_trained"] == 4
    for name in ALL:
        d = out / name
        report = json.loads((d / "report.json").read_text())
        for key in MODEL_REPORT_FIELDS:
            assert key in report, key
        assert (d / report["artifacts"]["native"]).is_file()
        assert (d / f"{name}.onnx").is_file()
        contract = json.loads((d / "contract.json").read_text())
        assert contract["input"]["raw_units"] is True
        assert [f["name"] for f in contract["input"]["features"]] == list(
            REGISTRY[name].inputs.features
        )
        assert report["model_size_mb"] < 10


def test_onnx_takes_exactly_one_raw_float_input_of_the_contract_shape(trained):
    import onnxruntime as ort

    out, _ = trained
    shapes = {"bandwidth": [10, 7], "compression": [6], "reliability": [6], "latency": [20]}
    for name in ALL:
        session = ort.InferenceSession(str(out / name / f"{name}.onnx"))
        inputs = session.get_inputs()
        assert len(inputs) == 1, [i.name for i in inputs]
        assert inputs[0].type == "tensor(float)"
        assert list(inputs[0].shape[1:]) == shapes[name]
        outputs = [o.name for o in session.get_outputs()]
        assert outputs == list(REGISTRY[name].outputs)


def test_onnx_parity_against_the_reloaded_native_artifact_for_all_four(trained):
    """onnxruntime on raw test features == the native artifact, loaded back from disk."""
    from dwcp_training import forest_json

    out, master = trained
    windows = load_windows(out / "windows")
    for name in ALL:
        x = np.asarray(windows.arrays[name]["test"].X)
        onnx_out = run_onnx(out / name / f"{name}.onnx", x)
        if name == "reliability":
            doc = forest_json.load(out / name / "reliability.forest.json")
            reference = {"anomaly_score": forest_json.score(doc, x)}
            reference["is_anomaly"] = reference["anomaly_score"] >= doc["threshold"]
        else:
            model = REGISTRY[name](TrainSettings(), windows.meta)
            model.load_native(out / name / f"{name}.keras")
            reference = model.predict(x)
        for key in REGISTRY[name].parity_outputs or REGISTRY[name].outputs:
            ref, got = reference[key], onnx_out[key]
            if ref.dtype.kind in "biu":
                np.testing.assert_array_equal(got.astype(np.int64), ref.astype(np.int64), key)
            else:
                rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-3)
                assert rel.max() <= 1e-4, (name, key, rel.max())
        assert master["models"][name]["onnx_parity"]["ok"], name


def test_same_seed_same_data_gives_identical_metrics_and_weights(trained, small_data, tmp_path):
    out, master = trained
    again = _train(small_data, tmp_path / "again")
    for name in ALL:
        assert (
            again["models"][name]["achieved_metrics"] == master["models"][name]["achieved_metrics"]
        ), name
        for a, b in zip(
            _weights(out / name, name), _weights(tmp_path / "again" / name, name), strict=True
        ):
            np.testing.assert_array_equal(a, b)


def test_parallel_gives_the_same_results_as_sequential(trained, small_data, tmp_path):
    _, master = trained
    parallel = _train(small_data, tmp_path / "parallel", parallel=True)
    for name in ALL:
        assert (
            parallel["models"][name]["achieved_metrics"]
            == master["models"][name]["achieved_metrics"]
        ), name


def _dwcp(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dwcp_training.cli", *args], capture_output=True, text=True, **kwargs
    )


def test_sigkill_after_epoch_k_resumes_and_ends_like_an_uninterrupted_run(small_data, tmp_path):
    epochs = "5"
    args = [
        "-q",
        "train",
        "--data-path",
        str(small_data),
        "--models",
        "bandwidth",
        "--epochs",
        epochs,
        "--export-format",
        "onnx",
    ]
    reference = tmp_path / "reference"
    assert _dwcp(*args, "--output-dir", str(reference)).returncode == 0

    killed = tmp_path / "killed"
    state = killed / "bandwidth" / "checkpoints" / "state.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dwcp_training.cli", *args, "--output-dir", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    k = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if state.is_file():
            k = json.loads(state.read_text())["next_epoch"]
            if k >= 2:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert k >= 2

    result = _dwcp(*args, "--output-dir", str(killed))
    assert result.returncode == 0, result.stderr
    resumed = json.loads((killed / "bandwidth" / "report.json").read_text())
    expected = json.loads((reference / "bandwidth" / "report.json").read_text())
    assert resumed["training"]["resumed_from_epoch"] >= k
    assert resumed["achieved_metrics"] == expected["achieved_metrics"]
    assert resumed["training"]["history"] == expected["training"]["history"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--models", "bandwidth,teleport"], "unknown model 'teleport'"),
        (["--epochs", "0"], "--epochs must be > 0"),
        (["--epochs", "-3"], "--epochs must be > 0"),
        (["--export-format", "pickle"], "unknown export format"),
        (["--validation-split", "0.9"], "leaves no training data"),
        (["--target-accuracy", "1.5"], "--target-accuracy"),
    ],
)
def test_bad_flags_exit_2_with_a_clear_message(small_data, tmp_path, extra, message):
    result = _dwcp(
        "train", "--data-path", str(small_data), "--output-dir", str(tmp_path / "o"), *extra
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_data_path_exits_2(tmp_path):
    result = _dwcp(
        "train", "--data-path", str(tmp_path / "nope.csv"), "--output-dir", str(tmp_path / "o")
    )
    assert result.returncode == 2
    assert "nope.csv" in result.stderr and "Traceback" not in result.stderr


def test_output_dir_that_cannot_be_created_exits_2(small_data, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = _dwcp("train", "--data-path", str(small_data), "--output-dir", str(blocker / "out"))
    assert result.returncode == 2
    assert "not writable" in result.stderr and "Traceback" not in result.stderr


def test_bad_data_exits_2_and_writes_no_model(small_data, tmp_path):
    import pandas as pd

    frame = pd.read_csv(small_data)
    frame.loc[3, "packet_loss"] = 1.7
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    out = tmp_path / "o"
    result = _dwcp("train", "--data-path", str(bad), "--output-dir", str(out))
    assert result.returncode == 2
    assert "packet_loss" in result.stderr and "Traceback" not in result.stderr
    assert not (out / "windows").exists()
    assert not list(out.glob("*/*.onnx"))


def test_checkpoint_without_its_best_file_is_not_resumed(tmp_path: Path) -> None:
    """A checkpoint of the older layout (`best.weights.h5`) or one that lost `best.keras` starts
    over: resuming it would end with the last epoch's weights instead of the best one's."""
    from dwcp_training.models.keras_trainer import BEST_FILE, LATEST_FILE, STATE_FILE, _read_state

    state = {"fingerprint": "fp", "next_epoch": 3, "best_epoch": 1}
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    (tmp_path / LATEST_FILE).write_bytes(b"latest")
    (tmp_path / "best.weights.h5").write_bytes(b"older layout")
    assert _read_state(tmp_path, "fp") is None
    (tmp_path / BEST_FILE).write_bytes(b"best")
    assert _read_state(tmp_path, "fp") == state
