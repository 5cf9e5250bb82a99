"""Sequence to sequence: an encoder-decoder that reverses digit strings or adds numbers, on minigrad's public API.

Sutskever et al. (2014), "Sequence to Sequence Learning with Neural
Networks", and Cho et al. (2014): an *encoder* RNN reads the whole source
string (``"1234"`` or ``"123+45"``) into its final hidden state; a *decoder*
RNN starts from that state and writes the answer one character at a time
(``"4321"`` or ``"168"``) until it writes ``<eos>``.  Source and target
lengths differ from example to example and from each other ("unaligned
many to many").

* Training uses *teacher forcing*: the decoder reads ``<sos>`` followed by the
  true target and is trained (cross-entropy) to predict the target followed
  by ``<eos>``, so the whole decoder runs as one ``nn.GRU`` call.
* Inference is *greedy decoding*: feed back the most likely character, one
  step at a time, until every sequence has written ``<eos>``.
* The encoder is bidirectional (by default): one direction reads the
  source left to right, the other right to left, each with half the
  decoder's hidden size; their final states side by side start the
  decoder.  Addition needs this: the carries start at the *last* digits,
  while the answer is written from the first.
* The encoder's final state is also given to the decoder at *every* step
  (concatenated to its input, as Cho et al. do), so the decoder does not
  have to carry the whole source in its own state unchanged.
* Padded batches: the encoder gets ``lengths=`` so its final state is each
  string's own last step; padded target positions are ``ignore_index`` in
  the loss.
* Attention (``attention="additive"``, Bahdanau et al. 2014, or ``"dot"``):
  instead of the final state, the context at decoder step i is a weighted
  mean of *all* the encoder's outputs, weighted by how well each fits the
  decoder's previous state; padded source positions get weight 0.  The
  decoder then runs one step at a time, also in training.

The metric is exact match: the whole decoded string equals the target.
``minigrad train seq2seq`` / ``minigrad eval seq2seq --checkpoint P``.

What to expect (seed 0, defaults, 1,000 held-out strings, 2-core CPU):
reversing reaches 99.9% exact match in 10 epochs (about 1 minute), adding
98.8% in 15 epochs on 50,000 pairs (under 3 minutes).  With a
left-to-right encoder only (``--unidirectional``) addition learns far more
slowly (85% after 30 epochs in one run).  On 16 to 32 digits
(``--min-len 16 --max-len 32``) the one final state is a bottleneck: see
docs/09-attention.md for the runs with and without attention.
"""
from __future__ import annotations

import math
import os
import time

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F

from . import parallel as P
from . import training as T

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}
ATTENTION = ("none", "additive", "dot")
SPECIALS = ["<pad>", "<sos>", "<eos>"]
CHARS = list("0123456789+")
TASKS = {
    # name: (generator, its keyword arguments, what it does, how many distinct sources there are)
    "reverse": (mg.datasets.synthetic.reverse_digits, {"min_len": 1, "max_len": 8}, "1234 -> 4321, {min_len} to "
                "{max_len} digits", lambda min_len, max_len: sum(10**k for k in range(min_len, max_len + 1))),
    "add": (mg.datasets.synthetic.add_digits, {"max_digits": 3}, "123+45 -> 168, operands below 1000",
            lambda max_digits: 10 ** (2 * max_digits)),
}

TASK_DEFAULTS = {  # the command line's defaults per task (addition needs more data and time)
    "reverse": {"epochs": 10, "n_train": 20000},
    "add": {"epochs": 15, "n_train": 50000},
}


def make_vocab():
    """Ids: ``<pad>`` 0, ``<sos>`` 1, ``<eos>`` 2, then ``0`` .. ``9`` and ``+``."""
    return mg.data.CharVocab(SPECIALS + CHARS, pad_token="<pad>", unk_token=None, specials=SPECIALS)


