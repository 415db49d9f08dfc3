"""Checkpoints with the right format tag but bad contents, and the file mode of saved checkpoints."""

import os
import re
import stat
from dataclasses import replace

import pytest
import torch
from helpers import trainer_checkpoint

from vae_explorer.cli import main
from vae_explorer.core.atomic import current_umask
from vae_explorer.core.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    signed,
)
from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae_explorer.core.model import VAE
from vae_explorer.core.trainer import Trainer

SMALL = ModelConfig(hidden=16, latent_dim=4, components=3)
CONFIG = RunConfig(DataConfig(), SMALL, TrainConfig(epochs=2, device="cpu"))


def _good(tmp_path, name="good.pt"):
    """A checkpoint as the trainer writes it: metrics with a history, and an optimiser state."""
    return trainer_checkpoint(tmp_path / name, CONFIG)


def _tampered(tmp_path, name, change):
    """Load a good checkpoint, change its payload, and save it again with plain torch.save, with
    a checksum that matches the change: a crafted file, which passes the checksum and meets the
    checks behind it (an unsigned change is refused by the checksum: tests/faults)."""
    payload = torch.load(_good(tmp_path), map_location="cpu", weights_only=True)
    change(payload)
    path = tmp_path / name
    torch.save(signed(payload) if isinstance(payload, dict) else payload, path)
    return path


def _set(key, value):
    return lambda p: p.__setitem__(key, value)


def _nan_logits(p):
    p["model"]["prior.logits"] = torch.full_like(p["model"]["prior.logits"], float("nan"))


def _inf_weight(p):
    p["model"]["encoder.net.0.weight"][0, 0] = float("inf")


def test_a_good_checkpoint_loads_and_resumes(tmp_path, tiny_splits):
    path = _good(tmp_path)
    _model, config, payload = load_checkpoint(path)
    assert config == CONFIG and payload["metrics"]["epoch"] == 1
    resumed = Trainer(CONFIG, tiny_splits, resume_from=path)
    assert resumed.start_epoch == 2 and len(resumed.optimizer.state) > 0


BAD = [
    ("metrics_list.pt", _set("metrics", [1, 2]), r"'metrics' is a list, expected a dict"),
    (
        "model_list.pt",
        _set("model", [1, 2]),
        r"'model' is a list, expected a dict of parameter names to tensors",
    ),
    (
        "model_values.pt",
        _set("model", {"prior.logits": [1.0, 2.0]}),
        r"'model' maps 'prior.logits' to a list",
    ),
    ("model_empty.pt", _set("model", {}), r"'model' is an empty dict"),
    ("no_model.pt", lambda p: p.pop("model"), r"no model parameters"),
    ("config_int.pt", _set("config", 5), r"'config' is an int, expected the run configuration as JSON text"),
    ("no_config.pt", lambda p: p.pop("config"), r"no run configuration"),
    ("optimizer_list.pt", _set("optimizer", [1, 2]), r"'optimizer' is a list, expected a PyTorch optimizer"),
    ("optimizer_keys.pt", _set("optimizer", {"state": 1}), r"'optimizer' lacks a 'state' dict"),
    ("optimizer_groups.pt", lambda p: p["optimizer"]["param_groups"].append("x"), r"parameter group 'x'"),
    (
        "optimizer_state.pt",
        lambda p: p["optimizer"]["state"].__setitem__(0, [1]),
        r"optimizer state for parameter 0",
    ),
    (
        "optimizer_nan.pt",
        lambda p: p["optimizer"]["state"][0]["exp_avg"].fill_(float("nan")),
        r"optimizer state 'exp_avg' of parameter 0 holds non-finite values",
    ),
    (
        "history_dict.pt",
        lambda p: p["metrics"].__setitem__("history", {"epoch": 1}),
        r"metrics\['history'\] is a dict",
    ),
    (
        "history_entry.pt",
        lambda p: p["metrics"]["history"].append([1, 2]),
        r"metrics\['history'\]\[1\] is \[1, 2\]",
    ),
    (
        "history_keys.pt",
        lambda p: p["metrics"]["history"][0].__setitem__("extra", 1),
        r"metrics\['history'\]\[0\]",
    ),
    (
        "history_value.pt",
        lambda p: p["metrics"]["history"][0].__setitem__("val_nll", "low"),
        r"metrics\['history'\]\[0\]",
    ),
    (
        "epoch_str.pt",
        lambda p: p["metrics"].__setitem__("epoch", "3"),
        r"metrics\['epoch'\] is '3', expected a whole",
    ),
    ("epoch_neg.pt", lambda p: p["metrics"].__setitem__("best_epoch", -1), r"metrics\['best_epoch'\] is -1"),
    (
        "best_val_nan.pt",
        lambda p: p["metrics"].__setitem__("best_val", float("nan")),
        r"metrics\['best_val'\] is nan",
    ),
    (
        "nan_logits.pt",
        _nan_logits,
        r"holds non-finite model parameters \(prior\.logits; the run diverged before it was saved\?\)",
    ),
    ("inf_weight.pt", _inf_weight, r"holds non-finite model parameters \(encoder\.net\.0\.weight;"),
]


