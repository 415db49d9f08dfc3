"""The explorer panels on a loaded checkpoint: rendering, clicks, scrubbing and exports."""

import threading
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage

from vae_explorer.app.export import export_widget
from vae_explorer.app.inference import InferenceService
from vae_explorer.app.panels.components import ComponentsPanel
from vae_explorer.app.panels.interpolation import InterpolationPanel
from vae_explorer.app.panels.latent_map import LatentMapPanel


@pytest.fixture
def service(qtbot):
    svc = InferenceService()
    yield svc
    svc.shutdown()


def loaded(qtbot, service, panel_cls, checkpoint):
    panel = panel_cls(service)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    with qtbot.waitSignal(service.model_loaded, timeout=30_000):
        service.load_checkpoint(str(checkpoint))
    return panel


def check_exports(widget, folder, stem):
    for suffix in (".png", ".svg", ".pdf"):
        path = export_widget(widget, folder / f"{stem}{suffix}")
        if suffix == ".png":
            assert not QImage(str(path)).isNull()
        elif suffix == ".pdf":
            assert path.read_bytes().startswith(b"%PDF")
        else:
            assert ET.parse(path).getroot().tag.endswith("svg")


def test_components_panel(qtbot, service, checkpoint, tmp_path):
    panel = loaded(qtbot, service, ComponentsPanel, checkpoint)
    qtbot.waitUntil(
        lambda: len(panel.row_images()) == 4 and all(i is not None for i in panel.row_images()),
        timeout=30_000,
    )
    assert panel.weights.shape == (4,) and abs(panel.weights.sum() - 1) < 1e-5
    assert "weight " in panel.rows[0].label.text()
    # each row says what its component explains, and the shares add up to all test images
    comps = panel.result.components
    assert panel.result.images > 0 and sum(c.count for c in comps) == panel.result.images
    assert "explains " in panel.rows[0].label.text()
    assert "components in use" in panel.summary.text()
    shown = [k for k in range(4) if k not in panel.unused]
    k = shown[0]
    c = comps[k]
    assert panel.rows[k].bar.counts == c.class_counts and sum(c.class_counts) == c.count
    assert panel.rows[k].typical.image() is not None and panel.rows[k].typical.image().shape[0] == 30
    before = panel.rows[k].view.image().copy()
    view = panel.rows[k].view
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.rect().center())
    qtbot.waitUntil(lambda: not np.array_equal(panel.rows[k].view.image(), before), timeout=30_000)
    panel.order_by.setCurrentIndex(panel.order_by.findData("weight"))
    assert list(panel.order) == list(np.argsort(-panel.weights, kind="stable"))
    panel.order_by.setCurrentIndex(panel.order_by.findData("usage"))
    shares = [c.share for c in panel.result.components]
    assert list(panel.order) == list(np.argsort(-np.array(shares), kind="stable"))
    panel.mean_only.setChecked(True)
    qtbot.waitUntil(lambda: panel.row_images()[0].shape[1] < 60, timeout=30_000)  # one image per row
    panel.mean_only.setChecked(False)
    panel.temperature.setValue(50)
    assert panel.temperature_label.text() == "0.50"
    for stem, (_, widget) in panel.export_targets().items():
        check_exports(widget, tmp_path, stem)