# ----------------------------------------------------------------------------- the model
class DotAttention(nn.Module):
    """Dot-product scores (Luong et al., 2015), scaled by 1/sqrt(d) as in the Transformer: e_j = s . h_j / sqrt(d).

    The same interface as :class:`minigrad.nn.AdditiveAttention`:
    ``forward(query (N, d), keys (N, S, d), key_padding_mask=(N, S) bool,
    projected_keys=ignored) -> (context (N, d), weights (N, S))``.  No
    parameters: the decoder state and the encoder states must have one size.
    """

    def project_keys(self, keys):
        return keys

    def forward(self, query, keys, values=None, key_padding_mask=None, projected_keys=None):
        values = keys if values is None else values
        e = (query.unsqueeze(1) @ keys.transpose(1, 2)).squeeze(1) / math.sqrt(keys.shape[-1])  # (N, S)
        if key_padding_mask is not None:
            e = e.masked_fill(key_padding_mask, -math.inf)
        alpha = e.softmax(-1)
        return (alpha.unsqueeze(1) @ values).squeeze(1), alpha


class Seq2Seq(nn.Module):
    """Embedding + (bidirectional) recurrent encoder, recurrent decoder started from the encoder's final state.

    ``forward(src, src_lengths, tgt_in)`` (teacher forcing): ``src`` (B, S)
    int64 padded source ids, ``src_lengths`` (B,), ``tgt_in`` (B, T) the
    decoder's inputs (``<sos>`` + target) -> logits (B, T, vocab_size).
    :meth:`greedy_decode` writes answers without a target.

    The decoder's input at each step is the embedding of the previous
    character beside a *context* vector (B, T, embed_dim + hidden_size).
    With ``attention="none"`` the context is the encoder's final hidden
    state, the same at every step: the whole source squeezed into one
    vector.  With ``attention="additive"`` (Bahdanau et al., 2014) or
    ``"dot"`` it is recomputed at every step i from the decoder's previous
    state s_{i-1} and *all* the encoder's outputs h_1..h_S (padding left
    out): c_i = sum_j alpha_ij h_j, and the output layer sees [s_i; c_i].
    With ``bidirectional=True`` each encoder direction has
    ``hidden_size // 2`` units and the decoder starts from both directions'
    final states side by side.
    """

    def __init__(self, vocab_size, embed_dim=32, hidden_size=128, cell="gru", num_layers=1, bidirectional=True,
                 pad_id=0, sos_id=1, eos_id=2, attention="none"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"Seq2Seq: cell must be one of {sorted(CELLS)}, got {cell!r}")
        if attention not in ATTENTION:
            raise ValueError(f"Seq2Seq: attention must be one of {', '.join(ATTENTION)}; got {attention!r}")
        if bidirectional and hidden_size % 2:
            raise ValueError(f"Seq2Seq: a bidirectional encoder splits hidden_size between its two directions, "
                             f"so it must be even; got {hidden_size}")
        self.cell, self.pad_id, self.sos_id, self.eos_id = cell, pad_id, sos_id, eos_id
        self.bidirectional = bool(bidirectional)
        self.attention_kind = attention
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        encoder_size = hidden_size // 2 if self.bidirectional else hidden_size
        self.encoder = CELLS[cell](embed_dim, encoder_size, num_layers=num_layers, batch_first=True,
                                   bidirectional=self.bidirectional)
        self.decoder = CELLS[cell](embed_dim + hidden_size, hidden_size, num_layers=num_layers, batch_first=True)
        if attention == "none":
            self.out = nn.Linear(hidden_size, vocab_size)
        else:
            # the encoder's outputs (keys and values) have hidden_size features, as the decoder's state
            self.attention = (nn.AdditiveAttention(hidden_size, hidden_size) if attention == "additive"
                              else DotAttention())
            self.out = nn.Linear(2 * hidden_size, vocab_size)

    def encode(self, src, src_lengths):
        """(B, S) ids -> the decoder's initial state (h, or LSTM's (h, c); each (layers, B, hidden_size))."""
        return self._encode(src, src_lengths)[1]

    def _encode(self, src, src_lengths):
        """(encoder outputs (B, S, hidden_size), the decoder's initial state)."""
        outputs, state = self.encoder(self.embedding(src), lengths=src_lengths)
        if isinstance(state, tuple):
            return outputs, tuple(self._join_directions(s) for s in state)
        return outputs, self._join_directions(state)

    def memory(self, src, src_lengths):
        """What the decoder reads at each step: the initial state and (for attention) the encoder's outputs.

        A dict: ``state``; ``context`` (B, H) without attention; with
        attention ``keys`` (B, S, H), ``projected_keys`` (computed once per
        source) and ``padding`` (B, S) bool, True past each source's end.
        """
        outputs, state = self._encode(src, src_lengths)
        if self.attention_kind == "none":
            return {"state": state, "context": self._context(state)}
        lengths = np.asarray(src_lengths.cpu().numpy() if isinstance(src_lengths, mg.Tensor) else src_lengths)
        padding = np.arange(src.shape[1])[None, :] >= lengths[:, None]
        padding = mg.tensor(padding, device=src.device)
        return {"state": state, "keys": outputs, "projected_keys": self.attention.project_keys(outputs),
                "padding": padding}

    def _join_directions(self, h):
        """(layers * 2, B, H/2), ordered layer 0 forward, layer 0 reverse, ... -> (layers, B, H)."""
        if not self.bidirectional:
            return h
        layers = h.shape[0] // 2
        h = h.reshape(layers, 2, h.shape[1], h.shape[2])
        return mg.cat([h[:, 0], h[:, 1]], dim=-1)

    def _context(self, state):
        """The last layer's final hidden state (B, H): what the decoder sees at every step."""
        h = state[0] if isinstance(state, tuple) else state
        return h[-1]

    def decode_steps(self, tokens, state, context):
        """Run the decoder over ``tokens`` (B, T) from ``state``: (logits (B, T, V), new state)."""
        emb = self.embedding(tokens)
        ctx = context.unsqueeze(1).expand(emb.shape[0], emb.shape[1], context.shape[-1])
        output, state = self.decoder(mg.cat([emb, ctx], dim=-1), state)
        return self.out(output), state

    def attend_steps(self, tokens, state, memory):
        """The attention decoder over ``tokens`` (B, T), one step at a time (each step's context needs s_{i-1}).

        Returns (logits (B, T, V), new state, attention weights (B, T, S)).
        """
        emb = self.embedding(tokens)
        outputs, contexts, weights = [], [], []
        for i in range(emb.shape[1]):
            s_prev = self._context(state)  # s_{i-1}: the top layer's state
            c, alpha = self.attention(s_prev, memory["keys"], key_padding_mask=memory["padding"],
                                      projected_keys=memory["projected_keys"])
            output, state = self.decoder(mg.cat([emb[:, i:i + 1], c.unsqueeze(1)], dim=-1), state)
            outputs.append(output)
            contexts.append(c.unsqueeze(1))
            weights.append(alpha.unsqueeze(1))
        hidden = mg.cat([mg.cat(outputs, dim=1), mg.cat(contexts, dim=1)], dim=-1)  # [s_i; c_i]
        return self.out(hidden), state, mg.cat(weights, dim=1)

    def forward(self, src, src_lengths, tgt_in):
        """Teacher forcing: src (B, S), src_lengths (B,), tgt_in (B, T) -> logits (B, T, vocab_size)."""
        memory = self.memory(src, src_lengths)
        if self.attention_kind == "none":
            return self.decode_steps(tgt_in, memory["state"], memory["context"])[0]
        return self.attend_steps(tgt_in, memory["state"], memory)[0]

    @mg.no_grad()
    def greedy_decode(self, src, src_lengths, max_len, return_weights=False):
        """Most likely character at each step, fed back, for at most ``max_len`` steps -> ids (B, <= max_len).

        Positions after a sequence's ``<eos>`` hold whatever the decoder
        wrote; :func:`ids_to_strings` cuts them off.  ``return_weights``
        (attention models): also return the attention weights (B, T, S),
        row t being where the decoder looked to write character t.
        """
        memory = self.memory(src, src_lengths)
        state = memory["state"]
        batch = src.shape[0]
        token = mg.full((batch, 1), self.sos_id, dtype=mg.int64, device=src.device)
        done = np.zeros(batch, dtype=bool)
        written, weights = [], []
        for _ in range(max_len):
            if self.attention_kind == "none":
                logits, state = self.decode_steps(token, state, memory["context"])
            else:
                logits, state, alpha = self.attend_steps(token, state, memory)
                weights.append(alpha)
            token = logits.argmax(-1)  # (B, 1)
            written.append(token)
            done |= token.cpu().numpy()[:, 0] == self.eos_id
            if done.all():
                break
        ids = mg.cat(written, dim=1)
        if return_weights:
            if not weights:
                raise ValueError("greedy_decode: return_weights needs a model with attention")
            return ids, mg.cat(weights, dim=1)
        return ids


