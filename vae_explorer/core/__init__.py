"""The Qt-free engine: data, model, training, evaluation and checkpoints (torch + numpy only)."""
