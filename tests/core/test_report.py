"""`vae-explorer report`: a PDF or HTML report of tiny trained runs, one of them diverged."""

from __future__ import annotations

import argparse
import base64
import csv
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vae_explorer.cli import main
from vae_explorer.cli.args import UserError
from vae_explorer.cli.report import add_commands
from vae_explorer.report import collect_runs

TINY = [
    "train",
    "--limit-train",
    "200",
    "--limit-val",
    "64",
    "--limit-test",
    "64",
    "--hidden",
    "32",
    "--latent-dim",
    "4",
    "--components",
    "3",
    "--epochs",
    "2",
    "--eval-iw-samples",
    "10",
]


def report(*argv) -> int:
    """The sub-command as the main parser will run it, with its own parser."""
    parser = argparse.ArgumentParser(prog="vae-explorer")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", *map(str, argv)])
    return args.func(args)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    assert main([*TINY, "--out", str(root / "good")]) == 0
    assert main([*TINY, "--lr", "1e6", "--out", str(root / "bad")]) == 1  # diverges in its first epoch
    outcome = json.loads((root / "bad" / "outcome.json").read_text())
    assert outcome["status"] == "diverged" and not (root / "bad" / "model.pt").exists()
    assert main([*TINY, "--lr", "1e-3", "--lr", "3e-3", "--out", str(root / "queue")]) == 0
    return root


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", data))


def pdf_text(path: Path) -> str:
    """The PDF's text, read back with pypdf (a dependency: every machine can check it)."""
    import pypdf

    return " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(path).pages).split())


