import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="session")
def script() -> Callable[[str], ModuleType]:
    """``script("gpu_check")``: experiments/gpu_check.py imported as the module ``gpu_check`` (registered in
    ``sys.modules``, where dataclasses look their module up; the scripts put experiments/ on ``sys.path``)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    return load
