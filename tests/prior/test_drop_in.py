"""The drop-in prior on a foreign loop's own parameters equals our regularizer on the same alphas.

The stand-ins below carry the attribute names and shapes of the original DARTS ``Network`` (``alphas_normal``,
``alphas_reduce``: 14 x 8, ``arch_parameters()``) and of an AutoDL-style NAS-Bench-201 search network (one
``arch_parameters`` Parameter, 6 x 5); they are written here from those names alone. The reference is what
``irlas-search`` builds: ``create_regularizer`` with the expert cells of ``conf/expert/<name>.yaml``. Comparing with
it (not with stored numbers) keeps these tests true when the prior's internals change.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from irlas_darts.prior import LayoutError, Prior, shipped_experts
from irlas_darts.regularizers import create_regularizer
from irlas_darts.spaces import create_space
from irlas_darts.topology import expert_cells

ROOT = Path(__file__).resolve().parents[2]


class DartsNetworkStandIn(nn.Module):
    """The architecture half of the original DARTS search network: two (14, 8) tensors, DARTS' op order."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        k = sum(2 + i for i in range(4))
        self.alphas_normal = nn.Parameter(1e-1 * torch.randn(k, 8, generator=g))
        self.alphas_reduce = nn.Parameter(1e-1 * torch.randn(k, 8, generator=g))

    def arch_parameters(self) -> list[torch.Tensor]:
        return [self.alphas_normal, self.alphas_reduce]


