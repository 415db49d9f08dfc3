"""The Training tab's per-epoch views: the bound's parts and the mixture weights, live from the
engine's events and from the files of runs ticked in the run list; and the report's figures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from apphelpers import tiny_config

from vae_explorer.app.training_panel import TrainingPanel
from vae_explorer.core import events as ev
from vae_explorer.core.config import ModelConfig
from vae_explorer.core.runs import read_run


def epoch_end(run: int, epoch: int, weights=(0.5, 0.3, 0.2)) -> ev.EpochEnd:
    return ev.EpochEnd(
        run, epoch, 120.0, 110.0 - epoch, 1.0, 110.0 - epoch, epoch, 90.0 - epoch, 20.0, weights
    )


def test_the_parts_and_weights_follow_the_queue(qtbot, tmp_path):
    panel = TrainingPanel(tmp_path / "runs")
    qtbot.addWidget(panel)
    mog = tiny_config()
    standard = replace(mog, model=replace(mog.model, prior="standard"))
    panel.start_queue([mog, standard])
    views = panel.epoch_views
    assert [panel.curve_tabs.tabText(i) for i in range(3)] == [
        "Validation nll",
        "Bound's parts",
        "Mixture weights",
    ]
    assert len(views.parts.runs) == 2 and list(views.weights.queue) == [
        0
    ]  # the standard prior has no weights
    for epoch in (1, 2, 3):
        panel.on_event(epoch_end(0, epoch, (0.5 - 0.1 * epoch, 0.3, 0.2 + 0.1 * epoch)))
    panel.on_event(epoch_end(1, 1, ()))
    epochs, recon, kl = views.parts.values(0)
    assert list(epochs) == [1, 2, 3] and list(recon) == [89.0, 88.0, 87.0] and list(kl) == [20.0] * 3
    assert list(views.parts.values(1)[0]) == [1]
    plot = views.weights.queue[0]
    np.testing.assert_allclose(plot.stacked()[:, 0], [0.4, 0.3, 0.2])
    # the top curve of the stack is 1: the weights add up
    _, top = plot.curves[-1].getData()
    np.testing.assert_allclose(top, 1.0)
    assert "largest 0.50, 0.30, 0.20" in plot.plot.titleLabel.text
    assert [stem for stem, _, _ in views.figures()] == ["elbo_parts", "mixture_weights_per_epoch"]


def trained_run(tmp_path: Path, name: str, prior: str = "mog") -> Path:
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import Trainer

    config = replace(
        tiny_config(epochs=2), model=ModelConfig(hidden=32, latent_dim=2, components=3, prior=prior)
    )
    Trainer(config, load_splits(config.data), tmp_path / name).run()
    return tmp_path / name


def panel_with_a_ticked_run(qtbot, tmp_path):
    """A Training tab over a runs folder of one trained run "a", ticked in the run list."""
    folder = trained_run(tmp_path / "runs", "a")
    panel = TrainingPanel(tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.browser.refresh()
    run = read_run(folder)
    panel.browser.set_checked(run.key, True)
    return panel, run


def test_ticked_runs_show_their_files(qtbot, tmp_path):
    panel, run = panel_with_a_ticked_run(qtbot, tmp_path)
    views = panel.epoch_views
    assert len(views.parts.runs) == 1 and len(views.parts.values(0)[0]) == 2
    shown = views.weights.plots
    assert len(shown) == 1 and shown[0].stacked().shape == (2, 3)
    panel.browser.set_checked(run.key, False)
    assert not views.parts.runs and not views.weights.plots


def legend_names(views) -> list[str]:
    return [label.text for _, label in views.parts.legend.items]


def test_renamed_unticked_and_deleted_runs_leave_the_parts_and_weights(qtbot, tmp_path):
    """The nll plot followed the run list; these views compared keys only: a renamed run kept its
    old name, and a queue's run unticked or deleted stayed in them (and in Export all)."""
    panel, run = panel_with_a_ticked_run(qtbot, tmp_path)
    views = panel.epoch_views
    assert legend_names(views) == ["a"]
    panel.browser.select(run.key)
    panel.browser.rename_selected("renamed")  # as the run list's Rename does
    assert legend_names(views) == ["renamed"] and [p.label for p in views.weights.plots] == ["renamed"]
    # a queue's run: unticked, it leaves both views; ticked again, it is back
    panel.browser.set_checked(run.key, False)
    panel.start_queue([tiny_config()])
    panel.on_event(epoch_end(0, 1))
    label = panel.records[0].label
    assert legend_names(views) == [label] and views.weights.hidden == []
    views.set_queue_run_shown(0, False, label)
    assert legend_names(views) == [] and not views.parts.runs[0].recon_curve.isVisible()
    assert views.weights.queue[0] in views.weights.hidden
    views.set_queue_run_shown(0, True, label)
    assert legend_names(views) == [label] and views.weights.hidden == []


def test_the_report_draws_the_parts_and_the_weights(tmp_path):
    from vae_explorer.report import Heading, Plot, build_document, write_pdf
    from vae_explorer.report.curves import run_colours
    from vae_explorer.report.epochs import parts_drawing, weights_drawing

    a = read_run(trained_run(tmp_path, "mog"))
    b = read_run(trained_run(tmp_path, "standard", prior="standard"))
    assert parts_drawing([a, b], run_colours([a, b])) is not None
    caption = weights_drawing([a, b])[2]
    assert "No weights recorded: standard" in caption
    blocks = build_document([a, b])
    headings = [blk.text for blk in blocks if isinstance(blk, Heading)]
    assert "The bound's two parts per epoch" in headings and "Mixture weights per epoch" in headings
    assert sum(isinstance(blk, Plot) for blk in blocks) >= 2
    with open(tmp_path / "r.pdf", "wb") as fh:
        assert write_pdf(blocks, fh) >= 2
