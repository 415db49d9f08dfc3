"""What a checkpoint or classifier file says is believed only when it is whole (issue 23 item 4,
issue 22's checkpoint part): a checksum over the whole content, one-line refusals, the user's
broken classifier never hiding the bundled one."""

from __future__ import annotations

import datetime
import io
import json
import zipfile

import pytest
import torch
from faulthelpers import one_line_error, snapshot
from helpers import cli, old_checkpoint

from vae_explorer.cli import main
from vae_explorer.core.checkpoint import CheckpointError, load_checkpoint, read_checkpoint


def flip(path, needle: bytes, offset: int, bit: int, target):
    """A copy of `path` with one bit flipped at `offset` into the first `needle` in its bytes."""
    blob = bytearray(path.read_bytes())
    at = blob.find(needle)
    assert at >= 0, needle
    blob[at + offset] ^= 1 << bit
    target.write_bytes(bytes(blob))
    return target


def resave(path, change, target):
    """A copy of `path` whose loaded payload was changed and saved again by plain torch.save:
    what a flipped bit that torch does not notice (it checks no zip CRC) amounts to."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    change(payload)
    torch.save(payload, target)
    return target


def _rng(p):
    state = next(iter(p["rng"].values()))
    state[100] ^= 0x04


def _optimizer(p):
    state = next(iter(p["optimizer"]["state"].values()))
    state["exp_avg"].view(-1)[0] += 1.0


def _metrics(p):
    p["metrics"]["best_val"] -= 10.0


FLIPS = {  # the changes the hostile pass saw accepted
    "lr 0.001 -> 8.001": (b'"lr": 0.001', 6, 3),
    "batch_size 32 -> 22": (b'"batch_size": 32', 14, 0),
    "limit_test 300 -> 100": (b'"limit_test": 300', 14, 1),
    '"data" -> "dcta"': (b'"data": {', 2, 1),
}
CHANGES = {
    "metrics": _metrics,
    "optimizer": _optimizer,
    "rng": _rng,
    "no checksum": lambda p: p.pop("checksum"),
}


@pytest.mark.parametrize("what", list(FLIPS))
def test_a_flipped_bit_in_the_settings_is_refused(base_run, tmp_path, what):
    needle, offset, bit = FLIPS[what]
    for name in ("model.pt", "last.pt"):
        damaged = flip(base_run / name, needle, offset, bit, tmp_path / name)
        for load in (read_checkpoint, load_checkpoint):
            with pytest.raises(CheckpointError) as exc:
                load(damaged)
            assert "\n" not in str(exc.value) and str(damaged) in str(exc.value)


@pytest.mark.parametrize("what", list(CHANGES))
def test_a_changed_state_or_a_missing_checksum_is_refused(base_run, tmp_path, what):
    damaged = resave(base_run / "last.pt", CHANGES[what], tmp_path / "last.pt")
    with pytest.raises(CheckpointError) as exc:
        read_checkpoint(damaged)
    assert "\n" not in str(exc.value)


def test_a_flipped_last_pt_is_not_resumed(run_copy, tmp_path, capsys):
    before = snapshot(run_copy)
    damaged = flip(run_copy / "last.pt", b'"lr": 0.001', 6, 3, tmp_path / "last.pt")
    (run_copy / "last.pt").write_bytes(damaged.read_bytes())
    before["last.pt"] = damaged.read_bytes()
    code = main(["train", "--resume", str(run_copy / "last.pt"), "--epochs", "4", "--out", str(run_copy)])
    assert code == 2 and "checksum" in one_line_error(capsys.readouterr().err)
    assert snapshot(run_copy) == before  # config.json was not rewritten at lr 8.001


def test_a_file_older_than_the_checksum_needs_accept_unchecked(base_run, tmp_path, capsys):
    old = old_checkpoint(base_run / "model.pt", tmp_path / "old.pt")
    png = tmp_path / "s.png"
    assert main(["sample", str(old), "--out", str(png)]) == 2
    assert "--accept-unchecked" in one_line_error(capsys.readouterr().err) and not png.exists()
    assert main(["sample", str(old), "--accept-unchecked", "--out", str(png)]) == 0
    captured = capsys.readouterr()
    assert "warning" in one_line_error(captured.err) and png.is_file()
    # a newer file without its checksum is refused even then
    damaged = resave(base_run / "model.pt", CHANGES["no checksum"], tmp_path / "new.pt")
    assert main(["sample", str(damaged), "--accept-unchecked", "--out", str(tmp_path / "t.png")]) == 2
    one_line_error(capsys.readouterr().err)


def test_a_checkpoint_that_is_a_symlink_loop_says_so(tmp_path, capsys):
    loop = tmp_path / "model.pt"
    loop.symlink_to(loop)
    with pytest.raises(CheckpointError, match="symbolic link") as exc:
        read_checkpoint(loop)
    assert "does not exist" not in str(exc.value)
    assert main(["evaluate", str(loop)]) == 2
    assert "symbolic link" in one_line_error(capsys.readouterr().err)


def with_pickle_protocol(path, protocol: int, target):
    """A copy of `path` whose pickle announces another protocol: a damaged byte that torch warns
    about (it would load the rest), while the content, and so its checksum, is unchanged."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as copy:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("/data.pkl"):
                assert data[0] == 0x80  # PROTO opcode, then the protocol's number
                data = data[:1] + bytes([protocol]) + data[2:]
            copy.writestr(name, data)
    target.write_bytes(out.getvalue())
    return target