class Page(HTMLParser):
    """Checks that every element is closed in order, and keeps the text and the images."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []
        self.marked = 0
        self.tables = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "table":
            self.tables += 1
        if attrs.get("class") == "marked":
            self.marked += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_html(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.stack == [], page.stack
    return page


def expected_figures(folder: Path) -> list[str]:
    """The figures of a run's files as the report writes them (core.metrics' digits)."""
    with open(folder / "metrics.csv") as f:
        history = list(csv.DictReader(f))
    best = min(history, key=lambda h: float(h["val_nll"]))
    e = json.loads((folder / "evaluation.json").read_text())
    return [
        f"{float(best['val_nll']):.2f} (epoch {best['epoch']})",
        f"{float((folder / 'test_loss.txt').read_text()):.2f}",
        f"{e['iw_nll']:.2f} ± {e['iw_nll_stderr']:.2f} (S={e['iw_samples']})",
        f"{e['components_in_use']} of 3",
        f"{e['active_units']} of 4",
        *([f"{e['fid']:.1f} (floor {e['fid_floor']:.1f})"] if e["fid"] is not None else []),
        *(
            [f"{e['inception_score']:.2f} ± {e['inception_score_std']:.2f}"]
            if e["inception_score"] is not None
            else []
        ),
    ]


def test_pdf_of_a_run_and_a_diverged_run(runs, tmp_path, capsys):
    out = tmp_path / "report.pdf"
    assert report(runs / "good", runs / "bad", "--out", out) == 0
    assert "wrote" in capsys.readouterr().out
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    # title and summary; settings; curves and results; the bound's parts and the weights per epoch;
    # samples and latent map; components
    assert pdf_pages(data) == 6
    assert b"/FontFile2" in data and b"/Type3" not in data  # TrueType fonts, embedded
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no temporary left
    text = pdf_text(out)
    for expected in (
        "Training report",
        "vae-explorer 0.1.0",
        "good (lr=0.001)",
        "bad (lr=1e+06)",
        "200 / 64 / 64 images",
        "diverged",
        "not evaluated (no evaluation.json)",
        "No model.pt",
        *expected_figures(runs / "good"),
    ):
        assert expected in text, expected
    assert "good (lr=0.001) reached its lowest validation nll" not in text  # two runs: "Of the 2 runs"
    assert "Of the 2 runs, good (lr=0.001) reached the lowest validation nll" in text


def test_all_runs_adds_the_figures_of_every_model(runs, tmp_path):
    best_only, every = tmp_path / "best.pdf", tmp_path / "all.pdf"
    assert report(runs / "good", runs / "queue", "--out", best_only) == 0
    assert report(runs / "good", runs / "queue", "--out", every, "--all-runs") == 0
    # two pages (samples, components) for each further model
    assert pdf_pages(every.read_bytes()) - pdf_pages(best_only.read_bytes()) == 4


def test_html_is_self_contained_and_says_the_same(runs, tmp_path):
    out = tmp_path / "report.html"
    assert report(runs / "good", runs / "bad", runs / "queue", "--out", out, "--all-runs") == 0
    page = parse_html(out)
    text = " ".join(" ".join(page.text).split())
    assert page.images, "no figures"
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    # the curves, the bound's parts and the weights per epoch, then real/generated, interpolation,
    # latent map and components of three models
    assert len(page.images) == 1 + 2 + 3 * 4
    assert page.tables >= 3 and page.marked >= 4  # the learning rates differ: marked in every column
    assert "src=" not in out.read_text().replace('src="data:', "")  # nothing loaded from elsewhere
    for expected in (
        "good (lr=0.001)",
        "bad (lr=1e+06)",
        "queue/lr_0.001 (lr=0.001)",
        "queue/lr_0.003 (lr=0.003)",
        "diverged",
        *expected_figures(runs / "good"),
        *expected_figures(runs / "queue" / "lr_0.003"),
    ):
        assert expected in text, expected
    best = min(collect_runs([runs / "good", runs / "queue"]), key=lambda r: r.best_val)
    assert f"Of the 4 runs, {best.name} (lr={best.lr:g}) reached the lowest validation nll" in text
    assert "Diverged: bad (lr=1e+06), after 0 recorded epochs, leaving no model." in text


def test_a_run_without_evaluation_or_with_a_late_divergence(runs, tmp_path):
    noeval, late = tmp_path / "noeval", tmp_path / "late"
    shutil.copytree(runs / "good", noeval)
    (noeval / "evaluation.json").unlink()
    shutil.copytree(runs / "good", late)
    (late / "evaluation.json").unlink()
    columns = (late / "metrics.csv").read_text().splitlines()[0].count(",") + 1
    with open(late / "metrics.csv", "a") as f:  # a third epoch that went non-finite
        f.write("3,nan,nan,0.02" + ",nan" * (columns - 4) + "\n")
    outcome = json.loads((late / "outcome.json").read_text())
    (late / "outcome.json").write_text(json.dumps({**outcome, "status": "diverged", "reason": "diverged"}))
    out = tmp_path / "report.html"
    assert report(noeval, late, "--out", out) == 0
    page = parse_html(out)
    text = " ".join(" ".join(page.text).split())
    assert "not evaluated (no evaluation.json)" in text
    assert "Not evaluated (no evaluation.json" in text and "noeval (lr=0.001), late (lr=0.001)" in text
    assert "Diverged: late (lr=0.001), after 3 recorded epochs." in text
    assert "Dominant digits and purities are missing" in text
    # the curves, the bound's parts, the weights, and the figures of the best run all the same
    assert len(page.images) == 1 + 2 + 4
    pdf = tmp_path / "report.pdf"
    assert report(noeval, late, "--out", pdf) == 0
    assert pdf.read_bytes().startswith(b"%PDF")


def test_queue_folder_is_expanded_into_its_runs(runs):
    found = collect_runs([runs / "queue", runs / "queue" / "lr_0.001"])  # listed twice: once
    assert [r.name for r in found] == ["queue/lr_0.001", "queue/lr_0.003"]
    assert [r.lr for r in found] == [1e-3, 3e-3]
    (bad,) = collect_runs([runs / "bad"])  # ended before its first epoch: still a run
    assert bad.status == "diverged" and bad.epochs == 0 and bad.checkpoint is None


def test_bad_input_is_a_one_line_user_error(runs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="is not a run folder"):
        report(empty, "--out", tmp_path / "r.pdf")
    with pytest.raises(UserError, match="does not exist"):
        report(tmp_path / "missing", "--out", tmp_path / "r.pdf")
    with pytest.raises(UserError, match=r"--out must end in \.pdf or \.html"):
        report(runs / "good", "--out", tmp_path / "r.txt")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="cannot write"):
        report(runs / "good", "--out", blocker / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()
    with pytest.raises(SystemExit) as exit_info:  # --out is required
        report(runs / "good")
    assert exit_info.value.code == 2


def _curved(key: str):
    """A run with a validation curve, as run_colours sees one."""
    return SimpleNamespace(key=key, history=SimpleNamespace(val_nll=np.array([120.0, 110.0])))


def test_run_colours_keep_the_apps_colour_unless_another_run_has_it():
    from vae_explorer.core.colours import PALETTE
    from vae_explorer.report.curves import run_colours

    runs = [_curved(k) for k in ("a", "b", "c", "d")]
    kept = {"a": PALETTE[4], "b": PALETTE[4], "c": "#123456", "d": PALETTE[0]}
    got = run_colours(runs, kept)
    assert got["a"] == PALETTE[4] and got["d"] == PALETTE[0]  # the app's colours
    # b's colour is a's already and c's is none of the palette's: the first palette colours free
    assert (got["b"], got["c"]) == (PALETTE[1], PALETTE[2])
    assert run_colours(runs) == dict(zip("abcd", PALETTE))  # nothing kept: the palette in order
    flat = SimpleNamespace(key="e", history=SimpleNamespace(val_nll=np.array([float("nan")])))
    assert "e" not in run_colours([*runs, flat], kept)  # no curve, no colour
    many = [_curved(str(i)) for i in range(len(PALETTE) + 1)]
    colours = run_colours(many, {"0": PALETTE[3]})
    assert len(set(colours.values())) == len(many)  # past the palette: a ramp, none shared


def test_report_curves_are_drawn_in_the_colours_the_app_keeps(runs, tmp_path, monkeypatch):
    from vae_explorer.core.colours import PALETTE, colours_file
    from vae_explorer.core.runs import real_path
    from vae_explorer.report import curves, epochs

    folders = sorted(p for p in (runs / "queue").iterdir() if (p / "metrics.csv").exists())
    keys = [real_path(f) for f in folders]
    colours_file().parent.mkdir(parents=True, exist_ok=True)
    colours_file().write_text(json.dumps({keys[0]: PALETTE[6], keys[1]: PALETTE[9]}))
    drawn = []
    real_figure = curves.figures.curves_figure

    def keep(*args, **kwargs):
        drawn.append(real_figure(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(curves.figures, "curves_figure", keep)
    parts_colours = []  # the bound's-parts figure gets the curves' colours
    real_parts = epochs.parts_drawing
    monkeypatch.setattr(
        epochs,
        "parts_drawing",
        lambda runs, colours: parts_colours.append(colours) or real_parts(runs, colours),
    )
    assert report(*folders, "--out", tmp_path / "r.html") == 0
    assert parts_colours == [{keys[0]: PALETTE[6], keys[1]: PALETTE[9]}]
    (fig,) = drawn
    by_label = {line.get_label(): line.get_color() for line in fig.axes[0].get_lines()}
    for folder, colour in zip(folders, (PALETTE[6], PALETTE[9])):
        (label,) = [text for text in by_label if text.startswith(folder.name)]
        assert by_label[label] == colour


def test_damaged_optional_files_and_sparse_validation_are_reported_truthfully(runs, tmp_path):
    """evaluation.json with components null; a run validated every 2nd epoch (metrics.csv has a
    row per validation) is reported with the epochs it trained, not its rows; a run whose every
    validation nll is too large to draw says so instead of 'no run finished an epoch'."""
    nulled = tmp_path / "nulled"
    shutil.copytree(runs / "good", nulled)
    evaluation = json.loads((nulled / "evaluation.json").read_text())
    (nulled / "evaluation.json").write_text(json.dumps({**evaluation, "components": None}))
    sparse = tmp_path / "sparse"
    assert main([*TINY, "--epochs", "4", "--val-every", "2", "--eval-budget", "0", "--out", str(sparse)]) == 0
    assert [row.split(",")[0] for row in (sparse / "metrics.csv").read_text().splitlines()[1:]] == ["2", "4"]
    out = tmp_path / "r.html"
    assert report(nulled, sparse, "--out", out) == 0
    text = " ".join(" ".join(parse_html(out).text).split())
    assert "sparse (lr=0.001) ran 4 epochs and" in text and "4 of at most 4" in text
    huge = tmp_path / "huge"
    shutil.copytree(runs / "good", huge)
    rows = (huge / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    column = header.index("val_nll")
    changed = [",".join("1e16" if i == column else v for i, v in enumerate(r.split(","))) for r in rows[1:]]
    (huge / "metrics.csv").write_text("\n".join([rows[0], *changed]) + "\n")
    assert report(huge, "--out", out) == 0
    text = " ".join(" ".join(parse_html(out).text).split())
    assert "No run finished an epoch" not in text and "too large or not a finite number" in text


def test_a_refused_export_leaves_no_folder_behind(runs, tmp_path, capsys):
    """--out's missing folders are made before the input is read; a refusal removes them."""
    damaged = tmp_path / "damaged"
    shutil.copytree(runs / "good", damaged)
    (damaged / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="no runs to report"):  # found, then found unreadable
        report(damaged, "--out", tmp_path / "new" / "sub" / "r.pdf")
    assert main(["sample", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "new2" / "s.png")]) == 2
    assert not (tmp_path / "new").exists() and not (tmp_path / "new2").exists()
    assert report(runs / "good", "--out", tmp_path / "new3" / "r.html") == 0  # kept when it worked
    assert (tmp_path / "new3" / "r.html").is_file()


