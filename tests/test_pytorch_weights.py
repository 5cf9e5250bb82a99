"""Weights travel PyTorch -> minigrad -> PyTorch through a plain .npz (docs/06), checked against PyTorch."""
import os
import re

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _py_blocks():
    with open(os.path.join(ROOT, "docs", "06-real-data.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## Weights from PyTorch, and back"):]
    return re.findall(r"```py\n(.*?)```", section, re.S)


def test_the_guides_round_trip_runs_against_pytorch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    to_minigrad, back_to_torch = _py_blocks()
    scope = {}
    exec(to_minigrad, scope)  # the guide's PyTorch side: writes weights.npz
    model = mg.nn.Sequential(mg.nn.Linear(3, 4), mg.nn.Tanh(), mg.nn.Linear(4, 2))
    model.load_state_dict(mg.load("weights.npz"))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    expected = scope["torch_model"](torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model(mg.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)

    with mg.no_grad():  # change the weights in minigrad, then send them back
        for p in model.parameters():
            p.mul_(0.5)
    np.savez("back.npz", **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    exec(back_to_torch, scope)
    np.testing.assert_allclose(scope["torch_model"](torch.from_numpy(x)).detach().numpy(),
                               model(mg.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_recurrent_weights_from_pytorch_give_the_same_outputs(tmp_path, cls):
    torch.manual_seed(0)
    t_layer = getattr(torch.nn, cls)(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    path = tmp_path / "rnn.npz"
    np.savez(path, **{k: v.detach().numpy() for k, v in t_layer.state_dict().items()})
    layer = getattr(mg.nn, cls)(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    layer.load_state_dict(mg.load(path))
    x = np.random.default_rng(1).standard_normal((2, 6, 3)).astype(np.float32)
    out, _ = layer(mg.tensor(x))
    t_out, _ = t_layer(torch.from_numpy(x))
    np.testing.assert_allclose(out.detach().numpy(), t_out.detach().numpy(), rtol=1e-4, atol=1e-5)
