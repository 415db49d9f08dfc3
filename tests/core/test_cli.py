"""The headless command line: outputs, several learning rates, sample/evaluate, and bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from vae_explorer.cli import main

TINY = [
    "--limit-train",
    "300",
    "--limit-val",
    "100",
    "--limit-test",
    "100",
    "--hidden",
    "64",
    "--latent-dim",
    "8",
    "--components",
    "4",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "2", *TINY, "--out", str(out)]) == 0
    return out


def test_train_writes_every_output(trained, capsys):
    for name in (
        "config.json",
        "metrics.csv",
        "model.pt",
        "real_images.png",
        "real_images.pdf",
        "generated_images.png",
        "generated_images.pdf",
        "nll_val_curve.png",
        "nll_val_curve.pdf",
        "test_loss.txt",
    ):
        assert (trained / name).stat().st_size > 0, name
    for name in ("real_images.png", "generated_images.png", "nll_val_curve.png"):
        with Image.open(trained / name) as im:
            im.verify()
    for name in ("real_images.pdf", "generated_images.pdf", "nll_val_curve.pdf"):
        assert (trained / name).read_bytes().startswith(b"%PDF")
    assert json.loads((trained / "config.json").read_text())["train"]["lr"] == 1e-3
    # the end-of-run evaluation of the best model, beside it
    evaluation = json.loads((trained / "evaluation.json").read_text())
    assert evaluation["epoch"] == 2 and evaluation["checkpoint"] == str(trained / "model.pt")
    assert evaluation["neg_elbo"] == pytest.approx(float((trained / "test_loss.txt").read_text()), abs=1e-3)
    assert evaluation["iw_samples"] >= 1 and evaluation["iw_nll"] is not None  # within the time budget
    has_classifier = evaluation["fid"] is not None
    assert has_classifier or "classifier" in evaluation["notes"][0]


def test_end_of_run_evaluation_takes_a_fixed_sample_count_or_none(tmp_path, capsys):
    assert (
        main(["train", "--epochs", "1", *TINY, "--eval-iw-samples", "7", "--out", str(tmp_path / "a")]) == 0
    )
    assert json.loads((tmp_path / "a" / "evaluation.json").read_text())["iw_samples"] == 7
    assert main(["train", "--epochs", "1", *TINY, "--eval-budget", "0", "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert json.loads((tmp_path / "b" / "evaluation.json").read_text())["iw_nll"] is None
    assert "evaluation: test neg ELBO=" in out


def test_train_output_lines(tmp_path, capsys):
    assert main(["train", "--epochs", "2", *TINY, "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("FINAL LOSS: nll=")
    nll = float(lines[-1].split("=")[1])
    assert nll == pytest.approx(float((tmp_path / "test_loss.txt").read_text()), abs=1e-3)
    assert any(line.startswith("epoch 2  val nll=") and "best=" in line for line in lines)


def test_several_learning_rates(tmp_path, capsys):
    assert (
        main(["train", "--epochs", "1", *TINY, "--lr", "1e-3", "--lr", "1e-2", "--out", str(tmp_path)]) == 0
    )
    for sub in ("lr_0.001", "lr_0.01"):
        assert (tmp_path / sub / "model.pt").is_file() and (tmp_path / sub / "nll_val_curve.png").is_file()
    assert (tmp_path / "nll_val_curves.png").is_file()
    assert (tmp_path / "nll_val_curves.pdf").read_bytes().startswith(b"%PDF")
    # the final figure is the test nll of the run that did best on validation, whichever came last
    best_val = {
        sub: min(float(r["val_nll"]) for r in read_metrics(tmp_path / sub)) for sub in ("lr_0.001", "lr_0.01")
    }
    best = min(best_val, key=best_val.get)
    final = capsys.readouterr().out.strip().splitlines()[-1]
    assert final == f"FINAL LOSS: nll={float((tmp_path / best / 'test_loss.txt').read_text()):.4f}"


def read_metrics(run_dir: Path) -> list[dict]:
    import csv

    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_a_diverged_rate_does_not_hide_the_others(tmp_path, capsys):
    args = ["train", "--epochs", "1", *TINY, "--optimizer", "sgd", "--lr", "1e-3", "--lr", "1e6"]
    assert main([*args, "--out", str(tmp_path)]) == 1  # a run diverged: exit 1, the best still reported
    out = capsys.readouterr()
    assert "diverged" in out.err
    expected = float((tmp_path / "lr_0.001" / "test_loss.txt").read_text())
    assert out.out.strip().splitlines()[-1] == f"FINAL LOSS: nll={expected:.4f}"
    assert not (tmp_path / "lr_1e+06" / "model.pt").exists()


def test_close_learning_rates_get_their_own_folders(tmp_path):
    lrs = ["0.0010000001", "0.0010000002"]
    assert (
        main(["train", "--epochs", "1", *TINY, "--lr", lrs[0], "--lr", lrs[1], "--out", str(tmp_path)]) == 0
    )
    for lr in lrs:
        assert json.loads((tmp_path / f"lr_{lr}" / "config.json").read_text())["train"]["lr"] == float(lr)


def test_sample_and_evaluate(trained, tmp_path, capsys):
    assert main(["sample", str(trained / "model.pt"), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    with Image.open(tmp_path / "s.png") as im:
        im.verify()
    assert (
        main(
            [
                "sample",
                str(trained / "model.pt"),
                "--component",
                "2",
                "--n",
                "8",
                "--out",
                str(tmp_path / "c.pdf"),
            ]
        )
        == 0
    )
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    assert (
        main(["sample", str(trained / "model.pt"), "--component", "9", "--out", str(tmp_path / "x.png")]) == 2
    )
    capsys.readouterr()
    assert main(["evaluate", str(trained / "model.pt"), "--limit-test", "100", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 100
    assert report["neg_elbo"] == pytest.approx(float((trained / "test_loss.txt").read_text()), abs=1e-2)
    assert report["neg_elbo"] == pytest.approx(report["reconstruction"] + report["kl"], abs=1e-3)
    for key in (
        "iw_nll",
        "iw_nll_stderr",
        "iw_samples",
        "fid",
        "fid_floor",
        "inception_score",
        "inception_score_std",
        "class_histogram",
    ):
        assert report[key] is None  # stable keys: not asked for, so null
    assert isinstance(report["active_units"], int) and isinstance(report["components_in_use"], int)


@pytest.mark.parametrize(
    "args",
    [
        ["--lr", "0"],
        ["--lr", "-1"],
        ["--lr", "nan"],
        ["--lr", "abc"],
        ["--batch-size", "0"],
        ["--components", "0"],
        ["--optimizer", "foo"],
        ["--epochs", "0"],
    ],
)
def test_impossible_settings_are_usage_errors(args, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", *args, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "model.pt").exists()


def test_missing_data_root(tmp_path, capsys):
    assert main(["train", "--data-root", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "none") in err and "Traceback" not in err


def test_unwritable_out_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", *TINY, "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr()
    assert "cannot write" in err.err and "epoch" not in err.out


def test_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    assert main(["sample", str(bad), "--out", str(tmp_path / "s.png")]) == 2
    assert main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.pt" in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also where a GPU is present
    with pytest.raises(SystemExit) as exc:
        main(["train", *TINY, "--device", "cuda", "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: vae-explorer train") and "no CUDA device" in err


def test_module_entry_point_in_a_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vae_explorer", "train", "--epochs", "1", *TINY, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("FINAL LOSS: nll=")
    bad = subprocess.run(
        [sys.executable, "-m", "vae_explorer", "evaluate", str(tmp_path / "nope.pt")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def test_diverged_run_is_an_error_without_a_model(tmp_path, capsys):
    assert (
        main(["train", *TINY, "--epochs", "2", "--optimizer", "sgd", "--lr", "1e6", "--out", str(tmp_path)])
        == 1
    )
    captured = capsys.readouterr()
    assert "diverged" in captured.err and "FINAL LOSS" not in captured.out
    assert "there is no checkpoint" in captured.err and "is kept" not in captured.err
    assert not (tmp_path / "model.pt").exists()


def test_console_script(tmp_path):
    script = Path(sys.executable).with_name("vae-explorer")
    if not script.is_file():
        pytest.skip("the vae-explorer console script is not installed beside this interpreter")
    proc = subprocess.run(
        [str(script), "train", "--data-root", str(tmp_path / "absent"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert str(tmp_path / "absent") in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_sleep_when_idle_unless_told_otherwise(tmp_path, given, expected):
    """The CLI sets OMP_WAIT_POLICY before torch (and with it OpenMP) is loaded; a user's value wins."""
    code = (
        "import os, sys\n"
        "from vae_explorer.cli import main\n"
        "assert 'torch' not in sys.modules\n"
        f"main(['evaluate', {str(tmp_path / 'nope.pt')!r}])\n"
        "assert 'torch' in sys.modules\n"
        "print(os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == expected


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_new_run_does_not_replace_a_saved_one(trained, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = files_of(run)
    assert main(["train", "--epochs", "1", *TINY, "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert files_of(run) == before
    # one of several rates landing on a saved run: refused before any run starts
    shutil.copytree(trained, tmp_path / "lrs" / "lr_0.01")
    assert (
        main(
            ["train", "--epochs", "1", *TINY, "--lr", "1e-3", "--lr", "1e-2", "--out", str(tmp_path / "lrs")]
        )
        == 2
    )
    assert not (tmp_path / "lrs" / "lr_0.001").exists()
    # --overwrite replaces the whole run: a new run that diverges leaves no old model behind
    args = [
        "train",
        "--epochs",
        "1",
        *TINY,
        "--optimizer",
        "sgd",
        "--lr",
        "1e6",
        "--overwrite",
        "--out",
        str(run),
    ]
    assert main(args) == 1
    assert not (run / "model.pt").exists() and not (run / "test_loss.txt").exists()
    assert json.loads((run / "config.json").read_text())["train"]["lr"] == 1e6


def test_resume_takes_the_checkpoint_settings(trained, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    saved = json.loads((run / "config.json").read_text())
    # only --epochs and a new --lr: the model, data limits and optimiser come from the checkpoint
    assert (
        main(["train", "--resume", str(run / "last.pt"), "--epochs", "3", "--lr", "5e-4", "--out", str(run)])
        == 0
    )
    resumed = json.loads((run / "config.json").read_text())
    assert resumed["model"] == saved["model"] and resumed["data"] == saved["data"]
    assert resumed["train"]["lr"] == 5e-4 and resumed["train"]["epochs"] == 3
    assert [int(r["epoch"]) for r in read_metrics(run)] == [1, 2, 3]
    last = torch.load(run / "last.pt", weights_only=True)
    assert {g["lr"] for g in last["optimizer"]["param_groups"]} == {5e-4}
    assert "FINAL LOSS" in capsys.readouterr().out


@pytest.mark.parametrize(
    "change, named",
    [
        (["--hidden", "32"], "--hidden"),
        (["--optimizer", "adam"], "--optimizer"),
        # the restored draws and optimiser state belong to these: config.json would record a lie
        (["--seed", "7"], "--seed"),
        (["--prior-init", "random"], "--prior-init"),  # the default places by k-means
        (["--kl-warmup", "5"], "--kl-warmup"),
        (["--schedule", "plateau"], "--schedule"),
    ],
)
def test_resume_refuses_another_model_or_optimiser(trained, tmp_path, capsys, change, named):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = files_of(run)
    assert main(["train", "--resume", str(run / "last.pt"), "--epochs", "3", *change, "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert named in err and "checkpoint" in err and "Traceback" not in err
    assert files_of(run) == before


def test_relative_data_root_is_saved_absolute(tmp_path, monkeypatch):
    from vae_explorer.assets import bundled_data_root

    monkeypatch.chdir(tmp_path)
    relative = os.path.relpath(bundled_data_root(), tmp_path)
    assert main(["train", "--epochs", "1", *TINY, "--data-root", relative, "--out", "run"]) == 0
    root = json.loads((tmp_path / "run" / "config.json").read_text())["data"]["root"]
    assert Path(root).is_absolute() and Path(root).resolve() == bundled_data_root().resolve()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--out", ""], "--out must name a folder"),
        (["train", *TINY, "--hidden", "100000000000", "--out", "{tmp}/o"], "too large"),
        (["train", *TINY, "--hidden", "1000000", "--out", "{tmp}/o"], "parameters"),
        (["train", "--seed", "99999999999999999999999", "--out", "{tmp}/o"], "--seed"),
        (["sample", "{model}", "--seed", "-1", "--out", "{tmp}/s.png"], "--seed"),
        (["sample", "{model}", "--out", "{tmp}/folder.png"], "is a folder"),
        # past int64 a size does not reach torch: it was a TypeError from torch.empty
        (["train", *TINY, "--hidden", "9223372036854775808", "--out", "{tmp}/o"], "too large"),
        (["evaluate", "{model}", "--iw-samples", "100001"], "at most 100000"),
        (["train", *TINY, "--eval-iw-samples", "10000000000", "--out", "{tmp}/o"], "at most 100000"),
        (["sweep", "--spec", "{model}", "--out", "{tmp}/w", "--plan"], "is not a text file"),
        (["sweep", "--spec", "{tmp}/fifo", "--out", "{tmp}/w", "--plan"], "not a regular file"),
        (["sweep", "--spec", "{tmp}/root.toml", "--out", "{tmp}/w", "--plan"], "data-root: give a folder"),
        (["sweep", "--seeds", "0-100000000000", "--out", "{tmp}/w", "--plan"], "more seeds than"),
        (["sweep", "--random", "3", "--range", "hidden=1:1e30", "--out", "{tmp}/w", "--plan"], "beyond any"),
        (
            ["train", *TINY, "--preset", "fast", "--epochs", "2", "--out", "{tmp}/o"],
            "must be shorter than the run",
        ),
        (
            ["sweep", "--grid", "epochs=2,8", "--preset", "fast", "--out", "{tmp}/w", "--plan"],
            "must be shorter",
        ),
        # train's memory check, for every trial, before Ray starts (a trial's worker died without it)
        (["sweep", "--grid", "hidden=32,100000000000", "--out", "{tmp}/w"], "[hidden=100000000000,seed=0]"),
    ],
)
def test_more_bad_input(trained, tmp_path, capsys, args, message):
    (tmp_path / "folder.png").mkdir()
    os.mkfifo(tmp_path / "fifo")  # a read would wait for a writer for ever
    (tmp_path / "root.toml").write_text("[base]\ndata-root = 5\n")
    args = [a.format(tmp=tmp_path, model=trained / "model.pt") for a in args]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse-style errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_closed_pipe_does_not_stop_the_run(tmp_path):
    """`vae-explorer train ... | head -1`: the run goes on and saves its model."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vae_explorer", "train", "--epochs", "3", *TINY, "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err
    assert first.startswith("training on") and "Traceback" not in err
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "test_loss.txt").is_file()


def test_a_closed_stderr_does_not_fail_a_run_that_saved(tmp_path):
    """`train ... 2>&1 | head -1`, or a terminal closed mid-run: the notes and warnings on stderr
    (here the end-of-run evaluation's: too few test images for an IS) meet a closed pipe. The run
    still finishes, evaluates and exits 0; the failed write made it exit 1 without evaluation.json."""
    args = ["train", "--epochs", "1", *TINY, "--limit-test", "50", "--out", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "vae_explorer", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    proc.stderr.close()
    assert proc.wait(timeout=300) == 0
    assert json.loads((tmp_path / "outcome.json").read_text())["status"] == "done"
    assert (tmp_path / "evaluation.json").is_file() and (tmp_path / "model.pt").is_file()


def test_runs_and_comparisons_do_not_mix_in_one_folder(trained, tmp_path, capsys):
    import shutil

    single = tmp_path / "single"
    shutil.copytree(trained, single)
    before = files_of(single)
    assert main(["train", "--epochs", "1", *TINY, "--lr", "1e-3", "--lr", "2e-3", "--out", str(single)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert files_of(single) == before and not list(single.glob("lr_*"))
    comparison = tmp_path / "comparison"
    (comparison / "lr_0.01").mkdir(parents=True)
    (comparison / "nll_val_curves.png").write_bytes(b"old overlay")
    for lrs in (["--lr", "1e-3"], ["--lr", "1e-3", "--lr", "2e-3"]):
        assert main(["train", "--epochs", "1", *TINY, *lrs, "--out", str(comparison)]) == 2
        assert "a comparison of learning rates" in capsys.readouterr().err
    # a run resumed from elsewhere does not join the comparison either
    resume = ["train", "--resume", str(trained / "last.pt"), "--epochs", "2", "--out", str(comparison)]
    assert main(resume) == 2
    assert "a comparison of learning rates" in capsys.readouterr().err
    assert (comparison / "nll_val_curves.png").read_bytes() == b"old overlay"
    assert sorted(p.name for p in comparison.iterdir()) == ["lr_0.01", "nll_val_curves.png"]


def test_a_folder_is_not_a_checkpoint(tmp_path, capsys):
    assert main(["sample", str(tmp_path), "--out", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err
    assert "is a folder, not a checkpoint file" in err and "Traceback" not in err


def test_evaluate_with_importance_samples_prints_a_table(trained, capsys):
    assert main(["evaluate", str(trained / "model.pt"), "--limit-test", "50", "--iw-samples", "20"]) == 0
    out = capsys.readouterr().out
    assert "IW-NLL (nats)" in out and "(S=20)" in out and "active latent units" in out
    assert (
        main(["evaluate", str(trained / "model.pt"), "--limit-test", "50", "--iw-samples", "20", "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["iw_samples"] == 20 and report["iw_nll"] <= report["neg_elbo"] + 3 * report["iw_nll_stderr"]
    assert report["gap"] == pytest.approx(report["neg_elbo"] - report["iw_nll"])


def test_evaluate_refuses_bad_requests_in_one_line(trained, capsys, monkeypatch, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(trained / "model.pt"), "--iw-samples", "0"])
    assert exc.value.code == 2 and "at least 1" in capsys.readouterr().err
    monkeypatch.setattr(
        "vae_explorer.core.evaluation.bundled_classifier_path", lambda d: tmp_path / "none.pt"
    )
    assert main(["evaluate", str(trained / "model.pt"), "--limit-test", "20", "--fid"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "classifier train" in err
    (tmp_path / "none.pt").write_bytes(b"not a classifier")
    assert main(["evaluate", str(trained / "model.pt"), "--limit-test", "20", "--is"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "none.pt" in err


def test_small_things_say_what_they_mean(tmp_path, capsys):
    a_file = tmp_path / "README.md"
    a_file.write_text("notes")
    assert main(["train", "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    args = ["train", "--epochs", "1", *TINY, "--batch-size", "100000", "--eval-budget", "0"]
    assert main([*args, "--out", str(tmp_path / "big")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "1 batches of 300 per epoch" in first  # a batch is never larger than the training set


def test_preset_course_sets_the_course_protocol_and_options_beside_it_win(tmp_path, capsys):
    from dataclasses import replace

    from vae_explorer.core.config import PRESETS, RunConfig, apply_preset, preset_of

    small = ["--limit-train", "200", "--limit-val", "50", "--limit-test", "50", "--epochs", "1"]
    out = tmp_path / "a"
    assert main(["train", "--preset", "course", *small, "--eval-budget", "0", "--out", str(out)]) == 0
    saved = RunConfig.from_json((out / "config.json").read_text())
    assert {k: getattr(saved.model, k) for k in PRESETS["course"]["model"]} == PRESETS["course"]["model"]
    assert saved.train.kl_warmup == 0 and saved.train.prior_init == "random" and saved.train.lr == 1e-3
    assert saved.train.epochs == 1  # the option given beside the preset
    assert preset_of(apply_preset("course", saved)) == "course"
    out = tmp_path / "b"
    args = ["train", "--preset", "course", "--mixture-weights", "uniform", "--kl-warmup", "1"]
    assert main([*args, "--prior-init", "kmeans", *small, "--eval-budget", "0", "--out", str(out)]) == 0
    saved = RunConfig.from_json((out / "config.json").read_text())
    assert (saved.model.mixture_weights, saved.train.kl_warmup, saved.train.prior_init) == (
        "uniform",
        1,
        "kmeans",
    )
    assert preset_of(saved) is None
    # a resumed run keeps its checkpoint's settings: a preset beside --resume is a usage error
    assert main(["train", "--resume", str(out / "last.pt"), "--preset", "course", "--out", str(out)]) == 2
    assert "--preset starts a new run" in capsys.readouterr().err
    # without a preset the default is the recommended one: the course with the k-means placement
    out = tmp_path / "c"
    assert main(["train", *small, "--eval-budget", "0", "--out", str(out)]) == 0
    saved = RunConfig.from_json((out / "config.json").read_text())
    assert preset_of(replace(saved, train=replace(saved.train, epochs=1000))) == "recommended"


def test_evaluate_says_why_an_is_asked_for_is_left_out(trained, capsys):
    assert main(["evaluate", str(trained / "model.pt"), "--is", "--limit-test", "50", "--json"]) == 0
    out = capsys.readouterr()
    note = "no IS: it needs at least 100 generated images (one per test image), not 50"
    assert f"note: {note}" in out.err and json.loads(out.out)["notes"] == [note]


def test_a_file_name_that_is_not_utf8_is_written(trained, tmp_path):
    """Linux names are bytes: a name that is not UTF-8 (an old archive's) reaches Python as
    surrogate escapes, which the temporary file's name used to encode as UTF-8 and fail on."""
    name = os.fsdecode(b"samples-\xff\xfe.png")
    assert main(["sample", str(trained / "model.pt"), "--n", "4", "--out", str(tmp_path / name)]) == 0
    assert os.fsencode(name) in os.listdir(os.fsencode(tmp_path))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temporary file left