def test_torch_warnings_on_a_damaged_pickle_do_not_reach_the_user(base_run, tmp_path):
    """On stderr the user sees our one line or nothing, never torch's warning about the pickle."""
    intact = with_pickle_protocol(base_run / "model.pt", 37, tmp_path / "intact.pt")
    old = with_pickle_protocol(
        old_checkpoint(base_run / "model.pt", tmp_path / "o.pt"), 226, tmp_path / "old.pt"
    )
    runs = {"loads": cli("evaluate", str(intact), "--limit-test", "8"), "refused": cli("evaluate", str(old))}
    (out, err), code = runs["loads"].communicate(timeout=120), runs["loads"].returncode
    assert code == 0 and err == "" and "test negative ELBO" in out, (code, err)
    (out, err), code = runs["refused"].communicate(timeout=120), runs["refused"].returncode
    assert code == 2 and "--accept-unchecked" in one_line_error(err), (code, err)


# -- the classifier FID and IS are measured with ----------------------------------------------------
def _user_classifier(isolated_user_dirs):
    from vae_explorer.core.evaluation import user_classifier_path

    path = user_classifier_path("mnist")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _wrong_shapes(path):
    from vae_explorer.core.classifier import FORMAT, DigitClassifier

    state = {k: v.clone() for k, v in DigitClassifier().state_dict().items()}
    state["body.0.weight"] = torch.zeros(16, 1, 3, 3)
    torch.save({"format": FORMAT, "dataset": "mnist", "test_accuracy": 0.5, "state": state}, path)


def _negative_variance(path):
    """Finite weights of the right shapes whose BatchNorm variance is negative: every feature NaN."""
    from vae_explorer.core.classifier import FORMAT, DigitClassifier

    state = {k: v.clone() for k, v in DigitClassifier().state_dict().items()}
    state["body.1.running_var"][:] = -1.0
    torch.save({"format": FORMAT, "dataset": "mnist", "test_accuracy": 0.5, "state": state}, path)


JUNK = {
    "random bytes": lambda path: path.write_bytes(bytes(range(256)) * 40),
    "a pickled object": lambda path: torch.save({"state": datetime.date(2026, 1, 1)}, path),
    "wrong shapes": _wrong_shapes,
    "a negative variance": _negative_variance,
}