class NB201NetworkStandIn(nn.Module):
    """An AutoDL-style NAS-Bench-201 search network: one (6, 5) Parameter called ``arch_parameters``."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.arch_parameters = nn.Parameter(1e-1 * torch.randn(6, 5, generator=g))


def reference(space_name: str, expert: str = "resnext", name: str = "irl", **options):
    """The regularizer irlas-search builds for this space and expert config."""
    space = create_space(space_name)
    texts = OmegaConf.load(ROOT / "conf" / "expert" / f"{expert}.yaml")[space_name]
    return create_regularizer(name, space, expert=expert_cells(space, list(texts)), **options)


def ours(*tensors: torch.Tensor, cells=("normal", "reduce")) -> dict[str, torch.Tensor]:
    return {c: t.detach().clone().requires_grad_(True) for c, t in zip(cells, tensors)}


@pytest.mark.parametrize("name", ["irl", "imitation"])
@pytest.mark.parametrize("cells", ["normal", "both"])
def test_darts_loss_and_gradient_equal_the_regularizers(name, cells):
    model = DartsNetworkStandIn(seed=1)
    prior = Prior("darts", "resnext", lam=0.05, regularizer=name, cells=cells)
    reg = reference("darts", name=name, lam=0.05, cells=cells)
    mine = prior.loss(model.alphas_normal, model.alphas_reduce)
    ref_alphas = ours(model.alphas_normal, model.alphas_reduce)
    theirs = reg.loss(ref_alphas)
    mine.backward()
    theirs.backward()
    torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    assert mine.requires_grad and model.alphas_normal.grad.abs().sum() > 0
    torch.testing.assert_close(model.alphas_normal.grad, ref_alphas["normal"].grad, rtol=0, atol=0)
    torch.testing.assert_close(model.alphas_reduce.grad, ref_alphas["reduce"].grad, rtol=0, atol=0)


def test_every_darts_container_gives_the_same_loss():
    model = DartsNetworkStandIn(seed=2)
    prior = Prior("darts")
    forms = [
        (model.alphas_normal, model.alphas_reduce),
        (model,),
        (model.arch_parameters(),),
        ({"normal": model.alphas_normal, "reduce": model.alphas_reduce},),
        ({"alphas_normal": model.alphas_normal, "alphas_reduce": model.alphas_reduce},),
    ]
    values = [prior.loss(*form) for form in forms]
    for value in values[1:]:
        torch.testing.assert_close(value, values[0], rtol=0, atol=0)


@pytest.mark.parametrize("expert", ["resnext", "resnet"])
def test_nb201_loss_and_gradient_equal_the_regularizers(expert):
    model = NB201NetworkStandIn(seed=3)
    prior = Prior("nb201", expert, lam=0.1)
    reg = reference("nb201", expert, lam=0.1)
    ref_alphas = ours(model.arch_parameters, cells=("cell",))
    mine, theirs = prior.loss(model), reg.loss(ref_alphas)
    mine.backward()
    theirs.backward()
    torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    torch.testing.assert_close(model.arch_parameters.grad, ref_alphas["cell"].grad, rtol=0, atol=0)
    for form in ((model.arch_parameters,), ([model.arch_parameters],), ({"cell": model.arch_parameters},)):
        torch.testing.assert_close(prior.loss(*form), mine, rtol=0, atol=0)


@pytest.mark.parametrize("space_name, seed, cells", [("darts", 0, "normal"), ("darts", 1, "both"), ("nb201", 2, "normal"),
                                                    ("nb201", 3, "normal")])
def test_a_permuted_op_list_is_mapped_by_name_and_the_gradient_permuted_back(space_name, seed, cells):
    space = create_space(space_name)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(space.ops), generator=g).tolist()
    assert order != list(range(len(space.ops)))
    caller_ops = [space.ops[k] for k in order]
    base = [0.3 * torch.randn(space.alpha_shape, generator=g) for _ in space.cell_types]
    # the caller's column k holds our column order[k]
    caller = [nn.Parameter(b[:, order].clone()) for b in base]
    prior = Prior(space_name, lam=0.1, ops=caller_ops, cells=cells)
    reg = reference(space_name, lam=0.1, cells=cells)
    ref_alphas = ours(*base, cells=space.cell_types)
    mine, theirs = prior.loss(*caller), reg.loss(ref_alphas)
    mine.backward()
    theirs.backward()
    torch.testing.assert_close(mine, theirs)
    for c, cell in zip(caller, space.cell_types):
        if cell not in reg.covered:  # DARTS' reduction cell with cells=normal: no gradient on either side
            assert c.grad is None and ref_alphas[cell].grad is None
            continue
        assert c.grad is not None and c.grad.abs().sum() > 0
        torch.testing.assert_close(c.grad, ref_alphas[cell].grad[:, order])
    assert prior.genotype(*caller) == space.derive({c: b for c, b in zip(space.cell_types, base)})


def test_update_runs_the_same_irl_steps_as_the_regularizer():
    model = DartsNetworkStandIn(seed=4)
    prior = Prior("darts", lam=0.01)
    reg = reference("darts", lam=0.01)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    for epoch in range(3):
        loss = prior.loss(model)
        reg.loss(ours(model.alphas_normal, model.alphas_reduce))
        opt.zero_grad()
        loss.backward()
        opt.step()
        mine = prior.update(epoch, model)
        theirs = reg.update(epoch, ours(model.alphas_normal, model.alphas_reduce))
        assert mine["genotype"] == prior.genotype(model).to_text()
        assert {k: mine[k] for k in theirs} == theirs
    assert prior.regularizer.tracker.steps == reg.tracker.steps == 3


def test_state_round_trip_through_a_weights_only_checkpoint():
    model = DartsNetworkStandIn(seed=5)
    prior = Prior("darts", "resnext", lam=0.02)
    prior.loss(model)
    with torch.no_grad():
        model.alphas_normal.add_(0.5 * torch.randn(14, 8, generator=torch.Generator().manual_seed(0)))
    prior.update(0, model)
    buffer = io.BytesIO()
    torch.save({"prior": prior.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)["prior"]
    again = Prior("darts", "resnext", lam=0.02)
    again.load_state_dict(state)
    probe = DartsNetworkStandIn(seed=6)
    torch.testing.assert_close(again.loss(probe), prior.loss(probe), rtol=0, atol=0)
    assert again.regularizer.tracker.margin == prior.regularizer.tracker.margin
    fresh = Prior("darts", "resnext", lam=0.02)
    fresh.loss(DartsNetworkStandIn(seed=7))  # started elsewhere: a different w until the state is loaded
    assert not torch.equal(fresh.loss(probe), prior.loss(probe))
    with pytest.raises(ValueError, match="expert"):
        Prior("darts", "resnet").load_state_dict(state)
    with pytest.raises(ValueError, match="space"):
        Prior("nb201", "resnext").load_state_dict(state)


def test_genotype_strings_as_the_expert_equal_the_shipped_name():
    space = create_space("nb201")
    texts = list(OmegaConf.load(ROOT / "conf" / "expert" / "resnext.yaml")["nb201"])
    alphas = NB201NetworkStandIn(seed=8).arch_parameters
    by_name, by_text = Prior("nb201", "resnext"), Prior("nb201", texts)
    torch.testing.assert_close(by_name.loss(alphas), by_text.loss(alphas), rtol=0, atol=0)
    one = Prior("nb201", texts[0])  # a single string is one cell
    assert one.expert == texts[:1]
    assert set(shipped_experts()) >= {"resnext", "resnet"}
    assert Prior("nb201", [space.genotype_from_text(texts[0])]).expert == texts[:1]


BAD_CALLS = [
    # (space, constructor kwargs, alphas builder, words the message must hold)
    ("darts", {}, lambda: (torch.zeros(14, 7), torch.zeros(14, 8)), ["alphas_normal", "(14, 7)", "(14, 8)", "none"]),
    ("darts", {}, lambda: (torch.zeros(14, 8), torch.zeros(10, 8)), ["alphas_reduce", "(10, 8)"]),
    ("darts", {}, lambda: (torch.zeros(8, 14), torch.zeros(14, 8)), ["transposed"]),
    ("darts", {}, lambda: (torch.zeros(14, 8),), ["1 tensor", "alphas_reduce"]),
    ("darts", {}, lambda: ({"normal": torch.zeros(14, 8)},), ["keys", "reduce"]),
    ("darts", {}, lambda: (torch.zeros(14, 8, dtype=torch.long), torch.zeros(14, 8)), ["floating-point"]),
    ("darts", {}, lambda: (object(),), ["object", "alphas_normal"]),
    ("nb201", {}, lambda: (torch.zeros(14, 8),), ["(14, 8)", "(6, 5)", "3<-2"]),
    ("nb201", {}, lambda: (torch.zeros(6, 5), torch.zeros(6, 5)), ["2 tensor", "one tensor"]),
]


@pytest.mark.parametrize("space_name, kwargs, build, needles", BAD_CALLS)
def test_a_wrong_shape_or_container_is_one_clear_error(space_name, kwargs, build, needles):
    prior = Prior(space_name, **kwargs)
    with pytest.raises(ValueError) as info:
        prior.loss(*build())
    message = str(info.value)
    assert isinstance(info.value, LayoutError) and "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)


@pytest.mark.parametrize("kwargs, needles", [
    ({"ops": ["none", "max_pool_3x3", "avg_pool_3x3", "skip", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
              "dil_conv_5x5"]}, ["'skip'", "skip_connect"]),
    ({"ops": ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3"]}, ["no 'dil_conv_5x5'", "exactly once"]),
    ({"ops": ["none", "none", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
              "dil_conv_5x5"]}, ["'none' twice"]),
    ({"expert": "resnxt"}, ["resnxt", "resnext", "genotype strings"]),
    ({"expert": ['Genotype(normal=[("sep_conv_3x3", 9)])']}, ["expert.darts[0]"]),
    ({"expert": ["|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"]},
     ["expert.darts[0]"]),
])
def test_unknown_op_names_and_bad_experts_are_refused_when_building(kwargs, needles):
    with pytest.raises(ValueError) as info:
        Prior("darts", **kwargs)
    assert "\n" not in str(info.value)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


class _Model:
    def __init__(self, normal: torch.Tensor, reduce: torch.Tensor) -> None:
        self.alphas_normal, self.alphas_reduce = normal, reduce


def test_guard_gradients_keeps_a_callers_step_from_raising_an_excess():
    """``guard_total`` in someone else's loop: after their backward, ``guard_gradients`` corrects the ``.grad`` of
    the original code's two alpha tensors so that descending raises no guarded mass; without it nothing changes."""
    space = create_space("darts")
    free = [i for i, op in enumerate(space.ops) if space.op_class(op) in ("skip", "pool")]
    raised = {"derived": 0, False: 0}
    for seed in range(4):
        gen = torch.Generator().manual_seed(seed)
        for guard_total in ("derived", False):
            normal, reduce = (torch.randn(14, 8, generator=gen, dtype=torch.float64) for _ in range(2))
            normal[:, free] += 1.0
            normal.requires_grad_(), reduce.requires_grad_()
            prior = Prior("darts", lam=0.03, guard_total=guard_total)
            prior.update(0, normal.detach(), reduce.detach())  # guard_total acts from the first IRL step on
            data = (torch.randn(14, 8, generator=gen, dtype=torch.float64) * normal).sum()  # a data term's gradient
            (data + prior.loss(normal, reduce)).backward()
            before = normal.grad.clone()
            if guard_total and seed == 0:  # before the first IRL step guard_gradients leaves .grad alone
                Prior("darts", lam=0.03, guard_total=guard_total).guard_gradients(normal, reduce)
                assert torch.equal(normal.grad, before)
            # the two tensors, or a model holding them (the forms prior.loss takes)
            prior.guard_gradients(*((normal, reduce) if seed % 2 else (_Model(normal, reduce),)))
            judge = create_regularizer("irl", space, expert=prior.regularizer.expert, guard_total=guard_total or "derived")
            judge.update(0, {c: a.detach() for c, a in prior.alphas(normal, reduce).items()})
            masses = judge.excess_masses(prior.alphas(normal, reduce))
            assert masses
            g_reduce = torch.zeros_like(reduce) if reduce.grad is None else reduce.grad  # the prior covers normal
            g = torch.cat([normal.grad.flatten(), g_reduce.flatten()])
            normals = [torch.cat([t.flatten() for t in torch.autograd.grad(m, [normal, reduce], retain_graph=True,
                                                                            materialize_grads=True)]) for m in masses]
            scale = float(g.norm()) * max(float(n.norm()) for n in normals)  # the solver's accuracy is relative to it
            raised[guard_total] += sum(float(g @ n) < -1e-6 * scale for n in normals)
            if not guard_total:
                assert torch.equal(normal.grad, before)
    assert raised["derived"] == 0
    assert raised[False] > 0
