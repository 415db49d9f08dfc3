"""Limits are bad input, said up front in one line with exit code 2; a write error is exit code 1
(issue 23, item 9)."""

from __future__ import annotations

import errno
import os
import resource
import tracemalloc
from pathlib import Path

import pytest
import torch
from faulthelpers import FAST, cli, one_line_error, tmpfs

from vae_explorer.cli import main

LONG = "n" * 300  # longer than any file system's 255 bytes a name


def _commands(base_run: Path, tmp_path: Path) -> dict[str, list[str]]:
    long = tmp_path / LONG
    return {
        "train": ["train", *FAST, "--out", str(long / "run")],
        "resume": ["train", "--resume", str(long / "last.pt"), "--out", str(tmp_path / "r")],
        "resume out": ["train", "--resume", str(base_run / "last.pt"), "--out", str(long)],
        "sample": ["sample", str(base_run / "model.pt"), "--out", str(tmp_path / (LONG + ".png"))],
        "sample model": ["sample", str(long / "model.pt"), "--out", str(tmp_path / "s.png")],
        "evaluate": ["evaluate", str(long / "model.pt")],
        "report": ["report", str(base_run), "--out", str(tmp_path / (LONG + ".pdf"))],
        "report run": ["report", str(long), "--out", str(tmp_path / "r.pdf")],
    }


@pytest.mark.parametrize(
    "command",
    ["train", "resume", "resume out", "sample", "sample model", "evaluate", "report", "report run"],
)
def test_an_overlong_name_is_bad_input_in_one_line(base_run, tmp_path, capsys, command):
    assert main(_commands(base_run, tmp_path)[command]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "too long" in line and "255" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["r"]) and not (tmp_path / "r").exists()


def test_a_legal_long_name_can_be_written(base_run, tmp_path):
    name = "s" * 251 + ".png"  # 255 bytes: the most a name may have
    assert main(["sample", str(base_run / "model.pt"), "--out", str(tmp_path / name)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("command", [["train", *FAST], ["classifier", "train", "--epochs", "1"]])
def test_too_many_threads_is_bad_input(tmp_path, command):
    proc = cli(*command, "--threads", "1000000", "--out", str(tmp_path / "out"))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "Traceback" not in err and "at most" in err.splitlines()[-1], err
    assert not (tmp_path / "out").exists()


def _limit_memory():  # the run before the check could allocate without bound: not on this machine
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))


def test_a_mixture_too_large_for_memory_is_refused_up_front(tmp_path):
    proc = cli(
        "train", *FAST, "--components", "10000000", "--out", str(tmp_path / "out"), preexec_fn=_limit_memory
    )
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    line = one_line_error(err)
    assert "GiB" in line and "--components" in line, line
    assert not (tmp_path / "out").exists()


def test_the_latent_statistics_of_many_components_take_bounded_memory():
    from vae_explorer.core.config import ModelConfig
    from vae_explorer.core.likelihood import latent_statistics
    from vae_explorer.core.model import new_model

    model = new_model(
        ModelConfig(hidden=16, latent_dim=8, components=20_000), torch.Generator().manual_seed(0)
    )
    x = torch.bernoulli(torch.full((300, 784), 0.2), generator=torch.Generator().manual_seed(1))
    labels = torch.arange(300) % 10
    tracemalloc.start()
    try:
        stats = latent_statistics(model, x, labels, nearest=3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(c.count for c in stats.components) == 300
    # images x components x latent dimensions in float64 would be 384 MB
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_a_report_that_meets_a_full_disk_is_a_write_error(base_run, tmp_path, capsys, monkeypatch):
    import vae_explorer.core.atomic as atomic

    real_replace = os.replace

    def full(src, dst):
        if str(dst).endswith(".pdf"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", full)
    assert main(["report", str(base_run), "--out", str(tmp_path / "r.pdf")]) == 1
    assert "no space left on device" in one_line_error(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MB tmpfs (Linux, as root), filled up."""
    with tmpfs(tmp_path / "disk", "1m") as disk:
        try:
            with open(disk / "filler", "wb") as fh:
                fh.write(b"x" * (2 << 20))
        except OSError:
            pass
        yield disk


@pytest.mark.parametrize("command", ["sample", "train"])
def test_the_writability_probe_on_a_full_disk_is_a_write_error(base_run, full_disk, command):
    out = full_disk / "out"
    out.mkdir()
    args = (
        ["sample", str(base_run / "model.pt"), "--out", str(out / "s.png")]
        if command == "sample"
        else ["train", *FAST, "--out", str(out)]
    )
    proc = cli(*args)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "no space left on device" in one_line_error(err)
    assert list(out.iterdir()) == []  # no probe left behind