@pytest.mark.parametrize("name,change,message", BAD, ids=[b[0] for b in BAD])
def test_bad_contents_are_one_line_checkpoint_errors(tmp_path, name, change, message):
    path = _tampered(tmp_path, name, change)
    # load_checkpoint (sample, evaluate, the app) and read_checkpoint (train --resume) both refuse it
    for load in (load_checkpoint, read_checkpoint):
        with pytest.raises(CheckpointError) as exc:
            load(path)
        text = str(exc.value)
        assert text.startswith(str(path)) and "\n" not in text
        assert re.search(message, text), text


@pytest.mark.parametrize(
    "name,change",
    [
        ("metrics_list.pt", _set("metrics", [1, 2])),
        ("model_list.pt", _set("model", [1, 2])),
        ("nan_logits.pt", _nan_logits),
        ("optimizer_list.pt", _set("optimizer", [1, 2])),
    ],
)
def test_resuming_from_bad_contents_raises_checkpoint_error(tmp_path, tiny_splits, name, change):
    path = _tampered(tmp_path, name, change)
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        Trainer(CONFIG, tiny_splits, tmp_path / "out", resume_from=path)


@pytest.mark.parametrize(
    "name,change,expected",
    [
        ("metrics_list.pt", _set("metrics", [1, 2]), "'metrics' is a list"),
        ("nan_logits.pt", _nan_logits, "non-finite model parameters"),
    ],
)
@pytest.mark.parametrize("command", ["evaluate", "sample"])
def test_cli_reports_bad_contents_without_a_traceback(tmp_path, capsys, name, change, expected, command):
    path = _tampered(tmp_path, name, change)
    args = (
        [command, str(path), "--limit-test", "10"]
        if command == "evaluate"
        else [command, str(path), "--out", str(tmp_path / "s.png")]
    )
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {path}") and expected in captured.err
    assert "Traceback" not in captured.err and "NaN" not in captured.out
    assert not (tmp_path / "s.png").exists()


def test_mismatched_model_is_a_one_line_error(tmp_path):
    other = RunConfig(DataConfig(), ModelConfig(hidden=8, latent_dim=4, components=3), CONFIG.train)
    path = _tampered(tmp_path, "mismatch.pt", _set("config", other.to_json()))
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert str(exc.value).startswith(str(path)) and "\n" not in str(exc.value)
    assert "encoder.net.0.weight" in str(exc.value) and "(16, 784)" in str(exc.value)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o002])
def test_saved_checkpoints_get_the_mode_of_a_new_file(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "model.pt", VAE(SMALL).state_dict(), CONFIG)
        (tmp_path / "plain.txt").write_text("x")  # what any other output gets
        assert os.umask(umask) == umask  # saving left the umask as it was
    finally:
        os.umask(old)
    assert _mode(path) == 0o666 & ~umask == _mode(tmp_path / "plain.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "plain.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX umask")
def test_current_umask_reads_without_changing(tmp_path):
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_trainer_outputs_share_one_mode(tmp_path, tiny_splits):
    old = os.umask(0o022)
    try:
        cfg = RunConfig(DataConfig(), SMALL, TrainConfig(epochs=1, device="cpu"))
        splits = replace(
            tiny_splits,
            train_images=tiny_splits.train_images[:64],
            val_images=tiny_splits.val_images[:32],
            test_images=tiny_splits.test_images[:32],
        )
        Trainer(cfg, splits, tmp_path).run()
    finally:
        os.umask(old)
    modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
    assert {"model.pt", "last.pt", "config.json", "metrics.csv"} <= set(modes)
    assert set(modes.values()) == {0o644}, modes
    # what the trainer wrote passes the checks on the way back in
    load_checkpoint(tmp_path / "model.pt")
    assert Trainer(cfg, splits, resume_from=tmp_path / "last.pt").start_epoch == 2


def test_a_flipped_byte_in_the_weights_is_refused(tmp_path):
    """Find the bytes of one weight inside the saved zip and flip one: torch would load the
    changed value silently; the stored checksum turns it into a clear error."""
    import zipfile

    path = _good(tmp_path)
    load_checkpoint(path)
    payload = torch.load(path, weights_only=True)
    target = payload["model"]["decoder.net.2.weight"].contiguous().view(torch.uint8).numpy().tobytes()
    blob = bytearray(path.read_bytes())
    at = blob.find(target[:64])
    assert at > 0 and zipfile.is_zipfile(path)
    blob[at + 10] ^= 0x01
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(blob))
    changed = torch.load(flipped, weights_only=True)  # torch itself does not notice
    assert not torch.equal(changed["model"]["decoder.net.2.weight"], payload["model"]["decoder.net.2.weight"])
    with pytest.raises(CheckpointError, match="does not match its checksum") as exc:
        load_checkpoint(flipped)
    assert "\n" not in str(exc.value) and "flipped.pt" in str(exc.value)
    assert main(["sample", str(flipped), "--out", str(tmp_path / "s.png")]) == 2
