"""LeNet: convolutional digit recognisers, built only on minigrad's public API.

* :class:`LeNet5` — the modern LeNet-5 of the benchmarks (61,706 parameters).
* :class:`LeNet1989` — LeCun et al. (1989), "Backpropagation Applied to
  Handwritten Zip Code Recognition": the first shared-weight network trained
  by backpropagation (9,760 free parameters).
"""
from __future__ import annotations

import os

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F

from . import parallel as P
from . import training as T


class LeNet5(nn.Module):
    """LeNet-5 for 1x28x28 digits (the W1 benchmark shape).

    ===============  =================  ============================  ======
    layer            output shape       parameters                    count
    ===============  =================  ============================  ======
    conv1 5x5, pad2  (N, 6, 28, 28)     6*1*5*5 + 6                      156
    maxpool 2        (N, 6, 14, 14)
    conv2 5x5        (N, 16, 10, 10)    16*6*5*5 + 16                  2,416
    maxpool 2        (N, 16, 5, 5)
    fc1              (N, 120)           400*120 + 120                 48,120
    fc2              (N, 84)            120*84 + 84                   10,164
    fc3              (N, 10)            84*10 + 10                       850
    ===============  =================  ============================  ======

    Total 61,706.  ReLU after every layer but the last; the output is logits
    for ``F.cross_entropy``.
    """

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        """x: (N, 1, 28, 28) -> logits (N, num_classes)."""
        return self.classifier(self.features(x))


def _scaled_tanh(x):
    """LeCun's squashing function 1.7159 tanh(2x/3): f(1) = 1, f(-1) = -1."""
    return (x * (2.0 / 3.0)).tanh() * 1.7159


class LocalBiasConv2d(nn.Module):
    """A convolution whose weights are shared across positions but whose biases are not.

    In the 1989 network every *unit* has its own bias, so the bias has the
    output map's full shape (C_out, H_out, W_out).  ``in_maps`` lists, for each
    output map, the input maps it reads (a sparse connection table); each
    output map then owns ``len(in_maps[j]) * k * k`` weights.
    """

    def __init__(self, in_channels, out_channels, kernel_size, out_hw, stride=2, padding=0, in_maps=None):
        super().__init__()
        if in_maps is None:
            in_maps = [list(range(in_channels))] * out_channels
        fan_in = len(in_maps[0]) * kernel_size * kernel_size
        self.stride, self.padding = stride, padding
        self.in_maps = in_maps
        self.index = mg.tensor(np.array(in_maps, dtype=np.int64).reshape(-1))
        # The paper draws weights uniformly in +-2.4 / fan_in.
        bound = 2.4 / fan_in
        self.weight = nn.Parameter(mg.rand(out_channels, len(in_maps[0]), kernel_size, kernel_size) * 2 * bound - bound)
        self.bias = nn.Parameter(mg.rand(out_channels, *out_hw) * 2 * bound - bound)

    def forward(self, x):
        """x: (N, C_in, H, W) -> (N, C_out, H_out, W_out)."""
        if len(self.in_maps[0]) != x.shape[1] or any(m != list(range(x.shape[1])) for m in self.in_maps):
            # Gather each output map's inputs next to each other, then one grouped convolution.
            x = x.index_select(1, self.index.to(x.device))
            groups = len(self.in_maps)
        else:
            groups = 1
        y = F.conv2d(x, self.weight, stride=self.stride, padding=self.padding, groups=groups)
        return y + self.bias

    def extra_repr(self):
        return (f"maps {len(self.in_maps)} x {len(self.in_maps[0])} inputs, kernel {tuple(self.weight.shape[2:])}, "
                f"stride {self.stride}, per-unit bias {tuple(self.bias.shape)}")


def _h2_connections():
    """Which 8 of the 12 H1 maps each H2 map reads.

    The paper only says each H2 map combines 8 of the 12 H1 maps "according
    to a scheme that will not be described here"; we use a fixed cyclic
    scheme (map j reads H1 maps j, j+1, ..., j+7 mod 12), so every H1 map
    feeds exactly 8 H2 maps.
    """
    return [[(j + k) % 12 for k in range(8)] for j in range(12)]


