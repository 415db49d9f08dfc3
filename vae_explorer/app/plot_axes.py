"""The curve plot's axes: whole-epoch ticks on x, and round labels on a narrow log-scale nll axis."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg


class EpochAxis(pg.AxisItem):
    """An x-axis with ticks on whole epochs only (no 1.2, 1.4 ... on short runs); with `whole`
    off (the training-time axis) pyqtgraph's own ticks."""

    whole = True

    def tickValues(self, minVal, maxVal, size):
        if not self.whole:
            return super().tickValues(minVal, maxVal, size)
        levels = [
            (spacing, [v for v in values if float(v).is_integer()])
            for spacing, values in super().tickValues(minVal, maxVal, size)
            if spacing >= 1
        ]
        levels = [(s, v) for s, v in levels if v]
        if not levels and maxVal - minVal < 50:
            first, last = math.ceil(minVal), math.floor(maxVal)
            levels = [(1.0, [float(v) for v in range(first, last + 1)])]
        return levels


class NllAxis(pg.AxisItem):
    """The nll axis. On a log scale that spans less than a decade (the usual case: a few hundred
    nats), pyqtgraph labels only multiples of powers of ten, which left a single label (2·10²) on
    the axis; this one labels round values (180, 200, 220 ...) at their logarithms instead."""

    _narrow = False

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        self._narrow = maxVal - minVal < 1
        if not self._narrow:
            return super().logTickValues(minVal, maxVal, size, stdTicks)
        lo, hi = 10.0**minVal, 10.0**maxVal
        levels, seen = [], []
        for spacing, offset in self.tickSpacing(lo, hi, size):
            start = math.ceil((lo - offset) / spacing) * spacing + offset
            values = [
                v
                for v in np.arange(start, hi + spacing * 1e-9, spacing)
                if v > 0 and not any(abs(v - s) < spacing * 0.01 for s in seen)
            ]
            seen.extend(values)
            levels.append((spacing, [math.log10(v) for v in values]))
        return levels

    def logTickStrings(self, values, scale, spacing):
        if not self._narrow or not spacing:
            return super().logTickStrings(values, scale, spacing)
        places = max(0, math.ceil(-math.log10(spacing)))
        return [f"{10.0**v:.{places}f}" for v in values]
