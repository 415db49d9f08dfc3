"""The edges of a run folder (issue 23, items 1-3 and 5-7): --overwrite, the clean-up of
temporary files, a resumed run, the writability probe and a stale lock never touch or misreport
what lies beyond the folder they were asked about."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from faulthelpers import FAST, copy_run, one_line_error, snapshot

from vae_explorer.cli import main
from vae_explorer.core import events as ev
from vae_explorer.core.runlock import LOCK_NAME, RunFolderLock, probably_busy
from vae_explorer.core.runs import read_run

RESULTS = ("outcome.json", "evaluation.json", "test_loss.txt", "real_images.png", "nll_val_curve.pdf")


# -- 1. --overwrite follows no symlink ------------------------------------------------------------------
def test_overwrite_leaves_a_symlinked_lr_folder_and_its_target_alone(base_run, tmp_path, capsys):
    elsewhere = copy_run(base_run, tmp_path / "elsewhere" / "run")
    (elsewhere / "notes.txt").write_text("mine")
    before = snapshot(elsewhere)
    run = copy_run(base_run, tmp_path / "run")
    (run / "lr_0.5").symlink_to(elsewhere, target_is_directory=True)
    assert main(["train", *FAST, "--overwrite", "--out", str(run)]) == 0
    assert snapshot(elsewhere) == before  # nothing outside --out was deleted
    assert (run / "lr_0.5").is_symlink()  # not ours: the link stays, and is named
    kept = [line for line in capsys.readouterr().out.splitlines() if line.startswith("kept in")]
    assert kept and "lr_0.5" in kept[0] and "notes.txt" not in kept[0]


def test_a_comparison_never_trains_through_a_symlinked_lr_folder(base_run, tmp_path, capsys):
    """--overwrite leaves an lr_* link alone; a comparison whose rate has that folder's name must
    then not train through the link into the run it points to: refused, with or without
    --overwrite, before anything is removed."""
    elsewhere = copy_run(base_run, tmp_path / "elsewhere" / "run")
    before = snapshot(elsewhere)
    q = tmp_path / "q"
    q.mkdir()
    (q / "lr_0.001").symlink_to(elsewhere, target_is_directory=True)
    (q / "notes.txt").write_text("mine")
    for extra in (["--overwrite"], []):
        code = main(["train", *FAST, "--lr", "1e-3", "--lr", "2e-3", *extra, "--out", str(q)])
        assert code == 2
        err = one_line_error(capsys.readouterr().err)
        if extra:  # without --overwrite, the lr_* folder already refuses the comparison
            assert "lr_0.001 is a symbolic link" in err and "never written through a link" in err
        assert snapshot(elsewhere) == before
        assert sorted(p.name for p in q.iterdir()) == ["lr_0.001", "notes.txt"]


def test_overwrite_gives_the_new_run_its_own_name(run_copy, capsys):
    """The app's Rename writes name.txt: --overwrite replaces it with the run it replaces, so the
    new run is not shown under the old run's name."""
    from vae_explorer.core.runs import rename_run

    rename_run(read_run(run_copy), "the old run, lr 1e-3")
    assert main(["train", *FAST, "--overwrite", "--out", str(run_copy)]) == 0
    assert not (run_copy / "name.txt").exists() and read_run(run_copy).name == run_copy.name
    assert "name.txt" not in capsys.readouterr().out


def test_overwrite_never_deletes_through_a_symlinked_file(base_run, tmp_path):
    precious = tmp_path / "precious.json"
    precious.write_text('{"mine": true}')
    run = copy_run(base_run, tmp_path / "run")
    (run / "evaluation.json").unlink()
    (run / "evaluation.json").symlink_to(precious)
    assert main(["train", *FAST, "--overwrite", "--out", str(run)]) == 0
    assert precious.read_text() == '{"mine": true}'


# -- 2. --overwrite on a parent clears a child only under that child's lock -----------------------------
def test_overwrite_of_a_parent_never_touches_a_running_child(base_run, tmp_path, capsys):
    q = tmp_path / "q"
    child = copy_run(base_run, q / "lr_0.001")
    before = snapshot(child)
    with RunFolderLock(child):  # a run is training there
        code = main(["train", *FAST, "--lr", "1e-3", "--lr", "2e-3", "--overwrite", "--out", str(q)])
        after = snapshot(child)
    assert code == 2
    assert "being written by another" in one_line_error(capsys.readouterr().err)
    assert after == before  # refused before anything was removed


# -- 3. temporaries are cleaned only in folders whose lock is held ------------------------------------
def test_cleanup_leaves_the_temporaries_of_a_neighbour_alone(tmp_path):
    x = tmp_path / "X"
    live = x / "lr_0.001"
    live.mkdir(parents=True)
    writing = live / ".last.pt.abcd1234.tmp"
    writing.write_bytes(b"a checkpoint being written")
    away = tmp_path / "away"
    away.mkdir()
    other = away / ".model.pt.zz99yy88.tmp"
    other.write_bytes(b"another program's folder")
    (x / "lr_0.01").symlink_to(away, target_is_directory=True)
    with RunFolderLock(live):
        # refused (X holds a comparison), but only after looking at the folder
        assert main(["train", *FAST, "--out", str(x)]) == 2
    assert writing.read_bytes() == b"a checkpoint being written"
    assert other.read_bytes() == b"another program's folder"


