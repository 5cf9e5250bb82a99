"""mg.optim.lr_scheduler: lr sequences against PyTorch and by hand, resuming, state dicts, warnings."""
import math
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import Parameter
from minigrad.optim import lr_scheduler as sched

LRS = (0.1, 0.03)  # two parameter groups with different lrs


def _mg_optimizer(lrs=LRS):
    groups = [{"params": [Parameter(mg.zeros(2))], "lr": lr} for lr in lrs]
    return mg.optim.SGD(groups, lr=lrs[0], momentum=0.9)


def _lr_sequence(make, optimizer, epochs, metrics=None):
    """lrs (per group) after construction and after each of ``epochs`` steps."""
    scheduler = make(optimizer)
    seq = [list(scheduler.get_last_lr())]
    for epoch in range(epochs):
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch])
        seq.append(list(scheduler.get_last_lr()))
        assert seq[-1] == [g["lr"] for g in optimizer.param_groups]
    return seq, scheduler


class _Warmup:
    """A callable object: LambdaLR saves its attributes in the state dict."""

    def __init__(self, epochs):
        self.epochs = epochs

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.epochs)


# (name, constructor kwargs): the same call builds the PyTorch scheduler
TORCH_CASES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.001)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.95 ** epoch + 0.01 * (epoch % 3))),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1.0 / (e + 1), _Warmup(4)])),
    ("LinearLR", dict(start_factor=0.1, total_iters=6)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=4)),
]


@pytest.mark.parametrize("name,kwargs", TORCH_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_CASES)])
def test_lr_sequence_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    epochs = 25  # past T_max: the cosine goes back up
    t_groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in LRS]
    t_opt = torch.optim.SGD(t_groups, lr=LRS[0], momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about optimizer.step() without gradients
        expected, _ = _lr_sequence(lambda o: getattr(torch.optim.lr_scheduler, name)(o, **kwargs), t_opt, epochs)
    got, _ = _lr_sequence(lambda o: getattr(sched, name)(o, **kwargs), _mg_optimizer(), epochs)
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-14, atol=0)
    assert len({tuple(x) for x in got}) > 3  # the schedule really changes


def test_reduce_lr_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    metrics = [1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    kwargs = dict(factor=0.5, patience=2, cooldown=1, min_lr=[0.02, 0.0])
    t_groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in LRS]
    t_opt = torch.optim.SGD(t_groups, lr=LRS[0])
    expected, _ = _lr_sequence(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kwargs), t_opt,
                               len(metrics), metrics)
    got, _ = _lr_sequence(lambda o: sched.ReduceLROnPlateau(o, **kwargs), _mg_optimizer(), len(metrics), metrics)
    assert got == expected
    assert got[-1][0] == 0.02  # clamped at min_lr


# ----------------------------------------------------------------------------- by hand (no torch)
def test_step_lr_by_hand():
    seq, s = _lr_sequence(lambda o: sched.StepLR(o, step_size=2, gamma=0.1), _mg_optimizer((1.0,)), 6)
    assert [x[0] for x in seq] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01, 0.001], rel=1e-12)
    assert s.last_epoch == 6


def test_multistep_lr_by_hand():
    seq, _ = _lr_sequence(lambda o: sched.MultiStepLR(o, milestones=[3, 1, 3], gamma=0.5), _mg_optimizer((1.0,)), 5)
    assert [x[0] for x in seq] == [1.0, 0.5, 0.5, 0.125, 0.125, 0.125]  # milestone 3 listed twice: gamma**2


def test_exponential_lr_by_hand():
    seq, _ = _lr_sequence(lambda o: sched.ExponentialLR(o, gamma=0.5), _mg_optimizer((0.8, 0.4)), 3)
    assert seq == [[0.8, 0.4], [0.4, 0.2], [0.2, 0.1], [0.1, 0.05]]


def test_cosine_recursive_form_follows_the_closed_form():
    T, eta_min = 10, 0.01
    seq, _ = _lr_sequence(lambda o: sched.CosineAnnealingLR(o, T_max=T, eta_min=eta_min), _mg_optimizer(), 3 * T)
    for t, lrs in enumerate(seq):
        for lr, base in zip(lrs, LRS):
            expected = eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / T)) / 2
            assert lr == pytest.approx(expected, rel=1e-9, abs=1e-15), t
    assert seq[T][0] == pytest.approx(eta_min) and seq[2 * T][0] == pytest.approx(LRS[0])


def test_lambda_lr_by_hand():
    seq, _ = _lr_sequence(lambda o: sched.LambdaLR(o, lambda e: 1.0 / (1 + e)), _mg_optimizer((0.6,)), 3)
    assert [x[0] for x in seq] == pytest.approx([0.6, 0.3, 0.2, 0.15], rel=1e-15)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas"):
        sched.LambdaLR(_mg_optimizer(), [lambda e: 1.0])


def test_step_with_epoch_uses_closed_form():
    s = sched.StepLR(_mg_optimizer((1.0,)), step_size=2, gamma=0.5)
    s.optimizer.step()
    s.step(5)
    assert s.last_epoch == 5 and s.get_last_lr() == [0.25]


def test_initial_lr_and_resuming_needs_it():
    opt = _mg_optimizer()
    with pytest.raises(KeyError, match="initial_lr"):
        sched.StepLR(opt, step_size=2, last_epoch=4)
    s = sched.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS) and s.base_lrs == list(LRS)


def test_manual_lr_change_is_respected_by_chainable_schedules():
    opt = _mg_optimizer((1.0,))
    s = sched.ExponentialLR(opt, gamma=0.5)
    opt.param_groups[0]["lr"] = 10.0
    opt.step()
    s.step()
    assert s.get_last_lr() == [5.0]


