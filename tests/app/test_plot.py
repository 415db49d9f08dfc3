"""The curve plot on its own: points, best marker, hover read-out, log axis, divergence mark, legend."""

import math

import pytest
from apphelpers import feed, live_run
from PySide6.QtCore import QPointF, QRectF, Qt

from vae_explorer.app.plot import NO_DATA_COLOUR, CurvePlot

VALUES = (210.0, 200.0, 190.0, 185.0)  # a run's validation nll, epochs 1 to 4


def test_curves_hover_and_log_axis(qtbot):
    plot = CurvePlot()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    a = live_run(plot, "lr=0.001")
    b = live_run(plot, "lr=0.01")
    for epoch, (va, vb) in enumerate([(150.0, 140.0), (120.0, 130.0), (110.0, 135.0)], 1):
        feed(plot, a, epoch, va + 5, va, epoch, va)
        feed(plot, b, epoch, vb + 5, vb, 1 if epoch > 1 else epoch, min(vb, 140.0) if epoch == 1 else 130.0)
    qtbot.wait(50)
    x, y = plot.points(a)
    assert list(x) == [1, 2, 3] and list(y) == [150.0, 120.0, 110.0]
    assert list(plot.runs[a].best_marker.getData()[1]) == [110.0]
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
    assert labels == ["lr=0.001", "lr=0.01 (diverged)"]
    plot.clear()
    assert plot.runs == [] and plot.legend.items == []


def _plot(qtbot, size=(900, 500)) -> CurvePlot:
    plot = CurvePlot()
    qtbot.addWidget(plot)
    plot.resize(*size)
    plot.show()
    return plot


def _scene_pos(plot: CurvePlot, item, i: int = 0) -> QPointF:
    """Where `item` draws its i-th point, in scene pixels (through whatever log transform it applies)."""
    x, y = item.getData()
    return plot.plot.getViewBox().mapViewToScene(QPointF(float(x[i]), float(y[i])))


@pytest.mark.parametrize("with_first_epoch_divergence", [False, True])
def test_log_axis_keeps_the_range_and_the_stars_on_their_points(qtbot, with_first_epoch_divergence):
    """The best-epoch stars were ScatterPlotItems in linear units: on the log axis a star at 185
    sat at 10^185, the y range became ~1e-27..1e199 and every curve a flat line."""
    plot = _plot(qtbot)
    if with_first_epoch_divergence:
        plot.add_run("lr=1e+06")
    r = live_run(plot, "lr=0.001")
    for epoch, v in enumerate(VALUES, 1):
        feed(plot, r, epoch, v + 20, v, epoch, min(VALUES[:epoch]))
    if with_first_epoch_divergence:
        plot.mark_diverged(0)
    qtbot.wait(50)
    vb = plot.plot.getViewBox()
    linear = vb.viewRange()[1]

    plot.set_log_y(True)
    qtbot.wait(50)
    lo, hi = vb.viewRange()[1]
    # the data span log10(185) = 2.267 .. log10(230) = 2.362: the view stays within a decade of it
    assert 2.1 < lo < math.log10(185) and math.log10(230) < hi < 2.5, (lo, hi)
    assert plot.plot.getAxis("left").autoSIPrefixScale == 1.0  # no "(x1e+27)" on the axis
    star = plot.runs[r].best_marker
    assert star.getData()[1][0] == pytest.approx(math.log10(185.0))
    on_curve = vb.mapViewToScene(QPointF(4, math.log10(185.0)))
    assert (_scene_pos(plot, star) - on_curve).manhattanLength() < 1.0
    assert vb.sceneBoundingRect().contains(_scene_pos(plot, star))  # the star is in sight
    # the axis labels round nll values, not a single "2·10²"
    axis = plot.plot.getAxis("left")
    labels = [
        s
        for _, values in axis.tickValues(lo, hi, vb.height())
        for s in axis.tickStrings(values, 1.0, _)
        if values
    ]
    assert len(labels) >= 3 and all(s.replace(".", "").isdigit() for s in labels), labels

    plot.set_log_y(False)
    qtbot.wait(50)
    assert vb.viewRange()[1] == pytest.approx(linear)
    assert star.getData()[1][0] == 185.0
    assert (_scene_pos(plot, star) - vb.mapViewToScene(QPointF(4, 185.0))).manhattanLength() < 1.0


