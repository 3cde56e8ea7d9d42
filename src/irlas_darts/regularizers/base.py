"""The regularizer plugin interface and registry, and the plain-DARTS ``none`` regularizer.

A regularizer adds a term to the architecture loss (``L_alpha = L_val + loss(alphas)``) and is told at each epoch's
end what the search found, so it can update its own state (the IRL step). Everything it needs to resume exactly is
in ``state_dict``.

Every plugin, ``none`` included, measures topology the same way: it keeps a ``MirrorStimuli`` tracker and runs the
IRL projection steps on the same schedule, so that ``F``, the margin ``t``, ``w`` and the distance to the expert are
logged and summarised identically for all of them; only ``irl`` lets w enter its loss. Call sequence of a search:

    reg = create_regularizer(name, space, expert=cells, **options)
    reg.start(alphas, genotype)          # once, at the initial alphas (mubar^(0) = mu^(0)); a resume then
    reg.load_state_dict(state)           #   overwrites the state with the checkpoint's
    each step:   L_val + reg.loss(alphas)                     (alphas: the live parameters, any device)
    each epoch:  row.update(reg.update(epoch, alphas, genotype))   (epoch from 0; genotype = space.derive(alphas))
    at the end:  metrics["topology"] = reg.summary(alphas, genotype)
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from ..spaces import Alphas, AnyGenotype, SearchSpace
from ..topology import (
    POSITIONS, CellAdjacency, MirrorStimuli, covered_cells, expert_cells, expert_features, feature_expectation,
    feature_names, genotype_feature_expectation, soft_adjacency, soft_feature_expectation,
)

_REGULARIZERS: dict[str, Callable[..., "Regularizer"]] = {}

DEFAULTS: dict[str, Any] = {  # the library defaults: the same as conf/regularizer/irl.yaml
    "lam": 0.03, "tau": 0.1, "gamma": 0.9, "every": 1, "start_epoch": 0, "epsilon": 0.01, "cells": "normal",
    "samples": 0, "seed": 0, "clip": True, "reward": "mirror", "policy": "soft",
    "guard": True, "guard_total": "derived", "positions": "sources",
}
POLICIES = ("soft", "derived")


def register_regularizer(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        _REGULARIZERS[name] = cls
        cls.name = name
        return cls

    return deco


def create_regularizer(name: str, space: SearchSpace, **options: Any) -> "Regularizer":
    """The regularizer registered as ``name``; shipped plugins register when the package's ``__init__`` imports them."""
    if name not in _REGULARIZERS:
        raise KeyError(f"unknown regularizer {name!r}; choose one of {sorted(_REGULARIZERS)}")
    return _REGULARIZERS[name](space, **options)


def available_regularizers() -> list[str]:
    return sorted(_REGULARIZERS)


def _detached(alphas: Alphas) -> Alphas:
    return {c: a.detach().to("cpu", torch.float64) for c, a in alphas.items()}


