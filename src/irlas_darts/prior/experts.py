"""The shipped experts (``conf/expert/<name>.yaml``) read by name, for code that does not run the Hydra app.

The app composes ``expert=<name>`` through Hydra; a foreign search loop only wants the cells. Both read the same
files: the package's ``conf/`` (a link to the top-level ``conf/`` in a checkout, a copy inside the wheel), so a new
expert file is available to both at once.
"""

from __future__ import annotations

from pathlib import Path

from ..spaces import SearchSpace


def expert_dir() -> Path:
    """The folder of the shipped expert configs (inside the installed package)."""
    return Path(__file__).resolve().parents[1] / "conf" / "expert"


def shipped_experts() -> list[str]:
    """Names of the shipped experts (``resnext``, ``resnet``, ...)."""
    folder = expert_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def shipped_expert_texts(name: str, space: SearchSpace) -> list[str]:
    """The genotype texts the shipped expert ``name`` lists for ``space``."""
    from omegaconf import OmegaConf

    names = shipped_experts()
    if name not in names:
        raise ValueError(f"expert={name!r} is not a shipped expert; choose one of {', '.join(names) or '(none found)'} "
                         "or pass the expert's cells as genotype strings")
    data = OmegaConf.to_container(OmegaConf.load(expert_dir() / f"{name}.yaml"), resolve=False)
    texts = data.get(space.name) if isinstance(data, dict) else None
    if not texts:
        raise ValueError(f"expert {name!r} has no cells for the {space.name} space; pass the cells as genotype strings")
    return [str(t) for t in texts]
