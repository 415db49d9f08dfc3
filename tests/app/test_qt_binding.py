"""Guard against a Qt binding that corrupts reference counts when Python code emits signals.

PySide6 6.12.0 on Python 3.11 drops one reference to True on every Signal.emit(); the app (and
pyqtgraph) emit thousands of signals, so the interpreter aborts after a few minutes of training.
pyproject.toml excludes that release; this test fails loudly if such a binding comes back.
"""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    plain = Signal(int)
    carrying = Signal(int, object)


def test_emit_keeps_reference_counts(qapp):
    emitter = _Emitter()
    received = []
    emitter.carrying.connect(lambda i, obj: received.append(i))
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for i in range(200):
        emitter.plain.emit(i)
        emitter.carrying.emit(i, None)
    assert len(received) == 200
    assert abs(sys.getrefcount(True) - before_true) < 20
    assert abs(sys.getrefcount(None) - before_none) < 20
