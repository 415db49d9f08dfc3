"""The bit-flip campaign (issue 23, "Done means"): random single-bit flips of a small run's
model.pt and last.pt, each loaded by `sample`, `evaluate` and `train --resume`. A flip that
changes what the file holds is refused by every command in one line; only a flip that leaves
the content as it was (a byte torch does not read: a zip CRC, a time stamp, padding) may load.

The commands run in-process (the CLI's own entry point, its exit code and stderr), which is
what lets 1,800 loads fit in a test; a few real subprocesses show the same path end to end."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
import torch
from faulthelpers import cli, same

from vae_explorer.cli import main

FLIPS = 300


def content_changed(blob: bytes, reference) -> bool:
    try:
        loaded = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception:
        return True  # unreadable: certainly not the original content
    return not same(loaded, reference)


def flipped(original: bytes, rng: random.Random) -> bytes:
    blob = bytearray(original)
    blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
    return bytes(blob)


def commands(path: Path, work: Path) -> dict[str, list[str]]:
    return {
        "sample": ["sample", str(path), "--out", str(work / "s.png")],
        "evaluate": ["evaluate", str(path), "--limit-test", "300"],
        "resume": [
            "train",
            "--resume",
            str(path),
            "--epochs",
            "2",
            "--eval-budget",
            "0",
            "--out",
            str(work / "r"),
        ],
    }


def run_in_process(args: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own exits
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["model.pt", "last.pt"])
def test_no_flipped_bit_is_accepted_with_other_content(base_run, tmp_path, capsys, name):
    original = (base_run / name).read_bytes()
    reference = torch.load(base_run / name, map_location="cpu", weights_only=True)
    rng = random.Random(f"issue 23 {name}")
    changed = refused = identical = identical_loaded = 0
    wrong: list[str] = []
    for i in range(FLIPS):
        blob = flipped(original, rng)
        work = tmp_path / f"flip{i}"
        work.mkdir()
        path = work / name
        path.write_bytes(blob)
        is_changed = content_changed(blob, reference)
        changed += is_changed
        identical += not is_changed
        outcomes = {}
        for command, args in commands(path, work).items():
            code, err = run_in_process(args, capsys)
            lines = err.strip().splitlines()
            one_line = code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
            outcomes[command] = "refused" if one_line else f"exit {code}"
            if is_changed and not one_line:
                wrong.append(f"flip {i}: {command} -> exit {code}: {err.strip()[:300]!r}")
            if not is_changed and code not in (0, 2):
                wrong.append(f"flip {i} (same content): {command} -> exit {code}: {err.strip()[:300]!r}")
        if is_changed and all(v == "refused" for v in outcomes.values()):
            refused += 1
        if not is_changed and all(v == "exit 0" for v in outcomes.values()):
            identical_loaded += 1
    print(
        f"\n{name}: {FLIPS} single-bit flips; {changed} changed the content, {refused} of them refused in "
        f"one line by sample, evaluate and --resume; {identical} left the content as it was "
        f"({identical_loaded} of those loaded by all three)"
    )
    assert not wrong, f"{len(wrong)} wrong outcomes:\n" + "\n".join(wrong[:20])
    assert refused == changed


# a few flips end to end, through real processes: the first flip of each kind the campaign makes
def test_flipped_checkpoints_are_refused_by_real_processes(base_run, tmp_path):
    payload = torch.load(base_run / "last.pt", weights_only=True)
    blob = (base_run / "last.pt").read_bytes()
    weight = payload["model"]["decoder.net.4.weight"].contiguous().view(torch.uint8).numpy().tobytes()
    cases = {
        "a weight": blob.find(weight[:64]) + 17,
        "the learning rate": blob.find(b'"lr": 0.001') + 6,
        "the optimiser state": blob.find(
            payload["optimizer"]["state"][0]["exp_avg"].contiguous().view(torch.uint8).numpy().tobytes()[:64]
        )
        + 5,
    }
    for i, (what, at) in enumerate(cases.items()):
        damaged = bytearray(blob)
        damaged[at] ^= 0x08
        work = tmp_path / f"case{i}"
        work.mkdir()
        (work / "last.pt").write_bytes(bytes(damaged))
        for command, args in commands(work / "last.pt", work).items():
            proc = cli(*args)
            _, err = proc.communicate(timeout=300)
            lines = err.strip().splitlines()
            assert proc.returncode == 2 and len(lines) == 1, (what, command, err)
            assert "checksum" in lines[0], (what, command, err)
        assert sorted(p.name for p in work.iterdir()) == ["last.pt"]
