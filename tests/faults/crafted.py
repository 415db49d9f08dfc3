"""Crafted run folders: one damaged file each, as a hostile user (or a full disk, a bad copy, a
hand edit) leaves them. Each case names the file the reader must blame, or None where the folder
is still a readable run (a file that may be absent, a name with markup, a very long run).

`make_template(folder)` trains a tiny real run there; `build(case, template, runs_root)` copies
it under `runs_root` and applies the case.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

EVALUATION = {
    "dataset": "mnist",
    "images": 128,
    "likelihood": "bernoulli",
    "neg_elbo": 480.2,
    "reconstruction": 470.1,
    "kl": 10.1,
    "active_units": 3,
    "latent_dim": 8,
    "components_in_use": 2,
    "components": [
        {
            "component": k,
            "weight": 0.25,
            "share": 0.5 if k < 2 else 0.0,
            "dominant_digit": 1 if k < 2 else None,
            "purity": 0.4 if k < 2 else None,
            "class_counts": [1] * 10,
        }
        for k in range(4)
    ],
    "fid": 120.5,
    "fid_floor": 2.0,
    "inception_score": 3.1,
    "inception_score_std": 0.1,
    "class_histogram": [0.1] * 10,
    "generated": 128,
    "iw_nll": 470.0,
    "iw_nll_stderr": 1.5,
    "iw_samples": 10,
    "gap": 10.2,
    "seconds": {"neg_elbo": 0.1},
    "notes": [],
}


@dataclass(frozen=True)
class Case:
    name: str
    blamed: str | None  # the file an unreadable run's reason names; None: the run stays readable
    apply: Callable[[Path], None]
    evaluation_tab: bool = False  # open its model.pt and show the Evaluation tab


def _json_edit(file: str, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        raw = json.loads((folder / file).read_text())
        edit(raw)
        (folder / file).write_text(json.dumps(raw))

    return apply


def _setting(section: str, key: str, value) -> Callable[[Path], None]:
    return _json_edit("config.json", lambda raw: raw[section].__setitem__(key, value))


def _outcome(key: str, value) -> Callable[[Path], None]:
    return _json_edit("outcome.json", lambda raw: raw.__setitem__(key, value))


def _write(file: str, content: str | bytes) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / file
        path.unlink(missing_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return apply


def _evaluation(**changes) -> Callable[[Path], None]:
    return _write("evaluation.json", json.dumps({**EVALUATION, **changes}))


def _metrics_rows(
    rows: list[str], header: str = "epoch,train_loss,val_nll,seconds"
) -> Callable[[Path], None]:
    return _write("metrics.csv", "\n".join([header, *rows]) + "\n")


def long_run(epochs: int) -> Callable[[Path], None]:
    """metrics.csv of a run of `epochs` epochs, written fast."""

    def apply(folder: Path) -> None:
        with open(folder / "metrics.csv", "w") as fh:
            fh.write("epoch,train_loss,val_nll,seconds\n")
            fh.writelines(f"{e},{200 + 100 / e:.4f},{201 + 100 / e:.4f},1.0\n" for e in range(1, epochs + 1))

    return apply


def _symlink(file: str, target: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / file).unlink(missing_ok=True)
        os.symlink(target, folder / file)

    return apply


def _fifo(file: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / file).unlink(missing_ok=True)
        os.mkfifo(folder / file)

    return apply


def _running_with_a_fifo_lock(folder: Path) -> None:
    (folder / "outcome.json").unlink(missing_ok=True)
    os.mkfifo(folder / ".vae-explorer.lock")


def _directory(file: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / file).unlink(missing_ok=True)
        (folder / file).mkdir()

    return apply


MARKUP = '<h1 style="color:red">Big red</h1><img src="/some/local.png">'

CASES = [
    # config.json: the settings
    Case("batch-size-as-text", "config.json", _setting("train", "batch_size", "32")),
    Case("hidden-as-text", "config.json", _setting("model", "hidden", "x")),
    Case("limit-train-a-list", "config.json", _setting("data", "limit_train", [1, 2])),
    Case("seed-a-list", "config.json", _setting("train", "seed", [0])),
    Case("seed-a-dict", "config.json", _setting("train", "seed", {"a": 1})),
    Case("lr-a-bool", "config.json", _setting("train", "lr", True)),
    Case("lr-nan", "config.json", _write("config.json", '{"train": {"lr": NaN}}')),
    Case("config-not-json", "config.json", _write("config.json", "{ not json")),
    Case("config-binary", "config.json", _write("config.json", bytes(range(256)) * 4)),
    Case("config-a-list", "config.json", _write("config.json", "[1, 2, 3]")),
    Case("config-nested-deep", "config.json", _write("config.json", "[" * 100_000 + "]" * 100_000)),
    Case("config-huge", "config.json", _write("config.json", '{"x": "' + "a" * 2_000_000 + '"}')),
    Case("config-a-folder", "config.json", _directory("config.json")),
    Case("config-links-to-dev-zero", "config.json", _symlink("config.json", "/dev/zero")),
    Case("config-a-fifo", "config.json", _fifo("config.json")),
    Case("config-section-a-number", "config.json", _write("config.json", '{"model": 5}')),
    # metrics.csv: the curve
    Case("epoch-nan", "metrics.csv", _metrics_rows(["1,300,290,1", "nan,290,280,1"])),
    Case("epoch-inf", "metrics.csv", _metrics_rows(["1,300,290,1", "inf,290,280,1"])),
    Case("epoch-1e300", "metrics.csv", _metrics_rows(["1,300,290,1", "1e300,290,280,1"])),
    Case("epoch-not-whole", "metrics.csv", _metrics_rows(["1.5,300,290,1"])),
    Case("epochs-going-back", "metrics.csv", _metrics_rows(["2,300,290,1", "1,290,280,1"])),
    Case("no-epoch-column", "metrics.csv", _metrics_rows(["300,290,1"], header="train_loss,val_nll,seconds")),
    Case("no-val-nll-column", "metrics.csv", _metrics_rows(["1,300,1"], header="epoch,train_loss,seconds")),
    Case("field-over-131072", "metrics.csv", _metrics_rows(["1,300,290," + "9" * 200_000])),
    Case("ragged-row", "metrics.csv", _metrics_rows(["1,300,290,1", "2,290"])),
    Case("text-in-a-value", "metrics.csv", _metrics_rows(["1,300,abc,1"])),
    Case("metrics-binary", "metrics.csv", _write("metrics.csv", b"\x00\xff\xfe" * 1000)),
    Case("metrics-links-outside", "metrics.csv", _symlink("metrics.csv", "/etc/hostname")),
    Case("no-train-loss-column", None, _metrics_rows(["1,290,1", "2,280,1"], header="epoch,val_nll,seconds")),
    Case("header-only", None, _metrics_rows([])),
    Case("loss-nan-and-huge", None, _metrics_rows(["1,300,290,1", "2,nan,1e300,1", "3,inf,-inf,1"])),
    Case("ten-thousand-epochs", None, long_run(10_000)),
    # name.txt: the user's name for the run
    Case("name-not-utf8", "name.txt", _write("name.txt", b"caf\xe9 run\n")),
    Case("name-markup", None, _write("name.txt", MARKUP)),
    Case("name-mathtext", None, _write("name.txt", r"price $\foo$ and $\frac{1}{0}$")),
    Case(
        "name-control-characters", None, _write("name.txt", "a\x00b\x1b[31mred\nsecond line\t" + "x" * 3000)
    ),
    Case("name-huge", "name.txt", _write("name.txt", "n" * 100_000)),
    # outcome.json and test_loss.txt: how it ended
    Case("reason-a-list", "outcome.json", _outcome("reason", [1])),
    Case("reason-a-dict", "outcome.json", _outcome("reason", {"a": 1})),
    Case("status-unknown", "outcome.json", _outcome("status", "won")),
    Case("test-nll-text", "outcome.json", _outcome("test_nll", "91")),
    Case("reason-markup", None, _outcome("reason", MARKUP)),
    Case("test-loss-not-a-number", "test_loss.txt", _write("test_loss.txt", "ninety-one")),
    # evaluation.json: the figures beside an opened model, with the Evaluation tab shown
    Case("eval-neg-elbo-text", "evaluation.json", _evaluation(neg_elbo="x"), evaluation_tab=True),
    Case("eval-fid-text", "evaluation.json", _evaluation(fid="z"), evaluation_tab=True),
    Case("eval-iw-nll-a-list", "evaluation.json", _evaluation(iw_nll=[1]), evaluation_tab=True),
    Case("eval-components-text", "evaluation.json", _evaluation(components="abc"), evaluation_tab=True),
    Case("eval-is-a-dict", "evaluation.json", _evaluation(inception_score={}), evaluation_tab=True),
    Case("eval-histogram-text", "evaluation.json", _evaluation(class_histogram="x"), evaluation_tab=True),
    Case("eval-a-list", "evaluation.json", _write("evaluation.json", "[1]"), evaluation_tab=True),
    Case("eval-good", None, _evaluation(), evaluation_tab=True),
    # a run still going (no outcome.json) whose lock is a FIFO: asked whether it is busy, an open
    # without O_NONBLOCK waited for a writer for ever (the browser at start-up, `report`)
    Case("lock-a-fifo", None, _running_with_a_fifo_lock),
]
BY_NAME = {case.name: case for case in CASES}
# folder names that matplotlib would read as mathtext, and HTML as markup
# and a name that is not UTF-8 (a folder from an older machine), which the colour hash could not
# encode: the window did not open
ODD_FOLDERS = (r"folder $\foo$", "<b>folder<i>", os.fsdecode(b"run-\xe9t\xe9"))


def make_template(folder: Path) -> Path:
    """A tiny real run (2 epochs of a small model) with an evaluation.json, in `folder`."""
    from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import Trainer

    config = RunConfig(
        DataConfig(limit_train=320, limit_val=128, limit_test=128),
        ModelConfig(hidden=64, latent_dim=8, components=4),
        TrainConfig(epochs=2),
    )
    Trainer(config, load_splits(config.data), folder).run()
    (folder / "evaluation.json").write_text(json.dumps(EVALUATION))
    return folder


def build(case: Case, template: Path, runs_root: Path) -> Path:
    """A copy of `template` as `runs_root/<case name>`, damaged as the case says."""
    folder = runs_root / case.name
    shutil.copytree(template, folder, ignore=shutil.ignore_patterns("last.pt", ".*"))
    case.apply(folder)
    return folder


def build_all(template: Path, runs_root: Path) -> dict[str, Path]:
    """Every case under `runs_root`, with the odd folder names and the link traps beside them."""
    built = {case.name: build(case, template, runs_root) for case in CASES}
    for name in ODD_FOLDERS:
        shutil.copytree(template, runs_root / name, ignore=shutil.ignore_patterns("last.pt", ".*"))
    return built


def add_link_traps(runs_root: Path, outside_run: Path) -> None:
    """Links a walk of the runs folder must not follow: to '/', to a real run outside it, and a loop."""
    os.symlink("/", runs_root / "link-to-root")
    os.symlink(outside_run, runs_root / "link-to-a-run-outside")
    os.symlink(runs_root / "loop-a", runs_root / "loop-b")
    os.symlink(runs_root / "loop-b", runs_root / "loop-a")
