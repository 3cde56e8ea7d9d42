"""The prior transfers where the expert puts its edges, not only how many (README "The prior").

Laws, for both shipped experts in both spaces:
- from an all-convolution cell, the prior's descent direction raises the soft skip mass at no position (a node's
  in-edges from one source) where the expert has no skip, and (NAS-Bench-201) raises it at the expert's identity
  shortcut, a skip from the cell input;
- descending the prior alone from an all-convolution cell ends at a cell with the expert's identity shortcut and no
  skip anywhere the expert has none;
- the guard's projection is the exact one (the KKT conditions of the non-negative least-squares problem).
"""

from pathlib import Path

import pytest
import torch
import yaml

from irlas_darts.regularizers import create_regularizer
from irlas_darts.regularizers.irl import projection_coefficients
from irlas_darts.spaces import create_space
from irlas_darts.topology import (
    CLASSES, cell_statistics, expert_cells, hard_adjacency, soft_adjacency, typed_in_degree,
)

CONF = Path(__file__).resolve().parents[2] / "conf" / "expert"
SKIP = CLASSES.index("skip")
CONV = {"nb201": "nor_conv_3x3", "darts": "sep_conv_3x3"}


def experts(space, name):
    return expert_cells(space, yaml.safe_load((CONF / f"{name}.yaml").read_text())[space.name])


def all_conv(space, seed, lean=0.3, noise=0.1):
    """A cell whose every edge leans to a 3x3 conv (logit +0.3 = 3 tau, as mid-search), with noise against ties."""
    gen = torch.Generator().manual_seed(seed)
    alpha = noise * torch.randn(space.alpha_shape, generator=gen, dtype=torch.float64)
    alpha[:, space.ops.index(CONV[space.name])] += lean
    return {c: alpha.clone() for c in space.cell_types}


def started(space, expert, seed, **options):
    """An irl prior whose w^(0) is measured at DARTS' initial alphas (1e-3 * randn), as in a search."""
    reg = create_regularizer("irl", space, expert=experts(space, expert), lam=1.0, **options)
    gen = torch.Generator().manual_seed(100 + seed)
    reg.start({c: 1e-3 * torch.randn(space.alpha_shape, generator=gen, dtype=torch.float64) for c in space.cell_types})
    return reg


def expert_skips(space, reg):
    cell = space.cell_types[0]
    return sum(typed_in_degree(space, hard_adjacency(space, space.one_hot(g)[cell].double()), reg.positions)[..., SKIP]
               for g in reg.expert)


def shortcut_positions(space, reg):
    """Positions of the expert's identity shortcuts: skips from a cell input (the last source column is "nodes")."""
    at = expert_skips(space, reg) > 0
    at[:, space.n_inputs:] = False
    return at


def skip_change_by_position(space, reg, alphas):
    """First-order change of each position's soft skip mass along the prior's descent direction."""
    cell = space.cell_types[0]
    alphas = {c: a.clone().requires_grad_() for c, a in alphas.items()}
    g_loss, = torch.autograd.grad(reg.loss(alphas), alphas[cell])
    x = alphas[cell].detach().clone().requires_grad_()
    skips = typed_in_degree(space, soft_adjacency(space, x, reg.tau), reg.positions)[..., SKIP]
    change = [float(torch.autograd.grad(m, x, retain_graph=True)[0].flatten() @ -g_loss.flatten())
              for m in skips.flatten()]
    return torch.tensor(change, dtype=torch.float64).reshape(skips.shape)


@pytest.mark.parametrize("expert", ["resnext", "resnet"])
@pytest.mark.parametrize("seed", range(3))
def test_nb201_prior_raises_skip_at_the_experts_shortcut_and_nowhere_it_has_none(expert, seed):
    space = create_space("nb201")
    reg = started(space, expert, seed)
    change = skip_change_by_position(space, reg, all_conv(space, seed))
    assert shortcut_positions(space, reg).any()
    assert bool((change[shortcut_positions(space, reg)] > 0).all()), change
    assert bool((change[expert_skips(space, reg) == 0] <= 1e-12).all()), change


@pytest.mark.parametrize("expert", ["resnext", "resnet"])
@pytest.mark.parametrize("seed", range(3))
def test_darts_prior_never_raises_skip_where_the_expert_has_none(expert, seed):
    space = create_space("darts")
    reg = started(space, expert, seed)
    change = skip_change_by_position(space, reg, all_conv(space, seed))
    assert bool((change[expert_skips(space, reg) == 0] <= 1e-12).all()), change
    # (at the first step it need not raise a shortcut yet: the two ResNeXt node orders share each shortcut position
    # half and half with convs; the descent test below checks that the shortcut is where the prior leads)


