"""Generated data for experiments: epidemics, sine mixtures, long-memory tasks, digit strings.

Every generator takes ``seed``: an int, a ``numpy.random.Generator``, or
None for minigrad's generator (so ``mg.manual_seed`` makes it
reproducible).  Arrays are float32 / int64, ready for ``TensorDataset``.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ..data.dataset import _generator

__all__ = [
    "SIRCurves", "sir_curves", "SineMixture", "sine_mixture", "adding_problem", "copy_first_token",
    "Seq2SeqPairs", "reverse_digits", "add_digits",
]


def _check_int(value, name, who, low=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{who}: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def _check_range(pair, name, who, low=0.0):
    lo, hi = pair
    if not low <= lo <= hi:
        raise ValueError(f"{who}: {name} must be (low, high) with {low} <= low <= high, got {pair}")
    return float(lo), float(hi)


# ----------------------------------------------------------------------------- SIR epidemics
class SIRCurves(NamedTuple):
    """Fractions of the population (n, length) float32, and each curve's rates (n,) float32."""

    infected: np.ndarray
    susceptible: np.ndarray
    recovered: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray


def sir_curves(n, length, beta_range=(0.2, 0.6), gamma_range=(0.05, 0.2), infected0_range=(1e-3, 1e-2),
               dt=1.0, noise=0.0, seed=None) -> SIRCurves:
    """Epidemic curves from the SIR model, one per random (infection rate, recovery rate) pair.

    dS/dt = -beta S I,  dI/dt = beta S I - gamma I,  dR/dt = gamma I,
    with S + I + R = 1, solved with 4th-order Runge-Kutta (4 sub-steps per
    ``dt``), all n curves at once.  ``beta``, ``gamma`` and the initial
    infected fraction are drawn uniformly from their ranges.  ``noise`` > 0
    adds Gaussian noise of that standard deviation to ``infected`` only.
    Returns :class:`SIRCurves` with ``infected`` etc. of shape (n, length),
    the value at step t being the state at time ``t * dt``.
    """
    who = "sir_curves"
    n, length = _check_int(n, "n", who), _check_int(length, "length", who)
    gen = _generator(seed)
    beta = gen.uniform(*_check_range(beta_range, "beta_range", who), size=n)
    gamma = gen.uniform(*_check_range(gamma_range, "gamma_range", who), size=n)
    i = gen.uniform(*_check_range(infected0_range, "infected0_range", who), size=n)
    s, r = 1.0 - i, np.zeros(n)

    def rates(s, i):
        new_infections = beta * s * i
        recoveries = gamma * i
        return -new_infections, new_infections - recoveries, recoveries

    out = np.empty((3, n, length))
    substeps = 4
    h = dt / substeps
    for t in range(length):  # a loop over time steps; every curve advances together
        out[:, :, t] = s, i, r
        for _ in range(substeps):
            k1 = rates(s, i)
            k2 = rates(s + h / 2 * k1[0], i + h / 2 * k1[1])
            k3 = rates(s + h / 2 * k2[0], i + h / 2 * k2[1])
            k4 = rates(s + h * k3[0], i + h * k3[1])
            ds, di, dr = (h / 6 * (a + 2 * b + 2 * c + d) for a, b, c, d in zip(k1, k2, k3, k4))
            s, i, r = s + ds, i + di, r + dr
    infected = out[1] + noise * gen.standard_normal((n, length)) if noise > 0 else out[1]
    return SIRCurves(infected.astype(np.float32), out[0].astype(np.float32), out[2].astype(np.float32),
                     beta.astype(np.float32), gamma.astype(np.float32))


# ----------------------------------------------------------------------------- sine mixtures
class SineMixture(NamedTuple):
    """``series`` float32 (n, length) and the components' parameters, float32 (n, n_components)."""

    series: np.ndarray
    periods: np.ndarray
    amplitudes: np.ndarray
    phases: np.ndarray


