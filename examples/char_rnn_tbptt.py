"""Truncated backpropagation through time, written out: a character LSTM language model.

A text is one long sequence; nobody backpropagates through a million steps. Truncated BPTT cuts it
into chunks of ``seq_len`` steps and, between chunks,

* **carries** the LSTM state ``(h, c)`` forward, so the model still sees the text as one stream, and
* **detaches** it (``mg.nn.utils.detach_state``), so each backward stops at the chunk's start.

``minigrad train charlm`` (models/language_model.py) is the full version; this script keeps just the
loop, then samples text one character at a time from the trained model.

Run:  python examples/char_rnn_tbptt.py [--text FILE] [--epochs N]
(no ``--text``: Hamlet, fetched once into the data cache.)
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.data import CharVocab, lm_batches  # noqa: E402


class CharLSTM(nn.Module):
    """Characters -> embedding -> LSTM -> logits for the next character."""

    def __init__(self, vocab_size, embed=32, hidden=128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids, state=None):
        """ids (B, T) int64 -> logits (B, T, vocab), new state ((1, B, H), (1, B, H))."""
        output, state = self.lstm(self.embed(ids), state)
        return self.head(output), state


def sample(model, vocab, prompt, length, temperature=0.8, seed=0):
    """Feed ``prompt``, then draw ``length`` characters, each fed back in as the next input."""
    rng = np.random.default_rng(seed)
    model.eval()
    with mg.no_grad():
        logits, state = model(mg.tensor([vocab.encode(prompt)]))
        out = list(prompt)
        for _ in range(length):
            probs = (logits[0, -1] / temperature).softmax(-1).numpy().astype(np.float64)
            nxt = int(rng.choice(len(probs), p=probs / probs.sum()))
            out.append(vocab.decode([nxt]))
            logits, state = model(mg.tensor([[nxt]]), state)
    model.train()
    return "".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", default=None, help="a UTF-8 text file (default: Hamlet)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="parallel streams")
    parser.add_argument("--seq-len", type=int, default=64, help="BPTT steps per chunk")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    mg.manual_seed(args.seed)
    text = open(args.text, encoding="utf-8").read() if args.text else mg.datasets.hamlet()
    vocab = CharVocab.build(text)
    batches = lm_batches(vocab.encode_array(text), args.batch, args.seq_len)  # (B, T) chunks, streams continue
    model = CharLSTM(len(vocab), hidden=args.hidden)
    optimizer = mg.optim.Adam(model.parameters(), lr=args.lr)
    print(f"{len(text):,} characters, {len(vocab)} distinct; {len(batches)} chunks of "
          f"{args.batch} x {args.seq_len} per epoch")

    history = []
    for epoch in range(1, args.epochs + 1):
        start, total, count = time.perf_counter(), 0.0, 0
        state = None                                     # a fresh stream each epoch
        for x, y in batches:
            if state is not None:
                state = nn.utils.detach_state(state)     # keep the values, forget the graph
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()                              # BPTT through this chunk only
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            total, count = total + loss.item() * y.numel(), count + y.numel()
        history.append(total / count)
        print(f"epoch {epoch}: {history[-1]:.3f} nats/char ({history[-1] / math.log(2):.3f} bits), "
              f"{time.perf_counter() - start:.1f} s")
    print("sample:", repr(sample(model, vocab, text[:1], 120, seed=args.seed)))
    return history


if __name__ == "__main__":
    main()
