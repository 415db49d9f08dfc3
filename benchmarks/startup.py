"""How long the app takes to put its window on screen, against a bare PySide6 window.

Runs each program 5 times (--runs) on an X display (DISPLAY, else a private Xvfb with openbox,
which needs `apt-get install xvfb openbox xdotool`), each with a fresh HOME, and times from the
process's start until a window with its title is visible (`xdotool search --onlyvisible`); for
the app also until the main window replaced the loading one (the engine loaded). Prints the
medians and ends with `startup_ratio=<app first window / bare window>`.

    python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

APP_TITLE = "VAE Explorer"
BARE = (
    "from PySide6.QtWidgets import QApplication, QWidget\n"
    "app = QApplication([]); w = QWidget(); w.setWindowTitle('bare startup'); w.resize(400, 300)\n"
    "w.show(); app.exec()\n"
)


def visible(title: str, env: dict) -> list[str]:
    out = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"],
        capture_output=True,
        text=True,
        env=env,
    )
    return out.stdout.split()


def time_window(cmd: list[str], title: str, env: dict, second: bool = False, timeout: float = 60.0):
    """(seconds to the first visible window, seconds until another replaced it or None)."""
    home = tempfile.mkdtemp(prefix="startup-home-")
    env = {**env, "HOME": home, "XDG_CONFIG_HOME": f"{home}/.config", "XDG_DATA_HOME": f"{home}/.local/share"}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = ready = None
    seen: set[str] = set()
    try:
        while time.perf_counter() - started < timeout:
            ids = visible(title, env)
            now = time.perf_counter() - started
            if ids and first is None:
                first, seen = now, set(ids)
                if not second:
                    break
            elif first is not None and ids and not set(ids) <= seen:
                ready = now
                break
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(home, ignore_errors=True)
    return first, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    xvfb = wm = None
    if not env.get("DISPLAY"):
        env["DISPLAY"] = ":97"
        xvfb = subprocess.Popen(["Xvfb", ":97", "-screen", "0", "1600x1000x24"], stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        wm = subprocess.Popen(["openbox"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    try:
        app, ready, bare = [], [], []
        for _ in range(args.runs):  # interleaved, so that load on the machine hits both alike
            first, loaded = time_window([sys.executable, "-m", "vae_explorer"], APP_TITLE, env, second=True)
            app.append(first)
            ready.append(loaded)
            bare.append(time_window([sys.executable, "-c", BARE], "bare startup", env)[0])
        print(f"app, first window (s):  {', '.join(f'{t:.2f}' for t in app)}")
        print(f"app, main window (s):   {', '.join(f'{t:.2f}' if t else '–' for t in ready)}")
        print(f"bare PySide6 window (s): {', '.join(f'{t:.2f}' for t in bare)}")
        a, b = statistics.median(app), statistics.median(bare)
        loaded = [t for t in ready if t]
        print(f"medians: app {a:.2f} s (main window {statistics.median(loaded):.2f} s), bare {b:.2f} s")
        print(f"startup_ratio={a / b:.2f}")
    finally:
        for proc in (wm, xvfb):
            if proc is not None:
                proc.kill()


if __name__ == "__main__":
    main()
