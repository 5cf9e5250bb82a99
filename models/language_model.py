"""Recurrent language models: predict the next character (or word) at every step, then generate text.

Two shapes of recurrent problem meet here:

* **aligned many to many** (training): the model reads tokens ``x_1 .. x_T``
  and, at *every* step t, predicts the next token ``x_{t+1}``; the loss is the
  mean cross-entropy over all steps.
* **one to many** (generation): warm the state up on a prompt, then sample a
  token, feed it back in, sample the next one, ... carrying the state.

The pieces, in reading order:

* :class:`LanguageModel` - embedding -> LSTM or GRU -> linear decoder at every step.
* :meth:`LanguageModel.generate` - sampling with temperature and top-k.
* :func:`evaluate_stream` - nats per token on one long stream (bits per character).
* :func:`train` - ``minigrad train charlm``: char-rnn batches and truncated
  backpropagation through time on Shakespeare's Hamlet.
* :func:`evaluate`, :func:`generate_text` - ``minigrad eval charlm`` and ``minigrad generate``.

Built only on minigrad's public API.
"""
from __future__ import annotations

import itertools
import math
import os
import time

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F

from . import parallel as P
from . import training as T

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
LEVELS = ("char", "word")
VALIDATION_FRACTION = 0.1  # the last 10% of the text is held out
DEFAULT_PROMPT = "HAMLET\n"  # speaker names stand on a line of their own in this text


