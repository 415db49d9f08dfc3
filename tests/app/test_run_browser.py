"""The run browser: runs of earlier sessions and of the CLI, their curves, exploring any run,
renaming and deleting; the queue's best run in the explore tabs; the Pin toggle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from apphelpers import answer_messages, make_window, record_events, tiny_settings
from PySide6.QtCore import Qt

from vae_explorer.cli import main
from vae_explorer.core import events as ev

TINY = ["--limit-train", "200", "--limit-val", "64", "--limit-test", "64", "--hidden", "32"]
TINY += ["--latent-dim", "4", "--components", "3", "--epochs", "2", "--eval-budget", "0"]


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """Three runs of two sessions, trained once for the module."""
    root = tmp_path_factory.mktemp("trained") / "runs"
    assert main(["train", *TINY, "--out", str(root / "20260101-120000")]) == 0
    assert main(["train", *TINY, "--lr", "1e-3", "--lr", "3e-3", "--out", str(root / "20260102-090000")]) == 0
    return root


@pytest.fixture
def runs_root(tmp_path, trained_runs):
    """A copy of those runs of each test's own (tests rename, delete and add runs)."""
    return Path(shutil.copytree(trained_runs, tmp_path / "runs", symlinks=True))


def close(win):
    win.controller.stop_and_wait()
    win.service.shutdown()


def names(browser):
    return [browser.table.item(r, 1).text() for r in range(browser.table.rowCount())]


def test_runs_of_an_earlier_session_come_back_with_their_curves(qtbot, runs_root):
    win = make_window(qtbot, runs_root, size=(1100, 750))
    browser = win.training.browser
    assert sorted(names(browser)) == [
        "20260101-120000",
        "20260102-090000/lr_0.001",
        "20260102-090000/lr_0.003",
    ]
    # ticking a run draws its curve from its metrics.csv, in its stable colour
    run = next(r for r in browser.runs if r.name == "20260102-090000/lr_0.003")
    browser.set_checked(run.key, True)
    plot = win.training.plot
    assert [r.label for r in plot.runs] == [run.name]
    assert plot.runs[0].val == run.history.val_nll.tolist()
    colour = plot.runs[0].colour
    # the best run is highlighted: the lowest validation nll of the three
    best = min(browser.runs, key=lambda r: r.best_val)
    row = browser.row_of(best.key)
    assert browser.table.item(row, 1).font().bold()
    # a filter hides what does not match
    browser.filter.setText("lr_0.003")
    visible = [r for r in range(browser.table.rowCount()) if not browser.table.isRowHidden(r)]
    assert [browser.runs[r].name for r in visible] == [run.name]
    browser.filter.setText("")
    close(win)
    # a restart: the same runs, the same colour for the same run
    win = make_window(qtbot, runs_root, size=(1100, 750))
    browser = win.training.browser
    assert len(browser.runs) == 3
    browser.set_checked(run.key, True)
    assert win.training.plot.runs[0].colour == colour
    close(win)


