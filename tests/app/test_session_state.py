"""What the window remembers between starts, File → Open recent, dropped checkpoints, tab keys."""

from __future__ import annotations

from apphelpers import answer_messages, make_window, message_texts
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent


def test_geometry_splitters_toggles_and_tab_come_back(qtbot, tmp_path):
    win = make_window(qtbot, tmp_path / "runs")
    screen = win.screen().availableGeometry()
    win.resize(min(1000, screen.width() - 60), min(720, screen.height() - 60))
    size = (win.width(), win.height())  # no smaller than the window's minimum
    win.training.show_train.setChecked(False)
    win.training.log_y.setChecked(True)
    win.training.splitter.setSizes([300, 380])
    sizes = win.training.splitter.sizes()
    win.tabs.setCurrentIndex(3)
    win.close()
    win.service.shutdown()
    again = make_window(qtbot, tmp_path / "runs")
    assert (again.width(), again.height()) == size
    assert not again.training.show_train.isChecked() and again.training.log_y.isChecked()
    assert not again.training.plot.show_train and again.training.plot.log_y
    assert again.tabs.currentIndex() == 3
    again.tabs.setCurrentIndex(0)
    qtbot.wait(50)
    assert all(abs(a - b) <= 2 for a, b in zip(again.training.splitter.sizes(), sizes)), (
        again.training.splitter.sizes(),
        sizes,
    )
    again.service.shutdown()


def test_tab_keys_switch_tabs_wherever_the_focus_is(qtbot, tmp_path):
    win = make_window(qtbot, tmp_path / "runs")
    win.training.browser.table.setFocus()
    qtbot.keyClick(win.training.browser.table, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    assert win.tabs.currentIndex() == 1
    qtbot.keyClick(win.tabs.currentWidget(), Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert win.tabs.currentIndex() == 0
    # through the window system, as a real key press comes (the path that runs shortcuts)
    from PySide6.QtTest import QTest

    win.activateWindow()
    QTest.keyClick(win.windowHandle(), Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert win.tabs.currentIndex() == 3
    QTest.keyClick(win.windowHandle(), Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert win.tabs.currentIndex() == 2
    # Ctrl+8 does nothing until the eighth tab, the Experiment tab, is opened; then it shows it
    QTest.keyClick(win.windowHandle(), Qt.Key.Key_8, Qt.KeyboardModifier.ControlModifier)
    assert win.tabs.count() == 7 and win.tabs.currentIndex() == 2
    win.tabs.addTab(win.sweep_panel, win.sweep_panel.title)  # as Start experiment adds it
    QTest.keyClick(win.windowHandle(), Qt.Key.Key_8, Qt.KeyboardModifier.ControlModifier)
    assert win.tabs.currentWidget() is win.sweep_panel
    QTest.keyClick(win.windowHandle(), Qt.Key.Key_7, Qt.KeyboardModifier.ControlModifier)
    assert win.tabs.currentWidget() is win.panels[-1]  # the Lab
    win.service.shutdown()


def test_a_dropped_run_folder_opens_and_goes_to_the_recent_list(qtbot, tmp_path, checkpoint):
    win = make_window(qtbot, tmp_path / "runs")
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(checkpoint.parent))])
    drop = QDropEvent(
        QPoint(50, 50).toPointF(),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    win.dragEnterEvent(drop)  # QDropEvent is the drag-enter event's base: the same test applies
    assert drop.isAccepted()
    win.dropEvent(drop)
    qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
    assert win.service.info.checkpoint == str(checkpoint)
    assert win.recent() == [str(checkpoint)]
    actions = [a.text() for a in win.recent_menu.actions()]
    assert actions[0] == str(checkpoint) and "Clear the list" in actions
    # a file that is not a checkpoint is refused
    other = tmp_path / "notes.txt"
    other.write_text("x")
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(other))])

    class Event:
        def mimeData(self):
            return data

    assert win._dropped_checkpoint(Event()) is None
    win.service.shutdown()


def test_export_all_asks_before_replacing_files(qtbot, tmp_path, monkeypatch):
    win = make_window(qtbot, tmp_path / "runs")
    out = tmp_path / "figures"
    out.mkdir()
    assert win.export_all(str(out))  # an empty folder: no question
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    asked = message_texts(monkeypatch, yes=False)
    assert win.export_all(str(out)) == []
    assert len(asked) == 1 and "Replace them?" in asked[0]
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
    answer_messages(monkeypatch, yes=True)
    assert len(win.export_all(str(out))) == len(before)
    win.service.shutdown()


def test_the_toolbar_does_not_shift_when_pause_becomes_resume(qtbot, tmp_path):
    win = make_window(qtbot, tmp_path / "runs")
    from PySide6.QtWidgets import QToolBar

    toolbar = win.findChild(QToolBar, "training-toolbar")
    stop = toolbar.widgetForAction(win.stop_action)
    x = stop.mapTo(win, stop.rect().topLeft()).x()
    win.pause_action.setText("&Resume")
    qtbot.wait(20)
    assert stop.mapTo(win, stop.rect().topLeft()).x() == x
    win.service.shutdown()


def test_a_drop_is_a_copy_never_a_move_and_a_refused_one_says_why(qtbot, tmp_path, monkeypatch):
    win = make_window(qtbot, tmp_path / "runs")
    told = message_texts(monkeypatch)

    def drop_of(path, actions):
        data = QMimeData()
        data.setUrls([QUrl.fromLocalFile(str(path))])
        event = QDropEvent(
            QPoint(50, 50).toPointF(),
            actions,
            data,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        return event, data  # the event keeps a pointer to the data, which must outlive it

    folder = tmp_path / "just-a-folder"
    folder.mkdir()
    # a file manager that proposes a move first: the app takes a copy
    event, _data = drop_of(folder, Qt.DropAction.MoveAction | Qt.DropAction.CopyAction)
    win.dragEnterEvent(event)
    assert event.isAccepted() and event.dropAction() == Qt.DropAction.CopyAction
    event, _data = drop_of(folder, Qt.DropAction.MoveAction | Qt.DropAction.LinkAction)
    win.dragEnterEvent(event)
    assert event.dropAction() == Qt.DropAction.LinkAction
    event, _data = drop_of(folder, Qt.DropAction.MoveAction)
    win.dragEnterEvent(event)
    assert not event.isAccepted()  # move only: refused
    # dropped, a folder that is no run says why
    event, _data = drop_of(folder, Qt.DropAction.CopyAction)
    win.dropEvent(event)
    assert len(told) == 1 and "not a run folder" in told[0] and str(folder) in told[0]
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    event, _data = drop_of(notes, Qt.DropAction.CopyAction)
    win.dropEvent(event)
    assert "not a checkpoint" in told[1]
    assert folder.is_dir() and notes.is_file()
    win.service.shutdown()