def test_the_settings_table_marks_a_differing_schedule(tmp_path):
    """The fast preset against the recommended one differs in its schedule, warm-up and last.pt
    interval, not only in rate and batch size: each such row is shown and marked."""
    from vae_explorer.core.config import RunConfig, apply_preset
    from vae_explorer.report.content import settings_tables

    configs = {"rec": apply_preset("recommended", RunConfig()), "fast": apply_preset("fast", RunConfig())}
    runs = [SimpleNamespace(config=c, folder=tmp_path / n, name=n) for n, c in configs.items()]
    table = settings_tables(runs)[0]
    row = {cells[0]: i for i, cells in enumerate(table.rows)}
    expected = {
        "learning-rate schedule": ["constant", "cosine"],
        "learning-rate warm-up (epochs)": ["0", "2"],
        "last.pt at most every (s)": ["0", "60"],
        "batch size": ["32", "256"],
    }
    for label, cells in expected.items():
        assert table.rows[row[label]][1:] == cells and {(row[label], 1), (row[label], 2)} <= table.marked
    assert table.rows[row["validation every (epochs)"]][1:] == ["1", "1"]
    assert (row["validation every (epochs)"], 1) not in table.marked


def test_the_settings_table_says_which_settings_a_prior_does_not_use(tmp_path):
    """A VampPrior has equal, fixed weights and nothing to place; a standard prior has no
    components either: their rows say so rather than show the unused default."""
    from dataclasses import replace

    from vae_explorer.core.config import RunConfig
    from vae_explorer.report.content import settings_tables

    base = RunConfig()
    configs = {
        "mog": base,
        "vamp": replace(base, model=replace(base.model, prior="vampprior")),
        "standard": replace(base, model=replace(base.model, prior="standard")),
    }
    runs = [SimpleNamespace(config=c, folder=tmp_path / n, name=n) for n, c in configs.items()]
    table = settings_tables(runs)[0]
    row = {cells[0]: cells[1:] for cells in table.rows}
    unused = "– (not used by this prior)"
    assert row["mixture weights"] == ["learnable", unused, unused]
    assert row["prior placement"] == ["kmeans", unused, unused]
    assert row["mixture components K"] == ["16", "16", unused]
