"""No accidental float64 upcasts: every layer keeps float32 outputs, input gradients and parameter gradients."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

F = nn.functional


def _tokens(shape, vocab=7):
    return mg.randint(0, vocab, shape)


# (name, layer factory, input factory); inputs that are float get requires_grad
LAYERS = [
    ("Linear", lambda: nn.Linear(5, 3), lambda: mg.randn(4, 5)),
    ("Conv2d", lambda: nn.Conv2d(2, 3, 3, padding=1, stride=2), lambda: mg.randn(2, 2, 6, 6)),
    ("Conv2d-groups", lambda: nn.Conv2d(4, 4, 3, groups=2, dilation=2), lambda: mg.randn(1, 4, 7, 7)),
    ("Conv1d", lambda: nn.Conv1d(2, 3, 3), lambda: mg.randn(2, 2, 8)),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(2, 3, 3, stride=2), lambda: mg.randn(1, 2, 4, 4)),
    ("MaxPool2d", lambda: nn.MaxPool2d(2), lambda: mg.randn(2, 3, 6, 6)),
    ("AvgPool2d", lambda: nn.AvgPool2d(3, stride=2, padding=1), lambda: mg.randn(2, 3, 6, 6)),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(5), lambda: mg.randn(4, 5)),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3), lambda: mg.randn(2, 3, 4, 4)),
    ("LayerNorm", lambda: nn.LayerNorm(5), lambda: mg.randn(4, 5)),
    ("Embedding", lambda: nn.Embedding(7, 4, padding_idx=0), lambda: _tokens((3, 5))),
    ("Dropout", lambda: nn.Dropout(0.3), lambda: mg.randn(4, 5)),
    ("Flatten", lambda: nn.Flatten(), lambda: mg.randn(2, 3, 4)),
    ("ReLU", lambda: nn.ReLU(), lambda: mg.randn(4, 5)),
    ("Tanh", lambda: nn.Tanh(), lambda: mg.randn(4, 5)),
    ("Sigmoid", lambda: nn.Sigmoid(), lambda: mg.randn(4, 5)),
    ("GELU", lambda: nn.GELU(), lambda: mg.randn(4, 5)),
    ("Softmax", lambda: nn.Softmax(dim=1), lambda: mg.randn(4, 5)),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=1), lambda: mg.randn(4, 5)),
    ("RNNCell", lambda: nn.RNNCell(3, 4), lambda: mg.randn(2, 3)),
    ("GRUCell", lambda: nn.GRUCell(3, 4), lambda: mg.randn(2, 3)),
    ("LSTMCell", lambda: nn.LSTMCell(3, 4), lambda: mg.randn(2, 3)),
    ("RNN", lambda: nn.RNN(3, 4, num_layers=2, bidirectional=True), lambda: mg.randn(5, 2, 3)),
    ("GRU", lambda: nn.GRU(3, 4, batch_first=True), lambda: mg.randn(2, 5, 3)),
    ("GRU-textbook", lambda: nn.GRU(3, 4, reset_after=False), lambda: mg.randn(5, 2, 3)),
    ("LSTM", lambda: nn.LSTM(3, 4, num_layers=2), lambda: mg.randn(5, 2, 3)),
]


def _first_tensor(out):
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


@pytest.mark.parametrize("name,make_layer,make_input", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_layer_keeps_float32(name, make_layer, make_input):
    layer = make_layer()
    x = make_input()
    if x.dtype.kind == "f":
        assert x.dtype == np.float32
        x.requires_grad_()
    for p in layer.parameters():
        assert p.dtype == np.float32, f"{name}: parameter of dtype {p.dtype}"
    out = _first_tensor(layer(x))
    assert out.dtype == np.float32, f"{name}: output {out.dtype}"
    (out * out).sum().backward()
    if x.requires_grad:
        assert x.grad is not None and x.grad.dtype == np.float32, f"{name}: input gradient {x.grad.dtype}"
    for pname, p in layer.named_parameters():
        assert p.grad is not None and p.grad.dtype == np.float32, f"{name}.{pname}: gradient dtype"
    for bname, b in layer.named_buffers():
        if b.dtype.kind == "f":
            assert b.dtype == np.float32, f"{name}.{bname}: buffer {b.dtype}"


LOSSES = [
    ("cross_entropy", lambda x: F.cross_entropy(x, mg.tensor([0, 2, 1, 4]), label_smoothing=0.1)),
    ("nll_loss", lambda x: F.nll_loss(x.log_softmax(1), mg.tensor([0, 2, 1, 4]))),
    ("mse_loss", lambda x: F.mse_loss(x, mg.zeros(4, 5))),
    ("l1_loss", lambda x: F.l1_loss(x, mg.zeros(4, 5))),
    ("bce_with_logits", lambda x: F.binary_cross_entropy_with_logits(x, mg.rand(4, 5))),
]


@pytest.mark.parametrize("name,loss_fn", LOSSES, ids=[n for n, _ in LOSSES])
def test_loss_keeps_float32(name, loss_fn):
    x = mg.randn(4, 5, requires_grad=True)
    loss = loss_fn(x)
    assert loss.dtype == np.float32, f"{name}: loss {loss.dtype}"
    loss.backward()
    assert x.grad.dtype == np.float32


def test_optimizers_keep_float32():
    for make in (lambda p: mg.optim.SGD(p, lr=0.1, momentum=0.9), lambda p: mg.optim.Adam(p),
                 lambda p: mg.optim.AdamW(p), lambda p: mg.optim.RMSprop(p, centered=True),
                 lambda p: mg.optim.Adagrad(p)):
        layer = nn.Linear(3, 2)
        opt = make(layer.parameters())
        layer(mg.randn(4, 3)).sum().backward()
        opt.step()
        for p in layer.parameters():
            assert p.dtype == np.float32
