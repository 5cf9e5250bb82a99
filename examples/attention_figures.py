"""The attention chapter's figures, from trained encoder-decoders: the bottleneck measured and the alignment drawn.

Train the models first (each writes a checkpoint under its ``--out``):

    minigrad train seq2seq --min-len 16 --max-len 32 --attention none     --out runs/none
    minigrad train seq2seq --min-len 16 --max-len 32 --attention additive --out runs/additive

then draw:

    python examples/attention_figures.py runs/none/seq2seq_reverse.npz runs/additive/seq2seq_reverse.npz \\
        --out docs/img

It writes ``attention_bottleneck.svg`` (held-out exact match against the
string length, one line per checkpoint) and ``attention_alignment.svg``
(the attention weights of the first checkpoint with attention, on a few
held-out strings), and prints the accuracies as a table.  Each length is
measured on ``--per-length`` fresh strings the models never saw in training.
Needs matplotlib (the ``plot`` extra) for the pictures; without it only the
table is printed.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import minigrad as mg  # noqa: E402
from minigrad_models import seq2seq as S  # noqa: E402

LABELS = {"none": "no attention (final state only)", "additive": "additive attention", "dot": "dot-product attention"}


def measure(checkpoints, per_length=200, seed=1):
    """{label: {length: exact match}} for each checkpoint, on its own training lengths."""
    results, models = {}, []
    for path in checkpoints:
        model, vocab, config = S.load_model(path)
        low, high = config.get("min_len", 1), config.get("max_len", 8)
        train, _ = S.make_pairs(config["problem"], config["n_train"], config["n_test"], config["seed"],
                                min_len=low, max_len=high)
        label = LABELS.get(config.get("attention", "none"), path)
        results[label] = S.accuracy_by_length(model, vocab, range(low, high + 1), per_length, seed,
                                              exclude=[s for s, _ in train])
        models.append((model, vocab, config))
    return results, models


def _small_svg(matplotlib):
    """Small, reproducible SVG files: text as text in one font, fixed ids, no date."""
    matplotlib.rcParams.update({"svg.fonttype": "none", "font.family": "sans-serif",
                                "font.sans-serif": ["DejaVu Sans"], "svg.hashsalt": "minigrad"})
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")


def plot_bottleneck(results, path):
    """One line per model: exact match (%) against the string length.  Returns the path or None."""
    try:
        import matplotlib  # noqa: PLC0415 - optional

        matplotlib.use("Agg")
        _small_svg(matplotlib)
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    for (label, by_length), marker in zip(results.items(), "os^"):
        ax.plot(list(by_length), [100 * a for a in by_length.values()], marker=marker, markersize=4, label=label)
    ax.set_xlabel("string length (digits)")
    ax.set_ylabel("held-out exact match (%)")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="seq2seq checkpoints written by `minigrad train seq2seq`")
    parser.add_argument("--out", default="runs/attention", help="directory for the SVG files")
    parser.add_argument("--per-length", type=int, default=200, help="fresh strings per length")
    parser.add_argument("--strings", type=int, default=3, help="held-out strings in the alignment picture")
    args = parser.parse_args(argv)
    mg.set_num_threads(1)
    results, models = measure(args.checkpoints, args.per_length)
    lengths = sorted({n for by_length in results.values() for n in by_length})
    print("length  " + "  ".join(f"{label:>32s}" for label in results))
    for n in lengths:
        print(f"{n:6d}  " + "  ".join(f"{100 * r[n]:31.1f}%" if n in r else " " * 32 for r in results.values()))
    os.makedirs(args.out, exist_ok=True)
    written = [plot_bottleneck(results, os.path.join(args.out, "attention_bottleneck.svg"))]
    attending = [(m, v, c) for m, v, c in models if c.get("attention", "none") != "none"]
    if attending:
        model, vocab, config = attending[0]
        _, held_out = S.make_pairs(config["problem"], config["n_train"], config["n_test"], config["seed"],
                                   min_len=config.get("min_len"), max_len=config.get("max_len"))
        by_length = sorted(held_out[:50], key=lambda pair: len(pair[0]))  # short to long: the shapes differ
        picked = [by_length[round(i * (len(by_length) - 1) / max(args.strings - 1, 1))] for i in range(args.strings)]
        try:
            import matplotlib  # noqa: PLC0415

            _small_svg(matplotlib)
        except ImportError:
            pass
        written.append(S.plot_alignments(model, picked, vocab, os.path.join(args.out, "attention_alignment.svg"),
                                         title=f"{LABELS[config['attention']]}: where the decoder looked"))
    written = [w for w in written if w]
    print("wrote " + ", ".join(written) if written else "matplotlib is not installed: no pictures")
    return results


if __name__ == "__main__":
    main()
