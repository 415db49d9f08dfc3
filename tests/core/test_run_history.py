"""A run record's history: columns for the views that draw it, rows for the files."""

import math

from vae_explorer.core import events as ev
from vae_explorer.core.run_history import RunHistory


def test_rows_go_in_as_columns_and_come_back_as_they_were():
    plain = ev.EpochEnd(0, 1, 210.0, 200.0, 1.5, 200.0, 1).record()
    parted = ev.EpochEnd(0, 2, 205.0, 195.0, 1.25, 195.0, 2, 180.0, 15.0, (0.75, 0.25)).record()
    history = RunHistory([plain])
    history.append(parted)
    assert len(history) == 2 and history.epoch == [1, 2] and history.val_nll == [200.0, 195.0]
    assert history.seconds == [1.5, 1.25] and history.val_kl[1] == 15.0 and math.isnan(history.val_kl[0])
    assert history.weights == [None, [0.75, 0.25]]
    assert history.rows() == [plain, parted] and history[-1] == parted and list(history) == [plain, parted]
    assert history == RunHistory([plain, parted]) and history != RunHistory([plain])
