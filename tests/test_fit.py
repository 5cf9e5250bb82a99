"""The one epoch loop of every trainer (``minigrad_models.training.fit``) and the option tables that declare
each trainer's options once (parser, ``train`` keywords, ``*_from_args``)."""
import argparse
import inspect
import json

import numpy as np
import pytest

import minigrad as mg
from minigrad import cli
from minigrad_models import forecaster, language_model, lenet, sentiment, seq2seq
from minigrad_models import training as T

MODULES = {"lenet": lenet, "sentiment": sentiment, "charlm": language_model, "forecast": forecaster,
           "seq2seq": seq2seq}


def _toy(tmp_path, scores, **kwargs):
    """fit on a linear model whose 'evaluation' returns the next of ``scores`` each epoch."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    mg.manual_seed(0)
    model = mg.nn.Linear(3, 1)
    opt = mg.optim.SGD(model.parameters(), lr=0.01)
    x = mg.randn(8, 3)
    batches = [(x[:4], x[:4].sum(1, keepdim=True)), (x[4:], x[4:].sum(1, keepdim=True))]
    it = iter(scores)

    def step(batch):
        return mg.nn.functional.mse_loss(model(batch[0]), batch[1]), 4

    done = T.fit(model, opt, batches, step, lambda: {"score": next(it)}, task="toy", config={"task": "toy"},
                 epochs=kwargs.pop("epochs", len(scores)), checkpoint=str(tmp_path / "toy.npz"), quiet=True, **kwargs)
    return done, model


def test_early_stopping_after_patience_epochs_without_improvement(tmp_path):
    done, _ = _toy(tmp_path, [0.5, 0.6, 0.55, 0.58, 0.9, 1.0], monitor="score", patience=2)
    assert [r["epoch"] for r in done.history.records] == [1, 2, 3, 4]
    assert done.stopped_early and done.best_epoch == 2 and done.score == 0.6


def test_patience_zero_never_stops_and_min_mode(tmp_path):
    summary = (str(tmp_path / "m.json"), lambda fit: {"best": fit.score, "epochs": len(fit.history.records)})
    done, _ = _toy(tmp_path, [3.0, 2.0, 2.5, 2.6, 2.7], monitor="score", mode="min", metrics=summary)
    assert len(done.history.records) == 5 and not done.stopped_early
    assert done.best_epoch == 2 and done.score == 2.0
    assert mg.load(str(tmp_path / "toy.npz"))["extra"]["best_epoch"] == 2
    with open(tmp_path / "m.json") as f:
        assert json.load(f) == done.metrics == {"best": 2.0, "epochs": 5}


def test_keep_best_checkpoints_and_returns_the_best_epochs_weights(tmp_path):
    weights = []

    def remember():
        weights.append({k: v.detach().clone() for k, v in model_ref[0].state_dict().items()})
        return {"score": [0.2, 0.9, 0.1][len(weights) - 1]}

    model_ref = []
    mg.manual_seed(0)
    model = mg.nn.Linear(3, 1)
    model_ref.append(model)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    x = mg.randn(8, 3)
    step = lambda b: (mg.nn.functional.mse_loss(model(b), b.sum(1, keepdim=True)), 8)  # noqa: E731
    T.fit(model, opt, [x], step, remember, task="toy", config={"task": "toy"}, epochs=3, monitor="score",
          keep="best", checkpoint=str(tmp_path / "b.npz"), quiet=True)
    saved = mg.load(str(tmp_path / "b.npz"))
    for k, v in weights[1].items():  # epoch 2 scored best
        np.testing.assert_array_equal(saved["model"][k].numpy(), v.numpy())
        np.testing.assert_array_equal(model.state_dict()[k].numpy(), v.numpy())
    # the live (last) weights travel in the training state
    assert not np.array_equal(saved["resume"]["model"]["weight"].numpy(), weights[1]["weight"].numpy())


def test_non_finite_loss_stops_and_keeps_the_previous_checkpoint(tmp_path):
    mg.manual_seed(0)
    model = mg.nn.Linear(2, 1)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    calls = []

    def step(batch):
        calls.append(1)
        value = float("nan") if len(calls) == 2 else 1.0
        return model(mg.tensor([[value, 1.0]])).sum(), 1

    ckpt = tmp_path / "n.npz"
    with pytest.raises(T.NonFiniteLossError):
        T.fit(model, opt, [0], step, lambda: {}, task="toy", config={"task": "toy"}, epochs=3, checkpoint=str(ckpt),
              quiet=True)
    assert mg.load(str(ckpt))["resume"]["epoch"] == 1


@pytest.mark.parametrize("task", list(MODULES))
def test_each_option_is_declared_once_and_drives_parser_and_train(task):
    module = MODULES[task]
    names = [o.name for o in module.OPTIONS]
    assert len(names) == len(set(names))
    params = inspect.signature(module.train).parameters
    assert {o.name for o in module.OPTIONS} <= set(params)  # every option is a keyword of train
    parser = argparse.ArgumentParser()
    module.add_train_arguments(parser)
    defaults = vars(parser.parse_args([]))
    cli_options = [o for o in module.OPTIONS if o.cli]
    assert set(defaults) == {o.name for o in cli_options}
    for option in cli_options:  # the parser's default is the train keyword's default
        assert defaults[option.name] == option.default, option.name
    assert T.options_from_args(module.OPTIONS, parser.parse_args([])) == {o.name: o.default for o in cli_options}
    with pytest.raises(TypeError, match="unexpected keyword argument 'no_such_option'"):
        module.train(no_such_option=1)


def test_negated_switches_set_their_keyword(capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["train", "seq2seq", "--unidirectional", "--train-size", "7"])
    assert T.options_from_args(seq2seq.OPTIONS, args)["bidirectional"] is False
    assert T.options_from_args(seq2seq.OPTIONS, args)["n_train"] == 7
    args = parser.parse_args(["train", "sentiment", "--no-glove", "--layers", "2"])
    kwargs = T.options_from_args(sentiment.OPTIONS, args)
    assert kwargs["glove"] is False and kwargs["num_layers"] == 2 and kwargs["patience"] == 4


def test_every_task_has_patience_off_by_default_except_sentiment(capsys):
    for task, module in MODULES.items():
        default = {o.name: o.default for o in module.OPTIONS}["patience"]
        assert default == (4 if task == "sentiment" else 0), task


def test_load_model_refuses_another_tasks_checkpoint(tmp_path):
    net = lenet.LeNet5()
    T.save_checkpoint(str(tmp_path / "l.npz"), net, {"task": "lenet", "model": "lenet5"})
    model, state = T.load_model(str(tmp_path / "l.npz"), "lenet", lenet.build_model)
    assert isinstance(model, lenet.LeNet5) and state["task"] == "lenet"
    with pytest.raises(T.CheckpointMismatchError, match="lenet checkpoint .*not a seq2seq one"):
        T.load_model(str(tmp_path / "l.npz"), "seq2seq", seq2seq.build_model)
    with pytest.raises(T.CheckpointMismatchError, match="holds a LeNet5, not the LeNet1989"):
        T.load_model(str(tmp_path / "l.npz"), "lenet", lambda config: lenet.LeNet1989())


def test_resume_carries_the_early_stopping_count(tmp_path, monkeypatch):
    scores = [0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    straight, _ = _toy(tmp_path / "a", scores, monitor="score", patience=3)
    assert [r["epoch"] for r in straight.history.records] == [1, 2, 3, 4]

    real, calls = T.train_epoch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(T, "train_epoch", interrupted)
    with pytest.raises(T.TrainingInterrupted, match="interrupted during epoch 3"):
        _toy(tmp_path / "b", scores, monitor="score", patience=3)
    monkeypatch.setattr(T, "train_epoch", real)
    ckpt = tmp_path / "b" / "toy.npz"
    resumed, _ = _toy(tmp_path / "b", scores[2:], monitor="score", patience=3, resume=str(ckpt),
                      epochs=len(scores))
    assert resumed.stopped_early and resumed.history.records == straight.history.records