def test_interpolation_panel(qtbot, service, checkpoint, tmp_path):
    panel = loaded(qtbot, service, InterpolationPanel, checkpoint)
    qtbot.waitUntil(lambda: panel.result is not None and panel.gallery_count > 0, timeout=30_000)
    assert panel.result.frames.shape[0] == 10
    assert panel.caption.text() == "test image #0 → test image #1: linear interpolation, 10 steps"
    # clicking a frame of the strip shows it large
    rect = panel.strip_view.image_rect()
    pos = QPointF(rect.x() + rect.width() * 0.75, rect.center().y()).toPoint()
    qtbot.mouseClick(panel.strip_view, Qt.MouseButton.LeftButton, pos=pos)
    assert panel.scrub.value() == 7
    np.testing.assert_array_equal(panel.current_view.image(), panel.result.frames[7])
    panel.steps.setValue(6)
    qtbot.waitUntil(lambda: panel.result.frames.shape[0] == 6, timeout=30_000)
    panel.scrub.setValue(5)
    np.testing.assert_array_equal(panel.current_view.image(), panel.result.frames[5])
    assert "t = 1.00" in panel.scrub_label.text()
    # gallery: shift+click chooses the end image
    view = panel.gallery
    rect = view.image_rect()
    pos = QPointF(rect.x() + rect.width() * (3.5 / panel.gallery_count), rect.center().y()).toPoint()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, pos)
    assert panel.image_b.value() == 3
    # the chosen start and end are framed in the gallery
    assert panel.gallery.marks == {panel.image_a.value(): ("#2ca02c", "A"), 3: ("#ff7f0e", "B")}
    panel.mode.setCurrentIndex(panel.mode.findData("means"))
    assert panel.gallery.marks == {}  # a path between component means marks no test image
    panel.method.setCurrentIndex(panel.method.findData("spherical"))
    qtbot.waitUntil(lambda: panel.selection()[0] == "means" and panel.result is not None, timeout=30_000)
    panel.mode.setCurrentIndex(panel.mode.findData("prior"))
    panel.new_pair.click()
    qtbot.wait(200)
    check_exports(panel.figure, tmp_path, "interpolation")


def test_latent_map_click_shows_the_image(qtbot, service, checkpoint, tmp_path):
    panel = loaded(qtbot, service, LatentMapPanel, checkpoint)
    qtbot.waitUntil(lambda: panel.data is not None, timeout=30_000)
    data = panel.data
    # bounded by the model's test set (128 images in its settings), which the spin box follows
    assert data.coords.shape == (128, 2) and len(data.component_coords) == 4
    assert panel.limit.maximum() == 128 and panel.limit.value() == 128
    assert panel.legend.items  # digits and component means
    qtbot.wait(100)
    index = 5
    pos = panel.plot.mapFromScene(panel.scene_pos_of(index))
    qtbot.mouseClick(panel.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: panel.image_view.image() is not None, timeout=10_000)
    picked = panel.selected
    np.testing.assert_allclose(data.coords[picked], data.coords[index], atol=0.5)
    np.testing.assert_array_equal(panel.image_view.image(), data.images[picked])
    np.testing.assert_array_equal(panel.recon_view.image(), data.reconstructions[picked])
    # empty space decodes that point
    far = data.coords.max(0) + 10
    panel.plot.setXRange(data.coords[:, 0].min(), far[0])
    panel.plot.setYRange(data.coords[:, 1].min(), far[1])
    qtbot.wait(100)
    vb = panel.plot.getPlotItem().getViewBox()
    empty = panel.plot.mapFromScene(vb.mapViewToScene(QPointF(far[0] - 1, far[1] - 1)))
    qtbot.mouseClick(panel.plot.viewport(), Qt.MouseButton.LeftButton, pos=empty)
    qtbot.waitUntil(
        lambda: (
            panel.image_title.text() == "<b>Decoded point</b>"
            and panel.image_view.image() is not None
            and panel.recon_view.image() is None
        ),
        timeout=10_000,
    )
    check_exports(panel.plot, tmp_path, "latent_map")
    # the scatter is exported as vectors (one path per point), not as a pasted pixmap atlas
    assert (tmp_path / "latent_map.svg").read_text().count("<path") >= len(data.coords)