def test_first_epoch_divergence_draws_nothing_at_zero_and_keeps_the_legend_order(qtbot):
    """A run that diverged before any finite epoch got a red cross at nll = 0 (the y-axis then
    reached down to 0) and its legend entry moved to the end, in a colour drawn nowhere."""
    plot = _plot(qtbot)
    first = plot.add_run("lr=1e+06")
    ok = live_run(plot, "lr=0.001")
    late = live_run(plot, "lr=0.05")
    for epoch, v in enumerate(VALUES, 1):
        feed(plot, ok, epoch, v + 20, v, epoch, v)
    for epoch, v in enumerate((230.0, 220.0), 1):
        feed(plot, late, epoch, v + 20, v, epoch, v)
    plot.mark_diverged(first)
    plot.mark_diverged(late)
    qtbot.wait(50)

    assert all(len(a) == 0 for a in plot.runs[first].end_marker.getData() if a is not None)
    lo, hi = plot.plot.getViewBox().viewRange()[1]
    assert 150 < lo < 185 and 250 < hi < 300, (lo, hi)  # nothing pulls the axis down to 0
    # the later divergence: a cross at the epoch it died in, at its last finite value, in its colour
    x, y = plot.runs[late].end_marker.getData()
    assert list(x) == [3] and list(y) == [220.0]
    assert plot.runs[late].end_marker.opts["symbolBrush"].color().name() == plot.runs[late].colour

    labels = [label.text for _, label in plot.legend.items]
    assert labels == ["lr=1e+06 (diverged)", "lr=0.001", "lr=0.05 (diverged)"]
    samples = [sample.item for sample, _ in plot.legend.items]
    assert samples == [run.val_curve for run in plot.runs]
    for run in (plot.runs[ok], plot.runs[late]):  # the legend's line is the curve's own colour
        assert run.val_curve.opts["pen"].color().name() == run.colour
    nothing = plot.runs[first].val_curve.opts  # no line: a grey cross, a colour no curve has
    assert nothing["pen"] is None or nothing["pen"].style() == Qt.PenStyle.NoPen
    assert nothing["symbol"] == "x" and nothing["symbolBrush"].color().name() == NO_DATA_COLOUR
    assert NO_DATA_COLOUR not in [r.colour for r in plot.runs]


@pytest.mark.parametrize("size", [(1280, 520), (900, 330)])
def test_many_runs_legend_is_readable_and_hides_no_data(qtbot, size):
    """30 learning rates: the legend ran off the bottom of the plot and covered the curves' right
    ends and their stars."""
    plot = _plot(qtbot, size)
    for i in range(30):
        run = live_run(plot, f"lr={i + 1}e-04")
        feed(plot, run, 1, 560.0, 545.0 - 0.4 * i, 1, 545.0 - 0.4 * i)
        feed(plot, run, 2, 550.0, 545.0 - i, 2, 545.0 - i)
    qtbot.wait(100)
    vb = plot.plot.getViewBox()
    view = vb.sceneBoundingRect()
    legend = plot.legend.sceneBoundingRect()
    assert not legend.intersects(view), (legend, view)  # beside the data, never over it
    visible = QRectF(plot.widget.viewport().rect())
    assert visible.contains(legend), (legend, visible)
    for run in plot.runs:  # every star in sight and clear of the legend
        star = _scene_pos(plot, run.best_marker)
        assert view.contains(star) and not legend.contains(star)
    for sample, label in plot.legend.items:  # every entry inside the legend box, none overlapping
        assert legend.contains(label.sceneBoundingRect().center())
        assert legend.contains(sample.sceneBoundingRect().center())
    centres = {
        (round(lab.sceneBoundingRect().center().x()), round(lab.sceneBoundingRect().center().y()))
        for _, lab in plot.legend.items
    }
    assert len(centres) == 30
    assert 2 <= plot.legend.columns <= 3
    assert legend.width() < 0.4 * size[0]
    assert len({run.colour for run in plot.runs}) == 30  # no colour shared by two runs


def test_few_runs_legend_is_one_column_beside_the_plot(qtbot):
    plot = _plot(qtbot, (900, 500))
    for i in range(3):
        plot.add_run(f"lr={i + 1}e-03")
    qtbot.wait(50)
    assert plot.legend.columns == 1
    assert not plot.legend.sceneBoundingRect().intersects(plot.plot.getViewBox().sceneBoundingRect())
    plot.clear()
    qtbot.wait(50)
    assert plot.legend.columns == 0 and plot.legend.boundingRect().width() == 0