def build_model(config):
    """The :class:`Seq2Seq` a config describes."""
    return Seq2Seq(len(config["vocab"]["itos"]), embed_dim=config["embed"], hidden_size=config["hidden"],
                   cell=config["cell"], num_layers=config["layers"], bidirectional=config.get("bidirectional", True),
                   attention=config.get("attention", "none"))


# ----------------------------------------------------------------------------- data
def task_options(task, min_len=None, max_len=None):
    """The generator's keyword arguments for ``task``: the reversal's string lengths (default 1 to 8 digits)."""
    if task not in TASKS:
        raise ValueError(f"seq2seq: task must be one of {sorted(TASKS)}, got {task!r}")
    kwargs = dict(TASKS[task][1])
    if task != "reverse":
        if min_len is not None or max_len is not None:
            raise ValueError(f"seq2seq: --min-len/--max-len set the lengths of the reversal's strings; the {task!r} "
                             f"task has fixed operands")
        return kwargs
    kwargs["min_len"] = kwargs["min_len"] if min_len is None else int(min_len)
    kwargs["max_len"] = kwargs["max_len"] if max_len is None else int(max_len)
    if not 1 <= kwargs["min_len"] <= kwargs["max_len"]:
        raise ValueError(f"seq2seq: string lengths need 1 <= min_len <= max_len, got min_len {kwargs['min_len']} "
                         f"and max_len {kwargs['max_len']}")
    return kwargs