def test_latent_map_redraws_in_place(qtbot, service, checkpoint):
    """A new model's map reuses the plot items; a prior without components drops their marks."""
    panel = loaded(qtbot, service, LatentMapPanel, checkpoint)
    qtbot.waitUntil(lambda: panel.data is not None, timeout=30_000)
    data = panel.data

    def legend_names():
        return [label.text for _, label in panel.legend.items]

    def counts():
        return {d: len(item.data) for d, item in panel.scatters.items()}

    digits = sorted({int(d) for d in data.labels})
    assert legend_names() == [str(d) for d in digits] + ["component means"]
    assert counts() == {d: int((data.labels == d).sum()) for d in digits}
    items = dict(panel.scatters)
    moved = replace(
        data,
        coords=data.coords + 1.0,
        component_coords=data.component_coords[:2] + 1.0,
        component_weights=data.component_weights[:2],
        in_use=np.array([True, True]),
    )
    panel._show(moved)
    assert panel.scatters == items  # the same items, given new data
    first = next(iter(items))
    np.testing.assert_allclose(panel.scatters[first].getData()[0], moved.coords[data.labels == first, 0])
    shown = [label for label in panel.mean_labels if label.isVisible()]
    assert [label.toPlainText() for label in shown] == ["0", "1"]
    assert [(label.pos().x(), label.pos().y()) for label in shown] == [
        tuple(p) for p in moved.component_coords
    ]
    # a standard-prior model: no component marks and no legend entry for them
    plain = replace(data, component_coords=np.zeros((0, 2)), component_weights=np.zeros(0), in_use=None)
    panel._show(plain)
    assert legend_names() == [str(d) for d in digits]
    assert not any(label.isVisible() for label in panel.mean_labels)
    assert len(panel.means.data) == 0
    # fewer digits among the points shown: the legend lists only those
    keep = data.labels < 5
    panel._show(replace(plain, coords=data.coords[keep], labels=data.labels[keep]))
    assert legend_names() == [str(d) for d in digits if d < 5]
    assert sum(counts().values()) == int(keep.sum())


def test_window_fits_900_px_wide_without_clipping(window, qtbot, checkpoint):
    """Every tab's controls fit a 900 x 650 window (the Components row alone once needed 1018 px)."""
    from apphelpers import open_and_show
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractScrollArea,
        QAbstractSpinBox,
        QComboBox,
        QLabel,
        QSlider,
    )

    open_and_show(window, qtbot, checkpoint)
    _, components, interpolation, latent_map = window.panels[:4]
    qtbot.waitUntil(
        lambda: (
            len(components.row_images()) == 4
            and interpolation.result is not None
            and latent_map.data is not None
        ),
        timeout=60_000,
    )
    assert window.minimumSizeHint().width() <= 900
    window.resize(900, 650)
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        qtbot.wait(50)
        page = window.tabs.widget(i)
        assert window.width() == 900 and page.minimumSizeHint().width() <= page.width(), window.tabs.tabText(
            i
        )
        kinds = (QLabel, QAbstractButton, QComboBox, QAbstractSpinBox, QSlider)
        checked = 0
        for w in (w for kind in kinds for w in page.findChildren(kind)):
            scrolled, parent = False, w.parentWidget()
            while parent is not None and parent is not page:
                scrolled = scrolled or isinstance(parent, QAbstractScrollArea)
                parent = parent.parentWidget()
            if not w.isVisible() or scrolled or (isinstance(w, QLabel) and w.wordWrap()):
                continue
            where = f"{window.tabs.tabText(i)}: {type(w).__name__} {getattr(w, 'text', lambda: '')()!r}"
            assert w.width() >= w.minimumSizeHint().width(), where
            assert page.rect().contains(QRect(w.mapTo(page, QPoint(0, 0)), w.size())), where
            checked += 1
        assert checked >= 3
        if page is latent_map:  # the legend stays inside the plot (a wide title once pushed it out)
            assert latent_map.legend.sceneBoundingRect().right() <= latent_map.plot.viewport().width()


