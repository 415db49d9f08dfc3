"""The settings dialog: learning rates read back as given; data folder problems are named."""

from vae_explorer.app.settings import format_lrs, parse_lrs
from vae_explorer.core.session import lr_dirname


def test_close_rates_survive_the_round_trip_and_get_their_own_folders():
    lrs = (1e-3, 0.0010000001, 0.0010000002, 1e-5)
    assert format_lrs(lrs) == "0.001, 0.0010000001, 0.0010000002, 1e-05"
    assert parse_lrs(format_lrs(lrs)) == lrs
    names = [lr_dirname(lr) for lr in lrs]
    assert names == ["lr_0.001", "lr_0.0010000001", "lr_0.0010000002", "lr_1e-05"]


def test_a_file_as_data_folder_is_named_as_such(qtbot, tmp_path):
    from PySide6.QtWidgets import QDialogButtonBox

    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(TrainingSettings())
    qtbot.addWidget(dialog)
    dialog.source.setCurrentIndex(dialog.source.findData("mnist"))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not data")
    dialog.folder.setText(str(a_file))
    assert dialog._folder_problem() == f"{a_file} is a file, not a folder"
    dialog.folder.setText(str(tmp_path / "absent"))
    assert dialog._folder_problem() == f"{tmp_path / 'absent' / 'MNIST' / 'raw'} does not exist"
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_the_course_preset_and_the_mixture_options_in_the_dialog(qtbot):
    from dataclasses import replace

    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.app.settings_dialog import SettingsDialog
    from vae_explorer.core.config import PRESETS, DataConfig, RunConfig, apply_preset

    dialog = SettingsDialog(TrainingSettings())
    qtbot.addWidget(dialog)
    assert dialog.preset.currentData() == "recommended"  # the defaults
    # choosing the mixture options makes the settings custom, and they reach the configuration
    dialog.mixture_weights.setCurrentIndex(dialog.mixture_weights.findData("uniform"))
    dialog.prior_init.setCurrentIndex(dialog.prior_init.findData("kmeans"))
    dialog.kl_warmup.setValue(10)
    dialog.likelihood.setCurrentIndex(dialog.likelihood.findData("gaussian"))
    dialog.limit_train.setValue(3000)
    dialog.seed.setValue(7)
    assert dialog.preset.currentData() is None
    c = dialog.settings().config
    assert (c.model.mixture_weights, c.train.prior_init, c.train.kl_warmup, c.model.likelihood) == (
        "uniform",
        "kmeans",
        10,
        "gaussian",
    )
    # the course preset puts the course back and keeps the data and the seed
    dialog.lrs.setText("1e-4, 1e-2")
    dialog.preset.setCurrentIndex(dialog.preset.findData("course"))
    dialog.preset.activated.emit(dialog.preset.currentIndex())
    s = dialog.settings()
    assert s.lrs == (1e-3,) and dialog.preset.currentData() == "course"
    assert {k: getattr(s.config.model, k) for k in PRESETS["course"]["model"]} == PRESETS["course"]["model"]
    assert s.config.train.prior_init == "random" and s.config.train.kl_warmup == 0
    assert s.config.data.limit_train == 3000 and s.config.train.seed == 7
    dialog.preset.setCurrentIndex(dialog.preset.findData("recommended"))
    dialog.preset.activated.emit(dialog.preset.currentIndex())
    assert dialog.prior_init.currentData() == "kmeans" and dialog.preset.currentData() == "recommended"
    # Fast (CPU): its batches, rate and schedule, and back again to the same settings
    index = dialog.preset.findData("fast")
    assert dialog.preset.itemText(index) == "Fast (CPU)"
    dialog.preset.setCurrentIndex(index)
    dialog.preset.activated.emit(index)
    s = dialog.settings()
    assert s.config.train == apply_preset("fast", s.config).train and s.lrs == (3e-3,)
    assert dialog.schedule.currentData() == "cosine" and dialog.warmup_epochs.isEnabled()
    assert dialog.batch_size.value() == 256 and dialog.checkpoint_seconds.value() == 60
    dialog.show_settings(s)
    assert dialog.preset.currentData() == "fast"
    # a configuration with the new options shows them again
    shown = RunConfig(DataConfig(limit_train=100))
    shown = replace(shown, train=replace(shown.train, prior_init="kmeans", kl_warmup=3))
    dialog.show_settings(TrainingSettings(shown, (1e-3,)))
    assert dialog.prior_init.currentData() == "kmeans" and dialog.kl_warmup.value() == 3


