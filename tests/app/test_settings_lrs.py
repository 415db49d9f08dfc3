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