def test_unused_components_fold_into_one_line_that_opens_on_click(qtbot, service):
    from vae_explorer.app.panels.components_data import ComponentInfo, ComponentRows

    panel = ComponentsPanel(service)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    strip = np.zeros((30, 59), np.float32)
    weights = np.array([0.6, 1e-9, 0.4 - 2e-9, 1e-9])
    comps = tuple(
        ComponentInfo(w, share, count, d, p, counts, strip if count else None)
        for w, share, count, d, p, counts in (
            (0.6, 0.55, 55, 7, 0.8, (0, 0, 0, 0, 0, 0, 0, 44, 0, 11)),
            (1e-9, 0.0, 0, None, float("nan"), (0,) * 10),
            (0.4, 0.45, 45, 1, 1.0, (0, 45, 0, 0, 0, 0, 0, 0, 0, 0)),
            (1e-9, 0.0, 0, None, float("nan"), (0,) * 10),
        )
    )
    panel._show(ComponentRows(np.stack([strip] * 4), weights, comps, 100))
    assert panel.unused == {1, 3}
    assert panel.fold.isVisible() and "2 components unused" in panel.fold.text()
    assert "weight below 0.001" in panel.fold.text()
    assert not panel.rows[1].view.isVisible() and panel.rows[0].view.isVisible()
    assert (
        "2 of 4 components in use" in panel.summary.text() and "purity 89%" in panel.summary.text()
    )  # .55 x .8 + .45 x 1
    assert "digit 7, 80% pure" in panel.rows[0].label.text()
    qtbot.mouseClick(panel.fold, Qt.MouseButton.LeftButton)
    assert panel.rows[1].view.isVisible() and panel.rows[3].view.isVisible()
    assert "click to hide" in panel.fold.text()
    # by weight: the unused rows stay below the line, the used ones above in weight order
    panel.order_by.setCurrentIndex(panel.order_by.findData("weight"))
    grid = panel.rows_layout
    assert grid.getItemPosition(grid.indexOf(panel.rows[0].label))[0] == 1
    assert grid.getItemPosition(grid.indexOf(panel.rows[2].label))[0] == 2
    assert grid.getItemPosition(grid.indexOf(panel.fold))[0] == 3
    qtbot.mouseClick(panel.fold, Qt.MouseButton.LeftButton)
    assert not panel.rows[3].view.isVisible()


def test_latent_map_colours_points_by_the_component_that_explains_them(qtbot, service, checkpoint):
    from vae_explorer.core.checkpoint import load_checkpoint
    from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input
    from vae_explorer.core.likelihood import latent_statistics

    panel = loaded(qtbot, service, LatentMapPanel, checkpoint)
    qtbot.waitUntil(lambda: panel.data is not None, timeout=30_000)
    assert panel.colour_kind == "digit" and set(panel.scatters) <= set(range(10))
    panel.colour_by.setCurrentIndex(panel.colour_by.findData("component"))
    data = panel.data
    # the same assignment as the evaluation's component statistics, computed independently here
    model, config, _ = load_checkpoint(checkpoint)
    splits = load_splits(config.data.test_only(len(data.labels)))
    x = model_input(splits.test_images, config.model.likelihood, TEST_BINARISE_SEED)
    expected = latent_statistics(model, x, None).assignments
    np.testing.assert_array_equal(data.components, expected)
    assert set(panel.scatters) == set(np.unique(expected).tolist())
    assert sum(len(item.data) for item in panel.scatters.values()) == len(data.labels)
    assert "component that explains" in panel.plot.getPlotItem().titleLabel.text
    panel.select(3)
    assert f"component {int(expected[3])}" in panel.image_title.text()
    panel.colour_by.setCurrentIndex(panel.colour_by.findData("digit"))
    assert set(panel.scatters) == set(np.unique(data.labels).tolist())


