"""The search algorithms (search/algorithms): each one's defining mechanics, the consistency law on each one's
derivation probabilities, the prior reading them, and exact resume, parametrized over the registry."""

import io

import pytest
import torch
import torch.nn.functional as F

from irlas_darts.data import load_dataset, split_train
from irlas_darts.regularizers import create_regularizer
from irlas_darts.search.algorithms import (
    PartialChannelMixedOp, SingleOpMixedOp, as_logits, available_algorithms, channel_shuffle, create_algorithm,
)
from irlas_darts.search.architect import Architect
from irlas_darts.search.architecture import Architecture
from irlas_darts.search.loop import SearchData, Searcher, SearchSettings
from irlas_darts.search.mixed_op import MixedOp
from irlas_darts.search.supernet import create_supernet
from irlas_darts.spaces import create_space
from irlas_darts.topology import expert_cells, genotype_feature_expectation, soft_feature_expectation

ALGORITHMS = available_algorithms()
SPACES = ["darts", "nb201"]
LAYERS = {"darts": 3, "nb201": 3}
RESNEXT_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def build(space_name: str, name: str, seed: int = 0, scale: float = 1.0, **options):
    """Architecture with spread-out alphas (and edge weights), plus its adapted supernet."""
    space = create_space(space_name)
    algorithm = create_algorithm(name, space, **options)
    arch = Architecture(space, generator=torch.Generator().manual_seed(seed), scale=scale, algorithm=algorithm)
    torch.manual_seed(seed)
    net = algorithm.adapt_supernet(create_supernet(space, in_channels=3, num_classes=4, C=8, layers=LAYERS[space_name]))
    return space, arch, net


def test_the_shipped_algorithms_are_registered():
    assert {"darts", "pc_darts", "gdas", "drnas"} <= set(ALGORITHMS)
    with pytest.raises(KeyError, match="pc_darts"):
        create_algorithm("nosuch", create_space("nb201"))


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("name", ALGORITHMS)
def test_every_algorithm_searches_both_spaces_and_every_architecture_parameter_learns(space_name, name):
    space, arch, net = build(space_name, name, scale=1e-3, beta_decay=0.5)
    arch.start_epoch(2, 4)
    probs = arch.probs()
    assert set(probs) == set(space.cell_types)
    for p in probs.values():
        assert p.shape == space.alpha_shape and bool((p >= 0).all())
    logits = net(torch.randn(2, 3, 8, 8), probs)
    loss = F.cross_entropy(logits, torch.tensor([0, 1])) + arch.extra_loss()
    loss.backward()
    for key, a in arch.alphas.items():  # the alphas and what the algorithm holds beside them (PC-DARTS' betas)
        assert a.grad is not None and bool(a.grad.abs().sum() > 0), key


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("name", ALGORITHMS)
def test_consistency_law_on_each_algorithms_derivation_probabilities(space_name, name):
    """Soft features of what the prior reads -> the derived genotype's features as tau -> 0, for random cells."""
    for seed in range(3):
        space, arch, _ = build(space_name, name, seed=seed)
        logits = {c: l.detach().double() for c, l in arch.derivation_logits().items()}
        genotype = arch.genotype()
        mu_soft = soft_feature_expectation(space, logits, 1e-7, "both")
        mu = genotype_feature_expectation(space, genotype, "both")
        torch.testing.assert_close(mu_soft, mu, atol=1e-5, rtol=0)


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("name", ALGORITHMS)
def test_derivation_logits_rank_edges_and_ops_as_the_derivation_probabilities(space_name, name):
    space, arch, _ = build(space_name, name, seed=3)
    for cell, w in arch.derivation_probs().items():
        p = torch.softmax(arch.derivation_logits()[cell].detach().double(), dim=-1)
        w = w.detach().double()
        if space_name == "darts":  # the DARTS rule ranks edges by the strongest real op: same strengths, same ops
            torch.testing.assert_close(p[:, 1:], w[:, 1:])
        else:  # NB201 keeps each edge's argmax
            assert torch.equal(p.argmax(-1), w.argmax(-1))


