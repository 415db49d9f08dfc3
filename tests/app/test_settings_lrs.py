"""The settings' learning-rate field: what is shown reads back as the same rates."""

from vae_explorer.app.settings import format_lrs, parse_lrs
from vae_explorer.app.training_worker import run_dir_name
from vae_explorer.core.config import RunConfig


def test_close_rates_survive_the_round_trip_and_get_their_own_folders():
    lrs = (1e-3, 0.0010000001, 0.0010000002, 1e-5)
    assert format_lrs(lrs) == "0.001, 0.0010000001, 0.0010000002, 1e-05"
    assert parse_lrs(format_lrs(lrs)) == lrs
    names = [run_dir_name(RunConfig().with_lr(lr)) for lr in lrs]
    assert names == ["lr_0.001", "lr_0.0010000001", "lr_0.0010000002", "lr_1e-05"]
