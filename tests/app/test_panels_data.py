"""A checkpoint whose test images are gone (its data folder was moved): the model still loads, what
needs no data is drawn, the panels that need the images drop the previous model's figures and say in
place why and how to fix it, and the user is told once, not once per panel."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from apphelpers import answer_messages, open_and_show, show_panels, tiny_config

from vae_explorer.app.inference import InferenceService
from vae_explorer.core.data import DataError


@pytest.fixture
def moved_data_checkpoint(tmp_path):
    """(checkpoint, its data folder, where that folder was moved): trained on a copy of the data
    (a folder linking the bundled MNIST), which is then renamed away."""
    from vae_explorer.assets import bundled_data_root
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import Trainer

    root = tmp_path / "data"
    root.mkdir()
    (root / "MNIST").symlink_to(bundled_data_root() / "MNIST", target_is_directory=True)
    config = tiny_config(epochs=1)
    # another seed than the `checkpoint` fixture's, so the two models differ
    config = replace(config, data=replace(config.data, root=str(root)), train=replace(config.train, seed=7))
    out = tmp_path / "moved-run"
    Trainer(config, load_splits(config.data), out).run()
    moved = tmp_path / "data-moved"
    root.rename(moved)
    return out / "model.pt", root, moved


def warnings_of(monkeypatch) -> list[tuple[str, str]]:
    return answer_messages(monkeypatch)


def test_moved_data_folder_after_a_good_model(window, qtbot, checkpoint, moved_data_checkpoint, monkeypatch):
    ckpt, root, moved = moved_data_checkpoint
    dialogs = warnings_of(monkeypatch)
    failures: list = []
    window.service.job_failed.connect(lambda key, msg: failures.append((key, msg)))
    real_gen, components, interpolation, latent_map = window.panels[:4]
    # a good model first: every panel draws
    open_and_show(window, qtbot, checkpoint)
    qtbot.waitUntil(
        lambda: (
            real_gen.real_view.image() is not None
            and real_gen.generated_view.image() is not None
            and latent_map.data is not None
            and interpolation.result is not None
            and interpolation.gallery_count > 0
        ),
        timeout=60_000,
    )
    old_generated = real_gen.generated_view.image().copy()
    old_rows = [r.copy() for r in components.row_images()]

    open_and_show(window, qtbot, ckpt)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=10_000)
    # one notification, naming the missing folder and the fix
    title, text = dialogs[0]
    assert "Test images not found" in title
    assert str(root) in text and "restore" in text.lower()
    # what needs no data is drawn for the new model
    qtbot.waitUntil(
        lambda: (
            real_gen.generated_view.image() is not None
            and not np.array_equal(real_gen.generated_view.image(), old_generated)
        ),
        timeout=30_000,
    )
    qtbot.waitUntil(
        lambda: (
            len(components.row_images()) == 4
            and all(r is not None for r in components.row_images())
            and not all(np.array_equal(a, b) for a, b in zip(components.row_images(), old_rows))
        ),
        timeout=30_000,
    )
    assert components.notice.isHidden()
    # the panels that need the test images show none of the previous model's figures ...
    assert real_gen.real_view.image() is None
    assert latent_map.data is None and all(len(item.data) == 0 for item in latent_map.scatters.values())
    assert len(latent_map.means.data) == 0
    assert interpolation.result is None and interpolation.strip_view.image() is None
    assert interpolation.gallery.image() is None and interpolation.gallery_count == 0
    # ... but a lasting message in the panel, naming the folder and how to fix it
    for panel in (real_gen, interpolation, latent_map):
        note = panel.notice_text()
        assert str(root) in note and "restore" in note.lower() and "does not exist" in note, panel.title
    qtbot.wait(500)
    assert failures == []  # no per-panel status-bar messages
    assert len(dialogs) == 1
    assert "without its test images" in window.statusBar().currentMessage()
    assert str(root) in window.statusBar().currentMessage()
    # interpolating between component means needs no data
    interpolation.mode.setCurrentIndex(interpolation.mode.findData("means"))
    qtbot.waitUntil(lambda: interpolation.result is not None, timeout=30_000)
    assert interpolation.strip_view.image() is not None

    # the fix: put the folder back and open the checkpoint again
    moved.rename(root)
    window.open_checkpoint(str(ckpt))
    qtbot.waitUntil(lambda: window.service.info.data_error is None, timeout=30_000)
    show_panels(window)
    qtbot.waitUntil(
        lambda: (
            real_gen.real_view.image() is not None
            and latent_map.data is not None
            and interpolation.gallery_count > 0
        ),
        timeout=60_000,
    )
    for panel in window.panels:
        if getattr(panel, "applies_to", lambda info: True)(window.service.info):  # not the Lab (8-D)
            assert panel.notice.isHidden() and panel.notice_text() == ""
    assert len(dialogs) == 1


def test_moved_data_folder_in_a_fresh_window(window, qtbot, moved_data_checkpoint, monkeypatch):
    ckpt, root, _ = moved_data_checkpoint
    dialogs = warnings_of(monkeypatch)
    real_gen, components, interpolation, latent_map = window.panels[:4]
    open_and_show(window, qtbot, ckpt)
    qtbot.waitUntil(lambda: real_gen.generated_view.image() is not None, timeout=30_000)
    qtbot.waitUntil(
        lambda: (
            len(dialogs) == 1
            and all(r is not None for r in components.row_images())
            and len(components.row_images()) == 4
        ),
        timeout=30_000,
    )
    assert window.service.info.data_error and str(root) == window.service.info.data_folder
    assert window.save_action.isEnabled()  # the model itself is fine
    assert "Test images not found" in real_gen.real_view.placeholder
    assert not latent_map.limit.isEnabled()
    for panel in (real_gen, interpolation, latent_map):
        assert str(root) in panel.notice_text()


def test_a_failed_job_goes_to_its_on_error_not_to_job_failed(qtbot):
    service = InferenceService()
    try:
        failures, errors, results = [], [], []
        service.job_failed.connect(lambda key, msg: failures.append(msg))

        def broken(ctx):
            raise DataError("data root /nowhere does not exist")

        service.submit("a", broken, results.append, errors.append)  # no model yet
        qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
        assert errors == ["no model is loaded"] and failures == [] and results == []
        service.submit("b", broken, results.append)
        qtbot.waitUntil(lambda: bool(failures), timeout=10_000)
        assert failures == ["no model is loaded"]
        # a cancelled job reports nothing
        service.submit("c", broken, results.append, errors.append)
        service.cancel("c")
        qtbot.wait(300)
        assert errors == ["no model is loaded"] and failures == ["no model is loaded"]
    finally:
        service.shutdown()


def test_a_model_of_another_likelihood_gets_its_own_test_inputs(qtbot, checkpoint, tmp_path):
    """The loaded test images are kept across models of the same data, but their inputs are made
    for a likelihood: 0/1 draws for a Bernoulli model, grey levels 0..255 for a categorical one.
    Opening one after the other must not hand it the other's inputs."""
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import Trainer

    config = tiny_config(epochs=1)
    config = replace(config, model=replace(config.model, likelihood="categorical"))
    Trainer(config, load_splits(config.data), tmp_path / "categorical").run()
    service = InferenceService()
    try:
        highest: list[float] = []
        for path in (checkpoint, tmp_path / "categorical" / "model.pt", checkpoint):
            service.load_checkpoint(str(path))
            qtbot.waitUntil(
                lambda p=path: service.info is not None and service.info.checkpoint == str(p), timeout=30_000
            )
            count = len(highest)
            service.submit("inputs", lambda ctx: float(ctx.test_inputs().max()), highest.append)
            qtbot.waitUntil(lambda c=count: len(highest) == c + 1, timeout=30_000)
        assert highest == [1.0, 255.0, 1.0]
    finally:
        service.shutdown()
