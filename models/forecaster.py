"""Forecasting a time series: a recurrent network beside a linear autoregression, built on minigrad's public API.

The model (the idea of LSTNet, Lai et al. 2018, "Modeling Long- and Short-Term
Temporal Patterns with Deep Neural Networks")::

    y_hat = linear_ar(window) + residual_scale * head(GRU(window))

A window of the past ``window`` values goes in; the next ``horizon`` values
come out (horizon 24 = the whole next day, all 24 hourly values).  The
series we forecast (hourly temperatures) is smooth and nearly linear, so the
linear path does most of the work; the recurrent path only has to learn what
the linear one misses.  Two consequences shape the training:

* The linear path starts from its closed-form solution (ridge regression on
  the training windows, :func:`fit_linear_ar`), not from random weights:
  gradient descent on 48 almost collinear inputs would take thousands of
  epochs to get there.
* The head starts at zero and its output is scaled by the linear path's
  training residual (``residual_scale``), so the untrained model *is* the
  linear path, and the recurrent path's outputs live on the scale of what is
  left to learn.  The checkpoint with the best validation RMSE is kept
  (epoch 0, the linear path alone, included), so training can only help on
  the validation data.

Baselines, on the same test windows: persistence (the last value),
seasonal naive (the value one season, 24 hours, before each target) and a
least-squares linear autoregression on the same window fitted with
``numpy.linalg.lstsq`` on the training windows.

``minigrad train forecast`` / ``minigrad eval forecast --checkpoint P``.

What to expect (seed 0, defaults, test RMSE in °F on the last 10% of 2010)::

                                  horizon 1     horizon 24 (all 24 values / the 24th)
    persistence                    0.5527         2.305   / 0.1459
    seasonal naive                 0.1472         0.1446  / 0.1459
    linear AR (lstsq)              0.05492        0.08185 / 0.09269
    forecaster (GRU)               0.05351        0.08184 / 0.09268

At horizon 1 the margin over the linear AR comes from the linear path's
ridge penalty (3, chosen on validation); at horizon 24 validation picks no
penalty and the two tie.  The recurrent path finds almost
nothing that generalises, because what a linear fit on this series misses
is mostly the 0.1 °F rounding of the data (a linear fit made *on the test
months themselves* still scores 0.049).  On the nonlinear SIR epidemics
(``--data sir``) the recurrent path does the work: at horizon 14 it halves
the linear AR's error (0.31 vs 0.66 % infected).
"""
from __future__ import annotations

import os
import time
from typing import NamedTuple

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F

