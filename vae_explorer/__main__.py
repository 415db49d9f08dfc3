"""`python -m vae_explorer` behaves like the `vae-explorer` command."""

from vae_explorer.cli import entry

raise SystemExit(entry())