# ----------------------------------------------------------------------------- the model
class LanguageModel(nn.Module):
    """Embedding -> LSTM/GRU -> linear decoder applied at every step: next-token logits.

    ``LanguageModel(vocab_size, embed_dim=64, hidden_size=256, num_layers=1,
    cell='lstm', dropout=0.0, tie_weights=False)``

    * ``cell``: ``'lstm'`` or ``'gru'``.
    * ``dropout``: applied to the embeddings, between recurrent layers and to
      the recurrent output before the decoder (training mode only).
    * ``tie_weights``: the decoder reuses the embedding table as its weight
      (Press & Wolf, 2017), which saves ``vocab_size * embed_dim`` parameters.
      The decoder's input must then have ``embed_dim`` features, so when
      ``hidden_size != embed_dim`` a linear projection hidden -> embed is added.

    ``forward(x, state=None) -> (logits, state)``: ``x`` (B, T) int64 ids,
    ``logits`` (B, T, vocab_size), ``state`` the recurrent state to pass to
    the next call: LSTM ``(h, c)``, GRU ``h``, each (num_layers, B, hidden_size).

    ``vocab`` (optional, not a parameter): the :class:`~minigrad.data.CharVocab`
    or :class:`~minigrad.data.Vocab` that maps text to ids, used by
    :meth:`generate` when the prompt is text.
    """

    def __init__(self, vocab_size, embed_dim=64, hidden_size=256, num_layers=1, cell="lstm", dropout=0.0,
                 tie_weights=False, vocab=None):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"LanguageModel: cell must be one of {sorted(CELLS)}, got {cell!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LanguageModel: dropout must be in [0, 1), got {dropout}")
        self.vocab_size, self.embed_dim, self.hidden_size = int(vocab_size), int(embed_dim), int(hidden_size)
        self.num_layers, self.cell, self.tie_weights = int(num_layers), cell, bool(tie_weights)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.drop = nn.Dropout(dropout)
        # PyTorch's recurrent layers apply their dropout between layers only, never after the last one.
        self.rnn = CELLS[cell](embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)
        if tie_weights:
            self.projection = nn.Linear(hidden_size, embed_dim) if hidden_size != embed_dim else None
            self.decoder = nn.Linear(embed_dim, vocab_size)
            # The shared table serves as input vectors and as output weights: N(0, 1) rows would give
            # huge initial logits, so start it small, as the PyTorch word-level example does.
            nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
            self.decoder.weight = self.embedding.weight  # one Parameter, two uses (counted once)
        else:
            self.projection = None
            self.decoder = nn.Linear(hidden_size, vocab_size)
        self.vocab = vocab

    def forward(self, x, state=None):
        """x: (B, T) int64 ids -> (logits (B, T, V), state)."""
        if x.ndim != 2:
            raise ValueError(f"LanguageModel: expected ids of shape (batch, seq_len), got {tuple(x.shape)}; "
                             f"use x.unsqueeze(0) for one sequence")
        embedded = self.drop(self.embedding(x))  # (B, T, E)
        output, state = self.rnn(embedded, state)  # (B, T, H): the hidden state after every step
        output = self.drop(output)
        if self.projection is not None:
            output = self.projection(output)
        return self.decoder(output), state  # a prediction at every step: (B, T, V)

    def extra_repr(self):
        return f"cell={self.cell!r}, tie_weights={self.tie_weights}"

    # -- one to many ---------------------------------------------------------------------------
    @mg.no_grad()
    def generate(self, prompt, length, temperature=1.0, top_k=None, seed=None, vocab=None):
        """Continue ``prompt`` by ``length`` sampled tokens (one to many).

        The state is first warmed up on the whole prompt (one forward over
        it); then each step samples a token from the last logits, feeds it
        back in and carries the state.

        * ``prompt``: text (a str; needs ``vocab``, default ``self.vocab``) or
          a list of token ids.  An empty prompt starts from a newline (char
          level) or a full stop (word level).
        * ``temperature``: logits are divided by it before the softmax (lower:
          safer, more repetitive; higher: more varied); 0 picks the most
          likely token every time.
        * ``top_k``: sample only among the k most likely tokens (None: all).
        * ``seed``: seeds the sampler (a NumPy generator); None draws the
          seed from minigrad's generator (so ``mg.manual_seed`` fixes it too).

        Returns the continuation only: a str for a char vocabulary, the words
        joined by spaces for a word vocabulary, or a list of ids when
        ``prompt`` is a list of ids.
        """
        vocab = vocab if vocab is not None else self.vocab
        length = int(length)
        if length < 0:
            raise ValueError(f"generate: length must be >= 0, got {length}")
        if top_k is not None and not 1 <= int(top_k):
            raise ValueError(f"generate: top_k must be a positive int or None, got {top_k}")
        if temperature < 0:
            raise ValueError(f"generate: temperature must be >= 0, got {temperature}")
        as_text = isinstance(prompt, str)
        ids = _encode_prompt(prompt, vocab) if as_text else [int(i) for i in prompt]
        if not ids:
            ids = [_start_id(vocab)]
        for i in ids:
            if not 0 <= i < self.vocab_size:
                raise IndexError(f"generate: prompt id {i} is out of range for a vocabulary of {self.vocab_size}")
        if seed is None:
            seed = int(mg.randint(0, 2**31 - 1, (1,)).item())
        rng = np.random.default_rng(seed)
        banned = [vocab.pad_id] if vocab is not None and getattr(vocab, "pad_id", None) is not None else []
        device = self.embedding.weight.device
        was_training = self.training
        self.eval()
        try:
            # Warm-up: read the whole prompt as a batch of one; keep only the last step's logits and the state.
            logits, state = self(mg.tensor(np.array([ids], dtype=np.int64), device=device), None)
            out = []
            for _ in range(length):
                next_id = _sample(logits[0, -1].cpu().numpy(), temperature, top_k, rng, banned)
                out.append(next_id)
                logits, state = self(mg.tensor(np.array([[next_id]], dtype=np.int64), device=device), state)
        finally:
            self.train(was_training)
        if not as_text:
            return out
        return _decode(out, vocab)


    @mg.no_grad()
    def rank_next(self, prompt, top=5, vocab=None):
        """The ``top`` most likely next tokens after ``prompt``: a list of ``(token, probability)``, most likely first.

        The model reads the whole prompt (a str; ``vocab`` defaults to
        ``self.vocab``) and its last logits give the distribution of the next
        token: the next word for a word-level model ("the boy crossed the" ->
        "road", ...), the next character for a character-level one.  The
        padding and unknown-word tokens are left out (the probabilities are
        still those of the model's full softmax).
        """
        vocab = vocab if vocab is not None else self.vocab
        top = int(top)
        if top < 1:
            raise ValueError(f"rank_next: top must be >= 1, got {top}")
        ids = _encode_prompt(prompt, vocab) or [_start_id(vocab)]
        was_training = self.training
        self.eval()
        try:
            logits, _ = self(mg.tensor(np.array([ids], dtype=np.int64), device=self.embedding.weight.device))
        finally:
            self.train(was_training)
        z = logits[0, -1].cpu().numpy().astype(np.float64)
        for special in (getattr(vocab, "pad_id", None), getattr(vocab, "unk_id", None)):
            if special is not None:
                z[special] = -np.inf  # padding and "unknown word" are not answers
        p = np.exp(z - z.max())
        p /= p.sum()
        order = np.argsort(-p, kind="stable")[:top]
        return [(vocab.itos[i], float(p[i])) for i in order]