from . import parallel as P
from . import training as T

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}
RIDGE_GRID = (0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # candidates for the linear path's penalty
DATA_DEFAULTS = {  # per data set: window length, season (None: no seasonal naive baseline), unit of values
    "seattle": {"window": 48, "season": 24, "unit": "°F"},
    "sir": {"window": 24, "season": None, "unit": "% infected"},
}


# ----------------------------------------------------------------------------- the model
class Forecaster(nn.Module):
    """Linear autoregression plus a recurrent correction: ``(B, window) -> (B, horizon)``.

    Inputs and outputs are standardised values (``(value - mean) / std`` with
    training statistics).  The recurrent layer reads, at each step, the
    standardised value and its change since the previous step divided by
    ``step_scale`` (the typical one-step change), so both of its inputs are
    of order one.  ``residual_scale`` multiplies the head's output (see the
    module docstring); the head starts at zero.

    =============  ===================  ==================================
    part           shape                parameters
    =============  ===================  ==================================
    linear_ar      (B, W) -> (B, K)     W*K + K
    rnn            (B, W, 2) -> (B, H)  GRU 3H(2 + H) + 6H (one layer)
    head           (B, H) -> (B, K)     H*K + K
    =============  ===================  ==================================

    (W window, K horizon, H hidden_size.)
    """

    def __init__(self, window=48, horizon=1, cell="gru", hidden_size=32, num_layers=1, residual_scale=1.0,
                 step_scale=1.0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"Forecaster: cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.window, self.horizon, self.cell = int(window), int(horizon), cell
        self.residual_scale, self.step_scale = float(residual_scale), float(step_scale)
        self.linear_ar = nn.Linear(self.window, self.horizon)
        self.rnn = CELLS[cell](2, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, self.horizon)
        with mg.no_grad():  # the untrained model is exactly the linear path
            self.head.weight.zero_()
            self.head.bias.zero_()

    def recurrent_inputs(self, x):
        """(B, W) standardised window -> (B, W, 2): the value and its one-step change / step_scale."""
        change = F.pad(x[:, 1:] - x[:, :-1], (1, 0)) * (1.0 / self.step_scale)
        return mg.stack([x, change], dim=-1)

    def forward(self, x):
        """x: (B, window) standardised -> (B, horizon) standardised forecasts."""
        if x.ndim != 2 or x.shape[1] != self.window:
            raise ValueError(f"Forecaster: expected a (batch, {self.window}) window of standardised values, "
                             f"got shape {tuple(x.shape)}")
        output, _ = self.rnn(self.recurrent_inputs(x))
        correction = self.head(output[:, -1]) * self.residual_scale
        return self.linear_ar(x) + correction

    def extra_repr(self):
        return f"window={self.window}, horizon={self.horizon}, residual_scale={self.residual_scale:.4g}"


def build_model(config):
    """The :class:`Forecaster` a config describes."""
    return Forecaster(window=config["window"], horizon=config["horizon"], cell=config["cell"],
                      hidden_size=config["hidden"], num_layers=config["layers"],
                      residual_scale=config["residual_scale"], step_scale=config["step_scale"])


# ----------------------------------------------------------------------------- data
class Windows(NamedTuple):
    """Forecasting pairs in original units: ``x`` (N, window) float64 and ``y`` (N, horizon) float64."""

    x: np.ndarray
    y: np.ndarray


class ForecastData(NamedTuple):
    """Train / validation / test windows and the training statistics used to standardise them."""

    train: Windows
    val: Windows
    test: Windows
    mean: float  # of the training values
    std: float
    step_std: float  # standard deviation of one-step changes in the training values (original units)


def split_series(series, window, horizon, train_frac=0.8, val_frac=0.1):
    """Cut one series (L,) into windows and assign each to train, validation or test by its targets.

    The first ``train_frac`` of the steps are training time, the next
    ``val_frac`` validation time, the rest test time.  A window belongs to a
    split when *all* its targets fall in that split's time (its inputs may
    reach back into the previous split's time, as a forecaster's would), so
    every test target is forecast exactly once per horizon step and no
    training target lies in validation or test time.
    """
    series = np.asarray(series, dtype=np.float64)
    length = series.shape[0]
    train_end, val_end = int(train_frac * length), int((train_frac + val_frac) * length)
    x, y = mg.data.sliding_windows(series, window, horizon)
    x = x[..., 0]
    first = np.arange(x.shape[0]) + window  # index of each window's first target
    last = first + horizon - 1
    masks = (last < train_end, (first >= train_end) & (last < val_end), first >= val_end)
    parts = [Windows(x[m], y[m]) for m in masks]
    train_values = series[:train_end]
    return ForecastData(*parts, float(train_values.mean()), float(train_values.std()),
                        float(np.diff(train_values).std()))


def split_curves(curves, window, horizon, train_frac=0.8, val_frac=0.1):
    """Many short series (n, L) -> windows, split by *curve* (first 80% of curves train, ...)."""
    curves = np.asarray(curves, dtype=np.float64)
    n = curves.shape[0]
    cuts = [0, int(train_frac * n), int((train_frac + val_frac) * n), n]
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        pairs = [mg.data.sliding_windows(c, window, horizon) for c in curves[lo:hi]]
        parts.append(Windows(np.concatenate([p[0][..., 0] for p in pairs]), np.concatenate([p[1] for p in pairs])))
    train_values = curves[:cuts[1]]
    return ForecastData(*parts, float(train_values.mean()), float(train_values.std()),
                        float(np.diff(train_values, axis=1).std()))


def load_data(config, series=None):
    """The :class:`ForecastData` a config describes (``series``: a 1-D array to use instead of the download)."""
    window, horizon = config["window"], config["horizon"]
    if config["data"] == "sir":
        sir = mg.datasets.synthetic.sir_curves(config["sir_curves"], config["sir_length"],
                                               noise=config["sir_noise"] / 100.0, seed=config["seed"])
        return split_curves(sir.infected * 100.0, window, horizon)  # percent of the population
    if series is None:
        series = mg.datasets.seattle_temps().values
    return split_series(series, window, horizon)


def standardise(data, values):
    """Values in original units -> standardised float32 (training mean and standard deviation)."""
    return ((values - data.mean) / data.std).astype(np.float32)


# ----------------------------------------------------------------------------- the linear path's closed form
def fit_linear_ar(x, y, ridge=0.0, step_scale=1.0):
    """Ridge autoregression shrunk toward (scaled) persistence, in closed form: (weight (K, W), bias (K,)).

    Writes each target through the window's last value and its deviations from it::

        y_k = a_k x_last + sum_j c_kj (x_j - x_last) + b_k          (j < W)

    and minimises the squared error plus ``ridge * sum c^2``: only the
    deviation coefficients are shrunk (toward a forecast from the last value
    alone), never ``a`` or ``b``.  Deviations are measured in units of
    ``step_scale`` (the typical one-step change), so one ``ridge`` value means
    the same for any series.  ``ridge=0`` is ordinary least squares (the same
    fit as the linear AR baseline).  Returned as a plain linear map
    ``y = x @ weight.T + bias``.  ``x`` (N, W), ``y`` (N, K).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    last = x[:, -1:]
    design = np.concatenate([(x[:, :-1] - last) / step_scale, last, np.ones_like(last)], axis=1)
    penalty = ridge * np.eye(design.shape[1])
    penalty[-2:, -2:] = 0.0  # the last value's coefficient and the intercept are not shrunk
    coef = np.linalg.solve(design.T @ design + penalty, design.T @ y)  # (W + 1, K)
    c, a, b = coef[:-2].T / step_scale, coef[-2], coef[-1]  # (K, W-1), (K,), (K,)
    weight = np.concatenate([c, (a - c.sum(axis=1))[:, None]], axis=1)  # x_last's weight: a - sum(c)
    return weight, b


def linear_predict(weight, bias, x):
    """The linear path in NumPy: x (N, W) -> (N, K)."""
    return x @ weight.T + bias


# ----------------------------------------------------------------------------- baselines
def seasonal_index(window, horizon, season):
    """Position in the window of the value one (or more) seasons before each of the ``horizon`` targets."""
    steps_ahead = np.arange(1, horizon + 1)
    seasons_back = -(-steps_ahead // season)  # ceil: a target more than a season ahead looks back 2 seasons
    return window - 1 + steps_ahead - season * seasons_back


def baseline_forecasts(data, split, season):
    """{name: forecasts (N, K) in original units} of the three baselines on ``data.<split>``'s windows."""
    windows = getattr(data, split)
    x, horizon = windows.x, windows.y.shape[1]
    out = {"persistence": np.repeat(x[:, -1:], horizon, axis=1)}
    if season is not None and x.shape[1] >= season:
        out["seasonal naive"] = x[:, seasonal_index(x.shape[1], horizon, season)]
    design = np.concatenate([data.train.x, np.ones((data.train.x.shape[0], 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design, data.train.y, rcond=None)
    out["linear AR (lstsq)"] = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1) @ coef
    return out


def rmse(pred, target):
    """Root mean squared error over every window and horizon step."""
    return float(np.sqrt(np.mean((np.asarray(pred, dtype=np.float64) - target) ** 2)))


def rmse_last_step(pred, target):
    """RMSE of the last horizon step only (e.g. the value 24 hours ahead)."""
    return rmse(np.asarray(pred)[:, -1], target[:, -1])


# ----------------------------------------------------------------------------- training
@mg.no_grad()
def predict(model, x, data, device="cpu", batch_size=1024):
    """Forecasts in original units for windows ``x`` (N, W) in original units."""
    was_training = model.training
    model.eval()
    xs = standardise(data, x)
    out = [model(mg.tensor(xs[i:i + batch_size], device=device)).cpu().numpy() for i in range(0, len(xs), batch_size)]
    model.train(was_training)
    return np.concatenate(out).astype(np.float64) * data.std + data.mean


def choose_ridge(data, step_scale, ridge="auto"):
    """The linear path's (ridge, weight, bias, validation RMSE): the grid value with the best validation RMSE."""
    grid = RIDGE_GRID if ridge == "auto" else (float(ridge),)
    best = None
    xs, ys = standardise(data, data.train.x), standardise(data, data.train.y)
    for lam in grid:
        w, b = fit_linear_ar(xs, ys, lam, step_scale)
        val = rmse(linear_predict(w, b, standardise(data, data.val.x)) * data.std + data.mean, data.val.y)
        if best is None or val < best[3]:
            best = (lam, w, b, val)
    return best


def _ridge_option(text):
    """``--ridge``: 'auto' or a finite penalty >= 0."""
    return "auto" if text == "auto" else T.NON_NEGATIVE_FLOAT(text)


OPTIONS = [
    *T.common_options("forecast", threads=1, monitor="validation RMSE"),
    T.Option("data", "seattle", choices=sorted(DATA_DEFAULTS),
             help="seattle (hourly temperatures) or sir (generated epidemic curves)"),
    T.Option("horizon", 1, T.POSITIVE_INT, "forecast the next N values (24 = a day)"),
    T.Option("window", None, T.int_option(2), "past values seen (default: 48; 24 for sir)"),
    T.Option("cell", "gru", help="recurrent cell", choices=sorted(CELLS)),
    T.Option("hidden", 32, T.POSITIVE_INT, "hidden state size"),
    T.Option("layers", 1, T.POSITIVE_INT, "stacked recurrent layers"),
    T.Option("epochs", 20, T.POSITIVE_INT, "training epochs"),
    T.Option("batch_size", 64, T.POSITIVE_INT, "windows per training batch"),
    T.Option("lr", 1e-3, T.POSITIVE_FLOAT, "Adam learning rate of the recurrent path"),
    T.Option("ar_lr", 0.0, T.NON_NEGATIVE_FLOAT, "learning rate of the linear path (0: keep its closed form)"),
    T.Option("ridge", "auto", _ridge_option, "the linear path's ridge penalty (>= 0), or auto (chosen on validation)"),
    T.Option("limit", None, T.POSITIVE_INT, "train on the first N windows only (quick check; default: all)"),
    T.Option("sir_curves", 200, T.int_option(10), "with --data sir: number of curves"),
    T.Option("sir_noise", 0.2, T.NON_NEGATIVE_FLOAT,
             "with --data sir: observation noise (standard deviation, in %% infected)"),
    T.Option("sir_length", 160, help="with data='sir': steps per curve", cli=False),
]


@T.takes_options(OPTIONS)
def train(o, *, series=None):
    """Train a :class:`Forecaster`; returns the metrics dict (test RMSE beside the baselines', times, ...).

    The keywords are :data:`OPTIONS` (``minigrad train forecast --help`` lists them), and ``series``:
    values that replace the downloaded temperatures.
    ``data``: 'seattle' (``mg.datasets.seattle_temps``: 8,759 hourly values,
    first 80% train, next 10% validation, last 10% test) or 'sir' (generated
    epidemic curves, ``sir_curves`` of ``sir_length`` steps, split by curve;
    the infected percentage is forecast).  ``horizon``: how many next values
    to forecast (24: the whole next day; RMSE over all of them, and of the
    last alone).  ``window``: past values seen (default 48 for seattle, 24
    for sir).  ``ridge``: the linear path's penalty, or 'auto' (chosen on
    validation from ``RIDGE_GRID``).  ``ar_lr``: learning rate of the linear
    path while the recurrent path trains (0: keep its closed form).  Adam,
    cosine-annealed ``lr``, MSE on standardised values, gradients clipped at
    norm 1; the best-validation epoch is kept (epoch 0: the linear path alone).  ``limit`` keeps the first N
    training windows.
    ``sir_noise``: Gaussian observation noise of the SIR curves, in % infected.
    Writes ``{out}/forecast_{data}_h{horizon}.npz`` (checkpoint, rewritten after every epoch with what
    ``resume``, the path of such a checkpoint, needs to continue the run), ``..._curves.png``
    and ``..._metrics.json``.
    """
    device, seed, data, horizon, cell, epochs = o.device, o.seed, o.data, o.horizon, o.cell, o.epochs
    T.check_device(device)
    run = P.Run(o.distributed, o.batch_size, seed)
    quiet = o.quiet or not run.is_main
    started = time.perf_counter()
    if data not in DATA_DEFAULTS:
        raise ValueError(f"forecast: data must be one of {sorted(DATA_DEFAULTS)}, got {data!r}")
    defaults = DATA_DEFAULTS[data]
    window = int(o.window or defaults["window"])
    config = {"task": "forecast", "data": data, "window": window, "horizon": int(horizon), "cell": cell,
              "hidden": int(o.hidden), "layers": int(o.layers), "epochs": int(epochs), "batch_size": int(o.batch_size),
              "lr": float(o.lr), "ar_lr": float(o.ar_lr), "seed": int(seed), "season": defaults["season"],
              "sir_curves": int(o.sir_curves), "sir_length": int(o.sir_length), "sir_noise": float(o.sir_noise)}
    mg.manual_seed(seed)
    split = load_data(config, series)
    if o.limit:
        split = split._replace(train=Windows(split.train.x[:o.limit], split.train.y[:o.limit]))
    unit = defaults["unit"]
    step_scale = split.step_std / split.std  # a typical one-step change, in standardised units
    lam, weight, bias, ar_val = choose_ridge(split, step_scale, o.ridge)
    xs_train = standardise(split, split.train.x)
    train_resid = linear_predict(weight, bias, xs_train) - standardise(split, split.train.y)
    config.update(mean=split.mean, std=split.std, step_scale=float(step_scale), ridge=float(lam),
                  residual_scale=float(np.sqrt(np.mean(train_resid ** 2))))

    model = build_model(config)
    with mg.no_grad():
        model.linear_ar.weight.data[...] = weight.astype(np.float32)
        model.linear_ar.bias.data[...] = bias.astype(np.float32)
    model.to(device)
    recurrent = [p for name, p in model.named_parameters() if not name.startswith("linear_ar")]
    groups = [{"params": recurrent}]
    if o.ar_lr > 0:
        groups.append({"params": list(model.linear_ar.parameters()), "lr": o.ar_lr})
    else:
        model.linear_ar.requires_grad_(False)
    optimizer = mg.optim.Adam(groups, lr=o.lr)
    scheduler = mg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    loader = mg.data.DataLoader(mg.data.TensorDataset(xs_train, standardise(split, split.train.y)),
                                batch_size=o.batch_size, shuffle=True)
    loader = run.shard(loader)  # distributed: this rank's rows of every batch
    train_model = run.wrap(model)  # distributed: DistributedDataParallel(model)

    history = T.History()
    T.output_dir(o.out)
    name = f"forecast_{data}_h{horizon}"
    val_rmse = rmse(predict(model, split.val.x, split, device), split.val.y)
    history.log(epoch=0, train_rmse=float(np.sqrt(np.mean(train_resid ** 2))) * split.std, val_rmse=val_rmse)
    if not quiet:
        print(f"forecast {data}: {len(split.train.x)} train / {len(split.val.x)} validation / {len(split.test.x)} "
              f"test windows of {window} steps, horizon {horizon}; {cell} hidden {o.hidden}; "
              f"{sum(p.numel() for p in model.parameters()):,} parameters; device {device}; seed {seed}", flush=True)
        print(f"linear path: ridge {lam:g} (chosen on validation), validation RMSE {ar_val:.4g} {unit}", flush=True)
        print(f"epoch  0: the linear path alone              validation RMSE {val_rmse:.4g} {unit}", flush=True)
    ckpt = os.path.join(o.out, f"{name}.npz")

    def batch_loss(batch):
        x, y = (t.to(device) for t in batch)
        return F.mse_loss(train_model(x), y), y.shape[0]

    def show(mean_squared):
        return {"rmse": float(np.sqrt(mean_squared)) * split.std}  # in original units

    def evaluate_epoch():
        return {"val_rmse": rmse(predict(model, split.val.x, split, device), split.val.y)}

    def describe(r, seconds, improved):
        return (f"epoch {r['epoch']:2d}: train RMSE {r['train_rmse']:.4g}  validation RMSE {r['val_rmse']:.4g} {unit}"
                f"{'  (best)' if improved else ''}  ({seconds:.1f}s)")

    def summarize(done):  # the model holds the best epoch's weights
        results = score_test_set(model, split, config, device)
        return {"data": data, "horizon": horizon, "window": window, "cell": cell, "hidden": o.hidden, "seed": seed,
                "epochs": epochs, "best_epoch": done.best_epoch, "best_val_rmse": done.score,
                "ridge": float(lam), "unit": unit, **results,
                "seconds_per_epoch": float(np.mean(done.epoch_times)) if done.epoch_times else 0.0,
                "seconds_total": time.perf_counter() - started, "checkpoint": ckpt, "curves": done.curves}

    # The epoch to beat is epoch 0, the linear path alone.
    done = T.fit(model, optimizer, loader, batch_loss, evaluate_epoch, task="forecast", config=config,
                 epochs=epochs, checkpoint=ckpt, train_model=train_model, scheduler=scheduler, clip=1.0, show=show,
                 train_record=lambda mse: {"train_rmse": show(mse)["rmse"]}, monitor="val_rmse", mode="min",
                 keep="best", best=(val_rmse, 0), patience=o.patience, history=history, resume=o.resume,
                 quiet=quiet, device=device, threads=o.threads, describe=describe,
                 curves=(os.path.join(o.out, f"{name}_curves.png"), f"forecast {data}, horizon {horizon}",
                         [["train_rmse", "val_rmse"]]),
                 metrics=(os.path.join(o.out, f"{name}_metrics.json"), summarize))
    metrics = done.metrics
    if not quiet:
        print(format_table(metrics, unit), flush=True)
        print(f"best validation epoch {done.best_epoch}; checkpoint {ckpt}"
              + (f"; curves {done.curves}" if done.curves else ""), flush=True)
    return metrics


def score_test_set(model, data, config, device="cpu"):
    """Test RMSE of the model, its linear path alone and the baselines (all steps, and the last step)."""
    target = data.test.y
    forecasts = dict(baseline_forecasts(data, "test", config.get("season")))
    xs = standardise(data, data.test.x)
    with mg.no_grad():
        linear = model.linear_ar(mg.tensor(xs, device=device)).cpu().numpy().astype(np.float64)
    forecasts[f"linear path alone (ridge {config['ridge']:g})"] = linear * data.std + data.mean
    forecasts[f"forecaster ({config['cell']})"] = predict(model, data.test.x, data, device)
    table = {k: rmse(v, target) for k, v in forecasts.items()}
    last = {k: rmse_last_step(v, target) for k, v in forecasts.items()}
    model_key = f"forecaster ({config['cell']})"
    baselines = [k for k in table if k in ("persistence", "seasonal naive", "linear AR (lstsq)")]
    return {"test_rmse": table[model_key], "test_rmse_last_step": last[model_key],
            "test_windows": int(target.shape[0]), "table": table, "table_last_step": last,
            "beats_all_baselines": all(table[model_key] < table[k] for k in baselines)}


def format_table(results, unit):
    """The printed comparison: RMSE over all horizon steps (and of the last step when the horizon is > 1)."""
    multi = results["table"] != results["table_last_step"]
    head = f"test RMSE ({unit}) on {results['test_windows']} windows"
    lines = [f"{head:<44s}{'all steps':>12s}" + (f"{'last step':>12s}" if multi else "")]
    for k, v in results["table"].items():
        lines.append(f"  {k:<42s}{v:>12.4g}" + (f"{results['table_last_step'][k]:>12.4g}" if multi else ""))
    return "\n".join(lines)


def load_model(checkpoint, device="cpu"):
    """(model, config) from a checkpoint written by :func:`train`."""
    model, state = T.load_model(checkpoint, "forecast", build_model, device)
    return model, state["config"]


def evaluate(checkpoint, device="cpu", series=None):
    """Reload a checkpoint written by :func:`train` and recompute its test table."""
    model, config = load_model(checkpoint, device)
    data = load_data(config, series)
    return {"config": config, **score_test_set(model, data, config, device)}


# ----------------------------------------------------------------------------- command line
def add_train_arguments(parser):
    """Options of ``minigrad train forecast``: :data:`OPTIONS`."""
    T.add_options(parser, OPTIONS)


def summary_models():
    """``minigrad summary forecast``: the default model (or a checkpoint's ``config``) on 2 windows."""
    def build(config=None):
        config = config or {"window": 48, "horizon": 1, "cell": "gru", "hidden": 32, "layers": 1,
                            "residual_scale": 1.0, "step_scale": 1.0}
        return build_model(config), (2, config["window"]), {}

    return {"forecast": build}


PREDICT_HELP = "forecast the next values of a series"


def add_predict_arguments(parser):
    """Options of ``minigrad predict forecast``."""
    parser.add_argument("values", nargs="+",
                        help="the latest values of the series, oldest first (at least the model's window; "
                             "- reads them from standard input, separated by spaces or lines)")


def _read_values(items, stdin=None):
    import sys  # noqa: PLC0415

    words = []
    for item in items:
        words.extend((stdin or sys.stdin).read().split() if item == "-" else item.replace(",", " ").split())
    try:
        values = np.array([float(w) for w in words], dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"predict forecast: expected numbers ({e})") from None
    if not np.all(np.isfinite(values)):
        raise ValueError("predict forecast: the values must be finite numbers")
    return values


def forecast(model, config, values, device="cpu"):
    """The next ``horizon`` values (original units) after the series ``values`` (1-D, at least ``window`` long)."""
    window = config["window"]
    if len(values) < window:
        raise ValueError(f"predict forecast: this model reads the last {window} values; got {len(values)}")
    stats = ForecastData(None, None, None, config["mean"], config["std"], None)
    return predict(model, np.asarray(values, dtype=np.float64)[-window:][None], stats, device)[0]


def predict_from_args(args):
    """``minigrad predict forecast --checkpoint P v1 v2 ...``: print the next values."""
    values = _read_values(args.values)
    model, config = load_model(args.checkpoint, args.device)
    out = forecast(model, config, values, args.device)
    unit = DATA_DEFAULTS.get(config.get("data"), {}).get("unit", "")
    print(" ".join(f"{v:.4g}" for v in out) + (f" {unit}" if unit else "")
          + f"  (the next {len(out)} value{'s' if len(out) > 1 else ''} after the last {config['window']} given)")
    return 0


def train_from_args(args):
    """``minigrad train forecast``: forward the options to :func:`train`."""
    train(**T.options_from_args(OPTIONS, args))
    return 0


def evaluate_from_args(args):
    """``minigrad eval forecast --checkpoint P``: print the test table."""
    result = evaluate(args.checkpoint, device=args.device)
    config = result["config"]
    print(f"forecast {config['data']}, horizon {config['horizon']}, window {config['window']}, "
          f"{config['cell']} hidden {config['hidden']}")
    print(format_table(result, DATA_DEFAULTS[config["data"]]["unit"]))
    return 0