def describe_task(task, min_len=None, max_len=None):
    """One line: what the task does (``1234 -> 4321, 1 to 8 digits``)."""
    return TASKS[task][2].format(**task_options(task, min_len, max_len))


def make_pairs(task, n_train, n_test, seed, min_len=None, max_len=None):
    """(training pairs, held-out pairs) of (source, target) strings, no source in both.

    Draws pairs from ``task``'s generator until ``n_train + n_test``
    *distinct* sources have been seen, shuffles them and holds out
    ``n_test``: held-out exact match then measures strings the model never
    saw in training.  (Short strings are few, e.g. the 10 one-digit ones, so
    they are rare in both sets.)
    """
    kwargs = task_options(task, min_len, max_len)
    generate, count_sources = TASKS[task][0], TASKS[task][3]
    distinct_sources = count_sources(**kwargs)
    need = n_train + n_test
    if need > distinct_sources // 2:  # beyond that, drawing them at random takes long (the coupon collector)
        raise ValueError(f"seq2seq: the {task!r} task has {distinct_sources:,} distinct sources; ask for at most "
                         f"{distinct_sources // 2:,} training + held-out pairs, not {n_train:,} + {n_test:,}")
    rng = np.random.default_rng(seed)
    distinct = {}  # source -> target, in order of first appearance
    while len(distinct) < need:
        batch = generate(2 * (need - len(distinct)), seed=rng, **kwargs)
        for source, target in zip(batch.sources, batch.targets):
            distinct.setdefault(source, target)
    pairs = list(distinct.items())[:need]
    order = rng.permutation(need)
    return [pairs[i] for i in order[n_test:]], [pairs[i] for i in order[:n_test]]


def encode_pairs(pairs, vocab):
    """Strings -> padded arrays: src (N, S), src_len (N,), tgt_in (N, T) = <sos>+target, tgt_out (N, T) = target+<eos>.

    Padding is ``<pad>`` (id 0) everywhere; the loss ignores it in ``tgt_out``.
    """
    sos, eos = vocab.stoi["<sos>"], vocab.stoi["<eos>"]
    src, src_len = mg.data.pad_sequences([vocab.encode(s) for s, _ in pairs], vocab.pad_id, as_tensor=False)
    targets = [vocab.encode(t) for _, t in pairs]
    tgt_in, _ = mg.data.pad_sequences([[sos] + t for t in targets], vocab.pad_id, as_tensor=False)
    tgt_out, _ = mg.data.pad_sequences([t + [eos] for t in targets], vocab.pad_id, as_tensor=False)
    return src, src_len, tgt_in, tgt_out


def ids_to_strings(ids, vocab):
    """Decoded ids (B, T) -> strings, each cut at its first ``<eos>`` (specials dropped)."""
    eos = vocab.stoi["<eos>"]
    out = []
    for row in np.asarray(ids):
        stop = np.flatnonzero(row == eos)
        row = row[: stop[0]] if stop.size else row
        out.append(vocab.decode(row, skip_specials=True))
    return out


