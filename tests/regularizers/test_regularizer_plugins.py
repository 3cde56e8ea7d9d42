"""The plugin interface: options, loss values and gradients, the IRL schedule, logging blocks, exact resume."""

import io
import json
from pathlib import Path

import pytest
import torch
import yaml

from irlas_darts.regularizers import Regularizer, available_regularizers, create_regularizer
from irlas_darts.spaces import create_space
from irlas_darts.topology import expert_cells, genotype_feature_expectation, soft_feature_expectation

CONF = Path(__file__).resolve().parents[2] / "conf" / "expert"
LOG_KEYS = {"F", "t", "margin", "distance_to_expert", "w"}
SUMMARY_KEYS = {"mu", "mu_expert", "distance_to_expert", "F", "margin", "w"}


def experts(space, name="resnext"):
    return expert_cells(space, yaml.safe_load((CONF / f"{name}.yaml").read_text())[space.name])


def alphas_for(space, seed=0, scale=1.0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return {c: scale * torch.randn(space.alpha_shape, generator=gen, dtype=dtype) for c in space.cell_types}


def test_registry_and_common_options():
    assert available_regularizers() == ["imitation", "irl", "none"]
    space = create_space("darts")
    options = dict(lam=0.5, tau=0.2, gamma=0.8, every=2, start_epoch=1, epsilon=0.05, cells="both", samples=0)
    for name in available_regularizers():
        reg = create_regularizer(name, space, expert=experts(space), **options)
        assert reg.name == name and reg.lam == 0.5 and reg.covered == ("normal", "reduce")
        assert len(reg.feature_names) == 2 * 4 * 16  # two cells x four nodes x 16 features per node


def test_option_errors_name_the_field():
    space = create_space("nb201")
    with pytest.raises(TypeError, match="unknown option 'lambda'"):
        create_regularizer("none", space, **{"lambda": 1.0})
    for key, value in [("tau", 0.0), ("gamma", 1.5), ("every", 0), ("start_epoch", -1), ("samples", -2),
                       ("lam", -1.0), ("epsilon", -0.1), ("cells", "reduce"), ("guard_total", "soft")]:
        with pytest.raises(ValueError, match=f"regularizer.{'lambda' if key == 'lam' else key}="):
            create_regularizer("irl", space, expert=experts(space), **{key: value})
    for name in ("imitation", "irl"):
        with pytest.raises(ValueError, match="needs expert cells"):
            create_regularizer(name, space)
    with pytest.raises(KeyError, match="unknown regularizer"):
        create_regularizer("copy", space)


@pytest.mark.parametrize("space_name", ["darts", "nb201"])
def test_loss_values_and_gradients(space_name):
    space = create_space(space_name)
    alphas = {c: a.requires_grad_() for c, a in alphas_for(space).items()}
    genotype = space.derive(alphas)
    none = create_regularizer("none", space, expert=experts(space))
    imitation = create_regularizer("imitation", space, expert=experts(space), lam=0.7, tau=0.3)
    # SPEC's form: linear reward, mu^(0) from the derived genotype
    spec = create_regularizer("irl", space, expert=experts(space), lam=0.7, tau=0.3, reward="linear",
                              policy="derived", guard=False)
    irl = create_regularizer("irl", space, expert=experts(space), lam=0.7, tau=0.3, guard=False)
    for reg in (none, imitation, spec, irl):
        reg.start(alphas, genotype)
    mu_soft = soft_feature_expectation(space, alphas, 0.3)
    mu_e = irl.tracker.mu_expert
    assert none.loss(alphas).item() == 0.0 and not none.loss(alphas).requires_grad
    torch.testing.assert_close(imitation.loss(alphas), 0.7 * ((mu_soft - mu_e) ** 2).sum())
    # w^(0) = mu_E - mu^(0), mu^(0) = features of the genotype derived from the initial alphas
    torch.testing.assert_close(spec.tracker.w, mu_e - genotype_feature_expectation(space, genotype))
    loss = spec.loss(alphas)
    torch.testing.assert_close(loss, -0.7 * spec.tracker.w @ mu_soft)
    # w is a constant: the gradient is -lambda * J^T w
    grads = torch.autograd.grad(loss, list(alphas.values()), allow_unused=True)
    expected = torch.autograd.grad(-0.7 * (spec.tracker.w.detach() @ mu_soft), list(alphas.values()), allow_unused=True)
    for g, e in zip(grads, expected):
        assert (g is None and e is None) or torch.allclose(g, e)
    assert not spec.tracker.w.requires_grad
    # the default: mu^(0) = mu_soft(alpha^(0)), mirror reward w . mu_E - |w| . dist(mu, [low, high]), the range the
    # expert cells span (a single point where they agree: then |mu - mu_E|)
    w = irl.tracker.w
    torch.testing.assert_close(w, mu_e - mu_soft.detach())
    mus = torch.stack([genotype_feature_expectation(space, g) for g in irl.expert])
    low, high = mus.min(0).values, mus.max(0).values
    outside = (low - mu_soft).clamp(min=0) + (mu_soft - high).clamp(min=0)
    torch.testing.assert_close(irl.loss(alphas), -0.7 * (w @ mu_e - w.abs() @ outside))
    if len(irl.expert) == 1:
        torch.testing.assert_close(outside, (mu_soft - mu_e).abs())


def test_loss_follows_the_alphas_dtype_and_irl_starts_lazily():
    space = create_space("nb201")
    alphas = {c: a.float().requires_grad_() for c, a in alphas_for(space).items()}
    irl = create_regularizer("irl", space, expert=experts(space))
    assert not irl.started
    loss = irl.loss(alphas)  # first call: the alphas it sees are taken as the initial ones
    assert irl.started and loss.dtype == torch.float32
    loss.backward()
    torch.testing.assert_close(irl.tracker.mubar, soft_feature_expectation(space, alphas, irl.tau).double().detach())


def test_irl_steps_follow_every_and_start_epoch():
    space = create_space("nb201")
    reg = create_regularizer("irl", space, expert=experts(space), every=2, start_epoch=1, epsilon=0.0)
    reg.start(alphas_for(space, 0))
    stepped = []
    for epoch in range(7):
        alphas = alphas_for(space, epoch + 1)
        before = reg.tracker.steps
        row = reg.update(epoch, alphas, space.derive(alphas))
        assert LOG_KEYS <= row.keys() and row["t"] == row["margin"]
        if reg.tracker.steps > before:
            stepped.append(epoch)
    assert stepped == [1, 3, 5]


@pytest.mark.parametrize("name", ["none", "imitation", "irl"])
@pytest.mark.parametrize("space_name", ["darts", "nb201"])
def test_update_and_summary_blocks_are_json_ready(name, space_name):
    space = create_space(space_name)
    reg = create_regularizer(name, space, expert=experts(space), cells="both")
    alphas = alphas_for(space, 1)
    genotype = space.derive(alphas)
    reg.start(alphas, genotype)
    row = reg.update(0, alphas, genotype)
    summary = reg.summary(alphas, genotype)
    json.dumps(row), json.dumps(summary)
    assert SUMMARY_KEYS <= summary.keys()
    n = len(reg.feature_names)
    assert len(summary["mu"]) == len(summary["mu_expert"]) == len(summary["w"]) == len(row["w"]) == n
    mu = torch.tensor(summary["mu"])
    assert summary["distance_to_expert"] == pytest.approx(float((mu - torch.tensor(summary["mu_expert"])).norm()))
    assert summary["margin"] == pytest.approx(float(torch.tensor(summary["w"]).norm()))
    assert row["distance_to_expert"] == pytest.approx(summary["distance_to_expert"])
    assert summary["mu"] == genotype_feature_expectation(space, genotype, "both").tolist()


def test_none_without_expert_still_reports_topology():
    space = create_space("darts")
    reg = create_regularizer("none", space)
    assert type(reg) is Regularizer
    alphas = alphas_for(space)
    reg.start(alphas)
    assert reg.update(0, alphas, space.derive(alphas))["distance_to_expert"] is None
    summary = reg.summary(alphas)
    assert len(summary["mu"]) == 64 and summary["mu_expert"] is None and summary["w"] is None
    json.dumps(summary)


def test_sampled_policy_features():
    space = create_space("darts")
    reg = create_regularizer("irl", space, expert=experts(space), policy="derived", samples=8, seed=3)
    flat = alphas_for(space, 0, scale=1e-3)
    a, b = reg.policy_features(flat), reg.policy_features(flat)
    assert not torch.equal(a, b)  # fresh draws from a near-uniform p(alpha)
    peaked = alphas_for(space, 0, scale=100.0)  # p(alpha) is one cell: every draw derives it
    torch.testing.assert_close(reg.policy_features(peaked),
                               genotype_feature_expectation(space, space.derive(peaked)))


@pytest.mark.parametrize("name", ["none", "imitation", "irl"])
def test_resume_is_exact(name):
    space = create_space("darts")
    make = lambda: create_regularizer(name, space, expert=experts(space), policy="derived", samples=2,  # noqa: E731
                                      epsilon=0.0)
    a = make()
    a.start(alphas_for(space, 0))
    for epoch in range(3):
        alphas = alphas_for(space, epoch + 1)
        a.update(epoch, alphas, space.derive(alphas))
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b = make()
    b.start(alphas_for(space, 9))  # what a Searcher does before loading its checkpoint
    b.load_state_dict(torch.load(buffer, weights_only=True))
    for epoch in range(3, 6):
        alphas = alphas_for(space, epoch + 1)
        ra, rb = a.update(epoch, alphas, space.derive(alphas)), b.update(epoch, alphas, space.derive(alphas))
        assert ra == rb
        assert torch.equal(a.loss(alphas), b.loss(alphas))
    assert a.state_dict()["tracker"]["history"] == b.state_dict()["tracker"]["history"]
    other = create_regularizer(name, space, expert=experts(space, "resnet"))
    with pytest.raises(ValueError, match="another expert"):
        other.load_state_dict(a.state_dict())
    if name != "none":
        with pytest.raises(ValueError, match="not 'none'"):
            create_regularizer("none", space, expert=experts(space)).load_state_dict(a.state_dict())


def _param_free_mass(space, alphas, tau):
    from irlas_darts.topology import soft_adjacency

    return soft_adjacency(space, alphas[space.cell_types[0]], tau).parameter_free_mass()


@pytest.mark.parametrize("space_name", ["darts", "nb201"])
@pytest.mark.parametrize("guard", [True, False])
def test_prior_never_feeds_a_cell_past_the_experts_parameter_free_edges(space_name, guard):
    """Law: where a cell already has more soft skip + pool edges than the expert, a descent step on the irl loss
    does not add more (first order: -grad loss . grad M <= 0). Without the guard the reward's other features do push
    some such cells further, which is why the guard is on by default."""
    space = create_space(space_name)
    cell = space.cell_types[0]
    free_ops = [i for i, op in enumerate(space.ops) if space.op_class(op) in ("skip", "pool")]
    violations = checked = 0
    for seed in range(120):
        gen = torch.Generator().manual_seed(seed)
        start = {c: torch.randn(space.alpha_shape, generator=gen, dtype=torch.float64) for c in space.cell_types}
        reg = create_regularizer("irl", space, expert=experts(space), lam=1.0, tau=0.1, guard=guard)
        reg.start(start)  # w = mu_E - mu(start): mixed signs, as mid-search
        alphas = alphas_for(space, 1000 + seed, scale=float(torch.rand(1, generator=gen)) * 3)
        for c in alphas:
            alphas[c][:, free_ops] += float(torch.rand(1, generator=gen)) * 3  # lean towards skip / pool
        alphas = {c: a.requires_grad_() for c, a in alphas.items()}
        mass = _param_free_mass(space, alphas, 0.1)
        if float(mass.detach()) <= reg.expert_param_free[cell]:
            continue
        checked += 1
        g_loss, = torch.autograd.grad(reg.loss(alphas), alphas[cell])
        g_mass, = torch.autograd.grad(mass, alphas[cell])
        violations += float(-(g_loss * g_mass).sum()) > 1e-9
    assert checked > 100
    if guard:
        assert violations == 0
    else:
        assert violations > 0  # the case the guard exists for


def test_guard_leaves_cells_within_the_expert_alone():
    """Where no position and no total holds more skip or pool than the expert, the guard adds nothing: the loss and
    its gradient are the reward's. (A cell without any skip or pool mass, soft or derived.)"""
    space = create_space("darts")
    free = [i for i, op in enumerate(space.ops) if space.op_class(op) in ("skip", "pool")]
    alphas = alphas_for(space, 3)
    for c in alphas:
        alphas[c][:, 4:] += 3.0  # conv-heavy cell
        alphas[c][:, free] -= 5.0  # skip / pool mass below 1e-9 at tau = 0.1 on every edge
    alphas = {c: a.requires_grad_() for c, a in alphas.items()}
    on = create_regularizer("irl", space, expert=experts(space), lam=1.0, guard=True)
    off = create_regularizer("irl", space, expert=experts(space), lam=1.0, guard=False)
    for reg in (on, off):
        reg.start(alphas_for(space, 4))
    assert float(_param_free_mass(space, alphas, on.tau).detach()) < on.expert_param_free["normal"]
    g_on, = torch.autograd.grad(on.loss(alphas), alphas["normal"])
    g_off, = torch.autograd.grad(off.loss(alphas), alphas["normal"])
    torch.testing.assert_close(g_on, g_off)


def test_expert_parameter_free_edges_match_the_expert_cells():
    from irlas_darts.topology import cell_statistics

    for space_name in ("darts", "nb201"):
        space = create_space(space_name)
        reg = create_regularizer("irl", space, expert=experts(space))
        cell = space.cell_types[0]
        counts = [cell_statistics(space, g, cell)["param_free"] for g in reg.expert]
        assert reg.expert_param_free[cell] == pytest.approx(sum(counts) / len(counts))


@pytest.mark.parametrize("seed", range(20))
def test_projection_keeps_every_guarded_mass_from_rising(seed):
    """The guard's correction: with c >= 0, the corrected gradient has a non-negative product with every normal
    (no guarded mass rises under descent), and it is no larger than needed (zero when nothing would rise)."""
    from irlas_darts.regularizers.irl import projection_coefficients

    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(40, generator=gen, dtype=torch.float64)
    normals = [torch.randn(40, generator=gen, dtype=torch.float64) for _ in range(1 + seed % 3)]
    c = projection_coefficients(g, normals)
    corrected = g + sum(ck * n for ck, n in zip(c, normals))
    assert all(float(ck) >= 0 for ck in c)
    assert all(float(corrected @ n) >= -1e-9 for n in normals)
    if all(float(g @ n) >= 0 for n in normals):
        assert all(float(ck) == 0 for ck in c)


def test_guard_counts_the_derived_cell_too():
    """Near-uniform alphas: the soft cell looks balanced while the argmax already picks skips on most edges; the
    guard must see that (it reads the derived genotype as well) and stop the prior from adding skip mass."""
    from irlas_darts.topology import cell_statistics, soft_adjacency

    space = create_space("darts")
    skip = space.ops.index("skip_connect")
    alphas = alphas_for(space, 5, scale=1e-3)
    alphas["normal"][:, skip] += 3e-3  # skip is the argmax everywhere, by a hair
    genotype = space.derive(alphas)
    assert cell_statistics(space, genotype, "normal")["skip_connect"] == 8
    reg = create_regularizer("irl", space, expert=experts(space), lam=1.0, tau=0.1)
    reg.start(alphas_for(space, 6, scale=1e-3))
    alphas = {c: a.requires_grad_() for c, a in alphas.items()}
    soft_skip = soft_adjacency(space, alphas["normal"], 0.1).class_mass("skip")
    assert float(soft_skip.detach()) < reg.expert_mass["normal"]["skip"]  # the soft cell alone would not trigger
    g_loss, = torch.autograd.grad(reg.loss(alphas), alphas["normal"])
    g_skip, = torch.autograd.grad(soft_skip, alphas["normal"])
    assert float(-(g_loss * g_skip).sum()) <= 1e-9


def test_library_defaults_are_the_shipped_config():
    """create_regularizer("irl", ...) without options behaves as `irlas-search regularizer=irl`."""
    from irlas_darts.regularizers import DEFAULTS

    shipped = yaml.safe_load((CONF.parent / "regularizer" / "irl.yaml").read_text())
    shipped["lam"] = shipped.pop("lambda")
    for key, value in shipped.items():
        if key != "name":
            assert DEFAULTS[key] == value, key


@pytest.mark.parametrize("mode", [True, "derived"])
@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_guard_total_keeps_the_whole_architecture_step_from_raising_an_excess(space_name, mode):
    """``guard_total``: from the first IRL step on, the architect's gradient (validation loss + prior) raises no
    guarded mass under descent (first order), on cells that lean to skip and pool; without the constraint the data's
    gradient does raise some. Before that step there is no constraint."""
    from irlas_darts.search.architect import Architect
    from irlas_darts.search.architecture import Architecture
    from irlas_darts.search.supernet import create_supernet

    space = create_space(space_name)
    free = [i for i, op in enumerate(space.ops) if space.op_class(op) in ("skip", "pool")]
    raised = {True: 0, False: 0}
    checked = 0
    for seed in range(4):
        torch.manual_seed(seed)
        net = create_supernet(space, in_channels=1, num_classes=3, C=4, layers=3).double()
        arch = Architecture(space, generator=torch.Generator().manual_seed(seed)).double()
        with torch.no_grad():
            for a in arch.alphas.values():
                a[:, free] += 1.0
        reg = create_regularizer("irl", space, expert=experts(space), lam=0.03, guard_total=mode)
        start = {c: a.detach() for c, a in arch.derivation_logits().items()}
        reg.start(start)
        assert not reg.excess_masses(arch.derivation_logits())  # the first epoch is the data's (no IRL step yet)
        reg.update(0, start)
        architect = Architect(net, arch, None)
        x, y = torch.randn(8, 1, 8, 8, dtype=torch.float64), torch.randint(0, 3, (8,))
        masses = reg.excess_masses(arch.derivation_logits())
        assert masses  # the cell holds more skip / pool than the expert
        cells = list(arch.alphas)
        normals = [torch.autograd.grad(m, [arch.alphas[c] for c in cells], retain_graph=True, materialize_grads=True)
                   for m in masses]
        for on in (True, False):
            grads, _ = architect.alpha_gradient(
                None, None, x, y, 0.0, penalty=lambda a: reg.loss(arch.derivation_logits()),
                constraint=(lambda: reg.excess_masses(arch.derivation_logits())) if on else None)
            g = torch.cat([grads[c].flatten() for c in cells])
            flat = [torch.cat([t.flatten() for t in normal]) for normal in normals]
            scale = float(g.norm()) * max(float(n.norm()) for n in flat)  # the solver's accuracy is relative to it
            raised[on] += sum(float(g @ n) < -1e-6 * scale for n in flat)  # descent along -g raises M if g.n < 0
        checked += len(masses)
    assert checked >= 8
    assert raised[True] == 0
    assert raised[False] > 0  # the case guard_total exists for


def test_guard_total_derived_holds_only_what_the_derived_cell_carries_beyond_the_expert():
    """``guard_total=derived``: a near-uniform cell whose argmax is all convs holds soft skip and pool mass on every
    edge the expert leaves without them; ``true`` holds all of it, ``derived`` none. Once the argmax picks a skip on
    one such edge, ``derived`` holds exactly that edge's skip mass (the cell's totals are still the expert's)."""
    from irlas_darts.topology import CLASSES, soft_adjacency, typed_in_degree

    space = create_space("nb201")
    conv, skip = space.ops.index("nor_conv_3x3"), space.ops.index("skip_connect")
    alphas = alphas_for(space, 7, scale=1e-3)
    alphas["cell"][:, conv] += 3e-3  # the argmax: a 3x3 conv on every edge, by a hair
    regs = {mode: create_regularizer("irl", space, expert=experts(space), guard_total=mode) for mode in (True, "derived")}
    for reg in regs.values():
        reg.update(0, alphas)  # both act from the first IRL step on
    assert len(regs[True].excess_masses(alphas)) >= 5
    assert regs["derived"].excess_masses(alphas) == []

    node = space.nodes[0]  # the first node's edge from the cell input: the expert has no skip there
    assert float(regs["derived"].expert_in_degree["cell"][0, 0, CLASSES.index("skip")]) == 0
    alphas["cell"][space.edge_index(0, node), skip] += 1e-2
    alphas = {c: a.requires_grad_() for c, a in alphas.items()}
    masses = regs["derived"].excess_masses(alphas)
    soft = typed_in_degree(space, regs["derived"].soft_cells(alphas)["cell"], "sources")
    assert len(masses) == 1
    assert float(masses[0].detach()) == pytest.approx(float(soft[0, 0, CLASSES.index("skip")].detach()))
