"""``mg.nn.parallel.DistributedDataParallel``: the same model on every rank, gradients averaged over ranks.

Each rank runs forward and backward on its own share of the batch.  When
backward has put the gradients into ``.grad``, they are averaged across ranks
with all-reduce, so every rank then holds the gradient of the loss over the
whole batch (the mean of equal-sized shares' mean losses) and takes the same
optimizer step.  The parameters are grouped in buckets of about
``bucket_cap_mb`` megabytes, one all-reduce per bucket instead of one per
parameter, as PyTorch does.
"""
from __future__ import annotations

from contextlib import contextmanager

from .. import _backend as B
from .. import distributed as dist
from ..autograd.engine import Tensor, is_grad_enabled, no_grad
from .module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """Parameters reduced together: one flat buffer, one all-reduce."""

    __slots__ = ("params", "waiting")

    def __init__(self, params):
        self.params = params
        self.waiting = set()  # ids of the parameters whose gradient has not arrived this iteration


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (after ``minigrad.distributed.init_process_group``).

    * At construction, rank 0's parameters and buffers are copied to every rank
      (and every rank must hold parameters of the same shapes).
    * ``ddp(*inputs)`` calls ``module(*inputs)``; with ``broadcast_buffers`` it
      first copies rank 0's buffers (BatchNorm's running statistics) to every rank.
    * During ``loss.backward()``, once a bucket's gradients are all in
      ``.grad``, the bucket is all-reduced and divided by the world size.  Buckets
      go in the same order on every rank (reverse parameter order).
    * ``with ddp.no_sync():`` forwards and backwards inside accumulate gradients
      locally; the first synchronised backward after it averages the total.
    * ``find_unused_parameters=True``: parameters not reached from the forward's
      outputs are marked ready at once (needed when some parameters get no
      gradient in an iteration; otherwise the next forward raises).
    * ``state_dict()`` keys start with ``module.``, as in PyTorch; ``ddp.module``
      is the wrapped model.

    ``device_ids``, ``output_device``, ``dim``, ``process_group``, ``check_reduction``,
    ``gradient_as_bucket_view`` and ``static_graph`` are accepted so that PyTorch code runs, and ignored
    (one process drives one device; there is one process group).
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=25, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nn.Module, got {type(module).__name__}")
        if not dist.is_initialized():
            raise ValueError("DistributedDataParallel: Default process group has not been initialized, please "
                             "call minigrad.distributed.init_process_group(backend='mpi') first")
        if not bucket_cap_mb or bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.bucket_cap_mb = bucket_cap_mb
        self.world_size = dist.get_world_size()
        self.require_backward_grad_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._check_same_shapes(named)
        self._sync_module_states()
        self._params = [p for _, p in named]
        self._names = {id(p): n for n, p in named}
        self.buckets = self._make_buckets(self._params, bucket_cap_mb * 1024 * 1024)
        self._bucket_of = {id(p): b for b in self.buckets for p in b.params}
        self._armed = False  # a forward with gradient sync ran: the next backward reduces
        self._next = 0  # the next bucket to all-reduce (buckets go in order on every rank)
        self._expected = set()  # ids of the parameters whose gradient this rank still waits for
        self._unused = set()  # ids of the parameters this forward did not reach (find_unused_parameters)
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in self._params]

    # -- construction ----------------------------------------------------------------
    def _check_same_shapes(self, named):
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in named]
        everyone = dist._allgather_object(mine)
        for rank, theirs in enumerate(everyone):
            if theirs != mine:
                diff = next(((a, b) for a, b in zip(mine, theirs) if a != b), None)
                detail = (f"here {diff[0]}, on rank {rank} {diff[1]}" if diff else
                          f"{len(mine)} parameters here, {len(theirs)} on rank {rank}")
                raise ValueError(f"DistributedDataParallel: the ranks hold different models ({detail}); build the "
                                 "same model on every rank")

    def _sync_module_states(self):
        """Copy rank 0's parameters and buffers to every rank."""
        with no_grad():
            for t in list(self.module.parameters()) + [b for b in self.module.buffers() if b is not None]:
                dist.broadcast(t, src=0)

    @staticmethod
    def _make_buckets(params, cap_bytes):
        """Group parameters (in reverse order, as gradients arrive) into buckets of at most ``cap_bytes``
        (a larger parameter gets a bucket of its own) of one dtype and device each."""
        buckets, current, size, key = [], [], 0, None
        for p in reversed(params):
            nbytes = p.data.nbytes
            pkey = (p.dtype, p.device)
            if current and (size + nbytes > cap_bytes or pkey != key):
                buckets.append(_Bucket(current))
                current, size = [], 0
            current.append(p)
            size += nbytes
            key = pkey
        if current:
            buckets.append(_Bucket(current))
        return buckets

    # -- forward ------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        sync = is_grad_enabled() and self.require_backward_grad_sync
        if self._armed and self._started():
            missing = [self._names[i] for b in self.buckets[self._next:] for i in b.waiting]
            raise RuntimeError(
                "DistributedDataParallel: the previous iteration's gradient reduction did not finish: no gradient "
                f"reached {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}. Pass "
                "find_unused_parameters=True if some parameters take no part in the loss, and make sure every "
                "rank's loss depends on the output of forward")
        if is_grad_enabled() and self.broadcast_buffers and self.world_size > 1:
            with no_grad():
                for b in self.module.buffers():
                    if b is not None:
                        dist.broadcast(b, src=0)
        out = self.module(*inputs, **kwargs)
        self._armed = sync
        if sync:
            self._prepare(out)
        return out

    def _started(self):
        return self._next > 0 or any(len(b.waiting) < len(b.params) for b in self.buckets)

    def _prepare(self, out):
        """Reset the buckets for the coming backward."""
        for b in self.buckets:
            b.waiting = {id(p) for p in b.params}
        self._next = 0
        self._unused = set()
        if self.find_unused_parameters:
            reached = _leaves_reached(out)
            self._unused = {id(p) for p in self._params if id(p) not in reached}
            for b in self.buckets:
                b.waiting -= self._unused
        self._expected = {id(p) for p in self._params} - self._unused

    # -- backward ------------------------------------------------------------------------
    def _grad_ready(self, param):
        """Post-accumulate hook: ``param.grad`` is complete for this backward."""
        if not self._armed:
            return  # no_sync, or a backward not from this module's forward: keep the local gradient
        pid = id(param)
        self._bucket_of[pid].waiting.discard(pid)
        self._expected.discard(pid)
        # Reduce every bucket that is complete, in bucket order; when this rank expects no more
        # gradients (the rest unused here), reduce the remaining buckets too: other ranks wait for them.
        while self._next < len(self.buckets) and (not self.buckets[self._next].waiting or not self._expected):
            self._reduce(self.buckets[self._next])
            self._next += 1
        if self._next == len(self.buckets):
            self._armed = False

    def _reduce(self, bucket):
        params = bucket.params
        if self.world_size == 1 and not self.find_unused_parameters:
            return  # a world of one: the average is the gradient itself
        xp = B.xp_of(params[0].data)
        if self.find_unused_parameters:
            used = xp.asarray([p.grad is not None and id(p) not in self._unused for p in params], dtype=xp.int32)
            used_t = Tensor(used)
            dist.all_reduce(used_t)
            used_anywhere = used_t.data
        flat = xp.concatenate([
            (p.grad.data.reshape(-1) if p.grad is not None and id(p) not in self._unused
             else xp.zeros(p.data.size, dtype=p.dtype))
            for p in params])
        flat_t = Tensor(flat)
        dist.all_reduce(flat_t)
        flat = flat_t.data
        flat /= self.world_size
        offset = 0
        for k, p in enumerate(params):
            n = p.data.size
            part = flat[offset:offset + n].reshape(p.shape)
            offset += n
            if self.find_unused_parameters and not int(used_anywhere[k]):
                continue  # no rank used it: leave .grad as it was, as PyTorch does
            if p.grad is None:
                p.grad = Tensor(part.copy())
            else:
                p.grad.data[...] = part
                p.grad._bump_version()

    # -- PyTorch's extras -------------------------------------------------------------------
    @contextmanager
    def no_sync(self):
        """Inside this block, backward keeps gradients local (gradient accumulation without communication)."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def extra_repr(self):
        return f"world_size={self.world_size}, buckets={len(self.buckets)}, bucket_cap_mb={self.bucket_cap_mb}"


def _leaves_reached(out):
    """ids of the leaf tensors the graph behind ``out`` (a tensor or nested tuple/list/dict of them) reaches."""
    stack, seen, leaves = [], set(), set()

    def collect(o):
        if isinstance(o, Tensor):
            if o.grad_fn is not None:
                stack.append(o.grad_fn)
            elif o.requires_grad:
                leaves.add(id(o))
        elif isinstance(o, (tuple, list)):
            for x in o:
                collect(x)
        elif isinstance(o, dict):
            for x in o.values():
                collect(x)

    collect(out)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for x in getattr(node, "_inputs", ()):
            if x.grad_fn is None:
                leaves.add(id(x))
            elif id(x.grad_fn) not in seen:
                stack.append(x.grad_fn)
    return leaves