def decode_strings(model, sources, vocab, device="cpu", batch_size=500, max_len=None):
    """Greedy decodings of a list of source strings."""
    was_training = model.training
    model.eval()
    max_len = max_len or max(len(s) for s in sources) + 2
    out = []
    for i in range(0, len(sources), batch_size):
        chunk = sources[i:i + batch_size]
        src, lengths = mg.data.pad_sequences([vocab.encode(s) for s in chunk], vocab.pad_id)
        ids = model.greedy_decode(src.to(device), lengths, max_len)
        out.extend(ids_to_strings(ids.cpu().numpy(), vocab))
    model.train(was_training)
    return out


def exact_match(model, pairs, vocab, device="cpu"):
    """(fraction of pairs whose whole decoded string equals the target, the decodings)."""
    decoded = decode_strings(model, [s for s, _ in pairs], vocab, device,
                             max_len=max(len(t) for _, t in pairs) + 2)
    hits = sum(d == t for d, (_, t) in zip(decoded, pairs))
    return hits / max(len(pairs), 1), decoded


# ----------------------------------------------------------------------------- training
OPTIONS = [
    *T.common_options("seq2seq", threads=1, monitor="held-out exact match"),
    T.Option("task", "reverse", choices=sorted(TASKS), help="reverse (1234 -> 4321) or add (123+45 -> 168)"),
    T.Option("cell", "gru", help="recurrent cell", choices=sorted(CELLS)),
    T.Option("embed", 32, T.POSITIVE_INT, "embedding size"),
    T.Option("hidden", 128, T.POSITIVE_INT, "hidden state size"),
    T.Option("layers", 1, T.POSITIVE_INT, "stacked recurrent layers"),
    T.Option("bidirectional", True, flag="--unidirectional",
             help="encode the source left to right only (default: a bidirectional encoder)"),
    T.Option("epochs", None, T.POSITIVE_INT, "training epochs (default: 10 for reverse, 15 for add)"),
    T.Option("batch_size", 64, T.POSITIVE_INT, "pairs per training batch"),
    T.Option("lr", 3e-3, T.POSITIVE_FLOAT, "Adam learning rate (cosine-annealed)"),
    T.Option("n_train", None, T.POSITIVE_INT, "generated training pairs (default: 20,000 for reverse, 50,000 for add)",
             flag="--train-size"),
    T.Option("n_test", 1000, T.POSITIVE_INT, "held-out pairs", flag="--test-size"),
    T.Option("limit", None, T.POSITIVE_INT, "train on the first N pairs only (quick check; default: all)"),
    T.Option("attention", "none", choices=ATTENTION,
             help="none: the decoder sees the encoder's final state only; additive (Bahdanau) or dot: "
                  "at every step it looks back at all the encoder's outputs (default none)"),
    T.Option("min_len", None, T.POSITIVE_INT, "shortest string to reverse (default 1)"),
    T.Option("max_len", None, T.POSITIVE_INT, "longest string to reverse (default 8)"),
    T.Option("examples", 6, help="held-out decodings printed at the end", cli=False),
    T.Option("alignments", 4, help="held-out strings whose attention weights are drawn", cli=False),
]