def sine_mixture(n, length, n_components=3, period_range=(8.0, 64.0), amplitude_range=(0.5, 1.5), noise=0.0,
                 seed=None) -> SineMixture:
    """Sums of ``n_components`` sines with random periods, amplitudes and phases.

    ``series[j, t] = sum_k a[j,k] sin(2 pi t / P[j,k] + phi[j,k]) + noise``,
    t = 0 .. length-1.  Returns :class:`SineMixture` (series (n, length)).
    """
    who = "sine_mixture"
    n, length = _check_int(n, "n", who), _check_int(length, "length", who)
    k = _check_int(n_components, "n_components", who)
    gen = _generator(seed)
    periods = gen.uniform(*_check_range(period_range, "period_range", who, low=1e-9), size=(n, k))
    amplitudes = gen.uniform(*_check_range(amplitude_range, "amplitude_range", who), size=(n, k))
    phases = gen.uniform(0.0, 2 * np.pi, size=(n, k))
    t = np.arange(length)
    series = (amplitudes[:, :, None] * np.sin(2 * np.pi * t / periods[:, :, None] + phases[:, :, None])).sum(1)
    if noise > 0:
        series = series + noise * gen.standard_normal((n, length))
    return SineMixture(series.astype(np.float32), periods.astype(np.float32), amplitudes.astype(np.float32),
                       phases.astype(np.float32))


# ----------------------------------------------------------------------------- long-memory tasks
def adding_problem(n, length, seed=None):
    """The adding problem (Hochreiter & Schmidhuber, 1997): remember two marked numbers, output their sum.

    Returns ``(inputs float32 (n, length, 2), targets float32 (n,))``.
    Channel 0 holds uniform numbers in [0, 1); channel 1 marks two steps
    with 1 (one in the first half, one in the second half of the
    sequence), the others 0.  The target is the sum of the two marked
    numbers.  A model that ignores the inputs scores MSE ~ 1/6.
    """
    who = "adding_problem"
    n, length = _check_int(n, "n", who), _check_int(length, "length", who, low=2)
    gen = _generator(seed)
    values = gen.uniform(0.0, 1.0, size=(n, length)).astype(np.float32)
    half = length // 2
    first = gen.integers(0, half, size=n)
    second = gen.integers(half, length, size=n)
    marks = np.zeros((n, length), dtype=np.float32)
    rows = np.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return np.stack([values, marks], axis=-1), targets.astype(np.float32)


def copy_first_token(n, length, vocab_size=8, seed=None):
    """Read a random token sequence, output its FIRST token after the last step.

    Returns ``(inputs int64 (n, length), targets int64 (n,))`` with tokens
    in [0, vocab_size) and ``targets = inputs[:, 0]``: the gradient has to
    reach back over ``length - 1`` steps.
    """
    who = "copy_first_token"
    n, length = _check_int(n, "n", who), _check_int(length, "length", who)
    vocab_size = _check_int(vocab_size, "vocab_size", who, low=2)
    tokens = _generator(seed).integers(0, vocab_size, size=(n, length), dtype=np.int64)
    return tokens, tokens[:, 0].copy()


# ----------------------------------------------------------------------------- digit strings (seq2seq)
class Seq2SeqPairs(NamedTuple):
    """Source and target strings (two lists of str of length n)."""

    sources: list
    targets: list


def _digit_strings(gen, n, lengths):
    """n random digit strings with the given lengths (numpy arrays -> strings, no per-digit Python loop)."""
    digits = gen.integers(0, 10, size=(n, int(lengths.max()))).astype(np.uint8) + ord("0")
    rows = digits.tobytes()
    width = digits.shape[1]
    return [rows[j * width: j * width + int(lengths[j])].decode("ascii") for j in range(n)]


def reverse_digits(n, min_len=1, max_len=8, seed=None) -> Seq2SeqPairs:
    """Digit strings and the same strings reversed: ``"1234" -> "4321"`` (lengths uniform in [min_len, max_len])."""
    who = "reverse_digits"
    n = _check_int(n, "n", who)
    min_len = _check_int(min_len, "min_len", who)
    max_len = _check_int(max_len, "max_len", who, low=min_len)
    gen = _generator(seed)
    sources = _digit_strings(gen, n, gen.integers(min_len, max_len + 1, size=n))
    return Seq2SeqPairs(sources, [s[::-1] for s in sources])


def add_digits(n, max_digits=3, seed=None) -> Seq2SeqPairs:
    """Addition as text: ``"123+45" -> "168"``; operands uniform in [0, 10**max_digits)."""
    who = "add_digits"
    n = _check_int(n, "n", who)
    max_digits = _check_int(max_digits, "max_digits", who)
    if max_digits > 18:
        raise ValueError(f"{who}: max_digits must be at most 18 (int64 operands), got {max_digits}")
    gen = _generator(seed)
    a = gen.integers(0, 10 ** max_digits, size=n, dtype=np.int64)
    b = gen.integers(0, 10 ** max_digits, size=n, dtype=np.int64)
    return Seq2SeqPairs([f"{x}+{y}" for x, y in zip(a.tolist(), b.tolist())], [str(s) for s in (a + b).tolist()])
