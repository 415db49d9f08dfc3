"""A checkpoint saved before the whole-content checksum: the window asks before opening it (the
command line's --accept-unchecked), and opens it only on Yes."""

from __future__ import annotations

from apphelpers import answer_messages
from helpers import old_checkpoint


def test_an_older_checkpoint_opens_after_the_user_says_yes(window, qtbot, checkpoint, tmp_path, monkeypatch):
    old = old_checkpoint(checkpoint, tmp_path / "model.pt")
    asked = answer_messages(monkeypatch, yes=True)
    window.open_checkpoint(str(old))
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    assert window.service.info.checkpoint == str(old)
    assert [title for title, _ in asked] == ["Checkpoint without a checksum"]
    assert "--accept-unchecked" not in asked[0][1]  # words for the window, not the command line


def test_an_older_checkpoint_stays_closed_on_no(window, qtbot, checkpoint, tmp_path, monkeypatch):
    old = old_checkpoint(checkpoint, tmp_path / "model.pt")
    asked = answer_messages(monkeypatch, yes=False)
    before = old.read_bytes()
    window.open_checkpoint(str(old))
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=30_000)
    qtbot.wait(300)
    assert window.service.info is None and old.read_bytes() == before


def test_the_report_leaves_an_older_model_out_unless_accepted(checkpoint, tmp_path, capsys):
    import shutil

    from vae_explorer.cli import main

    run = tmp_path / "run"
    shutil.copytree(checkpoint.parent, run)
    old_checkpoint(checkpoint, run / "model.pt")
    plain, accepted = tmp_path / "plain.html", tmp_path / "accepted.html"
    assert main(["report", str(run), "--out", str(plain)]) == 0
    assert main(["report", str(run), "--accept-unchecked", "--out", str(accepted)]) == 0
    capsys.readouterr()
    assert "report --accept-unchecked" in plain.read_text()
    assert "report --accept-unchecked" not in accepted.read_text()
    assert accepted.read_text().count("<img") > plain.read_text().count("<img")
