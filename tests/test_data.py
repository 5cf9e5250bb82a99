"""minigrad.data: datasets, DataLoader and collation, vocabularies, padding, LM batches, sliding windows."""
import collections
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.data import (
    CharVocab, ConcatDataset, DataLoader, Dataset, PadCollate, Subset, TensorDataset, Vocab, basic_tokenize,
    default_collate, lm_batches, pad_sequences, random_split, sliding_windows,
)


def _dataset(n=10, features=3):
    x = np.arange(n * features, dtype=np.float32).reshape(n, features)
    y = np.arange(n, dtype=np.int64) * 10
    return TensorDataset(x, y)


class ListDataset(Dataset):
    """A dataset with no get_batch: the DataLoader takes the per-item path."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


# ----------------------------------------------------------------------------- datasets
def test_tensor_dataset_items_and_length():
    ds = _dataset()
    assert len(ds) == 10
    x, y = ds[3]
    assert isinstance(x, mg.Tensor) and isinstance(y, mg.Tensor)
    np.testing.assert_array_equal(x.numpy(), [9, 10, 11])
    assert y.item() == 30 and y.dtype == np.int64
    np.testing.assert_array_equal(ds[-1][0].numpy(), [27, 28, 29])
    with pytest.raises(IndexError, match="out of range for a dataset of length 10"):
        ds[10]


def test_tensor_dataset_accepts_tensors_and_lists():
    ds = TensorDataset(mg.randn(4, 2), [0.5, 1.5, 2.5, 3.5], [1, 2, 3, 4])
    x, f, i = ds[1]
    assert x.shape == (2,) and f.dtype == np.float32 and i.dtype == np.int64
    assert f.item() == 1.5


def test_tensor_dataset_size_mismatch_names_sizes():
    with pytest.raises(ValueError, match=r"sizes \[5, 4\].*\(5, 2\), \(4,\)"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))


def test_subset_concat_and_random_split():
    ds = _dataset(10)
    sub = Subset(ds, [7, 2, -1])
    assert len(sub) == 3
    assert [sub[k][1].item() for k in range(3)] == [70, 20, 90]
    both = ds + sub
    assert isinstance(both, ConcatDataset) and len(both) == 13 and both[11][1].item() == 20

    mg.manual_seed(3)
    a, b = random_split(ds, [7, 3])
    assert len(a) == 7 and len(b) == 3
    assert sorted(np.concatenate([a.indices, b.indices]).tolist()) == list(range(10))
    mg.manual_seed(3)
    a2, _ = random_split(ds, [7, 3])
    np.testing.assert_array_equal(a.indices, a2.indices)
    sizes = [len(s) for s in random_split(ds, [0.5, 0.3, 0.2], generator=1)]
    assert sizes == [5, 3, 2]
    assert [len(s) for s in random_split(_dataset(11), [0.5, 0.5], generator=1)] == [6, 5]
    with pytest.raises(ValueError, match="sum to 9, but the dataset has 10"):
        random_split(ds, [6, 3])


# ----------------------------------------------------------------------------- DataLoader
@given(n=st.integers(0, 23), batch_size=st.integers(1, 8), drop_last=st.booleans(), shuffle=st.booleans())
def test_loader_batches_cover_the_dataset(n, batch_size, drop_last, shuffle):
    ds = _dataset(n) if n else TensorDataset(np.zeros((0, 3), np.float32), np.zeros(0, np.int64))
    loader = DataLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, generator=0)
    batches = list(loader)
    assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    for k, (x, y) in enumerate(batches):
        full = k < n // batch_size
        assert x.shape == ((batch_size if full else n % batch_size), 3)
        assert x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x.numpy()[:, 0] // 3 * 10, y.numpy())  # rows stay paired
    seen = np.concatenate([y.numpy() for _, y in batches]) // 10 if batches else np.zeros(0)
    if drop_last:
        assert len(seen) == n - n % batch_size
    else:
        assert sorted(seen.tolist()) == list(range(n))
    if not shuffle:
        assert seen.tolist() == list(range(len(seen)))


def test_loader_shuffle_is_a_reproducible_permutation():
    ds = _dataset(50)

    def epoch(loader):
        return np.concatenate([y.numpy() for _, y in loader]) // 10

    mg.manual_seed(7)
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    first, second = epoch(loader), epoch(loader)
    assert sorted(first.tolist()) == list(range(50))
    assert not np.array_equal(first, np.arange(50))
    assert not np.array_equal(first, second)  # a new order each epoch
    mg.manual_seed(7)
    again = DataLoader(ds, batch_size=8, shuffle=True)
    np.testing.assert_array_equal(epoch(again), first)
    np.testing.assert_array_equal(epoch(again), second)
    seeded = [epoch(DataLoader(ds, batch_size=8, shuffle=True, generator=np.random.default_rng(5)))
              for _ in range(2)]
    np.testing.assert_array_equal(*seeded)


def test_fast_path_matches_per_item_collate():
    ds = _dataset(17)
    sub = random_split(ds, [12, 5], generator=2)[0]
    for dataset in (ds, sub):
        fast = list(DataLoader(dataset, batch_size=5, shuffle=True, generator=4))
        slow = list(DataLoader(dataset, batch_size=5, shuffle=True, generator=4, collate_fn=default_collate))
        assert len(fast) == len(slow)
        for (xf, yf), (xs, ys) in zip(fast, slow):
            np.testing.assert_array_equal(xf.numpy(), xs.numpy())
            np.testing.assert_array_equal(yf.numpy(), ys.numpy())


def test_default_collate_structures():
    Pair = collections.namedtuple("Pair", "image label")
    batch = default_collate([Pair(np.ones((2, 2), np.float32), 1), Pair(np.zeros((2, 2), np.float32), 0)])
    assert isinstance(batch, Pair) and batch.image.shape == (2, 2, 2) and batch.label.dtype == np.int64
    out = default_collate([{"x": mg.tensor([1.0, 2.0]), "n": 0.5, "name": "a", "ok": True},
                           {"x": mg.tensor([3.0, 4.0]), "n": 1.5, "name": "b", "ok": False}])
    np.testing.assert_array_equal(out["x"].numpy(), [[1, 2], [3, 4]])
    assert out["n"].dtype == np.float32  # Python floats give minigrad's default float
    assert out["name"] == ["a", "b"] and out["ok"].dtype == np.bool_
    nested = default_collate([(1, (np.float64(2.0), [3])), (4, (np.float64(5.0), [6]))])
    assert nested[1][0].dtype == np.float64 and nested[1][1][0].tolist() == [3, 6]
    loader = DataLoader(ListDataset([(np.full(3, k, np.float32), {"id": k}) for k in range(5)]), batch_size=2)
    x, meta = next(iter(loader))
    assert x.shape == (2, 3) and meta["id"].tolist() == [0, 1]


def test_default_collate_errors_are_clear():
    with pytest.raises(ValueError, match=r"example 0 has shape \(3,\), example 1 has shape \(2,\)"):
        default_collate([np.zeros(3), np.zeros(2)])
    with pytest.raises(ValueError, match="keys"):
        default_collate([{"a": 1}, {"b": 2}])
    with pytest.raises(TypeError, match="cannot batch examples of type object"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(_dataset(), batch_size=0)


def test_loader_keeps_graph_of_tensors_that_require_grad():
    w = mg.randn(4, 2, requires_grad=True)
    (batch,) = next(iter(DataLoader(TensorDataset(w), batch_size=4)))
    batch.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.ones((4, 2)))


# ----------------------------------------------------------------------------- text
def test_basic_tokenize():
    assert basic_tokenize("Don't stop, it's GREAT!  (really)") == [
        "don't", "stop", ",", "it's", "great", "!", "(", "really", ")"]
    assert basic_tokenize("") == []


def test_vocab_min_count_unk_pad_and_order():
    texts = ["the cat sat", "the dog sat", "the end", "a cat"]
    vocab = Vocab.build([t.split() for t in texts], min_count=2)
    assert vocab.itos == ["<pad>", "<unk>", "the", "cat", "sat"]  # by count, ties by first appearance
    assert vocab.pad_id == 0 and vocab.unk_id == 1 and len(vocab) == 5
    assert vocab.encode(["the", "dog", "cat"]) == [2, 1, 3]
    assert vocab["zebra"] == 1 and "dog" not in vocab
    assert vocab.decode([2, 3, 0, 0]) == ["the", "cat", "<pad>", "<pad>"]
    assert vocab.decode(mg.tensor([2, 3, 0]), skip_specials=True) == ["the", "cat"]
    small = Vocab.build([t.split() for t in texts], max_size=3)
    assert small.itos == ["<pad>", "<unk>", "the"]
    with pytest.raises(TypeError, match="tokenize it first"):
        vocab.encode("the cat")
    with pytest.raises(IndexError, match="id 9 is out of range for a vocabulary of 5"):
        vocab.decode([9])
    strict = Vocab(["a", "b"], pad_token=None, unk_token=None)
    with pytest.raises(KeyError, match="no unk_token"):
        strict.encode(["c"])


def test_vocab_save_load_and_state_dict(tmp_path):
    vocab = Vocab.build([["b", "a", "b"], ["c"]], specials=("<pad>", "<unk>", "<bos>"))
    vocab.save(tmp_path / "vocab.json")
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))["itos"][:3] == ["<pad>", "<unk>", "<bos>"]
    loaded = Vocab.load(tmp_path / "vocab.json")
    assert loaded == vocab and loaded.decode([2, 3], skip_specials=True) == ["b"]
    assert Vocab.from_state_dict(vocab.state_dict()).stoi == vocab.stoi
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a vocabulary"):
        Vocab.load(tmp_path / "bad.json")


def test_char_vocab():
    vocab = CharVocab.build(["hello", "world"])
    assert vocab.itos == sorted(set("helloworld")) and vocab.unk_id is None
    ids = vocab.encode("low")
    assert vocab.decode(ids) == "low"
    np.testing.assert_array_equal(vocab.encode_array("hello world"[:5]), vocab.encode("hello"))
    with pytest.raises(KeyError, match="'z'"):
        vocab.encode("z")
    with_unk = CharVocab.build("abc", specials=("<pad>", "<unk>"), pad_token="<pad>", unk_token="<unk>")
    assert with_unk.encode("az") == [2, 1] and with_unk.decode([2, 1, 0], skip_specials=True) == "a"
    restored = CharVocab.from_state_dict(with_unk.state_dict())
    assert restored == with_unk and restored.decode([3]) == "b"


# ----------------------------------------------------------------------------- sequences
def test_pad_sequences_values_and_lengths():
    padded, lengths = pad_sequences([[5, 6, 7], [8], [], [1, 2]], padding_value=-1)
    assert padded.dtype == np.int64 and padded.shape == (4, 3)
    np.testing.assert_array_equal(padded.numpy(), [[5, 6, 7], [8, -1, -1], [-1, -1, -1], [1, 2, -1]])
    assert lengths.tolist() == [3, 1, 0, 2]
    cut, cut_lengths = pad_sequences([np.arange(5, dtype=np.int32), np.arange(2)], max_len=3, as_tensor=False)
    np.testing.assert_array_equal(cut, [[0, 1, 2], [0, 1, 0]])
    assert cut.dtype == np.int64 and cut_lengths.tolist() == [3, 2]
    feats, flen = pad_sequences([np.ones((2, 4), np.float32), np.ones((3, 4), np.float32)])
    assert feats.shape == (2, 3, 4) and feats.dtype == np.float32 and feats.numpy()[0, 2].sum() == 0
    assert flen.tolist() == [2, 3]
    with pytest.raises(ValueError, match=r"sequence 0 has shape \(2, 4\), sequence 1 has shape \(3, 5\)"):
        pad_sequences([np.ones((2, 4)), np.ones((3, 5))])


@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=6), max_len=st.one_of(st.none(), st.integers(0, 7)))
def test_pad_sequences_matches_a_plain_loop(lengths, max_len):
    rng = np.random.default_rng(sum(lengths))
    seqs = [rng.integers(1, 100, size=n).tolist() for n in lengths]
    padded, got_lengths = pad_sequences(seqs, max_len=max_len, as_tensor=False)
    steps = max(lengths) if max_len is None else max_len
    expected = np.zeros((len(seqs), steps), dtype=np.int64)
    for b, s in enumerate(seqs):
        kept = s[:steps]
        expected[b, :len(kept)] = kept
    np.testing.assert_array_equal(padded, expected)
    assert got_lengths.tolist() == [min(n, steps) for n in lengths]


def test_pad_collate_in_a_loader():
    examples = [([1, 2, 3], 1), ([4], 0), ([5, 6], 1)]
    x, lengths, y = next(iter(DataLoader(examples, batch_size=3, collate_fn=PadCollate())))
    assert x.shape == (3, 3) and lengths.tolist() == [3, 1, 2] and y.tolist() == [1, 0, 1]


@given(n=st.integers(4, 60), batch_size=st.integers(1, 4), seq_len=st.integers(1, 7))
def test_lm_batches_layout(n, batch_size, seq_len):
    ids = np.arange(1000, 1000 + n)
    if n // batch_size < 2:
        with pytest.raises(ValueError, match="streams of at least 2 tokens"):
            lm_batches(ids, batch_size, seq_len)
        return
    batches = lm_batches(ids, batch_size, seq_len)
    chunks = list(batches)
    stream_len = n // batch_size
    assert len(chunks) == len(batches) == -(-(stream_len - 1) // seq_len)
    for k, (x, y) in enumerate(chunks):
        assert x.dtype == np.int64 and x.shape == y.shape and x.shape[0] == batch_size
        assert x.shape[1] == (seq_len if k < len(chunks) - 1 else (stream_len - 1) - seq_len * k)
        np.testing.assert_array_equal(y.numpy(), x.numpy() + 1)  # y is x shifted by one
        if k + 1 < len(chunks):
            # row b of the next chunk starts right after row b of this one
            np.testing.assert_array_equal(chunks[k + 1][0].numpy()[:, 0], x.numpy()[:, -1] + 1)
    rows = np.concatenate([x.numpy() for x, _ in chunks], axis=1)
    np.testing.assert_array_equal(rows[:, 0], 1000 + np.arange(batch_size) * stream_len)  # contiguous pieces
    np.testing.assert_array_equal(rows, 1000 + np.arange(batch_size)[:, None] * stream_len + np.arange(stream_len - 1))


def test_lm_batches_options():
    ids = mg.arange(0, 41)
    full = lm_batches(ids, 4, 3, drop_last=True)
    assert len(full) == 3 and all(x.shape == (4, 3) for x, _ in full)
    x, y = next(iter(lm_batches(ids, 4, 3, batch_first=False)))
    assert x.shape == (3, 4) and x.numpy()[:, 1].tolist() == [10, 11, 12] and y.numpy()[0, 0] == 1
    with pytest.raises(ValueError, match="1-D stream"):
        lm_batches(np.zeros((3, 3), np.int64), 1, 2)


def test_sliding_windows_shapes_and_alignment():
    series = np.arange(20, dtype=np.float32)
    x, y = sliding_windows(series, window=5, horizon=2, stride=3)
    assert x.shape == (5, 5, 1) and y.shape == (5, 2) and x.dtype == np.float32
    for n in range(5):
        np.testing.assert_array_equal(x[n, :, 0], series[3 * n: 3 * n + 5])
        np.testing.assert_array_equal(y[n], series[3 * n + 5: 3 * n + 7])
    table = np.stack([series, -series], axis=1)
    xt, yt = sliding_windows(table, 4, targets=table[:, 1], as_tensor=True)
    assert xt.shape == (16, 4, 2) and yt.shape == (16, 1)
    np.testing.assert_array_equal(yt.numpy()[:, 0], -series[4:])
    assert len(TensorDataset(xt, yt)) == 16
    with pytest.raises(ValueError, match="too short"):
        sliding_windows(series, 19, horizon=2)
    with pytest.raises(ValueError, match="same length"):
        sliding_windows(series, 3, targets=series[:5])


@pytest.mark.gpu
def test_loader_and_padding_on_cuda():
    x = mg.randn(10, 3, device="cuda")
    y = mg.arange(0, 10, device="cuda")
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, generator=0))
    assert all(b.device == "cuda" for b in batches[0])
    got = np.concatenate([b[1].cpu().numpy() for b in batches])
    assert sorted(got.tolist()) == list(range(10))
    padded, lengths = pad_sequences([y.data[:3], y.data[:1]])
    assert padded.device == "cuda" and padded.cpu().numpy().tolist() == [[0, 1, 2], [0, 0, 0]]
    wx, wy = sliding_windows(x, 4, horizon=2)
    assert wx.shape == (5, 4, 3) and wy.shape == (5, 2, 3)


def test_dataloader_accepts_pytorch_worker_options_and_a_sampler():
    import warnings as _warnings

    ds = TensorDataset(mg.arange(10).float(), mg.arange(10))
    mg.data.DataLoader._warned_workers = False
    with pytest.warns(UserWarning, match="num_workers=2 is ignored"):
        loader = DataLoader(ds, batch_size=4, num_workers=2, pin_memory=True, persistent_workers=True)
    assert [y.tolist() for _, y in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        DataLoader(ds, batch_size=4, num_workers=2)  # warned once only
    ordered = DataLoader(ds, batch_size=3, sampler=[9, 0, 5, 5, 1])
    assert len(ordered) == 2 and [y.tolist() for _, y in ordered] == [[9, 0, 5], [5, 1]]
    assert len(DataLoader(ds, batch_size=3, sampler=[9, 0, 5, 5, 1], drop_last=True)) == 1
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0], shuffle=True)


def test_dataloader_batch_sampler_gives_the_batches():
    ds = TensorDataset(mg.arange(6).float(), mg.arange(6))
    loader = DataLoader(ds, batch_sampler=[[5, 0], [1, 2, 3], [4]])
    assert len(loader) == 3 and [y.tolist() for _, y in loader] == [[5, 0], [1, 2, 3], [4]]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    with pytest.raises(IndexError, match="batch_sampler gave index 6 for a dataset of 6 examples"):
        list(DataLoader(ds, batch_sampler=[[0, 6]]))
    with pytest.raises(IndexError, match="sampler gave index 9 for a dataset of 6 examples"):
        list(DataLoader(ds, sampler=[1, 9]))
