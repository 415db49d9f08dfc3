"""The real window over the crafted run folders (tests/faults/crafted.py), one at a time and all
together: it opens, lists every readable run, shows the unreadable ones greyed with their reason,
draws a curve (or says why there is none) for every run ticked, and, for an evaluation.json
beside an opened model, shows the Evaluation tab without dying."""

from __future__ import annotations

import pytest
from crafted import CASES, add_link_traps, build, build_all, make_template
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QMessageBox

from vae_explorer.app.plot_legend import LABEL_CHARS

pytestmark = pytest.mark.slow  # the real window built over each of dozens of crafted folders


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("template") / "run")


@pytest.fixture(autouse=True)
def quiet_boxes(monkeypatch):
    """A message box would wait for a click: answer each at once, and keep its text."""
    shown: list[str] = []

    def answer(box):
        shown.append(box.text())
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "exec", answer)
    return shown


def plain(rich: str) -> str:
    doc = QTextDocument()
    doc.setHtml(rich)
    return doc.toPlainText()


def open_window(qtbot, runs_root):
    from vae_explorer.app.main_window import MainWindow

    win = MainWindow(runs_root=runs_root)
    qtbot.addWidget(win, before_close_func=lambda w: w.controller.stop_and_wait())
    win.resize(1100, 750)
    win.show()
    qtbot.waitExposed(win)
    return win


def check_listing(win, cases) -> None:
    """Every case listed; unreadable rows greyed, reason in the tooltip, only Delete and Open
    folder; every readable run ticked draws its curve or a 'no curve' entry."""
    browser = win.training.browser
    rows = {run.folder.name: i for i, run in enumerate(browser.runs)}
    for case in cases:
        assert case.name in rows, case.name
        row = rows[case.name]
        run = browser.runs[row]
        tick = browser.table.item(row, 0)
        if case.blamed is None:
            assert run.readable, (case.name, run.problem)
            assert tick.flags() & Qt.ItemFlag.ItemIsUserCheckable
        else:
            assert not run.readable and run.problem.startswith(case.blamed), case.name
            assert not tick.flags() & Qt.ItemFlag.ItemIsUserCheckable
            assert run.problem in plain(browser.table.item(row, 1).toolTip())
            assert ("unreadable: " + run.problem).startswith(browser.table.item(row, 4).text().rstrip("…"))
            browser.table.selectRow(row)
            assert browser.delete_button.isEnabled() and browser.open_button.isEnabled()
            assert not browser.explore_button.isEnabled() and not browser.rename_button.isEnabled()
    readable = [r for r in browser.runs if r.readable]
    for run in readable:
        browser.set_checked(run.key, True)
    plot = win.training.plot
    drawn = {r.key: r for r in plot.runs}
    for run in readable:
        curve = drawn[run.key]
        label = plot.legend.getLabel(curve.val_curve).text
        if len(run.history):
            assert curve.epochs, run.name
        else:
            assert "(no curve: no finished epoch)" in label
        assert "<h1" not in label and len(label) < LABEL_CHARS * 2
    for run in readable:
        browser.set_checked(run.key, False)
    assert not plot.runs


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_window_over_each_case(case, template, tmp_path, qtbot, app_settings, quiet_boxes):
    root = tmp_path / "runs"
    root.mkdir()
    folder = build(case, template, root)
    win = open_window(qtbot, root)
    check_listing(win, [case])
    if case.evaluation_tab:
        win.tabs.setCurrentWidget(win.evaluation)
        win.open_checkpoint(str(folder / "model.pt"))
        qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
        qtbot.wait(100)
        shown = win.evaluation.notice_text()
        if case.blamed is None:
            assert win.evaluation.rows and not shown
        else:
            assert not win.evaluation.rows
            assert shown.startswith("The saved evaluation is not shown: evaluation.json: "), shown
    assert not quiet_boxes


def test_window_over_every_case_together(template, tmp_path, qtbot, app_settings, quiet_boxes):
    root = tmp_path / "runs"
    root.mkdir()
    build_all(template, root)
    add_link_traps(root, template)
    win = open_window(qtbot, root)
    check_listing(win, CASES)
    listed = {r.folder.name for r in win.training.browser.runs}
    assert not listed & {"link-to-root", "link-to-a-run-outside", "loop-a", "loop-b"}
    assert win.training.browser.count_label.text() == f"{len(listed)} runs"
    win.grab().save(str(tmp_path / "window.png"))


def test_delete_removes_a_link_and_keeps_its_target(template, tmp_path, qtbot, app_settings, quiet_boxes):
    root = tmp_path / "runs"
    root.mkdir()
    outside = tmp_path / "elsewhere" / "precious"
    outside.parent.mkdir()
    build(CASES[-1], template, outside.parent).rename(outside)
    link = tmp_path / "opened-through-a-link"
    link.symlink_to(outside)
    win = open_window(qtbot, root)
    browser = win.training.browser
    browser.add_folder(link)
    assert [r.folder for r in browser.runs] == [link]
    browser.select(browser.runs[0].key)
    assert browser.delete_selected()
    assert not link.exists() and not link.is_symlink()
    assert (outside / "model.pt").is_file() and (outside / "config.json").is_file()
    assert "Remove the link" in quiet_boxes[0] and "stays as it is" in quiet_boxes[0]


def test_markup_in_a_name_stays_text(template, tmp_path, qtbot, app_settings):
    root = tmp_path / "runs"
    root.mkdir()
    folder = build(next(c for c in CASES if c.name == "name-markup"), template, root)
    win = open_window(qtbot, root)
    browser = win.training.browser
    browser.set_checked(browser.runs[0].key, True)
    label = win.training.plot.legend.getLabel(win.training.plot.runs[0].val_curve)
    assert label.text.startswith("&lt;h1 style=") and "<img" not in label.text
    win.open_checkpoint(str(folder / "model.pt"))
    qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
    panel = win.panels[0]
    win.tabs.setCurrentWidget(panel)
    assert panel.status.textFormat() == Qt.TextFormat.PlainText
    assert panel.status.text().startswith('Showing <h1 style="color:red">')