def test_the_dialog_keeps_its_height_and_field_places_while_messages_come_and_go(qtbot):
    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(TrainingSettings())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    height, place = dialog.height(), dialog.epochs.mapTo(dialog, dialog.epochs.rect().topLeft())
    dialog.lrs.setText("1e-3, nonsense")
    qtbot.wait(20)
    assert dialog.error.text() and dialog.height() == height
    assert dialog.epochs.mapTo(dialog, dialog.epochs.rect().topLeft()) == place
    dialog.lrs.setText("1e-3")
    qtbot.wait(20)
    assert not dialog.error.text() and dialog.height() == height
    assert dialog.epochs.mapTo(dialog, dialog.epochs.rect().topLeft()) == place
    # the data folder field shows its whole placeholder
    f = dialog.folder
    assert f.width() >= f.fontMetrics().horizontalAdvance(f.placeholderText())


def test_the_seed_field_takes_what_the_configuration_takes(qtbot):
    """The dialog stopped seeds at 2^31 - 1 where the CLI took 2^63 - 1; the configuration alone
    says what a seed may be."""
    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.app.settings_dialog import SettingsDialog
    from vae_explorer.core.config import MAX_SEED

    dialog = SettingsDialog(TrainingSettings())
    qtbot.addWidget(dialog)
    dialog.seed.setText(str(2**40))
    assert dialog.validate() and dialog.settings().config.train.seed == 2**40
    dialog.seed.setText(str(MAX_SEED + 1))
    assert not dialog.validate() and "seed must be from 0 to" in dialog.error.text()
    dialog.seed.setText("")
    assert not dialog.validate() and "seed must be" in dialog.error.text()


def test_saved_settings_with_a_rate_twice_train_each_rate_once():
    """A damaged settings file listing a rate twice made every Start train two runs into one
    lr_<rate> folder (the second refused as busy); such repeats are dropped on reading."""
    import json

    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.core.config import RunConfig

    text = json.dumps({"config": RunConfig().to_dict(), "lrs": [3e-3, 1e-3, 3e-3, 0.001, 1e-2]})
    lrs = TrainingSettings.from_json(text).lrs
    assert lrs == (3e-3, 1e-3, 1e-2) and len({lr_dirname(lr) for lr in lrs}) == 3


def test_saved_settings_asking_for_a_gpu_that_is_not_here_are_refused(qtbot, monkeypatch):
    """Settings saved on a machine with a GPU select the greyed "CUDA GPU (not available)": the
    dialog says so instead of accepting a Start that fails, leaving an empty queue folder."""
    from dataclasses import replace

    from PySide6.QtWidgets import QDialogButtonBox

    from vae_explorer.app import settings_dialog
    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.core.config import RunConfig

    monkeypatch.setattr(settings_dialog, "gpu_name", lambda: None)
    config = RunConfig()
    dialog = settings_dialog.SettingsDialog(
        TrainingSettings(replace(config, train=replace(config.train, device="cuda")))
    )
    qtbot.addWidget(dialog)
    assert dialog.device.currentData() == "cuda" and not dialog.validate()
    assert "no CUDA GPU is available here" in dialog.error.text()
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    assert dialog.validate() and dialog.settings().config.train.device == "cpu"
