"""Data parallelism on two ranks: run with ``mpiexec -n 2 python -m pytest -q -p no:cacheprovider tests/test_distributed_mpi.py``.

Under plain ``pytest`` (one process) this module is skipped; ``test_distributed.py`` starts it under
``mpiexec`` itself.  Every rank runs every test in the same order, so the collectives match up; the
checks compare values that are equal on all ranks, so all ranks pass or fail together.
"""
import os

import numpy as np
import pytest

pytest.importorskip("mpi4py")

_LAUNCHED = next((int(os.environ[k]) for k in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")
                  if os.environ.get(k, "").isdigit()), 1)
if _LAUNCHED < 2:
    pytest.skip("needs several ranks: mpiexec -n 2 python -m pytest tests/test_distributed_mpi.py",
                allow_module_level=True)

import minigrad as mg  # noqa: E402
import minigrad.distributed as dist  # noqa: E402
from minigrad.nn import functional as F  # noqa: E402

TOL = 1e-10


@pytest.fixture(scope="module", autouse=True)
def group():
    dist.init_process_group(backend="mpi")
    yield
    dist.barrier()
    dist.destroy_process_group()


def _gather(x):
    return dist._allgather_object(x)


class Net(mg.nn.Module):
    """Conv, BatchNorm-free MLP head: several parameters of different sizes (several buckets)."""

    def __init__(self):
        super().__init__()
        self.conv = mg.nn.Conv2d(2, 3, 3, padding=1)
        self.fc1 = mg.nn.Linear(3 * 4 * 4, 16)
        self.fc2 = mg.nn.Linear(16, 5)

    def forward(self, x):
        h = mg.tanh(self.conv(x)).flatten(1)
        return self.fc2(mg.tanh(self.fc1(h)))


def _net(seed):
    mg.manual_seed(seed)
    return Net().double()


def _data(n=8):
    rng = np.random.default_rng(123)  # the same global batch on every rank
    return mg.tensor(rng.standard_normal((n, 2, 4, 4))), mg.tensor(rng.integers(0, 5, n))


def _shard(t, rank, world):
    per = t.shape[0] // world
    return t[rank * per:(rank + 1) * per]


def test_world():
    assert dist.is_initialized()
    assert dist.get_world_size() == _LAUNCHED
    assert sorted(_gather(dist.get_rank())) == list(range(_LAUNCHED))


def test_all_reduce_and_broadcast():
    rank, world = dist.get_rank(), dist.get_world_size()
    t = mg.tensor(np.arange(6.0).reshape(2, 3) + rank)
    dist.all_reduce(t)
    expected = sum(np.arange(6.0).reshape(2, 3) + r for r in range(world))
    np.testing.assert_array_equal(t.numpy(), expected)
    m = mg.tensor([float(rank), -float(rank)])
    dist.all_reduce(m, op=dist.ReduceOp.MAX)
    np.testing.assert_array_equal(m.numpy(), [world - 1, 0])
    a = mg.tensor([2.0 * rank], dtype=mg.float64)
    dist.all_reduce(a, op=dist.ReduceOp.AVG)
    assert a.item() == pytest.approx(world - 1)
    # Non-contiguous: the result still lands in the tensor's own memory.
    base = mg.tensor(np.arange(12.0).reshape(3, 4) * (rank + 1))
    view = base.transpose(0, 1)
    dist.all_reduce(view)
    np.testing.assert_array_equal(base.numpy(), np.arange(12.0).reshape(3, 4) * sum(range(1, world + 1)))
    b = mg.tensor(np.full(4, float(rank)))
    dist.broadcast(b, src=world - 1)
    np.testing.assert_array_equal(b.numpy(), np.full(4, world - 1.0))


def test_construction_broadcasts_parameters_and_buffers():
    rank = dist.get_rank()
    model = _net(seed=100 + rank)  # different weights on every rank
    model.register_buffer("counter", mg.tensor([float(rank)]))
    ddp = mg.nn.parallel.DistributedDataParallel(model)
    reference = _net(seed=100)
    for (name, p), q in zip(ddp.module.named_parameters(), reference.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), err_msg=name)
    assert ddp.module.counter.item() == 0.0
    assert list(ddp.state_dict())[0].startswith("module.")


