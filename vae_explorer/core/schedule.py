"""Learning-rate schedules: the factor by which a run's learning rate is multiplied at each step.

- constant: 1 throughout (the course).
- cosine: a linear warm-up over `warmup_epochs`, then a half cosine from 1 down to FLOOR at the
  run's last epoch (its maximum, `epochs`): the rate is high while the model is far from good
  and small when the last epochs polish it.
- plateau: 1 until the validation nll has not improved for PLATEAU_PATIENCE epochs (counted as
  the patience counts them: every epoch since the last improving validation), then halved, and so on, down to FLOOR; its state (the current factor and the epochs since the
  last improvement or cut) lives in the run's metrics, so a resumed run continues exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FLOOR = 0.02  # the smallest factor: 2% of the set learning rate
PLATEAU_PATIENCE = 5  # epochs without improvement before the rate is halved


def cosine_factor(step: int, steps_per_epoch: int, epochs: int, warmup_epochs: int) -> float:
    """The cosine schedule's factor before optimiser step `step` (0-based)."""
    warmup = warmup_epochs * steps_per_epoch
    total = max(epochs * steps_per_epoch, warmup + 1)
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return FLOOR + (1.0 - FLOOR) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class Plateau:
    """The plateau schedule's state: its current factor and the epochs since it last improved or
    was cut."""

    factor: float = 1.0
    stale: int = 0

    def after_validation(self, improved: bool, epochs: int) -> None:
        """Account for `epochs` trained since the last validation, which did or did not improve."""
        if improved:
            self.stale = 0
            return
        self.stale += epochs
        if self.stale >= PLATEAU_PATIENCE and self.factor > FLOOR:
            self.factor = max(FLOOR, self.factor / 2)
            self.stale = 0