class LeNet1989(nn.Module):
    """LeCun et al. 1989's zip-code network, on 16x16 inputs (28x28 digits are resized to 16x16).

    =====  ============================================  =============================  =======
    layer  structure                                     free parameters                count
    =====  ============================================  =============================  =======
    H1     12 maps 8x8, 5x5 kernels, stride 2, one       12*5*5 shared weights               300
           bias per unit                                 + 12*8*8 biases                     768
    H2     12 maps 4x4, 5x5 kernels, stride 2, each map  12*8*5*5 shared weights           2,400
           reads 8 of the 12 H1 maps, bias per unit      + 12*4*4 biases                     192
    H3     30 units, fully connected to H2's 192         192*30 + 30                       5,790
    out    10 units, fully connected to H3               30*10 + 10                          310
    =====  ============================================  =============================  =======

    Total 9,760 free parameters, the paper's count (1,068 + 2,592 + 5,790 +
    310).  Units use the scaled tanh 1.7159 tanh(2x/3); the input image is
    padded with -1 (the paper's background) to give 8x8 and 4x4 maps.  The
    paper trained with MSE against +-1 targets and a diagonal Newton method;
    here the outputs are used as logits for cross-entropy (``train`` in
    ``models/lenet.py``), a documented departure.
    """

    def __init__(self, num_classes=10):
        super().__init__()
        self.h1 = LocalBiasConv2d(1, 12, 5, (8, 8))
        self.h2 = LocalBiasConv2d(12, 12, 5, (4, 4), in_maps=_h2_connections())
        self.h3 = nn.Linear(12 * 4 * 4, 30)
        self.out = nn.Linear(30, num_classes)

    def forward(self, x):
        """x: (N, 1, 16, 16) in [-1, 1] (or (N, 1, 28, 28), resized here) -> logits (N, num_classes)."""
        if x.shape[-1] != 16:
            x = resize_to_16(x)
        x = F.pad(x, (2, 2, 2, 2), value=-1.0)
        h = _scaled_tanh(self.h1(x))
        h = F.pad(h, (2, 2, 2, 2), value=-1.0)
        h = _scaled_tanh(self.h2(h))
        h = _scaled_tanh(self.h3(h.flatten(1)))
        return self.out(h)


def resize_to_16(x):
    """Bilinear-free resize of (N, 1, 28, 28) images in [0, 1] to (N, 1, 16, 16) in [-1, 1].

    Each output pixel averages the input pixels its 1.75x1.75 cell covers
    (area interpolation as a fixed matrix product), then [0, 1] maps to [-1, 1].
    """
    n_in, n_out = x.shape[-1], 16
    m = _area_matrix(n_in, n_out)
    m = mg.tensor(m, dtype=x.dtype, device=x.device)
    y = m @ x @ m.T  # (16, 28) @ (N, 1, 28, 28) @ (28, 16)
    return y * 2.0 - 1.0


def _area_matrix(n_in, n_out):
    """(n_out, n_in) weights of area-averaging resampling."""
    m = np.zeros((n_out, n_in), dtype=np.float64)
    scale = n_in / n_out
    for i in range(n_out):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), int(np.ceil(hi))):
            m[i, j] = min(hi, j + 1) - max(lo, j)
    return m / m.sum(axis=1, keepdims=True)


MODELS = {"lenet5": LeNet5, "lenet1989": LeNet1989}


# ----------------------------------------------------------------------------- training
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # pixel statistics of MNIST's training set


def build_model(config):
    """The model a config describes (``config['model']``: 'lenet5' or 'lenet1989')."""
    name = config.get("model", "lenet5")
    if name not in MODELS:
        raise ValueError(f"unknown LeNet variant {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name]()


def prepare_images(x, config):
    """Raw [0, 1] images -> model inputs (LeNet-5: standardised; LeNet1989 resizes and rescales itself)."""
    if config.get("model", "lenet5") == "lenet5":
        return (x - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)
    return x


def random_shift(x, max_shift, background, rng):
    """Move each image by a random whole number of pixels in [-max_shift, max_shift] in each direction.

    x: (N, C, H, W) NumPy array; the uncovered border gets ``background``.  All
    images at once: pad, take every (H, W) window as a view, pick one per image.
    """
    n, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)), constant_values=background)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))  # (N, C, 2s+1, 2s+1, H, W)
    dy, dx = rng.integers(0, 2 * max_shift + 1, (2, n))
    return np.ascontiguousarray(windows[np.arange(n), :, dy, dx])


