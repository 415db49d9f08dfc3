"""The core must work without Qt: import every core module with PySide6 made unimportable."""

import subprocess
import sys

SCRIPT = r"""
import importlib, pkgutil, sys

class BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph"):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, BlockQt())
import vae_explorer.core as core
for info in pkgutil.iter_modules(core.__path__):
    importlib.import_module(f"vae_explorer.core.{info.name}")
from vae_explorer.cli import build_parser
args = build_parser().parse_args(["train", "--out", "x"])
assert args.lr is None
assert not any(m.split(".")[0] in ("PySide6", "pyqtgraph") for m in sys.modules)
print("ok")
"""


def test_core_imports_without_qt():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
