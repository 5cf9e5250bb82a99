"""minigrad.distributed in one process, DistributedSampler, and jobs of two ranks started with ``mpiexec``.

The two-rank equivalence tests live in ``test_distributed_mpi.py`` (CI also runs them under
``mpiexec -n 2`` directly); here they are started as a subprocess so that plain ``pytest`` covers them.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad.data import DistributedSampler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _have_mpi4py():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


needs_mpi = pytest.mark.skipif(not _have_mpi4py(), reason="needs mpi4py (pip install \"minigrad[mpi]\")")


def _mpiexec():
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


needs_mpiexec = pytest.mark.skipif(not (_have_mpi4py() and _mpiexec()), reason="needs mpi4py and mpiexec")


@pytest.fixture
def group():
    dist.init_process_group(backend="mpi")
    yield
    dist.destroy_process_group()


# ----------------------------------------------------------------------------- no group, no mpi4py
def test_importing_minigrad_does_not_import_mpi4py():
    code = "import sys, minigrad; import minigrad.distributed, minigrad.nn.parallel; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_calls_before_init_say_what_to_do():
    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier):
        with pytest.raises(ValueError, match="init_process_group"):
            fn()
    with pytest.raises(ValueError, match="init_process_group"):
        dist.all_reduce(mg.ones(2))
    with pytest.raises(ValueError, match="init_process_group"):
        mg.nn.parallel.DistributedDataParallel(mg.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4))


def test_missing_mpi4py_names_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    with pytest.raises(ImportError, match=r'pip install "minigrad\[mpi\]"'):
        dist.init_process_group(backend="mpi")
    assert not dist.is_initialized()


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend 'gloo'"):
        dist.init_process_group(backend="gloo")


# ----------------------------------------------------------------------------- DistributedSampler
@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (10, 3), (2, 4), (7, 1)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_shares_cover_the_dataset(n, world, shuffle):
    shares = [list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=shuffle, seed=3))
              for r in range(world)]
    per = -(-n // world)  # ceil
    assert all(len(s) == per for s in shares)
    flat = [i for s in shares for i in s]
    assert set(flat) == set(range(n))
    counts = np.bincount(flat, minlength=n)
    assert counts.sum() == per * world  # padding repeats indices only to fill the last round
    if n % world == 0:
        assert (counts == 1).all()  # exactly once


@pytest.mark.parametrize("n,world", [(10, 3), (11, 2), (12, 4)])
def test_sampler_drop_last_drops_the_tail(n, world):
    shares = [list(DistributedSampler(range(n), num_replicas=world, rank=r, drop_last=True)) for r in range(world)]
    flat = [i for s in shares for i in s]
    assert len(flat) == len(set(flat)) == (n // world) * world
    assert all(len(s) == n // world for s in shares)


def test_sampler_epochs_and_seed():
    s0 = DistributedSampler(range(50), num_replicas=2, rank=0, seed=1)
    s1 = DistributedSampler(range(50), num_replicas=2, rank=1, seed=1)
    first = list(s0)
    assert list(s0) == first  # the same epoch gives the same order
    assert set(first).isdisjoint(list(s1))
    s0.set_epoch(1)
    s1.set_epoch(1)
    assert list(s0) != first
    assert set(s0).isdisjoint(set(s1)) and set(s0) | set(s1) == set(range(50))
    assert list(DistributedSampler(range(50), num_replicas=2, rank=0, seed=2)) != first


def test_sampler_matches_pytorch_without_shuffle():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler

    for n, world, drop in [(10, 3, False), (10, 3, True), (3, 5, False), (13, 4, True)]:
        for r in range(world):
            ours = list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False, drop_last=drop))
            theirs = list(TorchSampler(range(n), num_replicas=world, rank=r, shuffle=False, drop_last=drop))
            assert ours == [int(i) for i in theirs], (n, world, r, drop)
    del torch


def test_sampler_bad_arguments():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="rank"):
        DistributedSampler(range(4), num_replicas=2, rank=0.5)


# ----------------------------------------------------------------------------- post-accumulate hooks
def test_post_accumulate_grad_hook_sees_the_accumulated_grad():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    (w * 3).sum().backward()
    (w * w).sum().backward()  # .grad is now 3 + 2w
    np.testing.assert_allclose(seen[0], [3, 3])
    np.testing.assert_allclose(seen[1], [5, 7])
    mg.autograd.grad((w * 2).sum(), w)  # accumulates nothing: no call
    assert len(seen) == 2
    handle.remove()
    (w * 3).sum().backward()
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)


# ----------------------------------------------------------------------------- a world of one
@needs_mpi
def test_world_of_one(group):
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.get_backend() == "mpi"
    with pytest.raises(RuntimeError, match="twice"):
        dist.init_process_group(backend="mpi")
    t = mg.tensor([1.0, 2.0])
    dist.all_reduce(t)
    dist.broadcast(t, src=0)
    dist.barrier()
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    with pytest.raises(ValueError, match="src=1"):
        dist.broadcast(t, src=1)
    objects = ["a", 1]
    dist.broadcast_object_list(objects, src=0)
    assert objects == ["a", 1]
    with pytest.raises(ValueError, match="src=1 is not a rank"):
        dist.broadcast_object_list(objects, src=1)
    sampler = DistributedSampler(range(5))
    assert (sampler.num_replicas, sampler.rank) == (1, 0)


@needs_mpi
def test_ddp_in_a_world_of_one_is_the_module(group):
    mg.manual_seed(0)
    net = mg.nn.Sequential(mg.nn.Linear(4, 8), mg.nn.Tanh(), mg.nn.Linear(8, 3)).double()
    ref = mg.nn.Sequential(mg.nn.Linear(4, 8), mg.nn.Tanh(), mg.nn.Linear(8, 3)).double()
    ref.load_state_dict(net.state_dict())
    ddp = mg.nn.parallel.DistributedDataParallel(net, bucket_cap_mb=1e-4)
    assert ddp.module is net
    assert list(ddp.state_dict()) == ["module." + k for k in net.state_dict()]
    assert len(list(ddp.parameters())) == 4
    assert len(ddp.buckets) >= 2  # 100 bytes: the 8x4 weight alone is 256 bytes
    assert sum(len(b.params) for b in ddp.buckets) == 4
    # Buckets hold parameters in reverse order (the order their gradients arrive).
    assert ddp.buckets[0].params[0] is list(net.parameters())[-1]
    x = mg.tensor(np.random.default_rng(0).standard_normal((5, 4)))
    ddp(x).pow(2).sum().backward()
    ref(x).pow(2).sum().backward()
    for p, q in zip(ddp.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        mg.nn.parallel.DistributedDataParallel(net, bucket_cap_mb=0)
    with pytest.raises(TypeError, match="nn.Module"):
        mg.nn.parallel.DistributedDataParallel(lambda x: x)


# ----------------------------------------------------------------------------- jobs of two ranks
@needs_mpiexec
def test_two_rank_suite_under_mpiexec():
    """The equivalence tests of test_distributed_mpi.py on two ranks."""
    cmd = [_mpiexec(), "-n", "2", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           os.path.join("tests", "test_distributed_mpi.py")]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count(" passed") == 2, out.stdout[-2000:]  # both ranks ran the tests
    assert "no tests ran" not in out.stdout and "failed" not in out.stdout


@needs_mpiexec
def test_a_failing_rank_aborts_the_job():
    """Rank 1 raises while rank 0 waits in a barrier: the job ends, with rank 1's error, instead of hanging."""
    script = textwrap.dedent("""
        import minigrad.distributed as dist
        dist.init_process_group(backend="mpi")
        if dist.get_rank() == 1:
            raise ValueError("rank one failed on purpose")
        dist.barrier()  # never completes: rank 1 is gone
        print("rank 0 got past the barrier")
    """)
    start = time.monotonic()
    out = subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert out.returncode != 0
    assert "ValueError: rank one failed on purpose" in out.stderr
    assert "got past the barrier" not in out.stdout
    assert elapsed < 60


