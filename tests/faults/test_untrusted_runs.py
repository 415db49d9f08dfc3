"""Every crafted run folder (tests/faults/crafted.py) is read without an exception: a damaged one
comes back unreadable, naming the file and what is wrong; the others stay readable. The runs
folder is walked without following links, and `report` writes its report over all of them,
naming the unreadable ones."""

from __future__ import annotations

import contextlib
import io
import math

import pytest
from crafted import BY_NAME, CASES, ODD_FOLDERS, add_link_traps, build, build_all, long_run, make_template

from vae_explorer.cli import main
from vae_explorer.core.runs import find_runs, read_run


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("template") / "run")


@pytest.fixture(scope="module")
def all_cases(template, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    build_all(template, root)
    add_link_traps(root, template)
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_is_read_without_raising(case, template, tmp_path):
    folder = build(case, template, tmp_path)
    run = read_run(folder, tmp_path)
    assert run is not None
    if case.blamed is None:
        assert run.readable, run.problem
        assert run.config is not None
    else:
        assert not run.readable and run.status == "unreadable"
        assert run.problem.startswith(f"{case.blamed}: "), run.problem
        assert "\n" not in run.problem and len(run.problem) < 300
        assert run.config is None and not len(run.history) and run.checkpoint is None


def test_names_and_reasons_come_back_as_one_plain_line(template, tmp_path):
    names = {
        c: read_run(build(BY_NAME[c], template, tmp_path), tmp_path) for c in ("name-control-characters",)
    }
    name = names["name-control-characters"].name
    assert name.isprintable() and len(name) <= 200 and name.startswith("a b [31mred second line")
    markup = read_run(build(BY_NAME["name-markup"], template, tmp_path), tmp_path)
    assert markup.name.startswith("<h1 style=")  # kept as the text it is; the front ends escape it


def test_values_that_are_no_number_stay_out_of_the_figures(template, tmp_path):
    run = read_run(build(BY_NAME["loss-nan-and-huge"], template, tmp_path), tmp_path)
    assert run.best_epoch == 1 and run.best_val == 290.0  # 1e300 is a finite number, -inf is not
    assert math.isnan(run.history.train_loss[1]) and run.history.val_nll[1] == 1e300


def test_the_walk_lists_every_case_and_follows_no_link(all_cases, template):
    runs = find_runs(all_cases)
    by_folder = {r.folder.name: r for r in runs}
    assert set(by_folder) == {c.name for c in CASES} | set(ODD_FOLDERS)
    assert not any(str(r.folder).startswith(str(template)) for r in runs)
    for case in CASES:
        assert by_folder[case.name].readable == (case.blamed is None), case.name


def test_a_million_epochs_read_as_arrays(template, tmp_path):
    folder = build(BY_NAME["header-only"], template, tmp_path)
    long_run(1_000_000)(folder)
    run = read_run(folder, tmp_path)
    assert run.readable and run.epochs == 1_000_000
    assert run.best_val == 201.0001 and run.best_epoch == 666_667  # the first epoch at the lowest
    shown = run.history.for_display(5_000)
    assert len(shown) <= 5_001 and shown.epoch[0] == 1 and shown.epoch[-1] == 1_000_000
    assert run.best_epoch in shown.epoch


@pytest.mark.parametrize("suffix", [".html", ".pdf"])
def test_report_over_every_case_names_the_unreadable(all_cases, tmp_path, suffix, capsys):
    out = tmp_path / f"report{suffix}"
    folders = [str(all_cases / c.name) for c in CASES] + [str(all_cases / n) for n in ODD_FOLDERS]
    assert main(["report", *folders, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    unreadable = [c for c in CASES if c.blamed is not None]
    readable = len(CASES) - len(unreadable) + len(ODD_FOLDERS)
    assert f"({readable} runs, {len(unreadable)} unreadable left out)" in captured.out
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == len(unreadable)
    for case in unreadable:
        assert any(f"{case.name}: unreadable, {case.blamed}: " in w for w in warnings), case.name
    assert out.stat().st_size > 10_000
    if suffix == ".html":
        text = out.read_text()
        assert "Left out, since their files cannot be used" in text
        assert "<h1 style" not in text and "&lt;h1 style=" in text  # the markup name, escaped
        assert r"price $\foo$" in text


def test_report_of_only_unreadable_runs_is_one_line(all_cases, tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["report", str(all_cases / "seed-a-list"), "--out", str(tmp_path / "r.html")])
    assert code == 2 and not (tmp_path / "r.html").exists()
    lines = err.getvalue().strip().splitlines()
    assert lines[-1].startswith("error: no runs to report: every run given is unreadable")