def _encode_prompt(prompt, vocab):
    if vocab is None:
        raise ValueError("generate: a text prompt needs the vocabulary (pass vocab=, or set model.vocab)")
    if isinstance(vocab, mg.data.CharVocab):
        missing = sorted({c for c in prompt if c not in vocab.stoi})
        if missing and vocab.unk_id is None:
            raise ValueError(f"generate: the prompt has characters the model never saw: {missing}; "
                             f"its vocabulary has {len(vocab)} characters")
        return vocab.encode(prompt)
    return vocab.encode(mg.data.basic_tokenize(prompt))


def _start_id(vocab):
    """The token an empty prompt starts from."""
    for token in ("\n", "."):
        if vocab is not None and token in vocab.stoi:
            return vocab.stoi[token]
    return 0


def _decode(ids, vocab):
    if isinstance(vocab, mg.data.CharVocab):
        return vocab.decode(ids)
    return " ".join(vocab.decode(ids))


def _sample(logits, temperature, top_k, rng, banned=()):
    """One id drawn from ``softmax(logits / temperature)`` restricted to the ``top_k`` largest (NumPy, (V,))."""
    z = logits.astype(np.float64)  # sampling only: the model itself stays float32
    if len(banned):
        z[list(banned)] = -np.inf
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    if top_k is not None and top_k < z.shape[0]:
        kth_largest = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= kth_largest, z, -np.inf)
    p = np.exp(z - z.max())
    return int(rng.choice(z.shape[0], p=p / p.sum()))


# ----------------------------------------------------------------------------- evaluation
@mg.no_grad()
def evaluate_stream(model, ids, chunk_len=256, device="cpu"):
    """Mean cross-entropy of ``model`` predicting each token of ``ids`` from all the ones before it.

    ``ids``: one 1-D stream of token ids (list or int array).  It is read as
    ONE sequence from a zero state, in chunks of ``chunk_len`` with the state
    carried from chunk to chunk (batch 1, evaluation mode, no graph), so
    every prediction sees the whole text before it.

    Returns ``{"nats": mean nats per token, "perplexity": exp(nats), "bits":
    nats / ln 2 (bits per character for a character model), "tokens": count}``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or ids.shape[0] < 2:
        raise ValueError(f"evaluate_stream: need a 1-D stream of at least 2 ids, got shape {ids.shape}")
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        for start in range(0, ids.shape[0] - 1, chunk_len):
            chunk = ids[start:start + chunk_len + 1]  # inputs chunk[:-1], targets chunk[1:]
            x = mg.tensor(chunk[None, :-1], device=device)
            y = mg.tensor(chunk[1:], device=device)
            logits, state = model(x, state)
            total += F.cross_entropy(logits[0], y, reduction="sum").item()
            count += y.shape[0]
    finally:
        model.train(was_training)
    nats = total / count
    return {"nats": nats, "perplexity": T.perplexity(nats), "bits": nats / math.log(2), "tokens": count}


# ----------------------------------------------------------------------------- data
def read_text_file(path):
    """The text of a UTF-8 file to train on (``--text``); a clear error when it cannot serve."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise T.TrainingError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if len(text) < 100:
        raise T.TrainingError(f"{path} holds {len(text)} characters; a language model needs at least 100")
    return text


def default_prompt(text, level="char"):
    """A prompt taken from the start of ``text``: its first line (at most 40 characters; char level)
    or its first five words (word level), so that every character or word in it is in the vocabulary."""
    if level == "word":
        return " ".join(text.split()[:5])
    first = next((line for line in text.splitlines() if line.strip()), text)
    return first[:40]