@T.takes_options(OPTIONS)
def train(o):
    """Train a :class:`Seq2Seq` on ``task`` ('reverse' or 'add'); returns the metrics dict.

    The keywords are :data:`OPTIONS` (``minigrad train seq2seq --help`` lists them).
    ``n_train`` generated training pairs and ``n_test`` held-out pairs, all
    with distinct sources (``epochs`` and ``n_train`` default to the task's
    ``TASK_DEFAULTS``).  ``bidirectional``: the encoder reads both ways
    (see :class:`Seq2Seq`); ``attention``: "none", "additive" or "dot";
    ``min_len``/``max_len``: the reversal's string lengths (default 1 to 8).
    Adam with a cosine-annealed ``lr``, gradients
    clipped at norm 1, cross-entropy with teacher forcing; after
    every epoch, greedy decoding of the held-out set gives the exact-match
    accuracy.  ``limit`` keeps the first N training pairs.  Writes
    ``{out}/seq2seq_{task}.npz`` (checkpoint, with the vocabulary in its
    config), ``..._best.npz`` (the epoch with the best held-out exact
    match), ``..._curves.png`` and ``..._metrics.json``; with attention also
    ``..._attention.png``, the attention weights of ``alignments`` held-out
    strings as heatmaps (needs matplotlib).  Prints ``examples`` held-out
    decodings at the end.
    """
    device, seed, task, cell, attention = o.device, o.seed, o.task, o.cell, o.attention
    T.check_device(device)
    run = P.Run(o.distributed, o.batch_size, seed)
    quiet = o.quiet or not run.is_main
    started = time.perf_counter()
    if task not in TASKS:
        raise ValueError(f"seq2seq: task must be one of {sorted(TASKS)}, got {task!r}")
    epochs = TASK_DEFAULTS[task]["epochs"] if o.epochs is None else o.epochs
    n_train = TASK_DEFAULTS[task]["n_train"] if o.n_train is None else o.n_train
    if attention not in ATTENTION:
        raise ValueError(f"seq2seq: attention must be one of {', '.join(ATTENTION)}; got {attention!r}")
    lengths = {k: v for k, v in task_options(task, o.min_len, o.max_len).items() if k in ("min_len", "max_len")}
    vocab = make_vocab()
    config = {"task": "seq2seq", "problem": task, "attention": attention, **lengths, "cell": cell,
              "embed": int(o.embed), "hidden": int(o.hidden), "layers": int(o.layers),
              "bidirectional": bool(o.bidirectional), "epochs": int(epochs), "batch_size": int(o.batch_size),
              "lr": float(o.lr), "n_train": int(n_train), "n_test": int(o.n_test), "seed": int(seed),
              "vocab": vocab.state_dict()}
    mg.manual_seed(seed)
    train_pairs, test_pairs = make_pairs(task, n_train, o.n_test, seed, **lengths)
    if o.limit:
        train_pairs = train_pairs[:o.limit]
    arrays = encode_pairs(train_pairs, vocab)
    loader = mg.data.DataLoader(mg.data.TensorDataset(*arrays), batch_size=o.batch_size, shuffle=True)
    loader = run.shard(loader)  # distributed: this rank's rows of every batch

    model = build_model(config).to(device)
    optimizer = mg.optim.Adam(model.parameters(), lr=o.lr)
    train_model = run.wrap(model)  # distributed: DistributedDataParallel(model)
    scheduler = mg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    T.output_dir(o.out)
    name = f"seq2seq_{task}"
    if not quiet:
        print(f"seq2seq {task} ({describe_task(task, **lengths)}): {len(train_pairs)} training / "
              f"{len(test_pairs)} held-out pairs; {'bidirectional ' if o.bidirectional else ''}{cell} encoder, "
              f"hidden {o.hidden}, attention {attention}; "
              f"{sum(p.numel() for p in model.parameters()):,} parameters; device {device}; seed {seed}", flush=True)

    def batch_loss(batch):
        src, src_len, tgt_in, tgt_out = batch
        src, tgt_in, tgt_out = src.to(device), tgt_in.to(device), tgt_out.to(device)
        logits = train_model(src, src_len, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=vocab.pad_id)
        return loss, int((tgt_out != vocab.pad_id).sum().item())  # the mean is over the real characters

    accuracy, decoded = None, None

    def evaluate_epoch():
        nonlocal accuracy, decoded
        accuracy, decoded = exact_match(model, test_pairs, vocab, device)
        return {"exact_match": accuracy}

    def describe(r, seconds, improved):
        return (f"epoch {r['epoch']:2d}: train loss {r['train_loss']:.4f} per character  held-out exact match "
                f"{r['exact_match']:.2%}  ({seconds:.1f}s)")

    # The checkpoint holds the last epoch; one bad late epoch (a gradient spike) must not cost the run its
    # result, so the best one is kept beside it.
    best_ckpt, ckpt = os.path.join(o.out, f"{name}_best.npz"), os.path.join(o.out, f"{name}.npz")
    def summarize(done):
        nonlocal accuracy, decoded
        if decoded is None:  # no epoch ran
            accuracy, decoded = exact_match(model, test_pairs, vocab, device)
        heatmap = None
        if attention != "none" and o.alignments and run.is_main:  # distributed: rank 0 writes
            shown = test_pairs[:o.alignments]
            heatmap = plot_alignments(model, shown, vocab, os.path.join(o.out, f"{name}_attention.png"), device)
            if heatmap is None and not quiet:
                print("matplotlib is not installed (pip install minigrad[plot]): no attention heatmap", flush=True)
        samples = [{"source": s, "target": t, "decoded": d} for (s, t), d in zip(test_pairs[:o.examples], decoded)]
        return {"task": task, "exact_match": accuracy, "best_exact_match": done.history.best("exact_match"),
                "held_out": len(test_pairs), "train_pairs": len(train_pairs), "epochs": epochs, "seed": seed,
                "cell": cell, "hidden": o.hidden,
                "seconds_per_epoch": float(np.mean(done.epoch_times)) if done.epoch_times else 0.0,
                "seconds_total": time.perf_counter() - started, "examples": samples, "checkpoint": ckpt,
                "curves": done.curves, "attention": attention, "min_len": lengths.get("min_len"),
                "max_len": lengths.get("max_len"), "best_checkpoint": best_ckpt if epochs else None,
                "alignments": heatmap}

    done = T.fit(model, optimizer, loader, batch_loss, evaluate_epoch, task="seq2seq", config=config, epochs=epochs,
                 checkpoint=ckpt, train_model=train_model, scheduler=scheduler, clip=1.0, monitor="exact_match",
                 best_checkpoint=best_ckpt, patience=o.patience, resume=o.resume, quiet=quiet, device=device,
                 threads=o.threads, describe=describe,
                 curves=(os.path.join(o.out, f"{name}_curves.png"), f"seq2seq {task}",
                         [["train_loss"], ["exact_match"]]),
                 metrics=(os.path.join(o.out, f"{name}_metrics.json"), summarize))
    metrics = done.metrics
    if not quiet:
        print(format_examples(metrics["examples"]))
        heatmap = metrics["alignments"]
        print(f"held-out exact match {metrics['exact_match']:.2%} ({len(test_pairs)} pairs; best epoch "
              f"{metrics['best_exact_match'] or 0:.2%}); checkpoint {ckpt}"
              + (f"; curves {done.curves}" if done.curves else "") + (f"; attention {heatmap}" if heatmap else ""),
              flush=True)
    return metrics


