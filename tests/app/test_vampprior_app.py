"""A VampPrior model in the Components tab: each row starts with its pseudo-input, framed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from apphelpers import tiny_config

from vae_explorer.app.inference import InferenceService
from vae_explorer.app.panels.components import PSEUDO_HEADER, ComponentsPanel
from vae_explorer.core.config import ModelConfig


@pytest.fixture
def vamp_checkpoint(tmp_path):
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import Trainer

    config = replace(
        tiny_config(epochs=1), model=ModelConfig(hidden=32, latent_dim=4, components=5, prior="vampprior")
    )
    Trainer(config, load_splits(config.data), tmp_path / "vamp").run()
    return tmp_path / "vamp" / "model.pt"


def test_the_components_tab_shows_each_pseudo_input_beside_its_samples(qtbot, vamp_checkpoint):
    import torch

    from vae_explorer.core.checkpoint import load_checkpoint

    service = InferenceService()
    try:
        panel = ComponentsPanel(service)
        qtbot.addWidget(panel)
        panel.resize(1000, 700)
        panel.show()
        with qtbot.waitSignal(service.model_loaded, timeout=30_000):
            service.load_checkpoint(str(vamp_checkpoint))
        qtbot.waitUntil(lambda: panel.result is not None and len(panel.row_images()) == 5, timeout=60_000)
        result = panel.result
        assert result.pseudo_inputs and result.cells == panel.samples.value() + 1
        assert np.allclose(result.weights, 0.2)
        assert PSEUDO_HEADER in panel.headers[2].text()
        for k in range(5):
            assert panel.rows[k].view.marks == {0: ("#d62728", "u")}
        # the first cell of row k is pseudo-input k
        model, _, _ = load_checkpoint(vamp_checkpoint)
        with torch.no_grad():
            u = model.prior.pseudo_inputs().numpy().reshape(5, 28, 28)
        for k in range(5):
            np.testing.assert_allclose(result.strips[k][1:29, 1:29], u[k], atol=1e-6)
        # a row drawn again keeps its pseudo-input in front
        panel.resample_row(3)
        qtbot.waitUntil(lambda: not service.pending(), timeout=30_000)
        np.testing.assert_allclose(panel.rows[3].view.image()[1:29, 1:29], u[3], atol=1e-6)
    finally:
        service.shutdown()
