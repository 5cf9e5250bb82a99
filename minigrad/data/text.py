"""Text to ids and back: a tokenizer, word vocabularies and character vocabularies.

>>> tokens = [basic_tokenize(t) for t in texts]
>>> vocab = Vocab.build(tokens, min_count=2, max_size=5000)
>>> ids = vocab.encode(tokens[0])           # unknown words -> vocab.unk_id
>>> vocab.decode(ids)                       # back to tokens
"""
from __future__ import annotations

import collections
import json
import numbers
import os
import re
import tempfile

import numpy as np

from ..autograd.engine import Tensor

__all__ = ["basic_tokenize", "Vocab", "CharVocab"]

# A word is a run of letters/digits, with inner apostrophes kept ("don't");
# every other non-space character is a token of its own.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]|_", re.UNICODE)


def basic_tokenize(text: str) -> list[str]:
    """Lowercase ``text`` and split it into words and punctuation marks.

    >>> basic_tokenize("Don't stop, it's GREAT!")
    ["don't", 'stop', ',', "it's", 'great', '!']
    """
    if not isinstance(text, str):
        raise TypeError(f"basic_tokenize expects a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


def _ids_to_list(ids):
    """Tensor / array / nested list of ids -> flat list of Python ints (1-D input expected)."""
    if isinstance(ids, Tensor):
        ids = ids.tolist()
    elif hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int):
        ids = [ids]
    return list(ids)


def _write_json_atomically(obj, path):
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".vocab-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=0)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class Vocab:
    """A two-way map between tokens and integer ids.

    ``Vocab(itos)`` wraps a list of tokens (id = position);
    :meth:`Vocab.build` counts tokens in an iterable of token lists.
    Special tokens come first: by default ``<pad>`` = 0 and ``<unk>`` = 1.
    Tokens not in the vocabulary encode to ``unk_id`` (or raise KeyError
    when ``unk_token`` is None).

    Attributes: ``itos`` (list, id -> token), ``stoi`` (dict, token -> id),
    ``pad_id``, ``unk_id`` (None when absent), ``specials`` (the special
    tokens, which ``decode(..., skip_specials=True)`` drops).
    """

    def __init__(self, itos, pad_token="<pad>", unk_token="<unk>", specials=None):
        itos = [str(t) for t in itos]
        self.stoi = {}
        for i, tok in enumerate(itos):
            if tok in self.stoi:
                raise ValueError(f"Vocab: token {tok!r} appears twice (ids {self.stoi[tok]} and {i})")
            self.stoi[tok] = i
        self.itos = itos
        for name, tok in (("pad_token", pad_token), ("unk_token", unk_token)):
            if tok is not None and tok not in self.stoi:
                raise ValueError(f"Vocab: {name} {tok!r} is not among the tokens; add it or pass {name}=None")
        self.pad_token, self.unk_token = pad_token, unk_token
        self.pad_id = None if pad_token is None else self.stoi[pad_token]
        self.unk_id = None if unk_token is None else self.stoi[unk_token]
        if specials is None:
            specials = [t for t in (pad_token, unk_token) if t is not None]
        missing = [t for t in specials if t not in self.stoi]
        if missing:
            raise ValueError(f"Vocab: special tokens {missing} are not among the tokens")
        self.specials = tuple(specials)
        self.counts = None  # token counts, when made by build()

    @classmethod
    def build(cls, token_lists, min_count=1, max_size=None, specials=("<pad>", "<unk>"),
              pad_token="<pad>", unk_token="<unk>"):
        """Count the tokens in ``token_lists`` (an iterable of lists of str) and keep the frequent ones.

        Ids: the ``specials`` first (in the order given), then tokens by
        decreasing count, ties in order of first appearance.  Tokens seen
        fewer than ``min_count`` times are dropped; ``max_size`` caps the
        total size, specials included.
        """
        if isinstance(token_lists, str):
            raise TypeError("Vocab.build takes an iterable of token lists, got a str; "
                            "tokenize first: Vocab.build([basic_tokenize(t) for t in texts])")
        counts = collections.Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise TypeError("Vocab.build takes an iterable of token LISTS, got an iterable of str; "
                                "wrap it: Vocab.build([tokens]) or tokenize each text")
            counts.update(tokens)
        return cls._from_counts(counts, min_count, max_size, specials, pad_token, unk_token)

    @classmethod
    def _from_counts(cls, counts, min_count, max_size, specials, pad_token, unk_token, key=None):
        specials = list(specials)
        if max_size is not None and max_size < len(specials):
            raise ValueError(f"max_size={max_size} leaves no room for the {len(specials)} special tokens {specials}")
        # Counter keeps first-appearance order, and sorted() is stable: ties stay in that order.
        kept = [t for t, c in counts.items() if c >= min_count and t not in specials]
        kept = sorted(kept, key=key) if key is not None else sorted(kept, key=lambda t: -counts[t])
        if max_size is not None:
            kept = kept[:max_size - len(specials)]
        vocab = cls(specials + kept,
                    pad_token=pad_token if pad_token in specials else None,
                    unk_token=unk_token if unk_token in specials else None, specials=specials)
        vocab.counts = counts
        return vocab

    # -- lookups ---------------------------------------------------------------
    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def __getitem__(self, token):
        """The id of ``token`` (``unk_id`` when unknown)."""
        return self._id(token)

    def _id(self, token):
        i = self.stoi.get(token)
        if i is not None:
            return i
        if self.unk_id is None:
            raise KeyError(f"token {token!r} is not in the vocabulary and it has no unk_token")
        return self.unk_id

    def encode(self, tokens) -> list[int]:
        """Token list -> list of ids (unknown tokens -> ``unk_id``)."""
        if isinstance(tokens, str):
            raise TypeError("Vocab.encode takes a list of tokens, got a str; tokenize it first "
                            "(minigrad.data.basic_tokenize), or use CharVocab for characters")
        return [self._id(t) for t in tokens]

    def decode(self, ids, skip_specials=False) -> list[str]:
        """Ids (list, array or 1-D Tensor) -> list of tokens; ``skip_specials`` drops ``<pad>`` etc."""
        out = []
        n = len(self.itos)
        for i in _ids_to_list(ids):
            if not isinstance(i, numbers.Integral) or not 0 <= i < n:
                raise IndexError(f"id {i!r} is out of range for a vocabulary of {n} tokens")
            tok = self.itos[int(i)]
            if skip_specials and tok in self.specials:
                continue
            out.append(tok)
        return out

    def lookup_token(self, i: int) -> str:
        return self.decode([i])[0]

    # -- saving ----------------------------------------------------------------
    def state_dict(self) -> dict:
        """A plain dict (JSON-serialisable) that :meth:`from_state_dict` turns back into this vocab."""
        return {"kind": type(self).__name__, "itos": list(self.itos),
                "pad_token": self.pad_token, "unk_token": self.unk_token, "specials": list(self.specials)}

    @classmethod
    def from_state_dict(cls, state):
        try:
            return cls(state["itos"], pad_token=state["pad_token"], unk_token=state["unk_token"],
                       specials=state.get("specials"))
        except KeyError as e:
            raise ValueError(f"not a vocabulary state dict: missing key {e}") from None

    def save(self, path):
        """Write the vocabulary as JSON (atomically)."""
        _write_json_atomically(self.state_dict(), path)

    @classmethod
    def load(cls, path):
        """Read a vocabulary written by :meth:`save`."""
        with open(path, encoding="utf-8") as f:
            try:
                state = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not a vocabulary JSON file ({e})") from None
        if not isinstance(state, dict):
            raise ValueError(f"{path}: not a vocabulary JSON file (top level is {type(state).__name__})")
        return cls.from_state_dict(state)

    def __eq__(self, other):
        return type(other) is type(self) and self.state_dict() == other.state_dict()

    __hash__ = None

    def __repr__(self):
        head = ", ".join(repr(t) for t in self.itos[:6])
        more = ", ..." if len(self.itos) > 6 else ""
        return f"{type(self).__name__}({len(self)} tokens: [{head}{more}])"


