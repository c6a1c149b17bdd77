"""Handwritten digits for the VAE chapter (paper §5.1): MNIST and scikit-learn's 8×8 digits.

MNIST comes from a local copy of the original IDX files (``$COLLAPSE_DATA_DIR/mnist``,
gzip-compressed, see :mod:`collapse.data`) or, for users with internet, from the hub
dataset ``ylecun/mnist``. With neither, :func:`load` raises
:class:`~collapse.data.DataUnavailable` within about a second (one probe of the hub,
no retries). scikit-learn's built-in 8×8 digits (``load_digits``, 1,797 images, no
download) are the stand-in for the ``smoke`` profile.

Images come back as ``float32`` arrays ``(n, H, W)`` in ``[0, 1]`` with ``int64``
labels ``(n,)``.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from . import data, validate

HUB_NAME = "ylecun/mnist"
DATASETS = ("mnist", "digits")
SPLITS = ("train", "test")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
DIGITS_TRAIN = 1500  # the first 1,500 of sklearn's 1,797 digits are "train", the rest "test"


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed): the format of LeCun's MNIST files.

    Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of
    dimensions, then one big-endian uint32 per dimension; the values follow. A missing,
    empty, truncated or corrupt file raises :class:`~collapse.data.DataError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise data.DataError(f"MNIST file {path} is missing")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as error:  # bad or truncated gzip stream
        raise data.DataError(f"{path} is truncated or not a valid gzip file ({error})") from None
    if not raw:
        raise data.DataError(f"{path} is empty (0 bytes of data)")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise data.DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()!r}, "
                             f"{len(raw)} bytes)")
    if ndim is not None and raw[3] != ndim:
        raise data.DataError(f"{path}: expected {ndim} dimensions, the header says {raw[3]}")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise data.DataError(f"{path}: truncated header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if len(raw) != expected:
        raise data.DataError(f"{path}: header says shape {shape} ({expected} bytes), "
                             f"file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype, offset=offset).reshape(shape)


def read_split(folder: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, H, W)`` and labels ``(n,)`` (uint8, 0…9) of a local MNIST split,
    checked to match: the same count, and every label a digit."""
    validate.choice("split", split, SPLITS)
    images_file, labels_file = (Path(folder) / name for name in IDX_FILES[split])
    images, labels = read_idx(images_file, ndim=3), read_idx(labels_file, ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise data.DataError(f"{images_file} and {labels_file} must hold unsigned bytes, "
                             f"got {images.dtype} and {labels.dtype}")
    if len(images) != len(labels):
        raise data.DataError(f"{labels_file} has {len(labels)} labels but {images_file} has "
                             f"{len(images)} images")
    if len(labels) == 0:
        raise data.DataError(f"{images_file} holds no images")
    if labels.max() > 9:
        raise data.DataError(f"{labels_file}: labels must be digits 0…9, found {labels.max()}")
    return images, labels


def _load_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = data.local_path("mnist")
    if folder is not None:
        return read_split(folder, split)
    missing = data.unavailable("MNIST", HUB_NAME, "mnist/ with the four IDX .gz files")
    if data.data_dir() is not None or not data.hub_reachable():
        raise missing  # COLLAPSE_DATA_DIR set means "no hub"; otherwise the hub is down
    import datasets

    try:
        table = datasets.load_dataset(HUB_NAME, split=split).with_format("numpy")
    except (OSError, ConnectionError) as error:
        raise missing from error
    return np.asarray(table["image"], dtype=np.uint8), np.asarray(table["label"])


def load(dataset: str = "mnist", split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, H, W)`` as float32 in [0, 1] and labels ``(n,)``.

    ``dataset="mnist"``: 60,000 train / 10,000 test images of 28×28.
    ``dataset="digits"``: scikit-learn's 8×8 digits (pixel values 0…16), split
    into the first 1,500 ("train") and the last 297 ("test").
    """
    validate.choice("dataset", dataset, DATASETS)
    validate.choice("split", split, SPLITS)
    if dataset == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        part = slice(0, DIGITS_TRAIN) if split == "train" else slice(DIGITS_TRAIN, None)
        return (digits.images[part] / 16.0).astype(np.float32), digits.target[part].astype(int)
    images, labels = _load_mnist(split)
    return (images / np.float32(255.0)).astype(np.float32), labels.astype(np.int64)


def subset(images: np.ndarray, labels: np.ndarray, n: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (and their labels) drawn uniformly without replacement."""
    n = validate.integer("n", n, minimum=1, maximum=len(images))
    validate.generator("rng", rng)
    index = np.sort(rng.choice(len(images), n, replace=False))
    return images[index], labels[index]


def train_classifier(images: np.ndarray, labels: np.ndarray, seed: int = 0):
    """A multinomial logistic regression on raw pixels, trained once on real digits.

    Used only to *label* generated images (how many look like each digit); it is
    not part of the generational loop.
    """
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(C=0.1, max_iter=300, random_state=seed)
    classifier.fit(images.reshape(len(images), -1), labels)
    return classifier


def class_fractions(classifier, images: np.ndarray) -> np.ndarray:
    """Fraction of ``images`` the classifier assigns to each of the 10 digits."""
    predicted = classifier.predict(np.asarray(images).reshape(len(images), -1))
    return np.bincount(predicted, minlength=10) / len(images)


def class_confidence(classifier, images: np.ndarray) -> float:
    """The classifier's mean probability of the digit it assigns (its largest class
    probability), over ``images``: near 1 for clear digits, 0.1 for ten equal guesses."""
    probabilities = classifier.predict_proba(np.asarray(images).reshape(len(images), -1))
    return float(probabilities.max(axis=1).mean())