def accuracy_by_length(model, vocab, lengths, per_length=200, seed=1, exclude=(), device="cpu"):
    """{length: exact match} of reversal on ``per_length`` fresh strings of each length, none in ``exclude``.

    ``exclude``: sources the model was trained on (e.g. the first list of
    :func:`make_pairs`), so that every string measured is new to the model.
    """
    rng = np.random.default_rng(seed)
    exclude = set(exclude)
    result = {}
    for length in lengths:
        fresh = {}
        while len(fresh) < per_length:
            batch = mg.datasets.synthetic.reverse_digits(2 * per_length, min_len=length, max_len=length, seed=rng)
            for source, target in zip(batch.sources, batch.targets):
                if source not in exclude and len(fresh) < per_length:
                    fresh.setdefault(source, target)
        result[int(length)] = exact_match(model, list(fresh.items()), vocab, device)[0]
    return result


def alignments(model, sources, vocab, device="cpu"):
    """Greedy decodings of ``sources`` with their attention weights: a list of (source, decoded, weights).

    ``weights`` is an array (len(decoded) + 1, len(source)): row t is where
    the decoder looked to write character t (the last row, ``<eos>``).
    """
    was_training = model.training
    model.eval()
    src, lengths = mg.data.pad_sequences([vocab.encode(s) for s in sources], vocab.pad_id)
    ids, weights = model.greedy_decode(src.to(device), lengths, max(len(s) for s in sources) + 2,
                                       return_weights=True)
    model.train(was_training)
    decoded = ids_to_strings(ids.cpu().numpy(), vocab)
    weights = weights.cpu().numpy()
    return [(s, d, weights[i, :len(d) + 1, :len(s)]) for i, (s, d) in enumerate(zip(sources, decoded))]


