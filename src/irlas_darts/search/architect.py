"""The architecture step of the bilevel search: first order or unrolled second order (DARTS eq. 7).

The network is never copied: every extra forward pass runs it with a dict of (unrolled or perturbed) weights
substituted (``substitution.py``, ``functional_call`` without its per-call walk of the module tree) and without
BatchNorm running statistics, so the network's weights, their ``.grad`` and its running statistics are exactly as
the weight step left them. Gradients are taken with
``torch.autograd.grad``, which never accumulates into any ``.grad``. Nothing here synchronises with the host.

Under data parallelism (``irlas_darts.distributed``: every rank holds the same weights and alphas and an equal shard
of each batch, so the global-batch loss is the mean of the per-rank losses) three gradients are averaged over the
ranks, each at the point where the mathematics needs the global one; without a process group each average is the
identity:

- first order: ``grad_alpha (L_val + penalty)``, once, before Adam steps;
- second order: ``grad_w L_train`` before it moves the weights to ``w'`` (so ``w'`` is the same on every rank),
  ``v = grad_w' L_val(w')`` before it enters the Hessian-vector product (so the product is taken along the global
  direction), and the final alpha gradient ``grad_alpha L_val(w') - xi * H v``: since the product is linear in the
  training loss, the mean of the per-rank products ``grad_alpha (grad_w L_train^r . v)`` is the global one, and one
  reduction of the sum covers both terms. The penalty is the same on every rank (it depends on the alphas only).

With per-rank BatchNorm statistics each rank's loss is its shard's own (as in DDP); with ``GlobalBatchNorm2d``
(``search.sync_bn``) the statistics, and their gradients, span the global batch and the result equals a single
process with the global batch.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd import forward_ad
from torch.nn.modules.batchnorm import _BatchNorm

from ..distributed import all_reduce_mean
from ..ops.forward_mode import forward_differentiable
from ..ops.heap import release_freed_memory
from ..ops.lean import twice_differentiable
from ..regularizers.irl import keep_masses_from_rising
from .architecture import Architecture
from .substitution import Substitution

if TYPE_CHECKING:
    from .supernet import Stages

Penalty = Callable[[dict[str, Tensor]], Tensor]
Constraint = Callable[[], list[Tensor]]

ORDERS = ("first", "second")
HVPS = ("exact", "exact_recompute", "double_backward", "jvp", "finite_difference")


def _grad(outputs: Tensor | Sequence[Tensor], inputs: Sequence[Tensor], **kw) -> list[Tensor]:
    """``autograd.grad`` with zeros (not ``None``) for inputs the outputs do not reach."""
    return list(torch.autograd.grad(outputs, list(inputs), materialize_grads=True, **kw))


class Architect:
    """Updates the architecture parameters on a validation batch, with its own Adam optimizer."""

    def __init__(
        self,
        net: nn.Module,
        arch: Architecture,
        w_optimizer: torch.optim.Optimizer | None,
        *,
        order: str = "first",
        hvp: str = "exact",
        lr: float = 3e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        weight_decay: float = 1e-3,
        criterion: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
    ) -> None:
        if order not in ORDERS:
            raise ValueError(f"architect.order={order!r} is unknown; use one of {ORDERS}")
        if hvp not in HVPS:
            raise ValueError(f"architect.hvp={hvp!r} is unknown; use one of {HVPS}")
        self.net = net
        self.arch = arch
        self.w_optimizer = w_optimizer
        self.order = order
        self.hvp = hvp
        self.criterion = criterion
        self.optimizer = torch.optim.Adam(arch.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
        self._cells = list(arch.alphas.keys())
        self._substitute = Substitution(net)
        self._named_weights = list(net.named_parameters())
        self._buffer_slots = [(f"{prefix}.{key}" if prefix else key, module, key)  # (name, owner, key in _buffers)
                              for prefix, module in net.named_modules()
                              for key, b in module._buffers.items() if b is not None]
        # The weights the weight step will move: trainable parameters the weight optimizer owns. Any other
        # parameter stays where it is in the unrolled model too.
        self._names: list[str] = []
        self._params: list[nn.Parameter] = []
        self._groups: list[dict] = []
        if order == "second":
            if w_optimizer is None:
                raise ValueError("architect.order='second' needs the weight optimizer; pass w_optimizer")
            group_of = {id(p): g for g in w_optimizer.param_groups for p in g["params"]}
            for name, p in net.named_parameters():
                g = group_of.get(id(p))
                if g is not None and p.requires_grad:
                    if "momentum" not in g or "weight_decay" not in g:
                        raise ValueError(
                            f"architect.order='second' unrolls an SGD step; got {type(w_optimizer).__name__} as "
                            "weight optimizer, use torch.optim.SGD or order='first'"
                        )
                    self._names.append(name)
                    self._params.append(p)
                    self._groups.append(g)
            if not self._params:
                raise ValueError("architect.order='second': the weight optimizer owns none of the network's weights")
        # (group, indices of its weights in self._params): the unrolled step runs per group, as SGD does
        self._by_group = [(g, [i for i, gi in enumerate(self._groups) if gi is g])
                          for g in {id(g): g for g in self._groups}.values()]

    # -- public API ---------------------------------------------------------------------------------------------

    def step(
        self,
        x_train: Tensor | None,
        y_train: Tensor | None,
        x_val: Tensor,
        y_val: Tensor,
        lr_w: float,
        penalty: Penalty | None = None,
        constraint: Constraint | None = None,
    ) -> dict[str, Tensor]:
        """One Adam update of the alphas; returns detached 0-dim ``val_loss``, ``penalty``, ``arch_loss``."""
        grads, stats = self.alpha_gradient(x_train, y_train, x_val, y_val, lr_w, penalty, constraint)
        for cell, g in grads.items():
            self.arch.alphas[cell].grad = g  # replaces whatever the weight step may have left there
        self.optimizer.step()
        return stats

    def alpha_gradient(
        self,
        x_train: Tensor | None,
        y_train: Tensor | None,
        x_val: Tensor,
        y_val: Tensor,
        lr_w: float,
        penalty: Penalty | None = None,
        constraint: Constraint | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The gradient ``step`` applies, per cell type, and the same loss statistics; changes nothing.

        ``constraint()``: masses (scalars differentiable in the alphas) that the step must not raise; the gradient is
        then corrected by the smallest non-negative combination of their gradients that makes descending it raise
        none of them, to first order (the projection of ``regularizers/irl.py``'s guard, on the whole gradient)."""
        buffers = self._pass_buffers()
        alphas = [self.arch.alphas[c] for c in self._cells]
        if self.order == "first":
            # Weights enter detached: no node computes (or keeps inputs for) weight gradients nobody asked for.
            val_loss = self._loss(buffers, self._detached_weights(), x_val, y_val)
            pen = self._penalty(penalty, val_loss)
            grads = _grad(val_loss + pen, alphas)
        else:
            if x_train is None or y_train is None:
                raise ValueError("architect.order='second' needs the training batch; pass x_train and y_train")
            grads, val_loss, pen = self._second_order(buffers, x_train, y_train, x_val, y_val, lr_w, penalty)
        grads = all_reduce_mean(grads)  # the global-batch gradient on every rank (identity in a single process)
        if constraint is not None:  # after the reduction: every rank projects the same gradient on the same masses
            grads = keep_masses_from_rising(grads, alphas, constraint())
        stats = {"val_loss": val_loss.detach(), "penalty": pen.detach(), "arch_loss": (val_loss + pen).detach()}
        return dict(zip(self._cells, grads)), stats

    def unrolled_weights(self, x_train: Tensor, y_train: Tensor, lr_w: float) -> dict[str, Tensor]:
        """``w'``: the weights one step of the weight optimizer would reach from the training batch (detached)."""
        self._require_second("unrolled_weights")
        train_loss = self._loss(self._pass_buffers(), {}, x_train, y_train, alpha_graph=False)
        g = all_reduce_mean(_grad(train_loss, self._params))
        return dict(zip(self._names, self._unroll(g, lr_w)))

    def mixed_hvp(self, x_train: Tensor, y_train: Tensor, vector: dict[str, Tensor]) -> dict[str, Tensor]:
        """``grad_alpha (grad_w L_train(w, alpha) . v)`` by the configured method; ``vector`` maps weight names."""
        self._require_second("mixed_hvp")
        v = [vector[n] for n in self._names]
        buffers = self._pass_buffers()
        alphas = [self.arch.alphas[c] for c in self._cells]
        return dict(zip(self._cells, all_reduce_mean(self._hvp(buffers, x_train, y_train, v, alphas))))

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)

    # -- internals ----------------------------------------------------------------------------------------------

    def _require_second(self, what: str) -> None:
        if self.order != "second":
            raise ValueError(f"Architect.{what} unrolls the weight step; build the Architect with order='second'")

    def _detached_weights(self) -> dict[str, Tensor]:
        return {name: p.detach() for name, p in self._named_weights}

    def _pass_buffers(self) -> dict[str, Tensor | None]:
        """What the extra passes run with in place of the network's buffers: none for a train-mode BatchNorm's (it
        normalises with the batch's statistics either way, and without them skips updating them: no copies, no
        updates to discard), a private copy of any other, so the network's own stay untouched."""
        return {name: None if isinstance(module, _BatchNorm) and module.training else module._buffers[key].clone()
                for name, module, key in self._buffer_slots}

    def _loss(self, buffers: dict[str, Tensor | None], weights: dict[str, Tensor], x: Tensor, y: Tensor,
              alpha_graph: bool = True) -> Tensor:
        """Loss of the network with ``weights`` substituted (others as they are) and fresh probs from the alphas.

        ``alpha_graph=False``: the probs enter detached, for a pass whose gradient is the weights' only (the unrolled
        step's): the edges' fused BatchNorm nodes then skip their edge-weight gradients, which a custom node computes
        whenever its input requires one, asked for or not. The weights' gradients are the same to the bit."""
        probs = self.arch.probs()
        if not alpha_graph:
            probs = {cell: p.detach() for cell, p in probs.items()}
        with self._substitute({**buffers, **weights}):
            out = self.net(x, probs)
        return self.criterion(out, y)

    def _penalty(self, penalty: Penalty | None, like: Tensor) -> Tensor:
        if penalty is None:
            return like.new_zeros(())
        return penalty(self.arch.as_dict())

    def _unroll(self, g: list[Tensor], lr_w: float) -> list[Tensor]:
        """``w - xi * d`` with d the direction ``torch.optim.SGD`` would step along (DARTS' unrolled model).

        One ``torch._foreach_*`` call per operation and parameter group, as SGD's own foreach path: on a GPU a few
        fused kernels instead of five per weight; on the CPU the same per-tensor arithmetic, bit for bit."""
        state = self.w_optimizer.state
        out: list[Tensor] = list(self._params)
        with torch.no_grad():
            for group, index in self._by_group:
                ps = [self._params[i] for i in index]
                d = [g[i] for i in index]
                if group.get("maximize", False):
                    d = torch._foreach_neg(d)
                if group["weight_decay"] != 0:
                    d = torch._foreach_add(d, torch._foreach_mul(ps, group["weight_decay"]))
                momentum = group["momentum"]
                if momentum != 0:
                    bufs = [state.get(p, {}).get("momentum_buffer") for p in ps]
                    # An absent buffer is zero in DARTS; SGD's first step (buffer := d) agrees with that.
                    step, have = list(d), [k for k, b in enumerate(bufs) if b is not None]
                    if have:
                        moved = torch._foreach_add(torch._foreach_mul([bufs[k] for k in have], momentum),
                                                   torch._foreach_mul([d[k] for k in have],
                                                                      1 - group.get("dampening", 0)))
                        for k, t in zip(have, moved):
                            step[k] = t
                    nesterov = group.get("nesterov", False)
                    d = torch._foreach_add(d, torch._foreach_mul(step, momentum)) if nesterov else step
                for i, w in zip(index, torch._foreach_sub(ps, torch._foreach_mul(d, lr_w))):
                    out[i] = w
        return out

    def _second_order(
        self,
        buffers: dict[str, Tensor],
        x_train: Tensor,
        y_train: Tensor,
        x_val: Tensor,
        y_val: Tensor,
        lr_w: float,
        penalty: Penalty | None,
    ) -> tuple[list[Tensor], Tensor, Tensor]:
        alphas = [self.arch.alphas[c] for c in self._cells]
        train_loss = self._loss(buffers, {}, x_train, y_train, alpha_graph=False)
        g = all_reduce_mean(_grad(train_loss, self._params))  # w' must be one step on the global batch
        del train_loss
        unrolled = [w.requires_grad_(True) for w in self._unroll(g, lr_w)]
        del g
        val_loss = self._loss(buffers, dict(zip(self._names, unrolled)), x_val, y_val)
        pen = self._penalty(penalty, val_loss)  # evaluated at alpha; it does not depend on the weights
        n = len(unrolled)
        both = _grad(val_loss + pen, unrolled + alphas)
        v, d_alpha = all_reduce_mean(both[:n]), both[n:]  # the product is taken along the global v
        hv = self._hvp(buffers, x_train, y_train, v, alphas)
        return [da - lr_w * h for da, h in zip(d_alpha, hv)], val_loss, pen

    def _hvp(self, buffers: dict[str, Tensor], x: Tensor, y: Tensor, v: list[Tensor], alphas: list[Tensor]
             ) -> list[Tensor]:
        method = {"exact": self._forward_hvp, "exact_recompute": self._recompute_hvp,
                  "double_backward": self._double_backward_hvp, "jvp": self._jvp_hvp,
                  "finite_difference": self._finite_difference_hvp}
        return method[self.hvp](buffers, x, y, v, alphas)

    @contextmanager
    def _dual_pass(self, buffers: dict[str, Tensor | None], v: list[Tensor]) -> Iterator[None]:
        """Inside: a dual level, plain modules, elementary forms, and the network running with dual weights
        ``(w, v)`` and no buffers. Without buffers train-mode BatchNorm skips the in-place update of its running
        statistics (batch statistics normalise either way), which a dual value could not write into a plain buffer."""
        with twice_differentiable(), forward_differentiable(), forward_ad.dual_level():
            substitutes = dict.fromkeys(buffers)
            substitutes.update({n: forward_ad.make_dual(p.detach(), vi)
                                for n, p, vi in zip(self._names, self._params, v)})
            try:
                with self._substitute(substitutes):
                    yield
            except NotImplementedError as err:  # e.g. a custom autograd.Function of a plug-in without a jvp rule
                raise NotImplementedError(f"search.hvp={self.hvp} runs the network in forward mode and {err} "
                                          "Use search.hvp=double_backward (the same product).") from err

    def _forward_hvp(
        self, buffers: dict[str, Tensor], x: Tensor, y: Tensor, v: list[Tensor], alphas: list[Tensor]
    ) -> list[Tensor]:
        """``grad_alpha (grad_w L_train . v)`` reverse over forward (the default exact product).

        ``grad_w L . v`` is the derivative of the loss along ``v``: one forward pass with dual weights ``(w, v)``
        carries it as the loss's tangent, and one backward pass of that scalar reaches the alphas. No backward
        pass is built and differentiated again (double backward, whose rule for grouped convolutions runs one
        convolution per channel on the CPU), and convolutions keep nothing for the tangents' backward but their
        weights. Runs the plain modules and elementary batch norm and cross entropy (``ops/forward_mode.py``).
        """
        with self._dual_pass(buffers, v):
            out = self.net(x, self.arch.probs())
            along_v = forward_ad.unpack_dual(self.criterion(out, y)).tangent
        if along_v is None:  # no weight along v reaches the loss
            return [torch.zeros_like(a) for a in alphas]
        return _grad(along_v, alphas)

    def _recompute_hvp(
        self, buffers: dict[str, Tensor], x: Tensor, y: Tensor, v: list[Tensor], alphas: list[Tensor]
    ) -> list[Tensor]:
        """The reverse-over-forward product of ``_forward_hvp`` at the memory of one stage (``exact_recompute``).

        The dual pass runs without a graph, keeping only the (primal, tangent) states between the supernet's stages
        (``net.stages``: its cells); the backward pass then recomputes one stage at a time from its kept inputs, with
        a graph, and takes that stage's gradients before the next. One more dual forward pass buys a peak of one
        cell's graph instead of the whole network's. (``torch.utils.checkpoint`` cannot do this here: the engine
        turns forward AD off while it runs a backward pass, and what it recomputes is held until the pass ends.)
        """
        stages_of = getattr(self.net, "stages", None)
        if not callable(stages_of):
            raise ValueError(f"search.hvp=exact_recompute needs a supernet with stages(probs); "
                             f"{type(self.net).__name__} has none: use search.hvp=exact")
        probs = self.arch.probs()
        leaves = {k: p.detach().requires_grad_(True) for k, p in probs.items()}
        with self._dual_pass(buffers, v):  # the dual weights stay in place for the forward and backward passes
            g_probs = _recomputed_probs_gradient(stages_of(leaves), leaves, x, y, self.criterion)
        if g_probs is None:  # no weight along v reaches the loss
            return [torch.zeros_like(a) for a in alphas]
        keys = list(probs)
        return _grad([probs[k] for k in keys], alphas, grad_outputs=[g_probs[k] for k in keys])

    def _jvp_hvp(
        self, buffers: dict[str, Tensor], x: Tensor, y: Tensor, v: list[Tensor], alphas: list[Tensor]
    ) -> list[Tensor]:
        """The same product, forward over reverse: ``jvp`` along ``v`` of ``w -> grad_alpha L_train(w, alpha)``.

        Every activation carries its tangent (the derivative along ``v``) and one reverse pass takes the gradient
        of both, so no graph of the backward pass is built and differentiated again, as double backward does.
        Exact, like the other two (tests/search/test_architect.py compares each with autograd through the unrolled
        step). Runs the plain modules (the lean nodes have no forward-mode rule).
        """
        # The op weights come from the alphas by ordinary autograd, once (an algorithm's sample is drawn once, as
        # in any forward); torch.func only sees the network, as a function of the weights and the op weights.
        probs = self.arch.probs()
        keys = list(probs)
        # Train-mode BatchNorm normalises with the batch's statistics; without buffers it also skips the in-place
        # update of its running statistics, which a function under torch.func may not do to a captured tensor.
        no_buffers = dict.fromkeys(buffers)

        def probs_gradient(weights: list[Tensor]) -> tuple[Tensor, ...]:
            def loss(op_weights: tuple[Tensor, ...]) -> Tensor:
                with self._substitute({**no_buffers, **dict(zip(self._names, weights))}):
                    out = self.net(x, dict(zip(keys, op_weights)))
                return self.criterion(out, y)

            return torch.func.grad(loss)(tuple(probs[k].detach() for k in keys))

        with twice_differentiable():
            _, tangent = torch.func.jvp(probs_gradient, ([p.detach() for p in self._params],), (list(v),))
        # d/dv grad_alpha L = (d probs / d alpha)^T (d/dv grad_probs L): the op weights do not depend on w
        return _grad([probs[k] for k in keys], alphas, grad_outputs=list(tangent))

    def _double_backward_hvp(
        self, buffers: dict[str, Tensor], x: Tensor, y: Tensor, v: list[Tensor], alphas: list[Tensor]
    ) -> list[Tensor]:
        """``grad_alpha (grad_w L_train . v)`` by double backward (``search.hvp=double_backward``).

        The training forward is run again here rather than kept from the unrolled step: only one graph is alive at a
        time (the unrolled step's, the validation one's, then this one), which is what sets the step's peak memory.
        This pass runs the plain modules (``twice_differentiable``): the lean BatchNorm nodes are differentiable once.
        """
        with twice_differentiable():
            train_loss = self._loss(buffers, {}, x, y)
            g = _grad(train_loss, self._params, create_graph=True)
        pairs = [(gi, vi) for gi, vi in zip(g, v) if gi.requires_grad]
        if not pairs:
            return [torch.zeros_like(a) for a in alphas]
        outs, cots = zip(*pairs)
        return _grad(list(outs), alphas, grad_outputs=list(cots))

    def _finite_difference_hvp(
        self, buffers: dict[str, Tensor], x: Tensor, y: Tensor, v: list[Tensor], alphas: list[Tensor]
    ) -> list[Tensor]:
        """Central difference of grad_alpha L_train along v, with DARTS' step ``r = 0.01 / ||v||``."""
        with torch.no_grad():
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(v)))
            r = 0.01 / norm.clamp_min(1e-12)  # v = 0 gives a zero product rather than NaN
            rv = torch._foreach_mul(v, r)
            plus = dict(zip(self._names, torch._foreach_add(self._params, rv)))
            minus = dict(zip(self._names, torch._foreach_sub(self._params, rv)))
        g_plus = _grad(self._loss(buffers, plus, x, y), alphas)
        g_minus = _grad(self._loss(buffers, minus, x, y), alphas)
        return [(gp - gm) / (2 * r) for gp, gm in zip(g_plus, g_minus)]