OPTIONS = [
    *T.common_options("lenet", monitor="test accuracy"),
    T.Option("model", "lenet5", help="LeNet variant", choices=sorted(MODELS)),
    T.Option("epochs", 20, T.POSITIVE_INT, "training epochs"),
    T.Option("batch_size", 32, T.POSITIVE_INT, "images per training batch"),
    T.Option("lr", 2e-3, T.POSITIVE_FLOAT, "Adam learning rate (cosine-annealed)"),
    T.Option("shift", 2, T.int_option(0, 13), "random shifts of up to N pixels (0: none)"),
    T.Option("weight_decay", 0.0, T.NON_NEGATIVE_FLOAT, "AdamW's decoupled weight decay"),
    T.Option("limit", None, T.POSITIVE_INT, "train on the first N images only (quick check; default: all)"),
]


@T.takes_options(OPTIONS)
def train(o, *, data=None):
    """Train a LeNet on ``mnist5k`` (4,000 train / 1,000 held-out digits), evaluating every epoch.

    The keywords are :data:`OPTIONS` (``minigrad train lenet --help`` lists them).  Adam (AdamW when
    ``weight_decay`` > 0) with a cosine-annealed learning rate; cross-entropy.
    Each training batch is moved by up to ``shift`` pixels (0: no augmentation):
    without it LeNet-5 fits the 4,000 training digits perfectly within 10 epochs
    and held-out accuracy stalls near 97% (seeds 0-2: 96.8-97.5% final; with
    shifts 97.4-98.2% over seeds 0-4).  Writes
    ``{out}/{model}.npz`` (checkpoint), ``{out}/{model}_curves.png`` (when
    matplotlib is installed) and ``{out}/{model}_metrics.json``; the checkpoint is rewritten after
    every epoch with what ``resume`` (the path of such a checkpoint) needs to continue the run
    exactly where it stopped.  ``limit``
    trains on the first ``limit`` training images (quick checks); ``data``
    may pass an :class:`~minigrad.datasets.ImageSplit` instead of fetching.
    ``distributed``: data-parallel over the ranks of ``mpiexec`` (``batch_size`` is the global batch).
    Returns the metrics dict (test accuracy of the final epoch, times, ...).
    """
    device, quiet, shift = o.device, o.quiet, o.shift
    T.check_device(device)
    run = P.Run(o.distributed, o.batch_size, o.seed)
    quiet = quiet or not run.is_main
    config = {"task": "lenet", "model": o.model, "epochs": o.epochs, "batch_size": o.batch_size, "lr": o.lr,
              "seed": o.seed, "shift": shift, "weight_decay": o.weight_decay}
    mg.manual_seed(o.seed)
    split = data if data is not None else mg.datasets.mnist5k()
    x_train, y_train = prepare_images(split.x_train, config), split.y_train
    if o.limit:
        x_train, y_train = x_train[:o.limit], y_train[:o.limit]
    x_test, y_test = prepare_images(split.x_test, config), split.y_test
    train_loader = mg.data.DataLoader(mg.data.TensorDataset(x_train, y_train), batch_size=o.batch_size, shuffle=True)
    train_loader = run.shard(train_loader)  # distributed: this rank's rows of every batch
    test_loader = mg.data.DataLoader(mg.data.TensorDataset(x_test, y_test), batch_size=500)

    net = build_model(config).to(device)
    optimizer = mg.optim.AdamW(net.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    train_net = run.wrap(net)  # distributed: DistributedDataParallel(net)
    background = float(prepare_images(np.zeros((), np.float32), config))  # the value of an empty pixel
    shift_rng = np.random.default_rng(o.seed + 7919 * run.rank)  # each rank its own shifts
    scheduler = mg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=o.epochs)
    T.output_dir(o.out)
    ckpt = os.path.join(o.out, f"{o.model}.npz")
    if not quiet:
        print(f"{o.model}: {sum(p.numel() for p in net.parameters()):,} parameters; {len(x_train)} training and "
              f"{len(x_test)} test images; device {device}; seed {o.seed}", flush=True)

    def batch_loss(batch):
        x, y = batch
        if shift:
            x = mg.tensor(random_shift(x.numpy(), shift, background, shift_rng))
        x, y = x.to(device), y.to(device)
        return F.cross_entropy(train_net(x), y), y.shape[0]

    def evaluate_epoch():
        test_loss, test_acc = T.evaluate_classifier(net, test_loader, device)
        return {"test_loss": test_loss, "test_acc": test_acc}

    def describe(r, seconds, improved):
        return (f"epoch {r['epoch']:2d}: train loss {r['train_loss']:.4f}  test loss {r['test_loss']:.4f}  "
                f"test accuracy {r['test_acc']:.2%}  ({seconds:.1f}s)")

    def summarize(done):
        history = done.history
        return {"model": o.model, "test_accuracy": history.records[-1]["test_acc"] if history.records else None,
                "best_test_accuracy": history.best("test_acc"), "epochs": o.epochs, "seed": o.seed,
                "seconds_per_epoch": float(np.mean(done.epoch_times)) if done.epoch_times else None,
                "checkpoint": ckpt, "curves": done.curves}

    done = T.fit(net, optimizer, train_loader, batch_loss, evaluate_epoch, task="lenet", config=config,
                 epochs=o.epochs, checkpoint=ckpt, train_model=train_net, scheduler=scheduler, monitor="test_acc",
                 patience=o.patience, generators={"shift": shift_rng}, resume=o.resume, quiet=quiet, device=device,
                 threads=o.threads, describe=describe,
                 curves=(os.path.join(o.out, f"{o.model}_curves.png"), f"{o.model} on mnist5k",
                         [["train_loss", "test_loss"], ["test_acc"]]),
                 metrics=(os.path.join(o.out, f"{o.model}_metrics.json"), summarize))
    metrics = done.metrics
    if not quiet:
        print(f"final test accuracy {metrics['test_accuracy']:.2%}; checkpoint {ckpt}"
              + (f"; curves {done.curves}" if done.curves else ""), flush=True)
    return metrics


