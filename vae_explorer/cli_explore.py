"""CLI sub-commands of the latent explorer (components, interpolate)."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the explorer sub-commands on the main parser."""
