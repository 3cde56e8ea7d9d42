"""The shell around the Hydra apps: Hydra's own errors become one line, like ours.

Hydra reports composition errors (an unknown group option, a value of the wrong type, an unknown key, bad override
syntax) and an output directory it cannot create in several lines, with exit code 1. Everything a user can fix
should read the same whatever part of the stack finds it, so ``hydra_entry`` turns those into
``<program>: error: <one line>`` and exit code 2. ``HYDRA_FULL_ERROR=1`` leaves Hydra's reporting (the full trace)
untouched. Hydra 1.3 routes every error of ``@hydra.main`` through ``hydra._internal.utils.run_and_report``; that is
the hook used here (the version is pinned below 1.4 in ``setup.cfg``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NoReturn

from .config import register_configs
from .errors import fail, full_error_requested


def _known_keys(cause: BaseException) -> list[str]:
    """The keys a node accepts, from the dataclass schema or the node itself."""
    object_type = getattr(cause, "object_type", None)
    if dataclasses.is_dataclass(object_type):
        return [f.name for f in dataclasses.fields(object_type)]
    parent = getattr(cause, "parent_node", None)
    try:
        return [str(k) for k in parent.keys()] if parent is not None else []
    except Exception:  # a node of another kind: no list to offer
        return []


def _first_line(text: str, limit: int = 200) -> str:
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _os_error(ex: BaseException) -> OSError | None:
    """An OSError with a file name in the exception or its causes (e.g. logging's 'Unable to configure handler')."""
    seen = 0
    while ex is not None and seen < 5:
        if isinstance(ex, OSError) and getattr(ex, "filename", None):
            return ex
        ex = ex.__cause__ or ex.__context__
        seen += 1
    return None


def hydra_error_line(ex: BaseException) -> str | None:
    """One line for an error Hydra or OmegaConf raised while composing or preparing a run; None for anything else."""
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

    if isinstance(ex, MissingConfigException):
        missing = ex.missing_cfg_file or ""
        group, _, option = missing.rpartition("/")
        if group and ex.options is not None:
            return (f"{group}={option} is not an option of config group '{group}'; "
                    f"choose one of {', '.join(ex.options) or '(none)'}")
        return _first_line(str(ex))
    if isinstance(ex, OverrideParseException):
        return (f"cannot parse the override {ex.override!r}: {_first_line(ex.message)} "
                "(see https://hydra.cc/docs/advanced/override_grammar/basic/)")
    if isinstance(ex, HydraException):
        cause = ex.__cause__
        override = _first_line(str(ex)).rpartition("override ")[2] if "override " in str(ex) else ""
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and getattr(cause, "full_key", None):
            known = _known_keys(cause)
            node = cause.full_key.rpartition(".")[0] or "the config"
            return (f"{cause.full_key} is not a known key of {node}"
                    + (f"; known keys: {', '.join(known)}" if known else ""))
        if isinstance(cause, ValidationError) and getattr(cause, "full_key", None):
            what = override or cause.full_key
            return f"{what} is not valid: {_first_line(cause.msg)}"
        if isinstance(cause, OmegaConfBaseException):
            return f"{_first_line(str(ex))}: {_first_line(getattr(cause, 'msg', str(cause)))}"
        return _first_line(str(ex))
    error = _os_error(ex)
    if error is not None:
        return (f"cannot write {error.filename}: {error.strerror or error}; "
                "choose a writable output directory (hydra.run.dir=..., or hydra.sweep.dir=... with -m)")
    return None


def hydra_entry(program: str, hydra_main: Callable[[], Any]) -> None:
    """Run a ``@hydra.main`` function with Hydra's own errors reported as one line and exit code 2."""
    register_configs()
    try:
        import hydra._internal.utils as hydra_utils
    except ImportError:  # another Hydra layout: its own reporting stays
        hydra_main()
        return
    original = hydra_utils.run_and_report

    def reraise(ex: BaseException) -> Callable[[], NoReturn]:
        def again() -> NoReturn:
            raise ex

        return again

    def run_and_report(func: Callable[[], Any]) -> Any:
        if full_error_requested():
            return original(func)
        try:
            return func()
        except Exception as ex:  # noqa: BLE001 - sorted below; anything not ours goes back to Hydra's reporting
            line = hydra_error_line(ex)
            if line is None:
                return original(reraise(ex))
            fail(program, line)

    hydra_utils.run_and_report = run_and_report
    try:
        hydra_main()
    finally:
        hydra_utils.run_and_report = original