def test_legend_samples_wear_their_runs_colours_before_any_point(qtbot):
    """A queued run's legend sample showed pyqtgraph's default blue-grey dot (its scatter item's
    defaults) beside its line, a colour of no curve."""
    from PySide6.QtGui import QColor, QImage, QPainter

    plot = _plot(qtbot, (700, 400))
    for label in ("lr=0.001", "lr=0.003"):
        plot.add_run(label)
    qtbot.wait(50)
    image = QImage(plot.widget.viewport().size(), QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    plot.widget.render(painter)
    painter.end()
    for (sample, _), run in zip(plot.legend.items, plot.runs):
        rect = plot.widget.mapFromScene(sample.sceneBoundingRect()).boundingRect()
        colours = {
            image.pixelColor(x, y).name()
            for x in range(rect.left() + 1, rect.right())
            for y in range(rect.top() + 1, rect.bottom())
        }
        want = QColor(run.colour)
        assert run.colour in colours
        for name in colours:  # the run's colour, white, or antialiased blends of the two
            c = QColor(name)
            for got, full in ((c.red(), want.red()), (c.green(), want.green()), (c.blue(), want.blue())):
                assert full - 2 <= got, (name, run.colour)


def test_empty_plot_has_no_tick_values_and_the_train_toggle_refits_the_range(qtbot):
    plot = CurvePlot()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    left = plot.plot.getAxis("left")
    assert not left.style["showValues"]  # no 0.1 .. 0.9 before any point
    a = live_run(plot, "lr=0.001")
    for epoch, (train, val) in enumerate([(400.0, 150.0), (380.0, 140.0)], 1):
        feed(plot, a, epoch, train, val, epoch, val)
    qtbot.wait(50)
    assert left.style["showValues"]
    assert plot.plot.getViewBox().viewRange()[1][1] >= 380.0  # the train loss is in range
    plot.set_train_visible(False)
    qtbot.wait(50)
    assert plot.plot.getViewBox().viewRange()[1][1] < 200.0  # the range shrinks to the curves shown
    plot.clear()
    assert not left.style["showValues"]


def test_runs_that_never_ran_leave_the_legend_and_keyed_runs_keep_their_colour(qtbot):
    from vae_explorer.core.colours import ColourBook

    plot = CurvePlot()
    qtbot.addWidget(plot)
    plot.colours = book = ColourBook()
    a = live_run(plot, "lr=0.001", key="/runs/q1/lr_0.001")
    b = plot.add_run("lr=0.01", key="/runs/q1/lr_0.01")
    feed(plot, a, 1, 200.0, 190.0, 1, 190.0)
    plot.drop_from_legend(b)
    assert [label.text for _, label in plot.legend.items] == ["lr=0.001"]
    assert plot.runs[a].colour == book.colour("/runs/q1/lr_0.001") != plot.runs[b].colour
    plot.clear()  # a new queue, the same run folder second: the same colour
    plot.add_run("other", key="/runs/q2/x")
    again = plot.add_run("lr=0.001", key="/runs/q1/lr_0.001")
    assert plot.runs[again].colour == book.colour("/runs/q1/lr_0.001")


def test_smoothing_time_axis_hover_of_every_run_and_csv(qtbot):
    import csv
    import io

    plot = CurvePlot()
    qtbot.addWidget(plot)
    plot.resize(700, 450)
    plot.show()
    a = live_run(plot, "lr=0.001")
    b = live_run(plot, "lr=0.01")
    vals_a, vals_b = [200.0, 150.0, 160.0, 120.0], [210.0, 190.0, 185.0]
    for e, v in enumerate(vals_a, 1):
        feed(plot, a, e, v + 10, v, 1, 0.0, 30.0)  # 30 s an epoch
    for e, v in enumerate(vals_b, 1):
        feed(plot, b, e, v + 10, v, 1, 0.0, 60.0)
    # an exponential moving average, bias-corrected, computed here by hand
    plot.set_smoothing(0.5)
    expected, avg = [], 0.0
    for t, v in enumerate(vals_a, 1):
        avg = 0.5 * avg + 0.5 * v
        expected.append(avg / (1 - 0.5**t))
    assert list(plot.points(a)[1]) == pytest.approx(expected)
    assert plot.runs[a].raw_curve.isVisible() and list(plot.runs[a].raw_curve.getData()[1]) == vals_a
    plot.set_smoothing(0.0)
    assert list(plot.points(a)[1]) == vals_a and not plot.runs[a].raw_curve.isVisible()
    # wall time: minutes of training at each epoch's end
    plot.set_x_time(True)
    assert list(plot.points(b)[0]) == [1.0, 2.0, 3.0] and list(plot.points(a)[0]) == [0.5, 1.0, 1.5, 2.0]
    assert plot.plot.getAxis("bottom").labelText == "training time (minutes)"
    plot.set_x_time(False)
    # the hover names every run's value at the epoch under the mouse
    assert plot.values_at(2) == ["lr=0.001: 150.00 (train 160.00)", "lr=0.01: 190.00 (train 200.00)"]
    assert plot.values_at(4) == ["lr=0.001: 120.00 (train 130.00)"]
    qtbot.wait(50)
    vb = plot.plot.getViewBox()
    plot._on_mouse_moved(vb.mapViewToScene(QPointF(2, 150.0)))
    text = plot.hover.textItem.toPlainText()
    assert "lr=0.001: 150.00" in text and "lr=0.01: 190.00" in text
    rows = list(csv.DictReader(io.StringIO(plot.to_csv())))
    assert len(rows) == 7 and rows[0] == {
        "run": "lr=0.001",
        "epoch": "1",
        "minutes": "0.5000",
        "train_loss": "210.0",
        "val_nll": "200.0",
    }
    plot.set_run_shown(b, False)  # unticked in the run list: out of the CSV as out of the plot
    assert {r["run"] for r in csv.DictReader(io.StringIO(plot.to_csv()))} == {"lr=0.001"}
    plot.set_run_shown(b, True)
    plot.plot.getViewBox().setRange(xRange=(1, 2), yRange=(100, 110))
    plot.reset_zoom()
    qtbot.wait(50)
    lo, hi = plot.plot.getViewBox().viewRange()[0]
    assert lo <= 1 and hi >= 4


def test_the_exported_legend_keeps_its_right_border(qtbot, tmp_path):
    from PIL import Image

    from vae_explorer.app.export import export_widget

    plot = CurvePlot()
    qtbot.addWidget(plot)
    plot.resize(900, 500)
    plot.show()
    for k, label in enumerate(("lr=0.001", "lr=0.01")):
        i = live_run(plot, label)
        for e in range(1, 5):
            feed(plot, i, e, 200.0 - e, 190.0 - e + k, e, 190.0 - e + k)
    qtbot.wait(50)
    image = Image.open(export_widget(plot, tmp_path / "curves.png")).convert("L")
    w, _ = image.size
    legend_rows = range(30, 150)  # the legend sits at the top right
    dark = [x for x in range(w - 60, w) if any(image.getpixel((x, y)) < 225 for y in legend_rows)]
    assert dark and dark[-1] < w - 4, (dark[-3:], w)  # its frame ends inside the figure


def test_training_time_axis_has_ticks_on_short_runs(qtbot):
    plot = CurvePlot()
    qtbot.addWidget(plot)
    plot.resize(700, 450)
    plot.show()
    a = live_run(plot, "lr=0.001")
    for e in range(1, 4):
        feed(plot, a, e, 300.0 - e, 290.0 - e, e, 290.0 - e, 0.6)  # 0.01 minutes an epoch
    plot.set_x_time(True)
    qtbot.wait(50)
    axis = plot.plot.getAxis("bottom")
    lo, hi = plot.plot.getViewBox().viewRange()[0]
    ticks = [v for _, values in axis.tickValues(lo, hi, axis.width()) for v in values]
    assert len(ticks) >= 2 and any(0.0 < v < 0.05 for v in ticks)
    assert "x0.001" not in axis.labelString() and axis.labelText == "training time (minutes)"
    plot.set_x_time(False)
    ticks = [v for _, values in axis.tickValues(0.5, 3.5, axis.width()) for v in values]
    assert ticks and all(float(v).is_integer() for v in ticks)


def test_hover_follows_the_epoch_under_the_mouse_and_leaves_with_it(qtbot):
    from PySide6.QtCore import QEvent, QPointF

    plot = CurvePlot()
    qtbot.addWidget(plot)
    plot.resize(700, 450)
    plot.show()
    a, b = live_run(plot, "lr=0.001"), live_run(plot, "lr=0.01")
    for e, (va, vb_) in enumerate([(200.0, 260.0), (150.0, 250.0), (140.0, 240.0)], 1):
        feed(plot, a, e, va + 10, va, 1, va, 30.0)
        feed(plot, b, e, vb_ + 10, vb_, 1, vb_, 30.0)
    qtbot.wait(50)
    vb = plot.plot.getViewBox()
    # far above both curves at epoch 2 (more than 12 px from any point): still the values there
    scene = vb.mapViewToScene(QPointF(2.1, 190.0))
    assert plot.nearest_point(scene) is None
    plot._on_mouse_moved(scene)
    text = plot.hover.textItem.toPlainText()
    assert plot.hover.isVisible() and text.startswith("epoch 2")
    # the run nearest the mouse comes first, with its train value like the others
    assert "▸ lr=0.001: 150.00 (train 160.00)" in text and "lr=0.01: 250.00 (train 260.00)" in text
    plot._on_mouse_moved(vb.mapViewToScene(QPointF(2.0, 255.0)))
    assert "▸ lr=0.01: 250.00" in plot.hover.textItem.toPlainText()
    # leaving the plot takes the box away
    plot.leaveEvent(QEvent(QEvent.Type.Leave))
    assert not plot.hover.isVisible()
