"""The Lab tab on a 2-D checkpoint: its figures and numbers, picking an image, exports, and the tab
disabled for a model that is not 2-D."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from apphelpers import open_and_show, tiny_config
from PySide6.QtCore import QPointF, Qt
from test_explorer_panels import check_exports

from vae_explorer.app.inference import InferenceService
from vae_explorer.app.panels.lab import LabPanel
from vae_explorer.core.config import ModelConfig


@pytest.fixture
def checkpoint_2d(tmp_path):
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import Trainer

    config = replace(tiny_config(epochs=1), model=ModelConfig(hidden=32, latent_dim=2, components=3))
    Trainer(config, load_splits(config.data), tmp_path / "lab").run()
    return tmp_path / "lab" / "model.pt"


@pytest.fixture
def service(qtbot):
    svc = InferenceService()
    yield svc
    svc.shutdown()


def drawn(panel) -> bool:
    return panel.view is not None and panel.figure is not None and panel.grid.image() is not None


def test_the_lab_draws_a_2d_model(qtbot, service, checkpoint_2d, tmp_path):
    panel = LabPanel(service)
    qtbot.addWidget(panel)
    panel.resize(1024, 650)
    panel.show()
    with qtbot.waitSignal(service.model_loaded, timeout=30_000):
        service.load_checkpoint(str(checkpoint_2d))
    qtbot.waitUntil(lambda: drawn(panel), timeout=120_000)
    view = panel.view
    assert view.index == 0 and view.converged
    text = panel.numbers.text().replace("&nbsp;", " ")
    assert "exact −log p(x)" in text and "IW-5,000" in text and "KL(q ‖ p(z|x))" in text
    assert f"{-view.log_px:.2f}" in text
    # the heat map spans the view's extent; q's ellipses are centred on q's mean
    rect = panel.heat.mapRectToView(panel.heat.boundingRect())
    assert rect.left() == pytest.approx(view.extent[0]) and rect.right() == pytest.approx(view.extent[1])
    for scale, curve in enumerate(panel.q_curves, 1):  # the 1, 2 and 3 sigma ellipses of q(z|x)
        xs, ys = curve.getData()
        r2 = ((xs - view.q_mean[0]) / view.q_std[0]) ** 2 + ((ys - view.q_mean[1]) / view.q_std[1]) ** 2
        np.testing.assert_allclose(r2, scale**2, rtol=1e-6)
    # the bound: IW-k falling towards the exact line
    ks, nll = panel.iw_curve.getOriginalDataset()
    assert ks[0] == 1 and ks[-1] == 5000 and nll[-1] >= -view.log_px - 0.05
    # a click on a test image picks it
    x, y = panel.grid.cell_centre(7)
    qtbot.mouseClick(panel.grid, Qt.MouseButton.LeftButton, pos=QPointF(x, y).toPoint())
    qtbot.waitUntil(lambda: panel.view is not None and panel.view.index == 7, timeout=60_000)
    assert panel.spin.value() == 7 and panel.grid.selected == 7
    panel.spin.setValue(12)
    qtbot.waitUntil(lambda: panel.view.index == 12, timeout=60_000)
    # the manifold's contours lie inside its plane
    lo1, hi1, _lo2, _hi2 = panel.figure.data.extent
    for item in (*panel.prior_lines, *panel.aggregate_lines):
        px, _py = item.getData()
        if px is not None and len(px):
            finite = np.isfinite(px)
            assert (px[finite] >= lo1 - 1e-9).all() and (px[finite] <= hi1 + 1e-9).all()
    # nothing of the prior is drawn outside the view (an SVG export keeps no clipping)
    (x0, x1), (y0, y1) = panel.posterior_plot.getPlotItem().getViewBox().viewRange()
    for item in (panel.prior_curves, panel.prior_marks):
        px, py = item.getData()
        finite = np.isfinite(px) & np.isfinite(py)
        assert ((px[finite] >= x0) & (px[finite] <= x1) & (py[finite] >= y0) & (py[finite] <= y1)).all()
    targets = panel.export_targets()
    assert set(targets) == {"lab_posterior", "lab_bound", "lab_manifold"}
    for stem, (_, widget) in targets.items():
        check_exports(widget, tmp_path, stem)


def test_the_lab_tab_is_enabled_for_2d_models_only(window, qtbot, checkpoint, checkpoint_2d):
    lab = next(p for p in window.panels if isinstance(p, LabPanel))
    index = window.tabs.indexOf(lab)
    open_and_show(window, qtbot, checkpoint)  # an 8-D model
    assert not window.tabs.isTabEnabled(index) and "2-D" in window.tabs.tabToolTip(index)
    assert lab.export_targets() == {}
    assert all(not stem.startswith("lab_") for stem, _, _ in window.figures())
    open_and_show(window, qtbot, checkpoint_2d)
    assert window.tabs.isTabEnabled(index)
    window.tabs.setCurrentWidget(lab)
    qtbot.waitUntil(lambda: drawn(lab), timeout=120_000)
    assert lab.notice_text() == ""
    assert {"lab_posterior", "lab_bound", "lab_manifold"} <= {s for s, _, _ in window.figures()}


def test_the_lab_declines_a_categorical_model_and_says_why(qtbot, tmp_path):
    """Its exact posterior takes minutes and gigabytes an image (256 logits a pixel) on the
    figures' worker: the tab is off, and its tooltip and notice say why."""
    from vae_explorer.app.inference import ModelInfo
    from vae_explorer.app.panels.lab import NOT_CATEGORICAL, applies_to, why_not

    config = replace(
        tiny_config(), model=ModelConfig(hidden=32, latent_dim=2, components=3, likelihood="categorical")
    )
    info = ModelInfo("x.pt", config, 1, 100.0, None, 1, None, None, "x")
    assert not applies_to(info) and why_not(info) == NOT_CATEGORICAL
    gaussian = replace(config, model=replace(config.model, likelihood="gaussian"))
    assert applies_to(ModelInfo("y.pt", gaussian, 1, 100.0, None, 1, None, None, "y"))


def test_the_settings_offer_the_2d_lab_preset(qtbot):
    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.app.settings_dialog import SettingsDialog
    from vae_explorer.core.config import RunConfig

    dialog = SettingsDialog(TrainingSettings(RunConfig(), (1e-3,)))
    qtbot.addWidget(dialog)
    index = dialog.preset.findData("lab2d")
    assert dialog.preset.itemText(index) == "2-D lab"
    dialog.preset.setCurrentIndex(index)
    dialog.preset.activated.emit(index)
    s = dialog.settings()
    assert s.config.model.latent_dim == 2 and s.config.model.components == 10 and s.lrs == (3e-3,)
    assert dialog.preset.currentData() == "lab2d"


def test_a_click_past_the_last_test_image_picks_nothing(qtbot, service):
    """With fewer test images than cells the grid ends in blank cells; a click there used to ask
    for an image that does not exist."""
    panel = LabPanel(service)
    qtbot.addWidget(panel)
    panel.spin.setRange(0, 19)  # 20 test images: cells 20 and on are blank
    panel.pick(30)
    assert panel.index == 0 and panel.spin.value() == 0 and panel.grid.selected != 30
    panel.pick(7)
    assert panel.index == 7 and panel.spin.value() == 7