@pytest.mark.parametrize("expert", ["resnext", "resnet"])
@pytest.mark.parametrize("seed", range(3))
def test_with_edge_positions_the_prior_raises_skip_at_the_shortcut_and_on_no_edge_without_one(expert, seed):
    """``positions=edges``: every edge is a position, so ResNet's empty 1->3 is one of its own (with ``sources`` it
    shares "from the earlier nodes" with ResNet's skip 2->3, and the guard lets a skip onto it)."""
    space = create_space("nb201")
    reg = started(space, expert, seed, positions="edges")
    change = skip_change_by_position(space, reg, all_conv(space, seed))
    at = expert_skips(space, reg) > 0
    assert int(at.sum()) == {"resnext": 1, "resnet": 2}[expert]
    assert bool((change[shortcut_positions(space, reg)] > 0).all()), change
    assert bool((change[~at] <= 1e-12).all()), change


@pytest.mark.parametrize("positions", ["sources", "edges"])
def test_only_edge_positions_keep_the_resnet_prior_off_its_empty_edge_1_to_3(positions):
    """The case ``edges`` is for: from the same all-conv cells, with ``sources`` the ResNet prior raises the skip on
    edge 1->3 (counted with its skip 2->3) on some seeds (seed 1 of these three), with ``edges`` on none."""
    space = create_space("nb201")
    raised = []
    for seed in range(3):
        reg = started(space, "resnet", seed, positions=positions)
        alphas = {c: a.clone().requires_grad_() for c, a in all_conv(space, seed).items()}
        g_loss, = torch.autograd.grad(reg.loss(alphas), alphas["cell"])
        x = alphas["cell"].detach().clone().requires_grad_()
        skip_1_3 = soft_adjacency(space, x, reg.tau).typed[space.edge_index(1, 3), SKIP]
        raised.append(float(torch.autograd.grad(skip_1_3, x)[0].flatten() @ -g_loss.flatten()) > 1e-12)
    assert any(raised) if positions == "sources" else not any(raised)


def test_without_the_guard_the_prior_raises_skip_off_the_experts_positions():
    """What the position guard is for: a class pulled down on an edge the expert leaves empty (fewer convs on 1->2)
    hands its mass to the other classes of that edge, skip included."""
    space = create_space("nb201")
    raised = 0
    for seed in range(3):
        reg = started(space, "resnext", seed, guard=False)
        change = skip_change_by_position(space, reg, all_conv(space, seed))
        raised += bool((change[expert_skips(space, reg) == 0] > 1e-12).any())
    assert raised > 0


@pytest.mark.parametrize("space_name, positions", [("nb201", "sources"), ("darts", "sources"), ("nb201", "edges")])
@pytest.mark.parametrize("expert", ["resnext", "resnet"])
def test_the_prior_alone_leads_an_all_conv_cell_to_the_experts_shortcut(space_name, positions, expert):
    """Adam on the prior alone (no data), IRL steps every 30 steps: the derived cell gains the identity shortcut
    beside a conv path, and keeps no skip at a position where the expert has none -- from the second IRL step on,
    at every one (it has them after the first on these cases)."""
    space = create_space(space_name)
    cell = space.cell_types[0]
    for seed in range(1):  # experiments/prior_directions.py runs more seeds
        reg = started(space, expert, seed, positions=positions)
        alphas = {c: torch.nn.Parameter(a) for c, a in all_conv(space, seed).items()}
        assert not cell_statistics(space, space.derive(alphas), cell)["shortcut"]
        opt = torch.optim.Adam(alphas.values(), lr=0.02, betas=(0.5, 0.999))
        for epoch in range(5):
            for _ in range(30):
                opt.zero_grad()
                reg.loss(alphas).backward()
                opt.step()
            genotype = space.derive({c: a.detach() for c, a in alphas.items()})
            reg.update(epoch, alphas, genotype)
            if epoch == 0:
                continue
            assert cell_statistics(space, genotype, cell)["shortcut"], (epoch, genotype)
            skips = typed_in_degree(space, hard_adjacency(space, space.one_hot(genotype)[cell].double()),
                                    positions)[..., SKIP]
            assert not bool(((skips > 0) & (expert_skips(space, reg) == 0)).any()), (epoch, genotype)


@pytest.mark.parametrize("seed", range(12))
def test_projection_satisfies_the_kkt_conditions(seed):
    """c >= 0; every guarded mass is non-increasing under the corrected descent; c_j > 0 only on constraints that
    hold with equality. These are the optimality conditions of the projection onto the cone, so c is the exact one."""
    gen = torch.Generator().manual_seed(seed)
    dim, k = 30, 2 + seed * 2
    g = torch.randn(dim, generator=gen, dtype=torch.float64)
    normals = [torch.randn(dim, generator=gen, dtype=torch.float64) for _ in range(k)]
    if seed % 3 == 0:
        normals.append(normals[0] + normals[1])  # linearly dependent constraints are fine
    c = torch.stack(projection_coefficients(g, normals))
    corrected = g + sum(ck * n for ck, n in zip(c, normals))
    slack = torch.stack([corrected @ n for n in normals])
    assert bool((c >= 0).all())
    assert bool((slack >= -1e-9).all())
    assert float((c * slack).abs().max()) < 1e-8
