"""Frozen entry point for the PyInstaller bundle: the same as the `vae-explorer` console command."""

import multiprocessing

from vae_explorer.cli import entry

if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless unless a child process is ever spawned from the bundle
    raise SystemExit(entry())