class CharVocab(Vocab):
    """A vocabulary of characters: ``encode`` takes a str, ``decode`` gives a str.

    :meth:`CharVocab.build` takes an iterable of strings (or one string) and
    orders the characters by code point.  No special tokens by default (a
    character language model needs none): unknown characters then raise
    KeyError; pass ``specials=("<pad>", "<unk>")`` to map them to ``<unk>``.
    """

    def __init__(self, itos, pad_token=None, unk_token=None, specials=None):
        super().__init__(itos, pad_token=pad_token, unk_token=unk_token, specials=specials)

    @classmethod
    def build(cls, texts, min_count=1, max_size=None, specials=(), pad_token="<pad>", unk_token="<unk>"):
        """Collect the characters of ``texts`` (a str or an iterable of str)."""
        if isinstance(texts, str):
            texts = [texts]
        counts = collections.Counter()
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"CharVocab.build takes strings, got {type(text).__name__}")
            counts.update(text)
        if max_size is not None:  # keep the most frequent, then order by code point
            room = max(max_size - len(specials), 0)
            frequent = sorted((c for c in counts if counts[c] >= min_count), key=lambda c: -counts[c])[:room]
            counts = collections.Counter({c: counts[c] for c in frequent})
        return cls._from_counts(counts, min_count, max_size, specials, pad_token, unk_token, key=lambda c: c)

    def encode(self, text) -> list[int]:
        """A str (or list of characters) -> list of ids."""
        return [self._id(c) for c in text]

    def encode_array(self, text) -> np.ndarray:
        """A str -> int64 array of ids (fast for long texts: one dict lookup per distinct character)."""
        if not text:
            return np.zeros(0, dtype=np.int64)
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        distinct, inverse = np.unique(codes, return_inverse=True)
        table = np.array([self._id(chr(c)) for c in distinct], dtype=np.int64)
        return table[inverse.reshape(-1)]

    def decode(self, ids, skip_specials=False) -> str:
        """Ids -> str (special tokens are written as their names unless ``skip_specials``)."""
        return "".join(super().decode(ids, skip_specials=skip_specials))
