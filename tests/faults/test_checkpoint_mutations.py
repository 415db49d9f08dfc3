"""Property tests (Hypothesis) over damaged and crafted checkpoint archives (issue 22): whatever
the bytes, `read_checkpoint` and `load_checkpoint` load the file or raise CheckpointError with
one line, and `vae-explorer evaluate` on a damaged file prints one line and exits 2."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
from faulthelpers import same
from helpers import trainer_checkpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vae_explorer.cli import main
from vae_explorer.core.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    signed,
)
from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig

CONFIG = RunConfig(
    DataConfig(limit_test=64), ModelConfig(hidden=16, latent_dim=4, components=3), TrainConfig(device="cpu")
)
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> bytes:
    """A last.pt as the trainer writes it: weights, settings, metrics, optimiser and generator state."""
    path = tmp_path_factory.mktemp("mutations") / "last.pt"
    trainer_checkpoint(path, CONFIG, generators=True)
    return path.read_bytes()


def _payload(blob: bytes) -> dict:
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)


def _accepted(path: Path) -> bool:
    """Load `path` both ways; True when accepted. Any error but a one-line CheckpointError fails."""
    accepted = True
    for load in (read_checkpoint, load_checkpoint):
        try:
            load(path)
        except CheckpointError as exc:
            assert str(exc) and "\n" not in str(exc), str(exc)
            accepted = False
    return accepted


def _same_content(path: Path, original: bytes) -> bool:
    """Judged by the loaded contents themselves (types, keys, values, tensor bytes), not by the
    checksum under test: a checksum that skipped part of the content would agree with itself."""
    try:
        return same(_payload(path.read_bytes()), _payload(original))
    except Exception:
        return False


def _evaluate_refuses(path: Path, capsys) -> None:
    capsys.readouterr()
    code = main(["evaluate", str(path), "--limit-test", "8"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), (code, err)


def _damaged(path: Path, original: bytes, capsys) -> None:
    """A damaged file is refused (and by `evaluate` too), unless its content is unchanged."""
    if _accepted(path):
        assert _same_content(path, original), "a changed file was accepted"
    else:
        _evaluate_refuses(path, capsys)


# -- damaged bytes: truncations, changed bytes, zip members swapped ----------------------------------------
@SETTINGS
@given(data=st.data())
def test_truncated_or_changed_bytes_are_refused_in_one_line(original, tmp_path, capsys, data):
    blob = bytearray(original)
    how = data.draw(st.sampled_from(["truncate", "bytes", "junk"]))
    if how == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif how == "bytes":
        for _ in range(data.draw(st.integers(1, 8))):
            at = data.draw(st.integers(0, len(blob) - 1))
            blob[at] ^= data.draw(st.integers(1, 255))
    else:  # a run of junk written over the file
        at = data.draw(st.integers(0, len(blob) - 1))
        junk = data.draw(st.binary(min_size=1, max_size=512))
        blob[at : at + len(junk)] = junk
    path = tmp_path / "damaged.pt"
    path.write_bytes(bytes(blob))
    _damaged(path, original, capsys)


def _rezip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


@SETTINGS
@given(data=st.data())
def test_swapped_or_dropped_zip_members_are_refused_in_one_line(original, tmp_path, capsys, data):
    with zipfile.ZipFile(io.BytesIO(original)) as z:
        members = [(info.filename, z.read(info)) for info in z.infolist()]
    names = [name for name, _ in members]
    how = data.draw(st.sampled_from(["swap", "drop", "copy"]))
    i = data.draw(st.integers(0, len(members) - 1))
    j = data.draw(st.integers(0, len(members) - 1).filter(lambda j: j != i))
    contents = [payload for _, payload in members]
    if how == "swap":  # two records trade contents
        contents[i], contents[j] = contents[j], contents[i]
    elif how == "copy":  # one record's content stands in for another's
        contents[j] = contents[i]
    members = list(zip(names, contents))
    if how == "drop":
        del members[i]
    path = tmp_path / "rezipped.pt"
    path.write_bytes(_rezip(members))
    _damaged(path, original, capsys)


# -- wrong types in every field: crafted payloads, signed (so the checks behind the checksum run) or not --
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.builds(
        lambda shape, dtype: torch.zeros(shape, dtype=dtype),
        st.lists(st.integers(0, 4), max_size=3),
        st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool, torch.float16]),
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(0, 5), children, max_size=4)
    ),
    max_leaves=12,
)


def _fields(value, prefix=()):
    """Every path of keys into the payload (through dicts and lists), the payload itself first."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _fields(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _fields(item, (*prefix, index))


def _replaced(payload, path: tuple, value):
    if not path:
        return value
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


def _config_fields(payload) -> list[tuple]:
    """The settings are JSON text: every path into that object, as ("config", key, ...)."""
    return [("config", *p) for p in _fields(json.loads(payload["config"])) if p]


@SETTINGS
@given(data=st.data(), value=VALUES, sign=st.booleans())
def test_wrong_types_in_any_field_are_refused_in_one_line(original, tmp_path, capsys, data, value, sign):
    payload = _payload(original)
    where = data.draw(st.sampled_from(list(_fields(payload)) + _config_fields(payload)))
    if where[:1] == ("config",) and len(where) > 1:  # a value inside the settings' JSON
        raw = json.loads(payload["config"])
        jsonable = json.loads(json.dumps(value, default=lambda v: None))
        payload["config"] = json.dumps(_replaced(raw, where[1:], jsonable))
    else:
        payload = _replaced(payload, where, value)
    if sign and isinstance(payload, dict):
        with contextlib.suppress(ValueError):  # a value no checkpoint holds: left unsigned, refused
            payload = signed(payload)
    path = tmp_path / "crafted.pt"
    torch.save(payload, path)
    accepted = _accepted(path)  # signed: any error but a one-line refusal fails the test there
    if not sign:  # unsigned: a changed file is refused (signed, a field that only --resume reads,
        # such as the optimiser's step, is checked when a run resumes, not when a model loads)
        assert not accepted or _same_content(path, original)


def test_settings_that_ask_for_a_huge_model_are_refused_before_allocating(original, tmp_path):
    payload = _payload(original)
    raw = json.loads(payload["config"])
    raw["model"]["hidden"] = 10**9  # a model of 10^12 parameters, were it built
    payload["config"] = json.dumps(raw)
    torch.save(signed(payload), tmp_path / "huge.pt")
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_checkpoint(tmp_path / "huge.pt")