def evaluate(checkpoint, device="cpu", data=None):
    """Reload a checkpoint written by :func:`train` and return its accuracy on the held-out digits."""
    net, state = T.load_model(checkpoint, "lenet", build_model, device)
    config = state["config"]
    split = data if data is not None else mg.datasets.mnist5k()
    loader = mg.data.DataLoader(mg.data.TensorDataset(prepare_images(split.x_test, config), split.y_test),
                                batch_size=500)
    loss, acc = T.evaluate_classifier(net, loader, device)
    return {"model": config.get("model"), "test_accuracy": acc, "test_loss": loss}


# ----------------------------------------------------------------------------- command line
def add_train_arguments(parser):
    """Options of ``minigrad train lenet``: :data:`OPTIONS`."""
    T.add_options(parser, OPTIONS)


def summary_models():
    """``minigrad summary`` names -> builders ``build(config=None)`` of (model, input shape, summary options);
    ``config``: a checkpoint's, to describe that model."""
    def build(name, shape):
        return lambda config=None: (build_model(config or {"model": name}), shape, {})

    return {"lenet5": build("lenet5", (1, 1, 28, 28)), "lenet1989": build("lenet1989", (1, 1, 16, 16))}


def train_from_args(args):
    metrics = train(**T.options_from_args(OPTIONS, args))
    return 0 if metrics["test_accuracy"] > 0 else 1


def evaluate_from_args(args):
    result = evaluate(args.checkpoint, device=args.device)
    print(f"{result['model']}: test accuracy {result['test_accuracy']:.2%} (test loss {result['test_loss']:.4f}) "
          f"on the 1,000 held-out mnist5k digits")
    return 0