def test_darts_is_unchanged_the_prior_reads_the_alphas_themselves():
    space = create_space("darts")
    arch = Architecture(space, generator=torch.Generator().manual_seed(0))
    assert set(arch.state_dict()) == {"alphas.normal", "alphas.reduce"}  # old checkpoints still load
    assert all(arch.derivation_logits()[c] is arch.alphas[c] for c in space.cell_types)
    assert arch.extra_loss() is None
    for c, p in arch.probs().items():
        torch.testing.assert_close(p, torch.softmax(arch.alphas[c], -1))


# --- PC-DARTS ------------------------------------------------------------------------------------------------------
def test_channel_shuffle_is_a_permutation_that_interleaves_the_groups():
    x = torch.arange(12.0).view(1, 12, 1, 1)
    y = channel_shuffle(x, 4).flatten()
    assert sorted(y.tolist()) == list(range(12))
    assert y.tolist()[:4] == [0, 3, 6, 9]  # one channel of each group in turn


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", [2, 4])
def test_only_one_kth_of_the_channels_passes_through_the_ops(k, stride):
    space = create_space("darts")
    edge = PartialChannelMixedOp(space, 8, stride, k)
    seen = []
    edge.inner.register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape[1]))
    convs = [m for m in edge.inner.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(max(m.in_channels, m.out_channels) <= 8 // k for m in convs)  # ops built for C/k channels
    x = torch.randn(2, 8, 6, 6)
    w = torch.softmax(torch.randn(len(space.ops)), -1) * 0.4  # an edge weight of 0.4 folded in
    out = edge(x, w)
    assert seen == [8 // k]
    # the bypassed channels come out unchanged but for the edge weight (max-pooled on stride 2), shuffled
    rest = x[:, 8 // k:]
    if stride == 2:
        rest = F.max_pool2d(rest, 2, 2)
    unshuffled = channel_shuffle(out, 8 // k)  # shuffling with C/k groups undoes shuffling with k groups
    torch.testing.assert_close(unshuffled[:, 8 // k:], 0.4 * rest)
    changed = x.clone()
    changed[:, 8 // k:] += 1.0  # the ops' output does not depend on the bypassed channels
    torch.testing.assert_close(channel_shuffle(edge(changed, w), 8 // k)[:, : 8 // k], unshuffled[:, : 8 // k])


def test_pc_darts_edge_weights_normalise_per_node_and_rank_the_derived_edges():
    space, arch, _ = build("darts", "pc_darts", scale=0.0)
    with torch.no_grad():
        arch.alphas["normal"].zero_()
        arch.alphas["normal"][:, space.ops.index("sep_conv_3x3")] = 1.0  # every edge alike: beta alone decides
        arch.alphas["normal_edges"].zero_()
        for j in space.nodes:  # favour the two last sources of every node
            for i in range(max(0, j - 2), j):
                arch.alphas["normal_edges"][space.edge_index(i, j)] = 2.0
    w = arch.derivation_probs()["normal"]
    for j in space.nodes:
        rows = [space.edge_index(i, j) for i in range(j)]
        torch.testing.assert_close(w[rows].sum(), torch.tensor(1.0))  # sum over a node's edges of beta_norm
    assert sorted(arch.genotype().normal) == sorted(("sep_conv_3x3", i) for j in space.nodes for i in (j - 2, j - 1))
    # the forward carries the same edge weights
    torch.testing.assert_close(arch.probs()["normal"], w)


@pytest.mark.parametrize("name", ["imitation", "irl"])
def test_the_prior_reads_pc_darts_edge_weights(name):
    """The prior's loss reaches the edge weights: the soft adjacency ranks DARTS edges by op softmax x beta_norm."""
    space, arch, _ = build("darts", "pc_darts", seed=1)
    expert = ["Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2), "
              "('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 0), ('skip_connect', 4)], "
              "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
              "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
              "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"]
    reg = create_regularizer(name, space, expert=expert_cells(space, expert), lam=1.0, tau=0.3)
    reg.start(arch.derivation_logits(), arch.genotype())
    reg.loss(arch.derivation_logits()).backward()
    assert bool(arch.alphas["normal_edges"].grad.abs().sum() > 0)


def test_as_logits_keeps_unnormalised_weights_in_a_top_k_space_and_renormalises_otherwise():
    w = torch.tensor([[0.1, 0.2, 0.1, 0.0, 0.1, 0.0, 0.0, 0.0]]).double()
    darts = torch.softmax(as_logits(create_space("darts"), w.clamp_min(1e-30).log()), -1)
    torch.testing.assert_close(darts[:, 1:], w[:, 1:])
    nb = torch.softmax(as_logits(create_space("nb201"), w[:, :5].clamp_min(1e-30).log()), -1)
    torch.testing.assert_close(nb, w[:, :5] / w[:, :5].sum())


# --- GDAS ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("space_name", SPACES)
def test_gdas_runs_exactly_one_op_per_edge_and_gradients_reach_every_alpha(space_name):
    space, arch, net = build(space_name, "gdas", scale=1e-3)
    edges = [m for m in net.modules() if isinstance(m, SingleOpMixedOp)]
    assert edges and sum(isinstance(m, MixedOp) for m in net.modules()) == len(edges)  # every edge is wrapped
    calls = {id(e): 0 for e in edges}
    for e in edges:
        for op in e.inner.ops:
            op.register_forward_pre_hook(lambda mod, args, e=e: calls.__setitem__(id(e), calls[id(e)] + 1))
            if hasattr(op, "forward_activated"):  # ops that take a shared relu(x) enter here instead
                orig = op.forward_activated
                op.forward_activated = lambda a, orig=orig, e=e: (calls.__setitem__(id(e), calls[id(e)] + 1), orig(a))[1]
    probs = arch.probs()
    for p in probs.values():  # exactly one-hot in value
        assert bool(((p == 0) | (p == 1)).all()) and torch.equal(p.sum(-1), torch.ones(p.shape[0]))
    loss = F.cross_entropy(net(torch.randn(2, 3, 8, 8), probs), torch.tensor([0, 1]))
    none = space.ops.index("none")
    for e in edges:  # one op ran on every edge, none where `none` was drawn (rows follow the cell's edges)
        assert calls[id(e)] <= 1
    n_edges = len(space.edges)
    expected = sum(int(probs[c][:, none].ne(1).sum()) for c in space.cell_types)
    cells = len(edges) // n_edges
    assert sum(calls.values()) <= expected * cells and sum(calls.values()) >= 1
    loss.backward()
    for cell in space.cell_types:
        assert bool((arch.alphas[cell].grad != 0).all()), cell  # the straight-through softmax reaches every alpha


def test_gdas_single_op_edge_equals_the_full_mixed_op_on_one_hot_weights():
    space = create_space("darts")
    torch.manual_seed(0)
    inner = MixedOp(space, 4, 2)
    edge = SingleOpMixedOp(inner)
    x = torch.randn(2, 4, 6, 6)
    for col in range(len(space.ops)):
        w = F.one_hot(torch.tensor(col), len(space.ops)).float()
        torch.testing.assert_close(edge(x, w), inner(x, w))


def test_gdas_temperature_falls_linearly_from_tau_max_to_tau_min():
    alg = create_algorithm("gdas", create_space("nb201"), tau_max=10.0, tau_min=0.1)
    taus = []
    for epoch in range(5):
        alg.start_epoch(epoch, 5)
        taus.append(float(alg.tau))
    assert taus[0] == 10.0 and abs(taus[-1] - 0.1) < 1e-12
    steps = [a - b for a, b in zip(taus, taus[1:])]
    assert all(abs(s - steps[0]) < 1e-9 for s in steps) and steps[0] > 0


# --- DrNAS -----------------------------------------------------------------------------------------------------------
def test_drnas_samples_lie_on_the_simplex_and_their_mean_tends_to_the_dirichlet_mean():
    space, arch, _ = build("nb201", "drnas", scale=1.0)
    torch.manual_seed(0)
    samples = torch.stack([arch.probs()["cell"].detach() for _ in range(4000)])
    assert bool((samples >= 0).all())
    torch.testing.assert_close(samples.sum(-1), torch.ones(samples.shape[:-1]))
    mean = arch.derivation_probs()["cell"].detach()
    assert float((samples.mean(0) - mean).abs().max()) < 0.02
    assert float((samples[:400].mean(0) - mean).abs().max()) > float((samples.mean(0) - mean).abs().max())


def test_drnas_kl_vanishes_at_the_anchor_and_pulls_towards_it():
    space, arch, _ = build("nb201", "drnas", scale=0.0)  # alpha = 0: ELU(0) + 1 = 1 = the anchor concentration
    assert float(arch.extra_loss().detach()) == pytest.approx(0.0, abs=1e-9)
    with torch.no_grad():
        arch.alphas["cell"].normal_(0.0, 2.0)
    kl = arch.extra_loss()
    assert float(kl.detach()) > 0
    kl.backward()
    with torch.no_grad():
        arch.alphas["cell"] -= 1.0 * arch.alphas["cell"].grad
    assert float(arch.extra_loss().detach()) < float(kl.detach())


# --- beta-decay ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALGORITHMS)
def test_beta_decay_works_with_every_algorithm_and_grows_linearly(name):
    space, arch, _ = build("nb201", name, scale=1.0, beta_decay=2.0)
    base = create_algorithm(name, space).arch_loss(arch.parameters_dict())
    base = 0.0 if base is None else float(base.detach())
    smooth_max = float(torch.logsumexp(arch.alphas["cell"].detach(), -1).mean())
    for epoch, weight in ((0, 0.0), (2, 1.0), (4, 2.0)):
        arch.start_epoch(epoch, 5)
        assert float(arch.extra_loss().detach()) == pytest.approx(base + weight * smooth_max, rel=1e-6)


# --- exact resume ----------------------------------------------------------------------------------------------------
def make_searcher(name: str, epochs: int = 2, settings: dict | None = None, **options) -> Searcher:
    torch.manual_seed(0)
    ds = load_dataset("synthetic", n_train=128, n_test=16, num_classes=4, size=8, channels=1, seed=1)
    w, a = split_train(len(ds.train_x), 0.5, torch.Generator().manual_seed(0))
    data = SearchData(ds.train_x[w], ds.train_y[w], ds.train_x[a], ds.train_y[a])
    space = create_space("nb201")
    algorithm = create_algorithm(name, space, **options)
    net = algorithm.adapt_supernet(create_supernet(space, in_channels=1, num_classes=4, C=4, layers=3))
    arch = Architecture(space, generator=torch.Generator().manual_seed(0), algorithm=algorithm)
    reg = create_regularizer("irl", space, expert=expert_cells(space, [RESNEXT_NB201]))
    return Searcher(space, net, arch, data, SearchSettings(epochs=epochs, batch_size=32, **(settings or {})), reg,
                    seed=0)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_every_algorithm_resumes_exactly(name):
    options = {"beta_decay": 1.0} if name == "drnas" else {}
    whole = make_searcher(name, **options)
    whole.train_epoch(), whole.train_epoch()
    first = make_searcher(name, **options)
    first.train_epoch()
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    buf.seek(0)
    resumed = make_searcher(name, **options)
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    assert set(resumed.arch.state_dict()) == set(whole.arch.state_dict())
    resumed.train_epoch()
    for key in whole.arch.state_dict():  # alphas, PC-DARTS' betas, GDAS' tau, beta-decay's weight
        assert torch.equal(whole.arch.state_dict()[key], resumed.arch.state_dict()[key]), key
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(whole.history) == strip(resumed.history)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_every_algorithm_takes_second_order_steps(name):
    searcher = make_searcher(name, epochs=1, settings={"order": "second"})
    before = {k: v.detach().clone() for k, v in searcher.arch.alphas.items()}
    row = searcher.train_epoch()
    assert all(not torch.equal(before[k], v) for k, v in searcher.arch.alphas.items())
    assert searcher.arch.all_finite() and row["arch_loss"] == row["arch_loss"]


@pytest.mark.parametrize("name", ALGORITHMS)
def test_every_exact_product_equals_double_backward_on_every_algorithm(name):
    """Reverse over forward (``search.hvp=exact``: dual weights through the algorithm's forward; ``exact_recompute``:
    the same, cell by cell) and forward over reverse (``jvp``: the network alone, chained through each algorithm's op
    weights by ordinary autograd) give the same product as double backward, for a softmax, a Gumbel sample, a
    Dirichlet sample and PC-DARTS' edge weights (each product draws its sample from the same seed)."""
    searcher = make_searcher(name, epochs=1, settings={"order": "second"})
    net, arch = searcher.net.double(), searcher.arch.double()  # float64: the four agree to rounding
    x, y = searcher.data.weight_x[:8].double(), searcher.data.weight_y[:8]
    v = {n: torch.randn_like(p) for n, p in net.named_parameters()}
    products = {}
    for hvp in ("double_backward", "exact", "exact_recompute", "jvp"):
        torch.manual_seed(5)
        products[hvp] = Architect(net, arch, searcher.w_optimizer, order="second", hvp=hvp).mixed_hvp(x, y, v)
    for cell, want in products["double_backward"].items():
        assert want.abs().max() > 0, cell
        for hvp in ("exact", "exact_recompute", "jvp"):
            torch.testing.assert_close(products[hvp][cell], want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("order", ["first", "second"])
@pytest.mark.parametrize("name", ALGORITHMS)
def test_guard_total_runs_on_every_algorithm_and_holds_its_law(name, order):
    """``guard_total`` through the searcher on every algorithm (their derivation logits are functions of the
    architecture parameters: the masses' gradients reach them by autograd) and both orders: the step's gradient
    raises none of the masses the guard holds."""
    searcher = make_searcher(name, epochs=1, settings={"order": order})
    expert = expert_cells(searcher.space, [RESNEXT_NB201])
    searcher.regularizer = create_regularizer("irl", searcher.space, expert=expert)  # guard_total=derived
    with torch.no_grad():  # lean to skip / pool, so that the guard holds something
        free = [i for i, op in enumerate(searcher.space.ops) if searcher.space.op_class(op) in ("skip", "pool")]
        for c in searcher.space.cell_types:
            searcher.arch.alphas[c][:, free] += 1.0
    assert not searcher.arch_constraint()  # nothing before the first IRL step
    logits = {c: a.detach() for c, a in searcher.arch.derivation_logits().items()}
    searcher.regularizer.start(logits)
    searcher.regularizer.update(0, logits)
    data = searcher.data
    x, y = data.arch_x[:16], data.arch_y[:16]
    torch.manual_seed(3)
    grads, _ = searcher.architect.alpha_gradient(data.weight_x[:16], data.weight_y[:16], x, y, 0.01,
                                                 penalty=searcher.arch_penalty, constraint=searcher.arch_constraint)
    masses = searcher.arch_constraint()
    assert masses
    params = [searcher.arch.alphas[k] for k in grads]
    g = torch.cat([grads[k].flatten() for k in grads])
    normals = [torch.cat([t.flatten() for t in torch.autograd.grad(m, params, retain_graph=True,
                                                                    materialize_grads=True)]) for m in masses]
    scale = float(g.norm()) * max(float(n.norm()) for n in normals)
    assert all(float(g @ n) >= -1e-6 * scale for n in normals)  # to the solver's accuracy
    row = searcher.train_epoch()  # and a whole epoch runs
    assert searcher.arch.all_finite() and row["arch_loss"] == row["arch_loss"]
