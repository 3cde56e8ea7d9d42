"""Atomic output files: every file is written to a temporary sibling and renamed, so a crash (Ctrl-C, SIGKILL)
never leaves a half-written output, and a reader sees either the old file or the new one."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import torch


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_csv(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()})
    return atomic_write_text(path, buf.getvalue())


class CheckpointError(ValueError):
    """A checkpoint that is unreadable, unsafe to load, or made by another run; the message names the file."""


PLAIN = (str, int, float, bool, type(None), torch.Tensor, torch.Size)


def _check_plain(value: Any, where: str) -> None:
    """Checkpoints hold only tensors and plain containers, so that ``weights_only=True`` can read them back."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint key {key!r} at {where} is a {type(key).__name__}; use str or int keys")
            _check_plain(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not isinstance(value, PLAIN):
        raise TypeError(f"checkpoint value at {where} is a {type(value).__name__}; a checkpoint holds only tensors, "
                        "plain containers, numbers and strings (it is loaded with weights_only=True)")


def save_checkpoint(path: str | Path, state: dict[str, Any], run: dict[str, Any] | None = None) -> Path:
    """Write ``state`` atomically; ``run`` (settings the state depends on) is kept to check a later resume."""
    state = dict(state, run=run) if run is not None else state
    _check_plain(state, "state")
    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write_bytes(path, buf.getvalue())


def _reason(err: BaseException) -> str:
    """The informative line of a load error (torch's weights-only message puts it after several lines of advice)."""
    lines = [line.strip() for line in str(err).split("WeightsUnpickler error:")[-1].splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:160]


def load_checkpoint(path: str | Path, run: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``: no code runs) and check it was made by the same kind of run.

    ``run`` holds the settings the state depends on (space, model, regularizer, ...); a checkpoint that recorded
    other values is refused with the differing keys named.
    """
    try:
        with warnings.catch_warnings():  # torch warns about unusual pickle protocols: the error below says enough
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a user file can fail to unpickle in many ways; all are "not loadable"
        if "Unsupported global" in str(err):  # a class or function to call: the way a pickle runs code
            raise CheckpointError(f"{path}: refused to load: it names objects other than tensors and plain data "
                                  f"({_reason(err)}), which could run code; irlas_darts never writes such a file: "
                                  "delete it or choose another hydra.run.dir") from None
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {_reason(err)}); "
                              "delete it to start afresh or choose another hydra.run.dir") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not an irlas_darts checkpoint; "
                              "delete it or choose another hydra.run.dir")
    saved = state.get("run")
    if run is not None and isinstance(saved, dict):
        if saved.get("app") != run.get("app"):
            raise CheckpointError(f"{path}: resume=true with a checkpoint of {saved.get('app') or 'another program'}, "
                                  f"not of {run.get('app')}; choose another hydra.run.dir")
        differ = [f"{k} {_short(saved.get(k))} (this run: {_short(v)})" for k, v in run.items() if saved.get(k) != v]
        if differ:
            raise CheckpointError(f"{path}: resume=true with a checkpoint of another run: {'; '.join(differ[:3])}"
                                  f"{'; ...' if len(differ) > 3 else ''}; resume with the same settings or choose "
                                  "another hydra.run.dir")
    return state


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def restore(path: str | Path, load: Callable[[dict[str, Any]], None], state: dict[str, Any]) -> None:
    """Apply a loaded checkpoint with ``load``; a state that does not fit the model is one ``CheckpointError``."""
    try:
        load(state)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as err:
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: does not fit this run ({first}); resume with the settings that wrote it "
                              "or choose another hydra.run.dir") from None