def _leaves(states: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], list[Tensor]]:
    """Dual copies of ``states`` whose primals and tangents are graph leaves: (the duals, the leaves)."""
    duals, leaves = [], []
    for s in states:
        primal, tangent = forward_ad.unpack_dual(s)
        primal = primal.detach().requires_grad_(True)
        leaves.append(primal)
        if tangent is not None:
            tangent = tangent.detach().requires_grad_(True)
            leaves.append(tangent)
            duals.append(forward_ad.make_dual(primal, tangent))
        else:
            duals.append(primal)
    return tuple(duals), leaves


def _primals_and_tangents(states: tuple[Tensor, ...]) -> list[Tensor]:
    out = []
    for s in states:
        primal, tangent = forward_ad.unpack_dual(s)
        out += [primal] if tangent is None else [primal, tangent]
    return out


def _recomputed_probs_gradient(stages: Stages, leaves: dict[str, Tensor], x: Tensor, y: Tensor,
                               criterion: Callable[[Tensor, Tensor], Tensor]) -> dict[str, Tensor] | None:
    """``grad_probs`` of the loss's tangent, stage by stage from the end (inside the dual level and weights)."""
    with torch.no_grad():
        bounds = [stages.stem(x)]
        for stage in stages.stages:
            bounds.append(stage(bounds[-1]))
    duals, inputs = _leaves(bounds[-1])
    along_v = forward_ad.unpack_dual(criterion(stages.head(duals), y)).tangent
    if along_v is None:
        return None
    keys = list(leaves)
    g_probs = {k: torch.zeros_like(p) for k, p in leaves.items()}
    outputs, cotangents = [along_v], [torch.ones_like(along_v)]
    for k in range(len(stages.stages), -1, -1):
        # Inside the dual level the backward formulas would see dual saved tensors and carry tangents of their own
        # (prims decompositions): forward mode is switched off for the backward pass, as it is outside the level.
        with forward_ad._set_fwd_grad_enabled(False):
            grads = _grad(outputs, [leaves[key] for key in keys] + inputs, grad_outputs=cotangents)
        del outputs
        release_freed_memory(x.device)  # this stage's graph is gone: keep its heap holes from adding up
        for key, g in zip(keys, grads):
            g_probs[key] += g
        if k == 0:  # the stem reads no probs
            break
        cotangents = grads[len(keys):]
        duals, inputs = _leaves(bounds[k - 1])
        outputs = _primals_and_tangents(stages.stages[k - 1](duals))
        if len(outputs) != len(cotangents):
            raise RuntimeError("a supernet stage changed which of its states carry tangents between two passes")
    return g_probs