def test_explore_any_run_loads_its_best_model_and_names_it(qtbot, runs_root):
    win = make_window(qtbot, runs_root, size=(1100, 750))
    browser = win.training.browser
    row = names(browser).index("20260102-090000/lr_0.003")
    rect = browser.table.visualItemRect(browser.table.item(row, 1))
    # a double-click as a mouse makes it: press and release, then the double-click event
    qtbot.mouseClick(browser.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(browser.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    target = str(browser.runs[row].checkpoint)
    qtbot.waitUntil(
        lambda: win.service.info is not None and win.service.info.checkpoint == target, timeout=30_000
    )
    for panel in win.panels:
        text = panel.status.text()
        assert "20260102-090000/lr_0.003" in text and "lr=0.003" in text and "epoch" in text, text
    close(win)


def test_rename_and_delete_ask_and_act(qtbot, runs_root, monkeypatch):
    win = make_window(qtbot, runs_root, size=(1100, 750))
    browser = win.training.browser
    row = names(browser).index("20260101-120000")
    browser.table.selectRow(row)
    browser.rename_selected("course run")
    assert "course run" in names(browser)
    assert (runs_root / "20260101-120000" / "name.txt").read_text().strip() == "course run"
    browser.table.selectRow(names(browser).index("course run"))
    # name.txt that cannot be written (a full disk, a read-only share) is said in a dialog
    import errno

    import vae_explorer.app.run_browser as run_browser
    from vae_explorer.core.atomic import WriteError

    def full(run, name):
        raise WriteError(run.folder / "name.txt", OSError(errno.ENOSPC, "No space left on device"))

    asked = answer_messages(monkeypatch)
    real = run_browser.rename_run
    monkeypatch.setattr(run_browser, "rename_run", full)
    browser.rename_selected("another name")
    assert len(asked) == 1 and asked[0][0] == "Rename run" and "space" in asked[0][1].lower()
    assert "course run" in names(browser)
    monkeypatch.setattr(run_browser, "rename_run", real)
    browser.table.selectRow(names(browser).index("course run"))
    asked = answer_messages(monkeypatch, yes=False)
    assert not browser.delete_selected()
    assert len(asked) == 1 and "trash" in asked[0][1] and (runs_root / "20260101-120000").is_dir()
    answer_messages(monkeypatch, yes=True)
    assert browser.delete_selected()
    assert not (runs_root / "20260101-120000").exists()
    assert "course run" not in names(browser) and len(browser.runs) == 2
    close(win)


def test_delete_refuses_a_run_that_a_process_started_writing_since_the_list(qtbot, runs_root, monkeypatch):
    """The list says finished; while the question was open, `train --resume` took the folder.
    Delete checks the folder's lock when it acts, not the list's old status."""
    from vae_explorer.core.runlock import RunFolderLock

    win = make_window(qtbot, runs_root, size=(1100, 750))
    browser = win.training.browser
    browser.table.selectRow(names(browser).index("20260101-120000"))
    said = answer_messages(monkeypatch)
    folder = runs_root / "20260101-120000"
    with RunFolderLock(folder):  # as another process's run would hold it
        assert not browser.delete_selected(confirmed=True)
    assert folder.is_dir() and (folder / "model.pt").is_file()
    assert said and "is being written by another process" in said[-1][1]
    browser.table.selectRow(names(browser).index("20260101-120000"))
    assert browser.delete_selected(confirmed=True) and not folder.exists()  # once it has ended
    close(win)


def test_after_a_queue_the_explore_tabs_show_its_best_run_and_pin_holds_a_model(qtbot, tmp_path):
    win = make_window(qtbot, tmp_path / "runs", size=(1100, 750))
    win.settings = tiny_settings(epochs=2, lrs=(1e-3, 1e-5))
    seen = record_events(win)
    shown = []
    win.service.model_loaded.connect(lambda info: shown.append((info.name, info.best_val)))
    win.start_training()
    qtbot.waitUntil(lambda: any(isinstance(e, ev.QueueFinished) for _, e in seen), timeout=120_000)
    records = win.training.records
    best = min(records, key=lambda r: r.best_val)
    qtbot.waitUntil(lambda: "the best of the queue" in win.panels[0].status.text(), timeout=30_000)
    assert win.service.info.checkpoint == best.checkpoint
    # during the queue the tabs only ever moved to a better model: never from run 1's good one to
    # run 2's (lr 1e-5) worse early ones
    during = [v for name, v in shown[:-1]]
    assert during == sorted(during, reverse=True), shown
    # the queue's runs are in the browser too, and nothing is busy any more
    assert len(win.training.browser.runs) == 2 and not win.training.browser.busy
    # pinned: a new queue's bests do not replace the model shown
    win.panels[1].pin.setChecked(True)
    assert win.service.pinned and all(p.pin.isChecked() for p in win.panels)
    shown = win.service.info.checkpoint
    seen.clear()
    win.settings = tiny_settings(epochs=1)
    win.start_training()
    qtbot.waitUntil(lambda: any(isinstance(e, ev.QueueFinished) for _, e in seen), timeout=120_000)
    qtbot.wait(300)
    assert win.service.info.checkpoint == shown
    win.panels[2].pin.setChecked(False)
    assert not win.service.pinned
    close(win)


def test_a_model_opened_while_a_queue_trains_stays_until_that_queue_ends(qtbot, tmp_path, checkpoint):
    """File → Open during training pins the model opened (the queue's next best would replace it
    within an epoch); when the queue ends the model stays and the pin is lifted, so the next
    queue's bests are shown again."""
    win = make_window(qtbot, tmp_path / "runs", size=(1100, 750))
    win.settings = tiny_settings(epochs=6)
    seen = record_events(win)
    win.start_training()
    qtbot.waitUntil(lambda: any(isinstance(e, ev.EpochEnd) for _, e in seen), timeout=60_000)
    win.open_checkpoint(str(checkpoint))
    opened = lambda: win.service.info is not None and win.service.info.checkpoint == str(checkpoint)  # noqa: E731
    qtbot.waitUntil(opened, timeout=30_000)
    assert win.service.pinned
    qtbot.waitUntil(lambda: any(isinstance(e, ev.QueueFinished) for _, e in seen), timeout=120_000)
    qtbot.wait(300)
    assert win.service.info.checkpoint == str(checkpoint) and not win.service.pinned
    seen.clear()
    win.settings = tiny_settings(epochs=1)
    win.start_training()
    qtbot.waitUntil(lambda: any(isinstance(e, ev.QueueFinished) for _, e in seen), timeout=120_000)
    qtbot.waitUntil(lambda: win.service.info.checkpoint != str(checkpoint), timeout=30_000)
    close(win)


def test_a_failed_open_while_a_queue_trains_leaves_the_tabs_following_it(qtbot, tmp_path, monkeypatch):
    """Opening pins the tabs while the queue trains; a file that does not load must not leave them
    pinned on nothing."""
    win = make_window(qtbot, tmp_path / "runs", size=(1100, 750))
    answer_messages(monkeypatch)
    win.settings = tiny_settings(epochs=6)
    seen = record_events(win)
    win.start_training()
    qtbot.waitUntil(lambda: any(isinstance(e, ev.EpochEnd) for _, e in seen), timeout=60_000)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    win.open_checkpoint(str(bad))
    assert win.service.pinned
    qtbot.waitUntil(lambda: not win.service.pinned, timeout=30_000)
    close(win)


def test_opening_a_checkpoint_lists_its_run_with_its_curve(qtbot, tmp_path, checkpoint):
    win = make_window(qtbot, tmp_path / "runs", size=(1100, 750))
    win.open_checkpoint(str(checkpoint))
    qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
    browser = win.training.browser
    assert [r.folder for r in browser.runs] == [checkpoint.parent]
    assert win.training.plot.runs and win.training.plot.runs[0].label == checkpoint.parent.name
    assert win.training.run_tabs.currentWidget() is browser
    close(win)
    win = make_window(qtbot, tmp_path / "runs", size=(1100, 750))  # remembered after a restart
    assert [r.folder for r in win.training.browser.runs] == [checkpoint.parent]
    close(win)


def test_export_report_of_the_ticked_runs_pdf_and_html(qtbot, runs_root, monkeypatch):
    win = make_window(qtbot, runs_root, size=(1100, 750))
    browser = win.training.browser
    for run in browser.runs:
        if run.name.startswith("20260102"):
            browser.set_checked(run.key, True)
    assert sorted(p.name for p in win.report_runs()) == ["lr_0.001", "lr_0.003"]
    from vae_explorer.report import curves

    coloured = []  # the report's curve colours, as its worker thread chose them
    real_colours = curves.run_colours
    monkeypatch.setattr(curves, "run_colours", lambda *a: coloured.append(real_colours(*a)) or coloured[-1])
    out = runs_root.parent / "report.pdf"
    assert win.export_report(str(out))
    qtbot.waitUntil(lambda: win.report_action.isEnabled(), timeout=120_000)
    assert out.read_bytes().startswith(b"%PDF")
    # the curves in the colours the plot and the run list show the runs in
    shown = {run.key: browser.colours.colours[run.key] for run in browser.checked_runs()}
    assert len(shown) == 2 and coloured[0] == shown
    html = runs_root.parent / "report.html"
    assert win.export_report(str(html))
    qtbot.waitUntil(lambda: win.report_action.isEnabled(), timeout=120_000)
    text = html.read_text()
    assert "lr_0.003" in text and "data:image/png;base64," in text
    # an unwritable place: the user is told, the action comes back
    errors = answer_messages(monkeypatch)
    assert win.export_report(str(runs_root.parent / "absent" / "r.pdf"))
    qtbot.waitUntil(lambda: win.report_action.isEnabled(), timeout=60_000)
    assert errors and errors[0][1].startswith("No report:")
    close(win)


def test_the_run_table_fits_a_small_screen(qtbot, runs_root):
    """At 1024x700 a horizontal scrollbar hid the nll columns, and a long settings text was cut
    with its tooltip no fuller."""
    import json

    run = runs_root / "20260101-120000"
    (run / "name.txt").write_text("a rather long name for a run that somebody gave it on purpose")
    config = json.loads((run / "config.json").read_text())
    config["train"]["epochs"] = 9
    config["model"]["mixture_weights"] = "uniform"
    (run / "config.json").write_text(json.dumps(config))
    win = make_window(qtbot, runs_root, size=(1024, 700))
    browser = win.training.browser
    win.training.run_tabs.setCurrentWidget(browser)
    qtbot.wait(100)
    table = browser.table
    assert not table.horizontalScrollBar().isVisible()
    viewport = table.viewport().width()
    for col in (5, 6):  # best validation nll, test nll: wholly in sight
        assert table.columnViewportPosition(col) + table.columnWidth(col) <= viewport
    row = browser.row_of(next(r.key for r in browser.runs if r.folder == run))
    tip = table.item(row, 3).toolTip()
    for part in ("max 9 epochs", "uniform weights", "lr=0.001"):
        assert part in tip
    assert "a rather long name" in table.item(row, 1).toolTip()
    close(win)


def test_ticks_and_delete_reach_the_queues_own_runs(qtbot, tmp_path, monkeypatch):
    """Unticking a run of the queue left its curve, star and legend entry; deleting it left its
    legend entry, its 'This queue' row and the explore tabs showing it."""
    from PySide6.QtCore import QFile

    win = make_window(qtbot, tmp_path / "runs", size=(1100, 750))
    win.settings = tiny_settings(epochs=2, lrs=(1e-3, 1e-5))
    seen = record_events(win)
    win.start_training()
    qtbot.waitUntil(lambda: any(isinstance(e, ev.QueueFinished) for _, e in seen), timeout=120_000)
    qtbot.waitUntil(lambda: "the best of the queue" in win.panels[0].status.text(), timeout=30_000)
    browser, plot, panel = win.training.browser, win.training.plot, win.training
    keys = panel.queue_keys
    assert set(keys) <= browser.checked  # the queue's runs are ticked: their curves show

    def in_legend(i):
        return plot.legend.getLabel(plot.runs[i].val_curve) is not None

    browser.set_checked(keys[1], False)
    assert not plot.runs[1].val_curve.isVisible() and not plot.runs[1].best_marker.isVisible()
    assert not in_legend(1) and in_legend(0)
    browser.set_checked(keys[1], True)
    assert plot.runs[1].val_curve.isVisible() and in_legend(1)
    # delete the best run (the one the explore tabs show), to a trash that deletes for good
    best = min(range(2), key=lambda i: panel.records[i].best_val)
    monkeypatch.setattr(QFile, "moveToTrash", lambda path: False)
    answer_messages(monkeypatch, yes=True)
    browser.select(keys[best])
    assert browser.delete_selected()
    assert not plot.runs[best].val_curve.isVisible() and not in_legend(best)
    assert panel.table.item(best, 1).text() == "deleted"
    assert all("was deleted" in p.notice_text() for p in win.panels)
    close(win)


def test_exploring_is_easy_to_find(qtbot, tmp_path):
    """Explore stayed on the Training tab, a double-click in This queue did nothing, the empty tabs'
    hint named only File → Open, and Help held only About."""
    from vae_explorer.app.help import GettingStartedDialog, ShortcutsDialog, shortcut_rows

    win = make_window(qtbot, tmp_path / "runs", size=(1100, 750))
    assert "double-click a run" in win.panels[0].status.text()
    helps = [a.text().replace("&", "") for a in win.help_menu.actions() if a.text()]
    assert helps[:2] == ["Getting started", "Keyboard shortcuts"]
    keys = dict(shortcut_rows(win))
    assert keys["F5"].startswith("Start") and keys["F1"] == "Getting started"
    ShortcutsDialog(win).deleteLater()
    # the first launch shows Getting started, once
    win.show_getting_started_once()
    shown = [w for w in win.findChildren(GettingStartedDialog) if w.isVisible()]
    assert len(shown) == 1 and str(tmp_path / "runs") in shown[0].text.text()
    shown[0].close()
    win.show_getting_started_once()
    assert not [w for w in win.findChildren(GettingStartedDialog) if w.isVisible()]
    # a queue; then a double-click in This queue explores its run, on the first explore tab
    win.settings = tiny_settings(epochs=1, lrs=(1e-3, 3e-3))
    seen = record_events(win)
    win.start_training()
    qtbot.waitUntil(lambda: any(isinstance(e, ev.QueueFinished) for _, e in seen), timeout=120_000)
    win.tabs.setCurrentWidget(win.training)
    wanted = win.training.records[1].checkpoint
    win.training.table.cellDoubleClicked.emit(1, 0)
    assert win.tabs.currentWidget() is win.panels[0]
    qtbot.waitUntil(
        lambda: win.service.info is not None and win.service.info.checkpoint == wanted, timeout=30_000
    )
    # and from All runs the same
    win.tabs.setCurrentWidget(win.training)
    browser = win.training.browser
    browser.table.cellDoubleClicked.emit(browser.row_of(win.training.queue_keys[0]), 1)
    assert win.tabs.currentWidget() is win.panels[0]
    close(win)


def test_a_run_has_one_colour_in_the_list_the_plot_and_the_next_session(qtbot, runs_root):
    from PySide6.QtGui import QColor

    from vae_explorer.core.colours import ColourBook, colours_file

    win = make_window(qtbot, runs_root, size=(1100, 750))
    browser = win.training.browser
    swatches = {}
    for run in browser.runs:
        browser.set_checked(run.key, True)
        swatches[run.key] = browser.table.item(browser.row_of(run.key), 0).background().color().name()
    drawn = {r.key: QColor(r.colour).name() for r in win.training.plot.runs}
    assert drawn == swatches and len(set(swatches.values())) == len(swatches)
    close(win)
    again = make_window(qtbot, runs_root, size=(1100, 750))
    for run in again.training.browser.runs:
        row = again.training.browser.row_of(run.key)
        assert again.training.browser.table.item(row, 0).background().color().name() == swatches[run.key]
    assert ColourBook(colours_file()).colours == swatches
    close(again)