@pytest.mark.parametrize("make_opt", [
    lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: mg.optim.Adam(ps, lr=0.01),
], ids=["sgd", "adam"])
def test_two_ranks_equal_one_process(make_opt, monkeypatch):
    """Half the batch on each rank, gradients averaged == the whole batch in one process (float64)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = _data(4 * world)
    single = _net(seed=7)
    ddp = mg.nn.parallel.DistributedDataParallel(_net(seed=7 + rank), bucket_cap_mb=200 / 2**20)
    assert len(ddp.buckets) > 2  # a small cap: several buckets
    calls = []
    real = dist.all_reduce
    monkeypatch.setattr(dist, "all_reduce", lambda t, *a, **k: (calls.append(t.shape), real(t, *a, **k)))
    opt_single, opt_ddp = make_opt(single.parameters()), make_opt(ddp.parameters())
    for step in range(3):
        calls.clear()
        opt_single.zero_grad()
        F.cross_entropy(single(x), y).backward()
        opt_ddp.zero_grad()
        F.cross_entropy(ddp(_shard(x, rank, world)), _shard(y, rank, world)).backward()
        assert len(calls) == len(ddp.buckets), "one all-reduce per bucket"
        for (name, p), q in zip(ddp.module.named_parameters(), single.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=0, atol=TOL, err_msg=f"{name} grad")
        opt_single.step()
        opt_ddp.step()
        for (name, p), q in zip(ddp.module.named_parameters(), single.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=0, atol=TOL, err_msg=f"{name} step {step}")
    # And the ranks agree exactly with each other.
    mine = [p.detach().numpy() for p in ddp.parameters()]
    for theirs in _gather(mine):
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a, b)


def test_no_sync_accumulates_then_averages_the_total():
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = _data(8 * world)
    single = _net(seed=3)
    ddp = mg.nn.parallel.DistributedDataParallel(_net(seed=3))
    halves = [(_shard(x, k, 2), _shard(y, k, 2)) for k in range(2)]  # two micro-batches
    for xb, yb in halves:
        F.cross_entropy(single(xb), yb).backward()
    with ddp.no_sync():
        xb, yb = halves[0]
        F.cross_entropy(ddp(_shard(xb, rank, world)), _shard(yb, rank, world)).backward()
    local = [p.grad.numpy().copy() for p in ddp.parameters()]
    xb, yb = halves[1]
    F.cross_entropy(ddp(_shard(xb, rank, world)), _shard(yb, rank, world)).backward()
    for p, q in zip(ddp.parameters(), single.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=0, atol=TOL)
    # The no_sync backward kept local gradients: they differ between ranks.
    gathered = _gather(local)
    assert any(not np.array_equal(a, b) for a, b in zip(gathered[0], gathered[1]))


def test_unused_parameters():
    """A parameter used on one rank only: find_unused_parameters=True averages it with zeros from the other."""
    rank = dist.get_rank()

    class Two(mg.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = mg.nn.Linear(3, 2)
            self.b = mg.nn.Linear(3, 2)

        def forward(self, x, use_b):
            return self.a(x) + (self.b(x) if use_b else 0.0)

    mg.manual_seed(0)
    ddp = mg.nn.parallel.DistributedDataParallel(Two().double(), find_unused_parameters=True, bucket_cap_mb=1e-5)
    x = mg.tensor(np.ones((2, 3)))
    ddp(x, use_b=(rank == 0)).sum().backward()
    assert ddp.module.b.weight.grad is not None
    np.testing.assert_allclose(ddp.module.b.weight.grad.numpy(), np.full((2, 3), 2.0 / dist.get_world_size()))
    np.testing.assert_allclose(ddp.module.a.weight.grad.numpy(), np.full((2, 3), 2.0))
    # Without find_unused_parameters, the next forward says what went wrong (on every rank alike).
    ddp2 = mg.nn.parallel.DistributedDataParallel(Two().double())
    ddp2(x, use_b=False).sum().backward()
    with pytest.raises(RuntimeError, match="did not finish"):
        ddp2(x, use_b=False)


def test_distributed_sampler_covers_every_index_once():
    rank, world = dist.get_rank(), dist.get_world_size()
    n = 10 * world
    for epoch in range(3):
        sampler = mg.data.DistributedSampler(range(n), shuffle=True, seed=5)
        sampler.set_epoch(epoch)
        everyone = _gather(list(sampler))
        flat = sorted(i for part in everyone for i in part)
        assert flat == list(range(n))
    # Uneven: padded by repeating, every index at least once and every rank the same count.
    sampler = mg.data.DistributedSampler(range(n + 1))
    everyone = _gather(list(sampler))
    assert len({len(p) for p in everyone}) == 1
    assert set(i for p in everyone for i in p) == set(range(n + 1))


def test_loader_with_sampler_feeds_disjoint_batches():
    rank, world = dist.get_rank(), dist.get_world_size()
    ds = mg.data.TensorDataset(mg.arange(16 * world))
    loader = mg.data.DataLoader(ds, batch_size=4, sampler=mg.data.DistributedSampler(ds, seed=1))
    seen = [int(v) for (b,) in loader for v in b.numpy()]
    everyone = _gather(seen)
    assert sorted(v for p in everyone for v in p) == list(range(16 * world))


@pytest.mark.gpu
def test_cuda_tensors_through_the_chosen_path():
    """CuPy arrays: all-reduce and broadcast (host memory unless NCCL or a CUDA-aware MPI), and DDP on the
    device against one process on the CPU."""
    rank, world = dist.get_rank(), dist.get_world_size()
    path = dist.gpu_path()
    assert path in ("nccl", "mpi", "host")
    assert len(set(_gather(path))) == 1  # every rank takes the same path
    t = mg.tensor(np.arange(6.0).reshape(2, 3) + rank, device="cuda")
    dist.all_reduce(t)
    assert t.device.startswith("cuda")
    np.testing.assert_array_equal(t.cpu().numpy(), sum(np.arange(6.0).reshape(2, 3) + r for r in range(world)))
    base = mg.tensor(np.arange(12.0).reshape(3, 4) * (rank + 1), device="cuda")
    dist.all_reduce(base.transpose(0, 1))  # a non-contiguous view: the result lands in base
    np.testing.assert_array_equal(base.cpu().numpy(), np.arange(12.0).reshape(3, 4) * sum(range(1, world + 1)))
    b = mg.tensor(np.full(3, float(rank)), device="cuda")
    dist.broadcast(b, src=world - 1)
    np.testing.assert_array_equal(b.cpu().numpy(), np.full(3, world - 1.0))

    x, y = _data(4 * world)
    single = _net(seed=11)
    ddp = mg.nn.parallel.DistributedDataParallel(_net(seed=11 + rank).to("cuda"), bucket_cap_mb=200 / 2**20)
    F.cross_entropy(single(x), y).backward()
    xs, ys = _shard(x, rank, world).to("cuda"), _shard(y, rank, world).to("cuda")
    F.cross_entropy(ddp(xs), ys).backward()
    for (name, p), q in zip(ddp.module.named_parameters(), single.parameters()):
        assert p.grad.device.startswith("cuda")
        np.testing.assert_allclose(p.grad.cpu().numpy(), q.grad.numpy(), rtol=0, atol=TOL, err_msg=name)


def test_batchnorm_normalises_each_rank_share():
    """BatchNorm under DDP (no SyncBatchNorm): each rank normalises with its own share's statistics, so the
    averaged gradient is the mean of the shares' single-process gradients, not the whole batch's; the
    running statistics start every forward from rank 0's (broadcast_buffers)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(5)
    x = mg.tensor(rng.standard_normal((4 * world, 3)))
    target = mg.tensor(rng.standard_normal((4 * world, 2)))

    def make():
        mg.manual_seed(2)
        return mg.nn.Sequential(mg.nn.Linear(3, 4), mg.nn.BatchNorm1d(4), mg.nn.Tanh(), mg.nn.Linear(4, 2)).double()

    shares = []
    for r in range(world):  # one process, each share on its own
        m = make()
        F.mse_loss(m(_shard(x, r, world)), _shard(target, r, world)).backward()
        shares.append([p.grad.numpy().copy() for p in m.parameters()])
    whole = make()
    F.mse_loss(whole(x), target).backward()
    ddp = mg.nn.parallel.DistributedDataParallel(make())
    F.mse_loss(ddp(_shard(x, rank, world)), _shard(target, rank, world)).backward()
    for k, p in enumerate(ddp.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), sum(s[k] for s in shares) / world, rtol=0, atol=TOL)
    assert any(not np.allclose(p.grad.numpy(), q.grad.numpy()) for p, q in zip(ddp.parameters(), whole.parameters()))
    bn = ddp.module[1]
    means = _gather(bn.running_mean.numpy().copy())
    assert not np.allclose(means[0], means[1])  # each rank updated them from its own share
    with mg.no_grad():
        ddp.eval()
        ddp(x)  # no grad: no broadcast, the buffers stay each rank's own
        assert np.array_equal(bn.running_mean.numpy(), means[rank])
        ddp.train()
    ddp(_shard(x, rank, world))  # a training forward: rank 0's buffers first, then this rank's share
    mine = _shard(x, rank, world)
    with mg.no_grad():
        h = ddp.module[0](mine).numpy()
    momentum = bn.momentum
    expected = (1 - momentum) * means[0] + momentum * h.mean(0)
    np.testing.assert_allclose(bn.running_mean.numpy(), expected, rtol=0, atol=TOL)