def split_text(text, level="char", limit=None, vocab=None):
    """Text -> (train ids, validation ids, vocab): the first 90% trains, the last 10% validates.

    ``level='char'``: a :class:`~minigrad.data.CharVocab` of every character
    of the text (the alphabet is known in advance; no unknown characters).
    ``level='word'``: lowercase words and punctuation
    (:func:`~minigrad.data.basic_tokenize`), a :class:`~minigrad.data.Vocab`
    of the training words seen at least twice; the rest become ``<unk>``.
    ``limit``: use only the first ``limit`` characters of the text.
    ``vocab``: reuse this vocabulary (e.g. from a checkpoint).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if limit:
        text = text[:int(limit)]
    if level == "char":
        vocab = vocab if vocab is not None else mg.data.CharVocab.build(text)
        ids = vocab.encode_array(text)
        cut = int(len(ids) * (1 - VALIDATION_FRACTION))
    else:
        tokens = mg.data.basic_tokenize(text)
        cut = int(len(tokens) * (1 - VALIDATION_FRACTION))
        vocab = vocab if vocab is not None else mg.data.Vocab.build([tokens[:cut]], min_count=2)
        ids = np.array(vocab.encode(tokens), dtype=np.int64)
    return ids[:cut], ids[cut:], vocab


def build_model(config, vocab=None):
    """The :class:`LanguageModel` a checkpoint config describes."""
    return LanguageModel(config["vocab_size"], embed_dim=config["embed_dim"], hidden_size=config["hidden_size"],
                         num_layers=config["num_layers"], cell=config["cell"], dropout=config.get("dropout", 0.0),
                         tie_weights=config.get("tie_weights", False), vocab=vocab)


def vocab_from_state(state):
    """A vocabulary back from its ``state_dict`` (CharVocab or Vocab, as saved)."""
    kind = mg.data.CharVocab if state.get("kind") == "CharVocab" else mg.data.Vocab
    return kind.from_state_dict(state)


blas_threads = T.blas_threads  # the recurrent trainers' BLAS thread limit (see there)


# ----------------------------------------------------------------------------- training
OPTIONS = [
    *T.common_options("charlm", threads=1, monitor="validation loss"),
    T.Option("cell", "lstm", help="recurrent cell", choices=sorted(CELLS)),
    T.Option("level", "char", help="model characters or words", choices=LEVELS),
    T.Option("embed", 64, T.POSITIVE_INT, "embedding size"),
    T.Option("hidden", 256, T.POSITIVE_INT, "hidden state size"),
    T.Option("layers", 1, T.POSITIVE_INT, "stacked recurrent layers"),
    T.Option("batch_size", 32, T.POSITIVE_INT, "parallel streams"),
    T.Option("seq_len", 64, T.int_option(2), "steps per chunk (truncated BPTT length)"),
    T.Option("lr", 4e-3, T.POSITIVE_FLOAT, "Adam learning rate (cosine decay to 0)"),
    T.Option("clip", 5.0, T.POSITIVE_FLOAT, "gradient norm clipping"),
    T.Option("epochs", 16, T.POSITIVE_INT, "passes over the training text"),
    T.Option("dropout", 0.2, T.PROBABILITY, "on embeddings, between layers, before the decoder"),
    T.Option("tie_weights", False, help="decoder reuses the embedding table"),
    T.Option("limit", None, T.POSITIVE_INT, "use only the first N characters (quick check; default: all)"),
    T.Option("max_steps", None, T.POSITIVE_INT, "at most N chunks per epoch (quick check; default: all)"),
    T.Option("text_file", None, help="train on this UTF-8 text file (default: Hamlet)", flag="--text",
             metavar="FILE"),
    T.Option("prompt", None, help="prompt of the sample printed at the end (default: HAMLET for Hamlet, the start "
                                  "of --text otherwise)"),
    T.Option("sample_length", 300, T.NON_NEGATIVE_INT, "length of the sample printed at the end"),
    T.Option("temperature", 0.8, help="sampling temperature of the sample printed at the end", cli=False),
]


class _Limited:
    """The first ``steps`` items of ``batches`` (all of them when None), with a length."""

    def __init__(self, batches, steps=None):
        self.batches, self.steps = batches, len(batches) if steps is None else min(steps, len(batches))

    def __len__(self):
        return self.steps

    def __iter__(self):
        return itertools.islice(iter(self.batches), self.steps)


def tbptt_step(model, device="cpu"):
    """``(step, restart)``: the per-chunk step of truncated BPTT over :func:`mg.data.lm_batches` streams.

    ``step((x, y))`` continues from the state the previous chunk ended in, cut from its graph, and returns
    ``(mean cross-entropy, tokens)``; ``restart()`` goes back to a zero state (each epoch reads the streams
    from their beginning).
    """
    state = None

    def step(batch):
        nonlocal state
        x, y = (t.to(device) for t in batch)
        # Truncated backpropagation through time: this chunk continues the previous one, so start from
        # its final state (the values), but cut the graph behind it (the history): backward then stops
        # at the chunk boundary instead of running back through every earlier chunk.
        state = nn.utils.detach_state(state)
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        return loss, y.numel()

    def restart():
        nonlocal state
        state = None

    return step, restart


@T.takes_options(OPTIONS)
def train(o, *, text=None):
    """Train a language model on Hamlet (``minigrad train charlm``); returns the metrics dict.

    The keywords are :data:`OPTIONS` (``minigrad train charlm --help`` lists them), and ``text``: a
    string to train on instead of Hamlet.
    Data: the first 90% of ``mg.datasets.hamlet()`` (or ``text``) trains,
    the last 10% validates.  Training batches use the char-rnn layout
    (:func:`mg.data.lm_batches`): ``batch_size`` parallel streams cut into
    chunks of ``seq_len`` steps, the state carried from one chunk to the
    next and detached between them (truncated BPTT).  Adam with a cosine
    learning-rate decay to zero over all steps; gradients clipped to norm
    ``clip``.  After every epoch the validation text is read as ONE stream
    from a zero state (:func:`evaluate_stream`); the checkpoint keeps the
    best epoch.  ``limit``: use only the first N characters of the text;
    ``max_steps``: at most N chunks per epoch (quick checks).  ``threads``:
    BLAS threads while training (see :func:`blas_threads`; None: leave as is).

    Writes ``{out}/charlm.npz`` (the best epoch: weights, config, vocab,
    optimizer state, history up to that epoch), ``{out}/charlm_curves.png`` (with matplotlib),
    ``{out}/charlm_metrics.json``, and prints a sample generated from ``prompt`` (default: "HAMLET" for
    Hamlet, the start of the text otherwise).  ``text_file``: train on this UTF-8 file instead.  The
    checkpoint is rewritten after every epoch with what ``resume`` (its path) needs to continue the run.
    """
    device, seed, level, cell, epochs = o.device, o.seed, o.level, o.cell, o.epochs
    T.check_device(device)
    run = P.Run(o.distributed, o.batch_size, seed)
    quiet = o.quiet or not run.is_main
    mg.manual_seed(seed)
    if o.text_file is not None:
        text = read_text_file(o.text_file)
    own_text = text is not None
    text = text if own_text else mg.datasets.hamlet()
    prompt = o.prompt
    if prompt is None:
        prompt = default_prompt(text, level) if own_text else DEFAULT_PROMPT
    train_ids, val_ids, vocab = split_text(text, level, o.limit)
    config = {"task": "charlm", "level": level, "vocab_size": len(vocab), "embed_dim": o.embed,
              "hidden_size": o.hidden, "num_layers": o.layers, "cell": cell, "dropout": o.dropout,
              "tie_weights": o.tie_weights, "batch_size": o.batch_size, "seq_len": o.seq_len, "lr": o.lr,
              "clip": o.clip, "epochs": epochs, "seed": seed, "limit": o.limit}
    if o.text_file is not None:
        config["text_file"] = os.path.abspath(o.text_file)
    batches = mg.data.lm_batches(train_ids, o.batch_size, o.seq_len)
    steps_per_epoch = len(batches) if o.max_steps is None else min(len(batches), o.max_steps)

    model = LanguageModel(len(vocab), o.embed, o.hidden, o.layers, cell, o.dropout, o.tie_weights,
                          vocab=vocab).to(device)
    params = list(model.parameters())
    optimizer = mg.optim.Adam(params, lr=o.lr)
    train_model = run.wrap(model)  # distributed: DistributedDataParallel(model), each rank its share of the streams
    # Cosine decay over every step of every epoch: large steps early, fine ones at the end.
    scheduler = mg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    T.output_dir(o.out)
    ckpt = os.path.join(o.out, "charlm.npz")
    unit = "char" if level == "char" else "word"
    if not quiet:
        print(f"{cell.upper()} language model ({level} level): {sum(p.numel() for p in params):,} parameters; "
              f"vocabulary {len(vocab)}; {len(train_ids):,} training and {len(val_ids):,} validation {unit}s; "
              f"{steps_per_epoch} chunks of {o.batch_size}x{o.seq_len} per epoch; device {device}; seed {seed}",
              flush=True)
    start_all = time.perf_counter()
    step, restart = tbptt_step(train_model, device)

    def evaluate_epoch():
        val = evaluate_stream(model, val_ids, device=device)
        return {"val_nats": val["nats"], "val_bits": val["bits"], "lr": optimizer.param_groups[0]["lr"]}

    def describe(r, seconds, improved):
        return (f"epoch {r['epoch']:2d}: train {r['train_nats']:.4f} nats/{unit}  validation {r['val_nats']:.4f} "
                f"nats/{unit} ({r['val_bits']:.3f} bits/{unit}, perplexity {T.perplexity(r['val_nats']):.2f})  "
                f"({seconds:.1f}s{', best so far' if improved else ''})")

    def summarize(done):  # the model holds the best epoch's weights
        best = done.score if done.score is not None else math.inf
        total_seconds = time.perf_counter() - start_all
        sample = model.generate(prompt, o.sample_length, temperature=o.temperature, seed=seed)
        return {"cell": cell, "level": level, "val_nats": best, "val_bits": best / math.log(2),
                "val_perplexity": T.perplexity(best), "best_epoch": done.best_epoch,
                "final_val_nats": done.history.records[-1]["val_nats"] if done.history.records else None,
                "epochs": epochs, "seed": seed,
                "seconds_per_epoch": float(np.mean(done.epoch_times)) if done.epoch_times else None,
                "total_seconds": total_seconds, "checkpoint": ckpt, "curves": done.curves, "prompt": prompt,
                "sample": sample, "history": done.history.records}

    # The scheduler steps after every chunk (after_step), not after every epoch.
    done = T.fit(model, optimizer, _Limited(run.shard(batches), steps_per_epoch), step, evaluate_epoch,
                 task="charlm", config=config, epochs=epochs, checkpoint=ckpt, train_model=train_model,
                 scheduler=scheduler, scheduler_per_step=True, clip=o.clip, unit="chunk", begin_epoch=restart,
                 train_record=lambda nats: {"train_nats": nats}, monitor="val_nats", mode="min", keep="best",
                 patience=o.patience, extra={"vocab": vocab.state_dict(), "prompt": prompt}, resume=o.resume,
                 quiet=quiet, device=device, threads=o.threads, describe=describe,
                 curves=(os.path.join(o.out, "charlm_curves.png"), f"{cell.upper()} language model on hamlet",
                         [["train_nats", "val_nats"], ["lr"]]),
                 metrics=(os.path.join(o.out, "charlm_metrics.json"), summarize))
    metrics = done.metrics
    if not quiet:
        best = metrics["val_nats"]
        print(f"best validation {best:.4f} nats/{unit} ({best / math.log(2):.3f} bits/{unit}) at epoch "
              f"{done.best_epoch}; {T.format_seconds(metrics['total_seconds'])} in total; checkpoint {ckpt}"
              + (f"; curves {done.curves}" if done.curves else ""))
        print(f"--- sample (temperature {o.temperature}) ---\n{prompt}{_joiner(level, prompt)}{metrics['sample']}\n---",
              flush=True)
    return metrics


def train_epoch(model, batches, optimizer, scheduler=None, clip=5.0, device="cpu", steps=None, quiet=True):
    """One pass over the training streams with truncated BPTT; returns the mean training loss (nats per token).

    ``batches``: :func:`mg.data.lm_batches` chunks (x, y), each (B, T), read from a zero state
    (:func:`tbptt_step`).  ``scheduler`` (optional) is stepped after every chunk.  ``steps``: at
    most this many chunks.  ``quiet=False`` shows a progress bar.
    """
    step, _ = tbptt_step(model, device)
    after_step = scheduler.step if scheduler is not None else None
    # One long chunk can have exploding gradients: clip them.
    loss, _ = T.train_epoch(model, _Limited(batches, steps), optimizer, step, desc="train", quiet=quiet, clip=clip,
                            after_step=after_step, unit="chunk")
    return loss


def _joiner(level, prompt):
    return " " if level == "word" and prompt and not prompt.endswith((" ", "\n")) else ""


# ----------------------------------------------------------------------------- using a checkpoint
def load_model(checkpoint, device="cpu"):
    """(model with its vocab, checkpoint state) from a file written by :func:`train`."""
    model, state = T.load_model(checkpoint, "charlm", build_model, device)
    model.vocab = vocab_from_state(state["extra"]["vocab"])
    return model, state


def evaluate(checkpoint, device="cpu", text=None):
    """Validation nats per token of a checkpoint, on the same last 10% of the text it was trained beside."""
    model, state = load_model(checkpoint, device)
    config = state["config"]
    if text is None:
        text = read_text_file(config["text_file"]) if config.get("text_file") else mg.datasets.hamlet()
    _, val_ids, _ = split_text(text, config["level"], config.get("limit"), vocab=model.vocab)
    result = evaluate_stream(model, val_ids, device=device)
    return dict(result, cell=config["cell"], level=config["level"])


def generate_text(checkpoint, prompt="", length=300, temperature=0.8, top_k=None, seed=0, device="cpu"):
    """Load a checkpoint and continue ``prompt``: returns prompt + generated text."""
    model, state = load_model(checkpoint, device)
    if prompt is None:  # the start of the text the model was trained on
        prompt = state.get("extra", {}).get("prompt", DEFAULT_PROMPT if state["config"]["level"] == "char" else "")
    sample = model.generate(prompt, length, temperature=temperature, top_k=top_k, seed=seed)
    return prompt + _joiner(state["config"]["level"], prompt) + sample


# ----------------------------------------------------------------------------- command line
def add_train_arguments(parser):
    """Options of ``minigrad train charlm``: :data:`OPTIONS`."""
    T.add_options(parser, OPTIONS)


def train_from_args(args):
    metrics = train(**T.options_from_args(OPTIONS, args))
    return 0 if math.isfinite(metrics["val_nats"]) else 1


def evaluate_from_args(args):
    with blas_threads(1 if args.device == "cpu" else None):
        result = evaluate(args.checkpoint, device=args.device)
    unit = "char" if result["level"] == "char" else "word"
    print(f"{result['cell']} language model: validation {result['nats']:.4f} nats/{unit} ({result['bits']:.3f} "
          f"bits/{unit}, perplexity {result['perplexity']:.2f}) over {result['tokens']:,} {unit}s, read as one "
          f"stream from a zero state")
    return 0


SUMMARY_VOCAB = 66  # Hamlet's characters (a checkpoint brings its own vocabulary)


def summary_models():
    """``minigrad summary charlm``: the default model (or a checkpoint's ``config``) on 2 streams of 64 steps."""
    def build(config=None):
        config = config or {"vocab_size": SUMMARY_VOCAB, "embed_dim": 64, "hidden_size": 256, "num_layers": 1,
                            "cell": "lstm", "dropout": 0.2, "tie_weights": False}
        return build_model(config), None, {"input": mg.zeros(2, 64, dtype=mg.int64)}

    return {"charlm": build}


PREDICT_HELP = "rank the most likely next words (word level) or characters after a text"


def add_predict_arguments(parser):
    """Options of ``minigrad predict charlm`` (besides --checkpoint and --device)."""
    parser.add_argument("--next", required=True, metavar="TEXT",
                        help='the text to continue, e.g. "the boy crossed the"')
    parser.add_argument("--top", type=int, default=5, help="how many to list (default 5)")


def predict_from_args(args):
    """``minigrad predict charlm --checkpoint P --next TEXT [--top K]``: rank the next token after TEXT."""
    model, state = load_model(args.checkpoint, args.device)
    unit = "word" if state["config"]["level"] == "word" else "character"
    ranking = model.rank_next(args.next, top=args.top)
    print(f"most likely next {unit}s after {args.next!r}:")
    for rank, (token, p) in enumerate(ranking, 1):
        shown = repr(token) if unit == "character" else token
        print(f"{rank:>3}. {shown:<16} {p:.4f}")
    return 0


def generate_from_args(args):
    with blas_threads(1 if args.device == "cpu" else None):
        text = generate_text(args.checkpoint, prompt=args.prompt, length=args.length, temperature=args.temperature,
                             top_k=args.top_k, seed=args.seed, device=args.device)
    print(text)
    return 0