def plot_alignments(model, pairs, vocab, path, device="cpu", title=None):
    """Save the attention weights of ``pairs``' sources as heatmaps, one panel each (needs matplotlib).

    Columns are source characters, rows the characters written; for
    reversal the weight lies on the anti-diagonal.  Returns the path, or
    None without matplotlib.
    """
    try:
        import matplotlib  # noqa: PLC0415 - optional

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    found = alignments(model, [s for s, _ in pairs], vocab, device)
    fig, axes = plt.subplots(1, len(found), figsize=(3.6 * len(found), 3.8), squeeze=False)
    for ax, (source, decoded, w) in zip(axes[0], found):
        ax.imshow(w, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto", interpolation="none")
        ax.set_xticks(range(len(source)), list(source), fontsize=6)
        ax.set_yticks(range(len(decoded) + 1), list(decoded) + ["<eos>"], fontsize=6)
        ax.tick_params(length=0)  # the characters label the cells; tick marks would only crowd them
        ax.set_xlabel("source")
        ax.set_ylabel("written")
    fig.suptitle(title or f"attention ({model.attention_kind}) of {len(found)} held-out strings")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def format_examples(samples):
    """One line per example: source -> decoded (target), marked right or wrong."""
    return "\n".join(f"  {s['source']:>10s} -> {s['decoded']:<10s} {'ok' if s['decoded'] == s['target'] else 'WRONG'}"
                     f" (target {s['target']})" for s in samples)


def load_model(checkpoint, device="cpu"):
    """(model, vocab, config) from a checkpoint written by :func:`train`."""
    model, state = T.load_model(checkpoint, "seq2seq", build_model, device)
    config = state["config"]
    return model, mg.data.CharVocab.from_state_dict(config["vocab"]), config


def evaluate(checkpoint, device="cpu", examples=6):
    """Exact match of a checkpoint on its held-out pairs (regenerated from the config's seed)."""
    model, vocab, config = load_model(checkpoint, device)
    _, test_pairs = make_pairs(config["problem"], config["n_train"], config["n_test"], config["seed"],
                               min_len=config.get("min_len"), max_len=config.get("max_len"))
    accuracy, decoded = exact_match(model, test_pairs, vocab, device)
    samples = [{"source": s, "target": t, "decoded": d} for (s, t), d in zip(test_pairs[:examples], decoded)]
    return {"task": config["problem"], "exact_match": accuracy, "held_out": len(test_pairs), "examples": samples}


# ----------------------------------------------------------------------------- command line
def add_train_arguments(parser):
    """Options of ``minigrad train seq2seq``: :data:`OPTIONS`."""
    T.add_options(parser, OPTIONS)


def summary_models():
    """``minigrad summary seq2seq``: the default model (or a checkpoint's ``config``) on 2 pairs."""
    def build(config=None):
        config = config or {"vocab": make_vocab().state_dict(), "embed": 32, "hidden": 128, "cell": "gru",
                            "layers": 1, "bidirectional": True, "attention": "none"}
        src, tgt = mg.ones(2, 8, dtype=mg.int64) * 3, mg.ones(2, 9, dtype=mg.int64) * 3
        return build_model(config), None, {"input": (src, mg.tensor([8, 5]), tgt)}

    return {"seq2seq": build}


PREDICT_HELP = "decode source strings (digits to reverse, or sums like 12+345)"


def add_predict_arguments(parser):
    """Options of ``minigrad predict seq2seq``."""
    parser.add_argument("source", nargs="+", help="source strings, each decoded on its own; - reads one per line "
                                                  "from standard input")


def predict_from_args(args):
    """``minigrad predict seq2seq --checkpoint P 1234 56+7``: print each source and its decoding."""
    import sys  # noqa: PLC0415

    sources = []
    for item in args.source:
        if item == "-":
            sources.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            sources.append(item)
    model, vocab, config = load_model(args.checkpoint, args.device)
    allowed = set(CHARS)
    for s in sources:
        if not s:
            raise ValueError("predict seq2seq: an empty source string (give digits to reverse, or a sum)")
        bad = sorted(set(s) - allowed)
        if bad:
            raise ValueError(f"predict seq2seq: {s!r} has characters the model does not know: {bad} "
                             f"(it reads {''.join(CHARS)})")
    if not sources:
        raise ValueError("predict seq2seq: no source string (standard input was empty)")
    for s, d in zip(sources, decode_strings(model, sources, vocab, args.device)):
        print(f"{s} -> {d}")
    return 0


def train_from_args(args):
    """``minigrad train seq2seq``: forward the options to :func:`train`."""
    train(**T.options_from_args(OPTIONS, args))
    return 0


def evaluate_from_args(args):
    """``minigrad eval seq2seq --checkpoint P``: held-out exact match and a few decodings."""
    result = evaluate(args.checkpoint, device=args.device)
    print(f"seq2seq {result['task']}: held-out exact match {result['exact_match']:.2%} ({result['held_out']} pairs)")
    print(format_examples(result["examples"]))
    return 0
