"""The curve plot on its own: points, best marker, hover read-out, log axis, divergence mark."""

from PySide6.QtCore import QPointF

from vae_explorer.app.plot import CurvePlot


def test_curves_hover_and_log_axis(qtbot):
    plot = CurvePlot()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    a = plot.add_run("lr=0.001")
    b = plot.add_run("lr=0.01")
    for epoch, (va, vb) in enumerate([(150.0, 140.0), (120.0, 130.0), (110.0, 135.0)], 1):
        plot.add_epoch(a, epoch, va + 5, va, epoch, va)
        plot.add_epoch(b, epoch, vb + 5, vb, 1 if epoch > 1 else epoch, min(vb, 140.0) if epoch == 1 else 130.0)
    qtbot.wait(50)
    x, y = plot.points(a)
    assert list(x) == [1, 2, 3] and list(y) == [150.0, 120.0, 110.0]
    assert list(plot.runs[a].best_marker.data["y"]) == [110.0]
    vb = plot.plot.getViewBox()
    scene = vb.mapViewToScene(QPointF(2, 120.0))
    assert plot.nearest_point(scene) == ("lr=0.001", 2, 120.0)
    plot._on_mouse_moved(scene)
    assert plot.hover.isVisible() and "120.00" in plot.hover.textItem.toPlainText()
    plot.set_train_visible(False)
    assert not plot.runs[a].train_curve.isVisible()
    plot.set_log_y(True)
    qtbot.wait(50)
    scene = vb.mapViewToScene(QPointF(3, 2.0413926851582250))  # log10(110)
    assert plot.nearest_point(scene) == ("lr=0.001", 3, 110.0)
    plot.mark_diverged(b)
    assert plot.runs[b].diverged
    labels = [label.text for _, label in plot.legend.items]
    assert "lr=0.01 (diverged)" in labels
    plot.clear()
    assert plot.runs == [] and plot.legend.items == []