@pytest.mark.parametrize("name,kwargs", [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 4, 4], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=6, eta_min=0.001)),
    ("LambdaLR", dict(lr_lambda=_Warmup(5))),
])
def test_state_dict_round_trip_through_save_load(name, kwargs, tmp_path):
    opt = _mg_optimizer()
    s = getattr(sched, name)(opt, **kwargs)
    for _ in range(4):
        opt.step()
        s.step()
    path = tmp_path / "ckpt.npz"
    mg.save({"optimizer": opt.state_dict(), "scheduler": s.state_dict()}, path)
    continued = []
    for _ in range(6):
        opt.step()
        s.step()
        continued.append(s.get_last_lr())

    ckpt = mg.load(path)
    opt2 = _mg_optimizer((5.0, 5.0))
    opt2.load_state_dict(ckpt["optimizer"])
    fresh_kwargs = dict(kwargs, lr_lambda=_Warmup(99)) if name == "LambdaLR" else kwargs
    s2 = getattr(sched, name)(opt2, **fresh_kwargs)
    s2.load_state_dict(ckpt["scheduler"])
    resumed = []
    for _ in range(6):
        opt2.step()
        s2.step()
        resumed.append(s2.get_last_lr())
    assert resumed == continued
    if name == "LambdaLR":
        assert s2.lr_lambdas[0].epochs == 5  # the callable's attributes were restored


def test_reduce_on_plateau_state_round_trip(tmp_path):
    opt = _mg_optimizer()
    s = sched.ReduceLROnPlateau(opt, mode="max", patience=1, threshold=0.1, threshold_mode="abs")
    for metric in [1.0, 1.05, 1.0]:
        s.step(metric)
    assert s.get_last_lr() == pytest.approx([0.01, 0.003], rel=1e-15)  # two epochs without a gain above 0.1
    mg.save(s.state_dict(), tmp_path / "s.npz")
    s2 = sched.ReduceLROnPlateau(_mg_optimizer(), mode="max")
    s2.load_state_dict(mg.load(tmp_path / "s.npz"))
    assert s2.best == 1.0 and s2.patience == 1 and s2.threshold_mode == "abs"
    assert not s2.is_better(1.05, s2.best) and s2.is_better(1.2, s2.best)


def test_reduce_on_plateau_errors():
    with pytest.raises(ValueError, match="factor"):
        sched.ReduceLROnPlateau(_mg_optimizer(), factor=1.5)
    with pytest.raises(ValueError, match="mode"):
        sched.ReduceLROnPlateau(_mg_optimizer(), mode="up")
    with pytest.raises(ValueError, match="expected 2 min_lrs"):
        sched.ReduceLROnPlateau(_mg_optimizer(), min_lr=[0.1])


def test_warns_when_scheduler_steps_before_optimizer():
    opt = _mg_optimizer()
    s = sched.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        s.step()
    opt2 = _mg_optimizer()
    s2 = sched.StepLR(opt2, step_size=1)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2.step()
        s2.step()


def test_constructor_errors():
    with pytest.raises(TypeError, match="expects an Optimizer"):
        sched.StepLR([Parameter(mg.zeros(1))], step_size=1)
    with pytest.raises(ValueError, match="step_size"):
        sched.StepLR(_mg_optimizer(), step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        sched.CosineAnnealingLR(_mg_optimizer(), T_max=0)


@pytest.mark.parametrize("kwargs", [dict(max_lr=0.5, total_steps=30),
                                    dict(max_lr=[0.5, 0.2], epochs=3, steps_per_epoch=10, pct_start=0.4,
                                         anneal_strategy="linear"),
                                    dict(max_lr=0.3, total_steps=30, three_phase=True, base_momentum=0.8)])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_one_cycle_lr_and_momentum_match_torch(kwargs, optimizer):
    torch = pytest.importorskip("torch")
    mg_opt = getattr(mg.optim, optimizer)([{"params": [Parameter(mg.zeros(2))], "lr": lr} for lr in LRS],
                                          **({"momentum": 0.9} if optimizer == "SGD" else {}))
    t_opt = getattr(torch.optim, optimizer)([{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in LRS],
                                            **({"momentum": 0.9} if optimizer == "SGD" else {}))
    ours, theirs = sched.OneCycleLR(mg_opt, **kwargs), torch.optim.lr_scheduler.OneCycleLR(t_opt, **kwargs)

    def momentum(group):
        return group["betas"][0] if optimizer == "Adam" else group["momentum"]

    for _ in range(30):
        for g_ours, g_theirs in zip(mg_opt.param_groups, t_opt.param_groups):
            assert g_ours["lr"] == g_theirs["lr"] and momentum(g_ours) == momentum(g_theirs)
        mg_opt.step()
        t_opt.step()
        ours.step()
        theirs.step()


def test_one_cycle_lr_shape_and_errors():
    optimizer = _mg_optimizer((0.1,))
    scheduler = sched.OneCycleLR(optimizer, max_lr=1.0, total_steps=10, pct_start=0.5, anneal_strategy="linear")
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(9):
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    assert lrs[0] == pytest.approx(1.0 / 25) and max(lrs) == pytest.approx(1.0) and lrs.index(max(lrs)) == 4
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    optimizer.step()
    scheduler.step()  # step 10 of 10 is still allowed (as PyTorch)
    with pytest.raises(ValueError, match="tried to step 11 times, but total_steps is 10"):
        scheduler.step()
    with pytest.raises(ValueError, match="total_steps, or both epochs and steps_per_epoch"):
        sched.OneCycleLR(_mg_optimizer(), max_lr=1.0)
    with pytest.raises(ValueError, match="neither"):
        sched.OneCycleLR(mg.optim.Adagrad([Parameter(mg.zeros(1))]), max_lr=1.0, total_steps=5)