# ----------------------------------------------------------------------------- the trainers' --distributed
_TRAIN_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import minigrad as mg
    from minigrad_models import lenet, seq2seq

    out = sys.argv[1]
    rng = np.random.default_rng(0)
    templates = rng.random((10, 28, 28)).astype(np.float32) > 0.7
    y = rng.integers(0, 10, 160)
    x = (templates[y] * 0.8 + rng.random((160, 28, 28)) * 0.2).astype(np.float32).reshape(160, 1, 28, 28)
    split = mg.datasets.ImageSplit(x[:128], y[:128], x[128:], y[128:])
    m = lenet.train(epochs=2, batch_size=32, out=out, data=split, shift=0, quiet=False, distributed=True)
    s = seq2seq.train(epochs=1, batch_size=32, n_train=96, n_test=20, hidden=16, embed=8, out=out, quiet=True,
                      examples=0, distributed=True)
    print("RESULT", json.dumps({"acc": m["test_accuracy"], "seq2seq": s["exact_match"]}))
""")


def _train(tmp_path, ranks):
    out = tmp_path / f"ranks{ranks}"
    cmd = [sys.executable, "-c", _TRAIN_SCRIPT, str(out)]
    if ranks > 1:
        cmd = [_mpiexec(), "-n", str(ranks)] + cmd
    env = dict(os.environ, PYTHONPATH=ROOT)
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out, res


@needs_mpiexec
def test_trainers_on_two_ranks_match_one_process(tmp_path):
    """The same global batches cut in two: the weights after training equal one process's (float32 rounding),
    and only rank 0 prints and writes."""
    from minigrad_models.training import load_checkpoint

    one, res1 = _train(tmp_path, 1)
    two, res2 = _train(tmp_path, 2)
    assert res2.stdout.count("RESULT") == 2  # both ranks finish
    assert res2.stdout.count("final test accuracy") == 1  # only rank 0 reports
    assert sorted(os.listdir(one)) == sorted(os.listdir(two))
    # LeNet's loss is a mean over images, equal in number on both ranks: the same steps up to float32
    # rounding.  seq2seq's is a mean over each rank's real (unpadded) characters, which differ in number,
    # so the average of the two ranks' means is close to, not equal to, the mean over the whole batch.
    a, b = load_checkpoint(str(one / "lenet5.npz"))["model"], load_checkpoint(str(two / "lenet5.npz"))["model"]
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
    a = load_checkpoint(str(one / "seq2seq_reverse.npz"))["model"]
    b = load_checkpoint(str(two / "seq2seq_reverse.npz"))["model"]
    for k in a:
        diff = np.linalg.norm(a[k].numpy() - b[k].numpy()) / max(np.linalg.norm(a[k].numpy()), 1e-12)
        assert diff < 2e-2, (k, diff)
    metrics1 = json.loads((one / "lenet5_metrics.json").read_text())
    metrics2 = json.loads((two / "lenet5_metrics.json").read_text())
    assert metrics1["test_accuracy"] == metrics2["test_accuracy"]


@needs_mpiexec
def test_cli_distributed_batch_size_must_split_evenly(tmp_path):
    cmd = [_mpiexec(), "-n", "2", sys.executable, "-m", "minigrad", "train", "lenet", "--distributed",
           "--batch-size", "33", "--out", str(tmp_path)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.count("must be a multiple of the 2 ranks") == 1
    assert "Traceback" not in res.stderr


@needs_mpiexec
def test_cli_distributed_expected_failure_ends_the_job(tmp_path):
    """An expected failure (here: a missing checkpoint to resume) prints one line and ends every rank
    (MPI_Abort after the message, as a failure on one rank alone must), with exit status 2."""
    cmd = [_mpiexec(), "-n", "2", sys.executable, "-m", "minigrad", "train", "seq2seq", "--distributed",
           "--epochs", "1", "--limit", "64", "--test-size", "10", "--out", str(tmp_path),
           "--resume", str(tmp_path / "missing.npz")]
    start = time.monotonic()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "minigrad: error:" in res.stderr and "Traceback" not in res.stderr
    assert time.monotonic() - start < 60



def test_a_rank_started_by_mpiexec_without_distributed_warns():
    """Under mpiexec (which sets PMI_SIZE) without --distributed, each process would train on its own: say so."""
    env = dict(os.environ, PMI_SIZE="2")
    code = "from minigrad_models import parallel; parallel.Run(distributed=False, batch_size=32)"
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0 and "without --distributed" in res.stderr
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "PMI_SIZE"})
    assert res.stderr == ""