class Regularizer:
    """Base class; ``none`` is this class as it is: no loss term, topology measured and logged."""

    name = "none"
    needs_expert = False

    def __init__(
        self,
        space: SearchSpace,
        *,
        lam: float = DEFAULTS["lam"],
        tau: float = DEFAULTS["tau"],
        gamma: float = DEFAULTS["gamma"],
        every: int = DEFAULTS["every"],
        start_epoch: int = DEFAULTS["start_epoch"],
        epsilon: float = DEFAULTS["epsilon"],
        cells: str = DEFAULTS["cells"],
        samples: int = DEFAULTS["samples"],
        seed: int = DEFAULTS["seed"],
        clip: bool = DEFAULTS["clip"],
        reward: str = DEFAULTS["reward"],
        policy: str = DEFAULTS["policy"],
        guard: bool = DEFAULTS["guard"],
        guard_total: bool | str = DEFAULTS["guard_total"],
        positions: str = DEFAULTS["positions"],
        expert: Iterable[AnyGenotype | str] | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise TypeError(f"regularizer {self.name!r}: unknown option {sorted(unknown)[0]!r}; "
                            f"known: {', '.join(sorted([*DEFAULTS, 'expert']))}")
        self._check(tau > 0, "tau", tau, "it must be > 0")
        self._check(0 < gamma <= 1, "gamma", gamma, "use a value in (0, 1]")
        self._check(every >= 1, "every", every, "it must be >= 1")
        self._check(start_epoch >= 0, "start_epoch", start_epoch, "it must be >= 0")
        self._check(samples >= 0, "samples", samples, "it must be >= 0")
        self._check(lam >= 0, "lambda", lam, "it must be >= 0")
        self._check(epsilon >= 0, "epsilon", epsilon, "it must be >= 0")
        self._check(isinstance(guard_total, bool) or guard_total == "derived", "guard_total", guard_total,
                    "use false, true or derived")
        self._check(policy in POLICIES, "policy", policy, f"choose one of {', '.join(POLICIES)}")
        self._check(positions in POSITIONS, "positions", positions, f"choose one of {', '.join(POSITIONS)}")
        self._check(reward in MirrorStimuli.FORMS, "reward", reward, f"choose one of {', '.join(MirrorStimuli.FORMS)}")
        self.policy = policy
        self.guard = bool(guard)  # used by `irl` (see regularizers/irl.py); accepted by all so sweeps share keys
        self.guard_total = guard_total  # likewise: `excess_masses` below (false, true or "derived")
        self.space = space
        self.lam, self.tau, self.gamma = float(lam), float(tau), float(gamma)
        self.every, self.start_epoch, self.samples = int(every), int(start_epoch), int(samples)
        self.cells = cells
        self.positions = positions
        self.covered = covered_cells(space, cells)  # validates `cells`
        self.feature_names = feature_names(space, cells, positions)
        self.expert = expert_cells(space, expert) if expert else []
        if self.needs_expert and not self.expert:
            raise ValueError(f"regularizer {self.name!r} needs expert cells; pass expert= (config group expert=resnext)")
        self.tracker: MirrorStimuli | None = None
        if self.expert:
            mus = expert_features(space, self.expert, cells, self.gamma, positions)
            self.tracker = MirrorStimuli(mus.mean(dim=0), epsilon, clip=clip, form=reward,
                                         expert_range=(mus.min(dim=0).values, mus.max(dim=0).values))
        self.generator = torch.Generator().manual_seed(int(seed))  # only `samples > 0` draws from it
        self._cache: dict[tuple, torch.Tensor] = {}

    def _check(self, ok: bool, key: str, value: Any, fix: str) -> None:
        if not ok:
            raise ValueError(f"regularizer.{key}={value!r} is not valid; {fix}")

    # --- the interface ------------------------------------------------------------------------------------------
    def start(self, alphas: Alphas, genotype: AnyGenotype | None = None) -> None:
        """Call once with the initial alphas: mubar^(0) = mu^(0), so w^(0) = mu_E - mu^(0)."""
        if self.tracker is not None:
            self.tracker.start(self.policy_features(alphas, genotype))
            self._cache.clear()

    @property
    def started(self) -> bool:
        return self.tracker is None or self.tracker.started

    def loss(self, alphas: Alphas) -> torch.Tensor:
        """Term added to the validation loss in the architecture step; differentiable in ``alphas``."""
        return next(iter(alphas.values())).new_zeros(())

    def excess_masses(self, alphas: Alphas) -> list[torch.Tensor]:
        """Masses the whole architecture step must not raise (``guard_total``), differentiable in ``alphas``; none
        here. ``irl`` returns its guard's (regularizers/irl.py); the architect projects its gradient on them."""
        return []

    def irl_due(self, epoch: int) -> bool:
        return epoch >= self.start_epoch and (epoch - self.start_epoch) % self.every == 0

    def update(self, epoch: int, alphas: Alphas, genotype: AnyGenotype | None = None) -> dict[str, Any]:
        """Epoch-end callback (``epoch`` counts from 0): the IRL step when due; returns values to log for this epoch.

        Logged values are taken after this epoch's step: ``F = w . mu_soft(alpha)``, margin ``t = ||w||`` (also as
        ``margin``), ``distance_to_expert = ||mu(genotype) - mu_E||`` and ``w``.
        """
        if self.tracker is None:
            return {"F": None, "t": None, "margin": None, "distance_to_expert": None, "w": None}
        if genotype is None:
            genotype = self.space.derive(_detached(alphas))
        if not self.tracker.started:  # fallback when start() was not called: the current alphas act as initial
            self.start(alphas, genotype)
        if self.irl_due(epoch) and self.tracker.step(self.policy_features(alphas, genotype)):
            self._cache.clear()
        mu = genotype_feature_expectation(self.space, genotype, self.cells, self.gamma, positions=self.positions)
        return {
            "F": self._soft_reward(alphas),
            "t": self.tracker.margin,
            "margin": self.tracker.margin,
            "distance_to_expert": self._distance(mu),
            "w": self.tracker.w.tolist(),
        }

    def summary(self, alphas: Alphas, genotype: AnyGenotype | None = None) -> dict[str, Any]:
        """The ``topology`` block of metrics.json (JSON-ready).

        Expert quantities are None without an expert; ``F``, ``margin`` and ``w`` are None before ``start``.
        """
        genotype = genotype if genotype is not None else self.space.derive(_detached(alphas))
        mu = genotype_feature_expectation(self.space, genotype, self.cells, self.gamma, positions=self.positions)
        mu_soft = soft_feature_expectation(self.space, _detached(alphas), self.tau, self.cells, self.gamma,
                                           self.positions)
        out: dict[str, Any] = {
            "feature_names": list(self.feature_names),
            "cells": list(self.covered),
            "mu": mu.tolist(),
            "mu_soft": mu_soft.tolist(),
            "mu_expert": None, "distance_to_expert": None, "F": None, "margin": None, "w": None,
            "irl_steps": 0, "converged": False,
        }
        if self.tracker is not None:
            out.update(mu_expert=self.tracker.mu_expert.tolist(), distance_to_expert=self._distance(mu))
        if self.tracker is not None and self.tracker.started:
            out.update(
                F=float(self.tracker.reward(mu_soft)),
                margin=self.tracker.margin,
                w=self.tracker.w.tolist(),
                irl_steps=self.tracker.steps,
                converged=self.tracker.converged,
            )
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tracker": None if self.tracker is None else self.tracker.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:  # checkpoints written before regularizers kept state
            return
        if state.get("name", self.name) != self.name:
            raise ValueError(f"checkpoint was made with regularizer {state['name']!r}, not {self.name!r}; "
                             "resume with the same regularizer")
        if self.tracker is not None and state.get("tracker") is not None:
            self.tracker.load_state_dict(state["tracker"])
        self.generator.set_state(state["generator"])
        self._cache.clear()

    # --- topology helpers shared by the plugins -------------------------------------------------------------------
    def soft_features(self, alphas: Alphas) -> torch.Tensor:
        """mu_soft(alpha) over the covered cells, in the alphas' dtype and device (never under bf16 autocast)."""
        return feature_expectation(self.space, self.soft_cells(alphas), self.cells, self.gamma, self.positions)

    def soft_cells(self, alphas: Alphas) -> dict[str, CellAdjacency]:
        """The soft adjacency of every covered cell (never under bf16 autocast)."""
        device_type = next(iter(alphas.values())).device.type
        with torch.autocast(device_type=device_type, enabled=False):
            return {c: soft_adjacency(self.space, alphas[c], self.tau) for c in self.covered}

    def policy_features(self, alphas: Alphas, genotype: AnyGenotype | None = None) -> torch.Tensor:
        """mu^(j), the policy's feature expectation that the projection step consumes.

        ``policy=soft`` (default): ``mu_soft(alpha)``, the very quantity the reward acts on. The derived genotype of
        near-uniform alphas is an arbitrary cell (an argmax over noise), so ``w^(0) = mu_E - mu(derived)`` pointed the
        prior at whatever that cell lacked (in the DARTS space often identity edges), while the gradient moved the
        soft cell, whose features were elsewhere. ``policy=derived``: SPEC's genotype features, or with
        ``samples = M > 0`` the mean over M genotypes drawn from p(alpha): a draw derives from Gumbel-perturbed
        alphas (in NB201 exactly one op per edge sampled from the softmax; in DARTS the top-k rule then picks the
        edges from the sampled strengths).
        """
        detached = _detached(alphas)
        if self.policy == "soft":
            return soft_feature_expectation(self.space, detached, self.tau, self.cells, self.gamma, self.positions)
        if self.samples == 0:
            genotype = genotype if genotype is not None else self.space.derive(detached)
            return genotype_feature_expectation(self.space, genotype, self.cells, self.gamma, positions=self.positions)
        mus = []
        for _ in range(self.samples):
            noisy = {}
            for c, a in detached.items():
                u = torch.rand(a.shape, generator=self.generator, dtype=torch.float64).clamp_min(1e-300)
                noisy[c] = a - torch.log(-torch.log(u))
            mus.append(genotype_feature_expectation(self.space, self.space.derive(noisy), self.cells, self.gamma,
                                                        positions=self.positions))
        return torch.stack(mus).mean(dim=0)

    def _on(self, vector: torch.Tensor, like: torch.Tensor, key: str) -> torch.Tensor:
        """``vector`` in ``like``'s dtype/device, cached so a step does not copy it host-to-device again."""
        cache_key = (key, like.device, like.dtype)
        if cache_key not in self._cache:
            self._cache[cache_key] = vector.to(device=like.device, dtype=like.dtype)
        return self._cache[cache_key]

    def _soft_reward(self, alphas: Alphas) -> float:
        return float(self.tracker.reward(self.soft_features(_detached(alphas))))

    def _distance(self, mu: torch.Tensor) -> float:
        return float(torch.linalg.vector_norm(mu - self.tracker.mu_expert))


register_regularizer("none")(Regularizer)