def test_the_latent_maps_selection_mark_stays_out_of_the_export(qtbot, service, checkpoint, tmp_path):
    panel = loaded(qtbot, service, LatentMapPanel, checkpoint)
    qtbot.waitUntil(lambda: panel.data is not None, timeout=30_000)
    panel.select(0)
    assert panel.marker.isVisible() and len(panel.marker.data) == 1
    seen = []
    from vae_explorer.app import export

    original = export._export_png

    def spy(widget, path, size, scale=2):
        seen.append(panel.marker.isVisible())
        original(widget, path, size, scale)

    import pytest

    mp = pytest.MonkeyPatch()
    mp.setattr(export, "_export_png", spy)
    try:
        export_widget(panel.plot, tmp_path / "map.png")
    finally:
        mp.undo()
    assert seen == [False] and panel.marker.isVisible()


def test_a_long_evaluation_holds_no_figure_up(qtbot, service, checkpoint):
    """The Evaluation tab's minutes-long job runs in a worker of its own, beside the figures'."""
    with qtbot.waitSignal(service.model_loaded, timeout=30_000):
        service.load_checkpoint(str(checkpoint))
    release = threading.Event()
    evaluated, drawn = [], []

    def long_job(ctx):  # stands in for an IW-NLL of thousands of samples
        assert release.wait(60)
        return ctx.checkpoint

    service.submit("evaluation", long_job, evaluated.append)
    service.submit("figure", lambda ctx: ctx.model.sample(4, torch.Generator()).shape, drawn.append)
    try:
        qtbot.waitUntil(lambda: bool(drawn), timeout=30_000)  # while the evaluation still runs
        assert not evaluated and drawn == [(4, 784)]
    finally:
        release.set()
    qtbot.waitUntil(lambda: bool(evaluated), timeout=30_000)
    assert evaluated == [str(checkpoint)]  # the second worker holds the same model


def test_latent_map_hover_then_click_picks_that_point(qtbot, service, checkpoint):
    """Hovering shows a point without moving the plot, so a click there picks the same point."""
    panel = loaded(qtbot, service, LatentMapPanel, checkpoint)
    qtbot.waitUntil(lambda: panel.data is not None, timeout=30_000)
    qtbot.wait(100)
    data = panel.data
    # a point with no other within the pick radius, so that the pick is unambiguous
    vb = panel.plot.getPlotItem().getViewBox()
    px = np.array(vb.viewPixelSize())
    apart = [
        i
        for i in range(len(data.coords))
        if (np.hypot(*((data.coords - data.coords[i]) / px).T) < 12).sum() == 1
    ]
    index = apart[0]
    size = panel.plot.size()
    pos = panel.plot.mapFromScene(panel.scene_pos_of(index))
    qtbot.mouseMove(panel.plot.viewport(), pos)
    panel._hovered(panel.scene_pos_of(index))
    qtbot.wait(100)
    assert panel.selected == index and panel.image_title.text().startswith(f"<b>Test image #{index}</b>")
    assert panel.plot.size() == size  # the longer title wraps in its fixed column
    qtbot.mouseClick(
        panel.plot.viewport(),
        Qt.MouseButton.LeftButton,
        pos=panel.plot.mapFromScene(panel.scene_pos_of(index)),
    )
    qtbot.wait(100)
    assert panel.selected == index and panel.image_title.text() != "<b>Decoded point</b>"
    np.testing.assert_array_equal(panel.image_view.image(), data.images[index])


def test_latent_map_and_components_tab_agree_on_unused_components(qtbot, service, checkpoint):
    from vae_explorer.core.likelihood import IN_USE_SHARE

    tab = ComponentsPanel(service)  # before the model comes, so that it draws it too
    qtbot.addWidget(tab)
    tab.show()
    panel = loaded(qtbot, service, LatentMapPanel, checkpoint)
    qtbot.waitUntil(lambda: panel.data is not None and tab.result is not None, timeout=60_000)
    shares = np.array([c.share for c in tab.result.components])
    np.testing.assert_array_equal(panel.data.in_use, shares >= IN_USE_SHARE)
    assert {k for k, used in enumerate(panel.data.in_use) if not used} == tab.unused
