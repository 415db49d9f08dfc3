"""The run catalogue: every run folder under a root, read back from the files the writer left."""

import json
import math
import os

import pytest

from vae_explorer.cli import main
from vae_explorer.core.runlock import LOCK_NAME, RunFolderLock
from vae_explorer.core.runs import differing_settings, find_runs, read_run, rename_run

TINY = ["--limit-train", "200", "--limit-val", "50", "--limit-test", "50", "--hidden", "32"]
TINY += ["--latent-dim", "4", "--components", "3", "--epochs", "2", "--eval-budget", "0"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    assert main(["train", *TINY, "--out", str(root / "single")]) == 0
    assert main(["train", *TINY, "--lr", "1e-3", "--lr", "5e-3", "--out", str(root / "queue")]) == 0
    return root


def test_every_run_folder_is_found_with_what_its_files_say(root):
    runs = find_runs(root)
    names = sorted(r.name for r in runs)
    assert names == ["queue/lr_0.001", "queue/lr_0.005", "single"]
    for run in runs:
        with open(run.folder / "metrics.csv") as f:
            rows = f.read().splitlines()[1:]
        vals = [float(line.split(",")[2]) for line in rows]
        assert run.epochs == len(vals) == 2
        assert run.best_val == min(vals) and run.best_epoch == vals.index(min(vals)) + 1
        outcome = json.loads((run.folder / "outcome.json").read_text())
        assert run.status == outcome["status"] == "done" and run.reason == "max epochs"
        test = float((run.folder / "test_loss.txt").read_text())
        assert run.test_nll == pytest.approx(test, abs=1e-4)
        assert run.checkpoint == run.folder / "model.pt"
    lrs = {r.name: r.lr for r in runs}
    assert lrs["queue/lr_0.005"] == 5e-3


def test_differing_settings_name_the_rate_and_what_differs(root, tmp_path):
    runs = find_runs(root)
    shown = differing_settings(runs)
    assert shown[next(r.key for r in runs if r.name == "queue/lr_0.005")] == "lr=0.005"
    # a run with other settings: those are named too
    import shutil

    other = tmp_path / "other"
    shutil.copytree(root / "single", other)
    config = json.loads((other / "config.json").read_text())
    config["model"]["mixture_weights"] = "uniform"
    config["train"]["kl_warmup"] = 3
    (other / "config.json").write_text(json.dumps(config))
    runs = find_runs(root, extra=[other])
    shown = differing_settings(runs)
    assert shown[read_run(other).key] == "lr=0.001, warm-up 3, uniform weights"
    assert shown[read_run(root / "single").key] == "lr=0.001, warm-up 0, learnable weights"
    # the budget and the data sizes count as settings too
    config["train"]["epochs"] = 7
    config["data"]["limit_val"] = 49
    config["data"]["limit_test"] = None
    (other / "config.json").write_text(json.dumps(config))
    shown = differing_settings(find_runs(root, extra=[other]))
    assert shown[read_run(other).key].endswith("max 7 epochs, uniform weights, 49 validation, all test")


def test_rename_travels_with_the_folder_and_an_empty_name_restores_it(root, tmp_path):
    import shutil

    folder = tmp_path / "r"
    shutil.copytree(root / "single", folder)
    run = read_run(folder)
    rename_run(run, "  my   best\nrun ")
    assert run.name == "my best run" and read_run(folder).name == "my best run"
    rename_run(run, "")
    assert run.name == "r" and read_run(folder).name == "r" and not (folder / "name.txt").exists()


def test_unreadable_and_partial_folders(root, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(root / "single", bad)
    (bad / "config.json").write_text("{ not json")
    unreadable = read_run(bad)  # listed, with what is wrong, instead of hidden
    assert unreadable.status == "unreadable" and unreadable.config is None
    assert unreadable.problem.startswith("config.json: is not valid JSON")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_run(empty) is None
    # a run killed mid-way: no outcome.json, no live writer -> incomplete
    killed = tmp_path / "killed"
    shutil.copytree(root / "single", killed)
    (killed / "outcome.json").unlink()
    (killed / "test_loss.txt").unlink()
    (killed / LOCK_NAME).write_text("999999999\n")  # a process that does not exist
    assert read_run(killed).status == "incomplete"
    # a live writer holds it -> running
    with RunFolderLock(killed):
        assert (killed / LOCK_NAME).read_text().strip() == str(os.getpid())
        assert read_run(killed).status == "running"
    assert find_runs(tmp_path / "absent") == []
    runs = [r for r in find_runs(tmp_path) if r.readable]
    assert {r.folder.name for r in runs} == {"killed"}
    assert {r.folder.name for r in find_runs(tmp_path) if not r.readable} == {"bad"}
    # a run that ended before outcome.json existed: its test_loss.txt says it finished
    old = tmp_path / "old"
    shutil.copytree(root / "single", old)
    (old / "outcome.json").unlink()
    assert read_run(old).status == "finished" and read_run(old).test_nll is not None
    assert not math.isinf(runs[0].best_val)


def test_a_sweep_of_thousands_of_runs_keeps_its_colours_and_writes_them_once(tmp_path, monkeypatch):
    """A sweep may list 10,000 trials: each kept its colour only while fewer than 2,000 runs were
    known (a run forgotten and asked again can change colour), and each new run wrote the file."""
    import vae_explorer.core.colours as colours
    from vae_explorer.core.sweep import MAX_TRIALS

    writes = []
    real = colours.atomic_write_text
    monkeypatch.setattr(
        colours, "atomic_write_text", lambda path, text: writes.append(path) or real(path, text)
    )
    book = colours.ColourBook(tmp_path / "run-colours.json")
    keys = [f"/runs/sweep/trial-{i:05d}" for i in range(MAX_TRIALS)]
    with book.batch():
        first = [book.colour(k) for k in keys]
    assert len(writes) == 1
    again = colours.ColourBook(tmp_path / "run-colours.json")  # the next session
    with again.batch():
        assert [again.colour(k) for k in keys] == first
    assert len(writes) == 1  # nothing new: nothing written
    assert colours.MAX_KEPT >= 2 * MAX_TRIALS