@pytest.mark.parametrize("junk", list(JUNK))
def test_a_broken_user_classifier_falls_back_to_the_bundled_one(base_run, isolated_user_dirs, capsys, junk):
    JUNK[junk](_user_classifier(isolated_user_dirs))
    code = main(["evaluate", str(base_run / "model.pt"), "--fid", "--limit-test", "64", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["fid"] is not None  # measured with the bundled classifier
    note = one_line_error(captured.err)
    assert note.startswith("note:") and "classifiers/mnist.pt" in note and "bundled" in note
    assert "weights_only" not in note


def test_wrong_classifier_shapes_give_the_whole_reason(tmp_path):
    from vae_explorer.core.classifier import ClassifierError, load_classifier

    _wrong_shapes(tmp_path / "c.pt")
    with pytest.raises(ClassifierError) as exc:
        load_classifier(tmp_path / "c.pt")
    text = str(exc.value)
    assert "\n" not in text and "body.0.weight" in text and "(16, 1, 3, 3)" in text, text
    assert not text.rstrip().endswith(":")


# -- resuming: what last.pt and the model.pt beside it say is checked before training ----------------
def _resigned(path, change, target):
    """A copy of `path` changed and signed again: a crafted file whose checksum holds."""
    from vae_explorer.core.checkpoint import signed

    payload = torch.load(path, map_location="cpu", weights_only=True)
    change(payload)
    torch.save(signed(payload), target)
    return target


@pytest.mark.parametrize(
    ("key", "value"),
    [("lr_factor", "x"), ("lr_factor", float("nan")), ("lr_factor", -0.5), ("plateau_stale", 2.5)],
)
def test_the_plateau_state_of_last_pt_is_checked(base_run, tmp_path, capsys, key, value):
    crafted = _resigned(
        base_run / "last.pt", lambda p: p["metrics"].update({key: value}), tmp_path / "last.pt"
    )
    with pytest.raises(CheckpointError, match=f"metrics\\['{key}'\\]"):
        read_checkpoint(crafted)
    out = tmp_path / "out"
    assert main(["train", "--resume", str(crafted), "--epochs", "3", "--out", str(out)]) == 2
    assert key in one_line_error(capsys.readouterr().err)


def test_a_model_pt_of_another_model_beside_last_pt_is_refused_before_training(base_run, tmp_path, capsys):
    """last.pt's best epoch lies in the model.pt beside it; one of other shapes (or settings) is
    refused at once, instead of failing when the run ends."""
    folder = tmp_path / "run"
    folder.mkdir()
    last = torch.load(base_run / "last.pt", map_location="cpu", weights_only=True)
    last["metrics"]["best_epoch"] = last["metrics"]["epoch"] - 1  # the best is in model.pt

    def other_model(p):
        p["metrics"]["epoch"] = last["metrics"]["best_epoch"]
        p["model"] = {k: torch.zeros(3) for k in p["model"]}

    from vae_explorer.core.checkpoint import signed

    torch.save(signed(last), folder / "last.pt")
    _resigned(base_run / "model.pt", other_model, folder / "model.pt")
    before = snapshot(folder)
    code = main(["train", "--resume", str(folder / "last.pt"), "--epochs", "4", "--out", str(folder)])
    assert code == 2 and "model.pt" in one_line_error(capsys.readouterr().err)
    assert snapshot(folder) == before


def test_a_classifier_file_with_a_damaged_pickle_header_loads_without_torch_warnings(tmp_path):
    """The classifier is read through the same quiet load as checkpoints: torch's warning about an
    unknown pickle protocol does not reach the user."""
    import warnings

    from vae_explorer.core.classifier import FORMAT, DigitClassifier, load_classifier

    state = DigitClassifier().state_dict()
    torch.save(
        {"format": FORMAT, "dataset": "mnist", "test_accuracy": 0.5, "state": state}, tmp_path / "c.pt"
    )
    damaged = with_pickle_protocol(tmp_path / "c.pt", 37, tmp_path / "d.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, info = load_classifier(damaged)
    assert info.dataset == "mnist"
    assert not [w for w in caught if "pickle protocol" in str(w.message)], [str(w.message) for w in caught]
