"""The report figures: the nll curve's epoch axis has whole-number ticks, also for a single epoch."""

from __future__ import annotations

import pytest
from PIL import Image

from vae_explorer import figures


def visible_xticks(ax) -> list[float]:
    low, high = sorted(ax.get_xlim())
    return [t for t in ax.get_xticks() if low - 1e-9 <= t <= high + 1e-9]


def tick_labels(fig, ax) -> list[str]:
    fig.canvas.draw()
    low, high = sorted(ax.get_xlim())
    return [
        lab.get_text().replace("\u2212", "-")
        for lab in ax.get_xticklabels()
        if low - 1e-9 <= lab.get_position()[0] <= high + 1e-9
    ]


def history(epochs: int, start: float = 200.0) -> list[tuple[int, float]]:
    return [(e, start - 3.0 * e) for e in range(1, epochs + 1)]


@pytest.mark.parametrize("epochs", [1, 2, 7, 150])
def test_curve_epoch_ticks_are_whole_numbers(epochs):
    plt = figures._pyplot()
    fig = figures.curves_figure({"validation": history(epochs)})
    try:
        ax = fig.axes[0]
        ticks = visible_xticks(ax)
        assert ticks, "no epoch ticks at all"
        assert all(float(t).is_integer() for t in ticks), ticks
        labels = tick_labels(fig, ax)
        assert labels and all(lab.lstrip("-").isdigit() for lab in labels), labels
        assert min(ticks) >= 0
    finally:
        plt.close(fig)


def test_single_epoch_curve_is_a_visible_point_at_epoch_one():
    plt = figures._pyplot()
    fig = figures.curves_figure({"validation": [(1, 180.5)]})
    try:
        ax = fig.axes[0]
        assert visible_xticks(ax) == [1.0]
        low, high = ax.get_xlim()
        assert high - low >= 0.5  # not matplotlib's 0.96..1.04 for a single x
        (line,) = ax.get_lines()
        assert line.get_marker() not in (None, "", "None", " ")
        assert line.get_markersize() >= 5
    finally:
        plt.close(fig)


def test_overlaid_curves_of_different_lengths_have_whole_number_ticks():
    plt = figures._pyplot()
    curves = {"lr=0.001": history(7), "lr=0.01": history(1, 210.0), "lr=1e+30": []}
    fig = figures.curves_figure(curves)
    try:
        ax = fig.axes[0]
        ticks = visible_xticks(ax)
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert 1.0 in ticks and 7.0 in ticks
        assert ax.get_legend() is not None
    finally:
        plt.close(fig)


def test_save_curves_writes_png_and_pdf(tmp_path):
    paths = [tmp_path / "nll_val_curve.png", tmp_path / "nll_val_curve.pdf"]
    figures.save_curves({"validation": history(1)}, paths)
    assert Image.open(paths[0]).size[0] > 100
    assert paths[1].read_bytes().startswith(b"%PDF")


def test_run_figures_label_a_gaussian_models_nll_as_continuous(tmp_path, monkeypatch):
    import torch

    from vae_explorer.core.config import ModelConfig, RunConfig
    from vae_explorer.core.model import new_model

    labels = []
    monkeypatch.setattr(
        figures, "save_curves", lambda curves, paths, ylabel="nll", log_y=False: labels.append(ylabel)
    )
    for likelihood in ("bernoulli", "gaussian"):
        config = RunConfig(model=ModelConfig(hidden=8, latent_dim=2, components=2, likelihood=likelihood))
        weights = new_model(config.model, torch.Generator()).state_dict()
        images = torch.zeros(16, 784, dtype=torch.uint8)
        figures.write_run_figures(tmp_path, config, weights, images, [{"epoch": 1, "val_nll": 100.0}])
        figures.write_comparison(tmp_path, {"a": [(1, 1.0)]}, figures.nll_label(likelihood))
    assert labels[:2] == ["nll (nats)"] * 2
    assert all("continuous" in label and "not comparable" in label for label in labels[2:])