# -- 5. a resumed run invalidates the results it supersedes --------------------------------------------
def _spy_on_first_epoch(monkeypatch, folder: Path) -> list[dict]:
    """What a reader sees in `folder` when the resumed run's first epoch ends (before its new
    best model, if any, is saved)."""
    from vae_explorer.cli.console import EventPrinter

    seen: list[dict] = []
    original = EventPrinter.__call__

    def spy(self, event):
        if isinstance(event, ev.EpochEnd) and not seen:
            run = read_run(folder)
            saved = torch.load(folder / "model.pt", weights_only=True)
            seen.append(
                {
                    "status": run.status if run else None,
                    "test_nll": run.test_nll if run else None,
                    "present": [name for name in RESULTS if (folder / name).exists()],
                    "model hidden": json.loads(saved["config"])["model"]["hidden"],
                }
            )
        original(self, event)

    monkeypatch.setattr(EventPrinter, "__call__", spy)
    return seen


def test_a_resumed_run_never_shows_the_previous_results(run_copy, monkeypatch):
    assert json.loads((run_copy / "outcome.json").read_text())["status"] == "done"
    seen = _spy_on_first_epoch(monkeypatch, run_copy)
    assert (
        main(["train", "--resume", str(run_copy / "last.pt"), "--epochs", "3", "--out", str(run_copy)]) == 0
    )
    assert seen == [{"status": "running", "test_nll": None, "present": [], "model hidden": 64}]
    outcome = json.loads((run_copy / "outcome.json").read_text())
    assert outcome["epochs"] == 3  # the new run's, once it has ended


def test_resume_into_a_replaced_folder_leaves_nothing_of_the_old_run(base_run, tmp_path, monkeypatch):
    a = tmp_path / "a"  # a finished run of other settings (hidden 32), replaced by --overwrite
    assert main(["train", *FAST, "--out", str(a)]) == 0
    b = copy_run(base_run, tmp_path / "b")  # the run resumed into a's folder (hidden 64)
    seen = _spy_on_first_epoch(monkeypatch, a)
    code = main(["train", "--resume", str(b / "last.pt"), "--epochs", "3", "--overwrite", "--out", str(a)])
    assert code == 0
    assert seen == [{"status": "running", "test_nll": None, "present": [], "model hidden": 64}]


# -- 6. the writability probe ---------------------------------------------------------------------------
def test_the_writability_probe_follows_no_symlink(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".write-test").symlink_to(precious)
    assert main(["train", *FAST, "--out", str(out)]) == 0
    assert precious.read_text() == "precious"


PROBES = """
import sys
from pathlib import Path
from vae_explorer.cli.args import UserError, ensure_writable_dir
failed = 0
for _ in range(int(sys.argv[2])):
    try:
        ensure_writable_dir(Path(sys.argv[1]))
    except Exception:
        failed += 1
print(failed)
"""


def test_probes_of_one_folder_at_once_never_fail(tmp_path):
    folder = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROBES, str(folder), "1500"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    failures = [int(p.communicate(timeout=300)[0]) for p in procs]
    assert failures == [0, 0, 0, 0]
    assert list(folder.iterdir()) == []  # and no probe is left behind


# -- 7. a stale lock whose PID names another, live process ---------------------------------------------
def test_a_stale_lock_naming_a_live_process_is_not_running(run_copy):
    (run_copy / "outcome.json").unlink()  # killed mid-run: no outcome
    (run_copy / LOCK_NAME).write_text(f"{os.getpid()}\n")  # its PID, reused by a live process
    assert not probably_busy(run_copy)
    assert read_run(run_copy).status != "running"
    with RunFolderLock(run_copy):  # and a live writer is still seen
        assert probably_busy(run_copy)


# -- 9. a failed --resume leaves no empty --out -------------------------------------------------------
def test_a_failed_resume_leaves_no_empty_out_folder(run_copy, tmp_path, capsys):
    from vae_explorer.core.checkpoint import run_config_of, save_checkpoint

    # a last.pt whose best epoch (1) is in a model.pt that is gone: resuming it fails in the trainer
    last = torch.load(run_copy / "last.pt", weights_only=True)
    metrics = {**last["metrics"], "best_epoch": 1}
    config = run_config_of(last, run_copy / "last.pt")
    save_checkpoint(run_copy / "last.pt", last["model"], config, metrics, last["optimizer"], last["rng"])
    (run_copy / "model.pt").unlink()
    out = tmp_path / "new" / "out"
    code = main(["train", "--resume", str(run_copy / "last.pt"), "--epochs", "4", "--out", str(out)])
    assert code == 2 and "model.pt" in one_line_error(capsys.readouterr().err)
    assert not out.exists() and not out.parent.exists()
