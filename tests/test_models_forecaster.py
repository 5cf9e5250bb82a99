"""The forecaster (models/forecaster.py): closed-form linear path, baselines, splits, training, checkpoints, CLI.

Everything runs on small generated series; the real temperatures are only
read when they are already in the data cache (never fetched here).
"""
import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.nn import functional as F
from minigrad_models import forecaster as Fc


def daily_series(length=700, seed=0):
    """A smooth hourly-like series: daily cycle, slow drift, a little noise, rounded to 0.1 (float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    values = 50 + 0.01 * t + 6 * np.sin(2 * np.pi * t / 24) + 2 * np.sin(2 * np.pi * t / 12 + 1)
    return np.round(values + 0.05 * rng.standard_normal(length), 1).astype(np.float32)


# ----------------------------------------------------------------------------- the linear path's closed form
@given(st.integers(2, 8), st.integers(1, 3), st.integers(0, 10_000))
def test_fit_linear_ar_without_ridge_is_least_squares(window, horizon, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((60, window))
    y = x @ rng.standard_normal((window, horizon)) + 0.1 * rng.standard_normal((60, horizon)) + 0.5
    weight, bias = Fc.fit_linear_ar(x, y, ridge=0.0, step_scale=0.7)
    coef, *_ = np.linalg.lstsq(np.c_[x, np.ones(60)], y, rcond=None)
    assert weight.shape == (horizon, window) and bias.shape == (horizon,)
    np.testing.assert_allclose(weight, coef[:-1].T, atol=1e-8)
    np.testing.assert_allclose(bias, coef[-1], atol=1e-8)


def test_fit_linear_ar_ridge_shrinks_toward_the_last_value():
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.standard_normal((200, 6)), axis=1)
    y = x[:, -1:] + 0.3 * (x[:, -1:] - x[:, -2:-1]) + 0.01 * rng.standard_normal((200, 1))
    free, _ = Fc.fit_linear_ar(x, y, ridge=0.0)
    shrunk, shrunk_bias = Fc.fit_linear_ar(x, y, ridge=1e9)
    # without the penalty the momentum term is found; with a huge one only the last value's weight is left
    assert free[0, -2] == pytest.approx(-0.3, abs=0.02)
    np.testing.assert_allclose(shrunk[0, :-1], 0.0, atol=1e-5)
    only_last, *_ = np.linalg.lstsq(np.c_[x[:, -1], np.ones(200)], y, rcond=None)  # y ~ a x_last + b
    assert shrunk[0, -1] == pytest.approx(only_last[0, 0], rel=1e-4)
    assert shrunk_bias[0] == pytest.approx(only_last[1, 0], rel=1e-4, abs=1e-6)


# ----------------------------------------------------------------------------- splits and baselines
@pytest.mark.parametrize("horizon", [1, 5])
def test_split_series_puts_every_target_in_its_own_split(horizon):
    series = np.arange(200, dtype=np.float32)
    data = Fc.split_series(series, window=10, horizon=horizon)
    train_end, val_end = 160, 180
    first = lambda w: w.y[:, 0]  # noqa: E731 - the series is its own index
    last = lambda w: w.y[:, -1]  # noqa: E731
    assert last(data.train).max() < train_end
    assert first(data.val).min() >= train_end and last(data.val).max() < val_end
    assert first(data.test).min() >= val_end and last(data.test).max() == 199
    # every test step is a first target exactly once; the inputs precede their targets
    assert len(data.test.y) == 200 - val_end - horizon + 1
    np.testing.assert_array_equal(data.test.x[:, -1] + 1, data.test.y[:, 0])
    assert data.mean == pytest.approx(np.arange(train_end).mean())


def test_seasonal_index_looks_back_whole_seasons():
    # window 48, season 24: target k (1-based) -> position 47 + k - 24 * ceil(k / 24)
    np.testing.assert_array_equal(Fc.seasonal_index(48, 3, 24), [24, 25, 26])
    idx = Fc.seasonal_index(48, 30, 24)
    assert idx[23] == 47 and idx[24] == 24 and idx[29] == 29


def test_baselines_are_exact_where_they_should_be():
    t = np.arange(400, dtype=np.float64)
    periodic = Fc.split_series(np.sin(2 * np.pi * t / 24), 48, 3)
    trend = Fc.split_series(2.0 * t + 1.0, 48, 3)
    p = Fc.baseline_forecasts(periodic, "test", season=24)
    assert Fc.rmse(p["seasonal naive"], periodic.test.y) < 1e-12
    assert Fc.rmse(p["persistence"], periodic.test.y) > 0.1
    q = Fc.baseline_forecasts(trend, "test", season=24)
    assert Fc.rmse(q["linear AR (lstsq)"], trend.test.y) < 1e-6
    assert Fc.rmse(q["persistence"], trend.test.y) == pytest.approx(np.sqrt((4 + 16 + 36) / 3))
    assert Fc.rmse_last_step(q["persistence"], trend.test.y) == pytest.approx(6.0)
    assert "seasonal naive" not in Fc.baseline_forecasts(trend, "test", season=None)


def test_baselines_reproduce_the_issue_numbers_when_the_data_is_cached():
    if not (mg.datasets.data_root() / "seattle-temps.csv").exists():
        pytest.skip("seattle-temps.csv is not in the data cache (never fetched by tests)")
    data = Fc.split_series(mg.datasets.seattle_temps().values, 48, 1)
    scores = {k: Fc.rmse(v, data.test.y) for k, v in Fc.baseline_forecasts(data, "test", 24).items()}
    assert len(data.test.y) == 876
    assert round(scores["persistence"], 3) == 0.553
    assert round(scores["seasonal naive"], 3) == 0.147
    assert round(scores["linear AR (lstsq)"], 3) == 0.055


# ----------------------------------------------------------------------------- the model
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_forecaster_shapes_dtype_and_linear_start(cell):
    mg.manual_seed(0)
    model = Fc.Forecaster(window=12, horizon=3, cell=cell, hidden_size=8, residual_scale=0.1, step_scale=0.5)
    x = mg.randn(5, 12)
    y = model(x)
    assert y.shape == (5, 3) and y.dtype == mg.float32
    # the head starts at zero: the untrained model is the linear path
    np.testing.assert_allclose(y.detach().numpy(), model.linear_ar(x).detach().numpy(), rtol=1e-6)
    assert model.recurrent_inputs(x).shape == (5, 12, 2)
    with pytest.raises(ValueError, match=r"\(batch, 12\).*\(5, 11\)"):
        model(mg.randn(5, 11))


def test_forecaster_loss_falls_on_a_nonlinear_target():
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 8)).astype(np.float32)
    y = (np.abs(x[:, -1:]) + x[:, -2:-1] ** 2 * 0.5).astype(np.float32)  # nothing linear about it
    model = Fc.Forecaster(window=8, horizon=1, hidden_size=16, residual_scale=1.0)
    optimizer = mg.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = mg.tensor(x), mg.tensor(y)
    losses = []
    for _ in range(40):
        loss = F.mse_loss(model(xt), yt)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ----------------------------------------------------------------------------- training, checkpoints, command line
def test_train_keeps_the_best_validation_model_and_round_trips(tmp_path):
    series = daily_series()
    metrics = Fc.train(series=series, window=24, horizon=2, hidden=8, epochs=2, batch_size=64, out=str(tmp_path),
                       quiet=True)
    assert set(metrics["table"]) >= {"persistence", "seasonal naive", "linear AR (lstsq)", "forecaster (gru)"}
    assert metrics["test_windows"] == len(Fc.split_series(series, 24, 2).test.y)
    assert metrics["best_epoch"] in (0, 1, 2)
    assert metrics["test_rmse"] < metrics["table"]["persistence"]
    state = mg.load(metrics["checkpoint"])
    records = state["history"]["records"]
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert metrics["best_val_rmse"] == pytest.approx(min(r["val_rmse"] for r in records))
    # reloading gives the same forecasts and the same test table
    again = Fc.evaluate(metrics["checkpoint"], series=series)
    assert again["table"] == metrics["table"]
    saved = json.loads((tmp_path / "forecast_seattle_h2_metrics.json").read_text())
    assert saved["test_rmse"] == metrics["test_rmse"]


def test_checkpoint_round_trip_gives_identical_forecasts(tmp_path):
    from minigrad_models import training as T

    mg.manual_seed(1)
    config = {"window": 16, "horizon": 4, "cell": "lstm", "hidden": 8, "layers": 2, "residual_scale": 0.3,
              "step_scale": 0.2}
    model = Fc.build_model(config)
    with mg.no_grad():  # a head that is not zero, so the recurrent path matters
        model.head.weight.data[...] = mg.randn(4, 8).numpy()
    path = T.save_checkpoint(str(tmp_path / "f.npz"), model, config)
    reloaded, saved_config = Fc.load_model(path)
    assert saved_config == config
    x = mg.randn(6, 16)
    expected = model(x).detach().numpy()
    np.testing.assert_array_equal(reloaded(x).detach().numpy(), expected)
    assert np.abs(expected - model.linear_ar(x).detach().numpy()).max() > 1e-3


def test_cli_train_and_eval_forecast(tmp_path, monkeypatch, capsys):
    from minigrad import cli

    series = daily_series(600, seed=3)
    fake = mg.datasets.TimeSeries(np.arange(len(series)).astype("datetime64[h]"), series)
    monkeypatch.setattr(mg.datasets, "seattle_temps", lambda root=None: fake)
    out = tmp_path / "run"
    assert cli.main(["train", "forecast", "--epochs", "1", "--hidden", "8", "--window", "24", "--horizon", "24",
                     "--limit", "200", "--out", str(out), "--quiet"]) == 0
    ckpt = out / "forecast_seattle_h24.npz"
    assert ckpt.exists() and (out / "forecast_seattle_h24_metrics.json").exists()
    metrics = json.loads((out / "forecast_seattle_h24_metrics.json").read_text())
    assert metrics["horizon"] == 24 and metrics["test_rmse"] > 0
    assert cli.main(["eval", "forecast", "--checkpoint", str(ckpt)]) == 0
    printed = capsys.readouterr().out
    assert "seasonal naive" in printed and "last step" in printed and "forecaster (gru)" in printed


def test_sir_demo_runs_on_generated_curves(tmp_path):
    metrics = Fc.train(data="sir", sir_curves=20, sir_length=50, window=10, horizon=3, hidden=8, epochs=1,
                       out=str(tmp_path), quiet=True)
    assert metrics["data"] == "sir" and "seasonal naive" not in metrics["table"]
    assert metrics["test_windows"] == 2 * (50 - 10 - 3 + 1)  # 2 of the 20 curves are held out for testing
    assert np.isfinite(metrics["test_rmse"])
    assert os.path.exists(metrics["checkpoint"])
