"""nn.utils.rnn: packed sequences in and out of the recurrent layers (PyTorch code that packs runs unchanged)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils.rnn import (
    PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence, pad_sequence,
)
from helpers import HAVE_TORCH, torch

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")
LENGTHS = [3, 6, 1, 4]


def _batch(batch_first, seed=0):
    x = np.random.default_rng(seed).normal(size=(4, 6, 3))
    return x if batch_first else np.swapaxes(x, 0, 1).copy()


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_packed_input_gives_the_same_result_as_lengths(kind, batch_first):
    mg.manual_seed(0)
    layer = getattr(nn, kind)(3, 5, num_layers=2, bidirectional=True, batch_first=batch_first).double()
    x = mg.tensor(_batch(batch_first))
    out, state = layer(pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False))
    assert isinstance(out, PackedSequence)
    padded, lengths = pad_packed_sequence(out, batch_first=batch_first, total_length=6)
    ref_out, ref_state = layer(x, lengths=LENGTHS)
    np.testing.assert_allclose(padded.data, ref_out.data, rtol=1e-12, atol=1e-14)
    for a, b in zip(state if kind == "LSTM" else [state], ref_state if kind == "LSTM" else [ref_state]):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-14)
    assert lengths.tolist() == LENGTHS and lengths.dtype == mg.int64


def test_pack_then_pad_round_trip_zeroes_the_padding_and_gradients_flow():
    x = mg.tensor(_batch(True), requires_grad=True)
    packed = pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False)
    assert packed.data.shape == (sum(LENGTHS), 3) and packed.batch_sizes.tolist() == [4, 3, 3, 2, 1, 1]
    padded, _ = pad_packed_sequence(packed, batch_first=True, padding_value=-7.0)
    assert (padded.data[2, 1:] == -7.0).all()  # sequence 2 has one real step
    np.testing.assert_array_equal(padded.data[1], x.data[1])
    padded.sum().backward()
    expected = (np.arange(6)[None, :] < np.array(LENGTHS)[:, None]).astype(float)[..., None] * np.ones(3)
    np.testing.assert_array_equal(x.grad.data, expected)


def test_gradcheck_through_packing():
    x = mg.tensor(_batch(False)[:, :, :2], requires_grad=True)

    def f(x):
        padded, _ = pad_packed_sequence(pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
        return padded * padded

    assert mg.autograd.gradcheck(f, x)


def test_pack_sequence_and_pad_sequence():
    seqs = [mg.ones(4, 2), mg.ones(2, 2) * 2, mg.ones(1, 2) * 3]
    padded = pad_sequence(seqs, batch_first=True, padding_value=-1.0)
    assert padded.shape == (3, 4, 2) and padded.data[2, 1:].tolist() == [[-1.0, -1.0]] * 3
    packed = pack_sequence(seqs)
    assert packed.sorted_indices is None and packed.batch_sizes.tolist() == [3, 2, 1, 1]


def test_packing_errors_are_clear():
    x = mg.randn(5, 3, 2)
    with pytest.raises(ValueError, match="decreasing order"):
        pack_padded_sequence(x, [2, 5, 1])
    with pytest.raises(ValueError, match=r"between 1 and the padded length 5.*\[6, 5, 1\]"):
        pack_padded_sequence(x, [6, 5, 1])
    with pytest.raises(ValueError, match="2 lengths for a batch of 3"):
        pack_padded_sequence(x, [5, 1])
    with pytest.raises(ValueError, match="total_length=2"):
        pad_packed_sequence(pack_padded_sequence(x, [5, 3, 1]), total_length=2)
    with pytest.raises(ValueError, match=r"sequence 1 is \(2, 3\)"):
        pad_sequence([mg.ones(2, 2), mg.ones(2, 3)])
    with pytest.raises(ValueError, match="carries its lengths"):
        nn.GRU(2, 3)(pack_padded_sequence(x, [5, 3, 1]), lengths=[5, 3, 1])


@needs_torch
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_packed_lstm_matches_pytorch_outputs_states_and_gradients(enforce_sorted):
    lengths = LENGTHS if not enforce_sorted else sorted(LENGTHS, reverse=True)
    t_layer = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True).double()
    layer = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True).double()
    layer.load_state_dict({k: v.detach().numpy() for k, v in t_layer.state_dict().items()})
    x_np = _batch(True, seed=1)
    x, tx = mg.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    h0_np = np.random.default_rng(2).normal(size=(4, 4, 5))
    h0, th0 = mg.tensor(h0_np), torch.tensor(h0_np)
    out, (h, c) = layer(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=enforce_sorted), (h0, h0))
    t_out, (th, tc) = t_layer(torch.nn.utils.rnn.pack_padded_sequence(
        tx, lengths, batch_first=True, enforce_sorted=enforce_sorted), (th0, th0))
    for ours, theirs in ((out.data, t_out.data), (h, th), (c, tc)):
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert out.batch_sizes.tolist() == t_out.batch_sizes.tolist()
    g = np.random.default_rng(3).normal(size=out.data.shape)
    ((out.data * mg.tensor(g)).sum() + h.sum()).backward()
    ((t_out.data * torch.tensor(g)).sum() + th.sum()).backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in dict(t_layer.named_parameters()).items():
        np.testing.assert_allclose(getattr(layer, name).grad.data, p.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
