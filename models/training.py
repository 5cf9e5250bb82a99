"""What every trainer in ``models/`` shares: options declared once, the epoch loop (:func:`fit`), progress
bars, history and curves, checkpoints, evaluation.

Built only on minigrad's public API.  tqdm and matplotlib are optional: without
tqdm the progress is printed as plain lines; without matplotlib no PNG is made.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import json
import math
import os
import sys
import time
import types

import numpy as np

import minigrad as mg

from . import parallel


class TrainingError(RuntimeError):
    """An expected failure of a training run or of using a checkpoint: the command line prints its
    message in one or two lines (no traceback) and exits with status 2."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite: training stops before anything non-finite is saved."""


class CheckpointMismatchError(TrainingError):
    """A checkpoint written by another task or model than the one asked for."""


# ----------------------------------------------------------------------------- option types
def int_option(minimum=None, maximum=None):
    """An argparse ``type``: an integer in [minimum, maximum] (either bound may be None)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def float_option(minimum=None, maximum=None, above=None, below=None):
    """An argparse ``type``: a finite number, ``minimum <= x <= maximum``, ``above < x < below``."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {value:g}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:g}, got {value:g}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"must be greater than {above:g}, got {value:g}")
        if below is not None and value >= below:
            raise argparse.ArgumentTypeError(f"must be less than {below:g}, got {value:g}")
        return value

    parse.__name__ = "number"
    return parse


POSITIVE_INT = int_option(1)
NON_NEGATIVE_INT = int_option(0)
POSITIVE_FLOAT = float_option(above=0.0)
NON_NEGATIVE_FLOAT = float_option(0.0)
PROBABILITY = float_option(0.0, below=1.0)  # dropout rates, decays: [0, 1)


# ----------------------------------------------------------------------------- options, declared once
class Option:
    """One option of a trainer, declared once: it is a keyword of the task's ``train`` (with this default) and,
    unless ``cli=False``, a flag of ``minigrad train <task>`` (with this type, choices and help).

    ``flag``: the flag when it is not ``--`` + the name with dashes.  A bool option is a switch: off by
    default, ``flag`` turns it on; on by default (e.g. ``Option("glove", True, flag="--no-glove")``), the flag
    turns it off.  ``type``: an argparse type such as :data:`POSITIVE_INT`.
    """

    def __init__(self, name, default=None, type=None, help="", *, flag=None, choices=None, metavar=None, cli=True):
        self.name, self.default, self.type, self.help = name, default, type, help
        self.flag = flag or "--" + name.replace("_", "-")
        # argparse would name the value after the keyword (--layers NUM_LAYERS); name it after the flag
        metavar = metavar or (self.flag.lstrip("-").replace("-", "_").upper() if flag and choices is None else None)
        self.choices, self.metavar, self.cli = choices, metavar, cli

    def add_to(self, parser):
        """Add this option's flag to an argparse ``parser`` (its ``dest`` is the ``train`` keyword)."""
        if isinstance(self.default, bool):
            parser.add_argument(self.flag, dest=self.name, action="store_false" if self.default else "store_true",
                                help=self.help)
            return
        extra = {k: v for k, v in (("type", self.type), ("choices", self.choices), ("metavar", self.metavar))
                 if v is not None}
        parser.add_argument(self.flag, dest=self.name, default=self.default, help=self.help, **extra)


def common_options(task, threads=None, patience=0, monitor="validation metric"):
    """The options every trainer has: device, seed, output folder, threads, resume, data parallelism and
    early stopping (``patience`` epochs without a better ``monitor``; 0: off)."""
    return [
        Option("device", "cpu", help="cpu, cuda or cuda:N (cuda needs the gpu extra)"),
        Option("seed", 0, int, "random seed"),
        Option("quiet", False, help="no progress bars or per-epoch lines"),
        Option("out", f"runs/{task}", help="folder for the checkpoint, metrics and curves"),
        Option("threads", threads, POSITIVE_INT, "threads for NumPy's matrix products (default: "
               + ("1, as this model's matrices are small" if threads else "NumPy's own") + ")"),
        Option("resume", None, help="continue the run saved in this checkpoint (written after every epoch)",
               metavar="CHECKPOINT"),
        Option("distributed", False, help="data-parallel over the processes started by mpiexec -n N (needs the mpi "
                                          "extra); --batch-size is the global batch; rank 0 prints and writes"),
        Option("patience", patience, NON_NEGATIVE_INT,
               f"stop after this many epochs without a better {monitor} (0: never)"),
    ]


def takes_options(options):
    """Decorator: ``train(o, *, data=None, ...)`` becomes ``train(**keywords)``, whose keywords are the
    ``options`` (defaults filled in, passed as the namespace ``o``) and the function's own keyword
    parameters (in-memory data and the like)."""
    by_name = {o.name: o for o in options}

    def wrap(fn):
        own = list(inspect.signature(fn).parameters.values())[1:]
        clash = sorted(set(by_name) & {p.name for p in own})
        if clash:
            raise TypeError(f"{fn.__qualname__}: {clash} declared both as options and as parameters")

        @functools.wraps(fn)
        def train(**kwargs):
            unknown = sorted(set(kwargs) - set(by_name) - {p.name for p in own})
            if unknown:
                raise TypeError(f"{fn.__module__}.{fn.__name__}() got an unexpected keyword argument {unknown[0]!r}")
            values = {name: kwargs.pop(name, o.default) for name, o in by_name.items()}
            return fn(types.SimpleNamespace(**values), **kwargs)

        params = [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default) for o in options]
        params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        train.__signature__ = inspect.Signature(params)
        del train.__wrapped__  # the signature above, not the inner function's, is the one to show
        train.options = list(options)
        return train

    return wrap


def add_options(parser, options):
    """Add every command-line option of ``options`` to ``parser``."""
    for option in options:
        if option.cli:
            option.add_to(parser)


def options_from_args(options, args):
    """The ``train`` keywords that parsed command-line ``args`` give (``options``' names)."""
    return {o.name: getattr(args, o.name) for o in options if o.cli and hasattr(args, o.name)}


def check_finite_loss(value, where):
    """Raise :class:`NonFiniteLossError` when the loss ``value`` is NaN or infinite."""
    if not math.isfinite(value):
        raise NonFiniteLossError(
            f"training stopped: the loss became {value} at {where}; nothing was saved from this epoch "
            "(try a smaller --lr, or --clip where the task has it)"
        )


class Progress:
    """Iterate over ``iterable`` showing a progress bar with the running loss and speed.

    Uses tqdm when installed; otherwise prints one summary line at the end
    (and a line every ``print_every`` seconds for long epochs).
    """

    def __init__(self, iterable, total=None, desc="", unit="batch", disable=False, print_every=15.0):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.desc, self.unit, self.disable, self.print_every = desc, unit, disable, print_every
        self.postfix = {}
        self._bar = None
        if not disable:
            try:
                from tqdm.auto import tqdm  # noqa: PLC0415 - optional

                self._bar = tqdm(total=self.total, desc=desc, unit=unit, dynamic_ncols=True, leave=True,
                                 file=sys.stderr)
            except ImportError:
                self._bar = None

    def set(self, **values):
        """Show these values (e.g. ``loss=0.12``) beside the bar."""
        self.postfix = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in values.items()}
        if self._bar is not None:
            self._bar.set_postfix(self.postfix, refresh=False)

    def __iter__(self):
        start = last = time.perf_counter()
        n = 0
        for item in self.iterable:
            yield item
            n += 1
            if self._bar is not None:
                self._bar.update(1)
            elif not self.disable and time.perf_counter() - last > self.print_every:
                last = time.perf_counter()
                self._print(n, last - start)
        if self._bar is not None:
            self._bar.close()
        elif not self.disable:
            self._print(n, time.perf_counter() - start)

    def _print(self, n, elapsed):
        total = f"/{self.total}" if self.total else ""
        rate = n / elapsed if elapsed > 0 else float("inf")
        extras = " ".join(f"{k}={v}" for k, v in self.postfix.items())
        print(f"{self.desc} {n}{total} {self.unit}es [{elapsed:.1f}s, {rate:.1f} {self.unit}/s] {extras}",
              file=sys.stderr, flush=True)


def train_epoch(model, batches, optimizer, batch_loss, *, desc, quiet=False, clip=None, after_step=None,
                show=None, unit="batch"):
    """One training epoch, the loop every trainer here shares.

    For each batch: ``loss, count = batch_loss(batch)`` (the mean loss over ``count`` items),
    then ``zero_grad``, ``backward``, gradient clipping to total norm ``clip`` (if given; the
    parameters without a gradient are skipped), ``step`` and ``after_step()`` (if given).  The bar shows
    ``show(mean_loss)`` (a dict; default ``{"loss": mean_loss}``) and counts ``unit`` s.  Returns
    ``(mean loss per item over the epoch, seconds)``.
    """
    model.train()
    start = time.perf_counter()
    bar = Progress(batches, desc=desc, unit=unit, disable=quiet)
    params = list(model.parameters()) if clip else None
    total, count = 0.0, 0
    for i, batch in enumerate(bar):
        # Overflow shows up as a non-finite loss, reported below in one line: no NumPy warnings first.
        with np.errstate(over="ignore", invalid="ignore"):
            loss, n = batch_loss(batch)
            value = loss.item()
        check_finite_loss(value, f"batch {i + 1} ({desc})")
        optimizer.zero_grad()
        loss.backward()
        if clip:
            mg.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        if after_step is not None:
            after_step()
        total += value * n
        count += n
        bar.set(**(show(total / count) if show is not None else {"loss": total / count}))
    total, count = parallel.sum_over_ranks(total, count)  # data-parallel: the mean over every rank's batches
    return total / count, time.perf_counter() - start


class History:
    """Metrics per epoch (``log(epoch=1, loss=..., acc=...)``), saved with checkpoints and plotted."""

    def __init__(self, records=None):
        self.records = list(records or [])

    def log(self, **metrics):
        self.records.append({k: (float(v) if isinstance(v, (int, float, np.floating)) else v)
                             for k, v in metrics.items()})

    def column(self, key):
        return [r[key] for r in self.records if key in r]

    def best(self, key, mode="max"):
        values = self.column(key)
        if not values:
            return None
        return max(values) if mode == "max" else min(values)

    def to_state(self):
        return {"records": [dict(r) for r in self.records]}

    def plot(self, path, title="", groups=None):
        """Save curves as a PNG (needs matplotlib; returns the path or None).

        ``groups``: list of lists of metric names drawn on the same axes
        (default: every metric but ``epoch`` on its own axes).
        """
        try:
            import matplotlib  # noqa: PLC0415 - optional

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt  # noqa: PLC0415
        except ImportError:
            return None
        if not parallel.is_main():  # data-parallel runs: rank 0 writes the files
            return path
        keys = [k for k in (self.records[0] if self.records else {}) if k != "epoch"]
        groups = [g for g in ([k for k in group if self.column(k)] for group in groups or [[k] for k in keys]) if g]
        if not groups:  # nothing recorded yet
            return None
        epochs = self.column("epoch")
        fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.6), squeeze=False)
        for ax, group in zip(axes[0], groups):
            for key in group:
                values = self.column(key)
                if values:
                    ax.plot(epochs[: len(values)], values, marker="o", label=key)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def check_finite_weights(model):
    """Raise :class:`NonFiniteLossError` when any parameter holds NaN or infinity (never saved)."""
    for name, p in model.named_parameters():
        if not bool(mg.isfinite(p.detach()).all().item()):
            raise NonFiniteLossError(f"training stopped: parameter {name} holds NaN or infinite values; "
                                     "the checkpoint was not written")


def save_checkpoint(path, model, config, history=None, optimizer=None, extra=None, task=None, resume=None,
                    model_state=None):
    """Write model weights, the config that rebuilds the model, history and optimizer state (atomically).

    Records the task (``task`` or ``config['task']``) and the model's class, so that loading
    another task's checkpoint says so.  Refuses weights that are not finite.  ``model_state``: the
    weights to keep (default ``model``'s own, e.g. a best epoch's); ``resume``: a
    :func:`training_state` for ``--resume``.
    """
    check_finite_weights(model)
    if not parallel.is_main():  # data-parallel runs: rank 0 writes (every rank holds the same weights)
        return path
    state = {
        "format": "minigrad-model",
        "task": task or config.get("task"),
        "model_class": type(model).__name__,
        "config": dict(config),
        "model": model_state if model_state is not None else model.state_dict(),
        "history": history.to_state() if history is not None else {"records": []},
    }
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if extra:
        state["extra"] = dict(extra)
    if resume is not None:
        state["resume"] = resume
    mg.save(state, path)
    return path


def load_checkpoint(path, device="cpu", task=None):
    """Read a checkpoint written by :func:`save_checkpoint` (tensors moved to ``device``).

    ``task``: the task it must come from; :class:`CheckpointMismatchError` names the task
    that wrote it otherwise.  A missing file raises FileNotFoundError, an unreadable one
    ``mg.serialization.CheckpointError``.
    """
    state = mg.load(path, map_location=device)
    if not isinstance(state, dict) or state.get("format") != "minigrad-model" or "config" not in state:
        raise CheckpointMismatchError(f"{path} is not a model checkpoint written by `minigrad train`")
    written_by = state.get("task") or state["config"].get("task")
    if task is not None and written_by is not None and written_by != task:  # None: a hand-made checkpoint
        model = state.get("model_class") or state["config"].get("model")
        raise CheckpointMismatchError(
            f"{path} is a {written_by or 'unknown'} checkpoint" + (f" ({model})" if model else "")
            + f", not a {task} one: pass a checkpoint written by `minigrad train {task}`")
    return state


def output_dir(path):
    os.makedirs(path, exist_ok=True)
    return path


def write_json(path, obj):
    if not parallel.is_main():  # data-parallel runs: rank 0 writes the files
        return path
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


@mg.no_grad()
def evaluate_classifier(model, loader, device="cpu"):
    """(mean cross-entropy, accuracy) of ``model`` over ``loader``'s (inputs, labels) batches."""
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for batch in loader:
        x, y = batch[0].to(device), batch[-1].to(device)
        logits = model(x) if len(batch) == 2 else model(*[b.to(device) for b in batch[:-1]])
        total_loss += mg.nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(1) == y).sum().item())
        count += y.shape[0]
    model.train(was_training)
    return total_loss / max(count, 1), correct / max(count, 1)


def check_device(device):
    """Fail early, with the install hint, when CUDA is asked for but unusable."""
    if str(device).startswith("cuda") and not mg.cuda.is_available():
        mg.zeros(1, device=device)  # raises DeviceError explaining how to install the gpu extra
    return device


def format_seconds(s):
    return f"{s:.1f}s" if s < 120 else f"{s / 60:.1f}min"


def perplexity(nats):
    return math.exp(min(nats, 50.0))


# ----------------------------------------------------------------------------- resuming a run
class TrainingInterrupted(TrainingError):
    """Ctrl-C during training: the checkpoint of the last finished epoch is left for ``--resume``."""

    exit_status = 130


def rng_states(generators=None):
    """The states of minigrad's generator and of ``generators`` (name -> ``numpy.random.Generator``)."""
    states = {"minigrad": mg.get_rng_state()}
    for name, gen in (generators or {}).items():
        states[name] = gen.bit_generator.state
    return states


def set_rng_states(states, generators=None):
    """Put the generators back in the states :func:`rng_states` recorded."""
    mg.set_rng_state(states["minigrad"])
    for name, gen in (generators or {}).items():
        gen.bit_generator.state = states[name]


def training_state(epoch, optimizer, scheduler=None, generators=None, best=None, model=None, extra=None):
    """What ``--resume`` needs after ``epoch``: optimizer, scheduler and RNG states, the best metric so far,
    the live weights (``model``, a state dict) when the checkpoint keeps other ones (a best epoch), and
    ``extra`` (a dict of the trainer's own counters)."""
    state = {"epoch": int(epoch), "optimizer": optimizer.state_dict(), "rng": rng_states(generators),
             "best": best, "extra": dict(extra or {})}
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if model is not None:
        state["model"] = model
    return state


def resume_training(path, task, config, model, optimizer, scheduler=None, generators=None, device="cpu",
                    may_change=("epochs",)):
    """Load a run saved by a trainer after an epoch and put ``model``, ``optimizer``, ``scheduler`` and the
    generators back where they were.

    The options that shape the run must be the ones it was started with (``may_change`` aside):
    :class:`CheckpointMismatchError` lists those that differ.  Returns ``(checkpoint, resume)``: the
    whole checkpoint (``history``...) and its training state (``epoch``, ``best``, ``extra``).
    """
    state = load_checkpoint(path, device=device, task=task)
    resume = state.get("resume")
    if not isinstance(resume, dict):
        raise CheckpointMismatchError(f"{path} holds no training state to resume from: pass the checkpoint that "
                                      "`minigrad train` rewrites after every epoch (not a _best one, nor one written "
                                      "by an older minigrad)")
    saved = state["config"]
    differ = sorted(k for k in set(saved) | set(config) if k not in may_change and saved.get(k) != config.get(k))
    if differ:
        shown = ", ".join(f"{k}={saved.get(k)!r}" for k in differ if k != "vocab")
        raise CheckpointMismatchError(f"{path} was written by a run with other options ({shown or ', '.join(differ)});"
                                      " resume with the options it was started with")
    model.load_state_dict(resume.get("model") or state["model"])
    optimizer.load_state_dict(resume["optimizer"])
    if scheduler is not None and "scheduler" in resume:
        scheduler.load_state_dict(resume["scheduler"])
    set_rng_states(resume["rng"], generators)
    return state, resume


def run_epochs(first, last, one_epoch, checkpoint):
    """Call ``one_epoch(epoch)`` for epochs ``first`` .. ``last`` (it returns False to stop early).

    Ctrl-C becomes :class:`TrainingInterrupted`, whose one line says which epoch ``checkpoint`` holds
    and how to resume.  Returns the last epoch run.
    """
    done = first - 1
    try:
        for epoch in range(first, last + 1):
            stop = one_epoch(epoch) is False
            done = epoch
            if stop:
                break
    except KeyboardInterrupt:
        if done >= 1 and os.path.exists(checkpoint):
            where = (f"{checkpoint} holds epoch {done}; to continue, run the same command with "
                     f"--resume {checkpoint}")
        else:
            where = "no epoch had finished, so no checkpoint was written"
        raise TrainingInterrupted(f"interrupted during epoch {done + 1}: {where}") from None
    return done


# ----------------------------------------------------------------------------- the epoch loop
@contextlib.contextmanager
def blas_threads(n):
    """Run the block with NumPy's BLAS limited to ``n`` threads (a no-op when n is None).

    Why: the recurrent models' matrix products are small ((32, 256) @ (256, 1024)).  Threads cannot speed
    those up, and when the cores are busy with other work, BLAS threads waiting for each other made a
    training step up to 20x slower in our measurements.
    """
    before = mg.get_num_threads() if n else None
    if before is None:
        yield
        return
    mg.set_num_threads(int(n))
    try:
        yield
    finally:
        mg.set_num_threads(before)


class Fit:
    """What :func:`fit` leaves: ``history``, the best ``score`` and its ``best_epoch``, ``epoch_times`` (of the
    epochs run in this call), ``checkpoint``, ``curves`` (the PNG's path or None), ``stopped_early`` and
    ``metrics`` (the dict written as JSON, or None)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def _then(first, second):
    if first is None:
        return second

    def both():
        first()
        second()

    return both


def _copy_state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _out_of_patience(patience, monitor, epoch, best_epoch):
    """Early stopping: ``patience`` epochs (0: never) have passed since the best one."""
    return bool(patience and monitor is not None and epoch - best_epoch >= patience)


def fit(model, optimizer, batches, step, evaluate, *, task, config, epochs, checkpoint, train_model=None,
        scheduler=None, scheduler_per_step=False, clip=None, after_step=None, show=None, unit="batch",
        begin_epoch=None, train_record=None,
        monitor=None, mode="max", keep="last", best=None, patience=0, kept_weights=None, best_checkpoint=None,
        extra=None, trainer_state=None, restore=None, generators=None, history=None, resume=None, quiet=False,
        device="cpu", threads=None, describe=None, curves=None, metrics=None, may_change=("epochs",)):
    """The epoch loop every trainer shares: train, evaluate, log, checkpoint, resume, early stopping, curves.

    Each epoch: ``begin_epoch()`` (if given); one pass of :func:`train_epoch` over ``batches`` with the
    per-batch ``step`` (``step(batch) -> (mean loss, items)``; ``clip``, ``after_step``, ``show`` and ``unit``
    as there) on ``train_model`` (default ``model``; its data-parallel wrapper under ``--distributed``);
    ``scheduler.step()`` (after every batch instead with ``scheduler_per_step``); the record
    ``{"epoch", **train_record(train loss), **evaluate()}`` (default ``train_record``: ``{"train_loss": loss}``)
    goes into the :class:`History`; the checkpoint is rewritten atomically with what ``resume`` needs;
    ``describe(record, seconds, improved)`` gives the printed line.

    ``monitor``: the record's key that says which epoch is best (``mode`` "max" or "min"; None: the last
    one).  ``keep``: "last" (the checkpoint holds the latest weights) or "best" (it holds the best epoch's,
    ``kept_weights()`` (default a copy of the model's), and the live ones travel in its training state; at
    the end the model is given the best weights).  ``best``: ``(score, epoch)`` to beat at the start (e.g.
    an untrained model's; default none).  ``best_checkpoint``: a path also written, model and history, each
    time the score improves.  ``patience``: stop after this many epochs without a better score (0: never).

    ``extra``: a dict saved in every checkpoint (``best_epoch`` is added); ``trainer_state()`` a dict of
    the trainer's own counters saved for resuming and given back to ``restore(state)``.  ``resume``: the
    path of a checkpoint to continue from (the options in ``config`` must be the ones it was started with,
    ``may_change`` aside); ``generators``: the trainer's ``numpy.random.Generator`` s whose states are
    saved and restored with minigrad's.  Ctrl-C raises :class:`TrainingInterrupted` (the checkpoint of the
    last finished epoch stays); a non-finite loss raises :class:`NonFiniteLossError` before anything of
    that epoch is saved.  ``curves``: ``(path, title, groups)`` for :meth:`History.plot`.  ``metrics``:
    ``(path, summarize)``: at the end (the best weights in the model), ``summarize(fit)`` gives the run's
    metrics, written to ``path`` as JSON.  ``threads``: BLAS threads while training on the CPU
    (:func:`blas_threads`).  Returns a :class:`Fit`.
    """
    train_model = model if train_model is None else train_model
    if scheduler is not None and scheduler_per_step:
        after_step = _then(after_step, scheduler.step)
    better = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
    history = history if history is not None else History()
    score, best_epoch = best if best is not None else (None, 0)
    best_state = _copy_state(model) if keep == "best" else None
    first = 1
    kept_weights = kept_weights or (lambda: _copy_state(model))
    if resume:
        state, saved = resume_training(resume, task, config, model, optimizer, scheduler, generators, device=device,
                                       may_change=may_change)
        if not isinstance(saved.get("best"), dict) or "trainer" not in saved["extra"]:
            raise CheckpointMismatchError(f"{resume} holds the training state of an older minigrad: it cannot be "
                                          "resumed; start the run again")
        history, first = History(state["history"]["records"]), saved["epoch"] + 1
        score, best_epoch = saved["best"]["score"], saved["best"]["epoch"]
        if keep == "best":
            best_state = {k: v.detach().clone() for k, v in state["model"].items()}
        if restore is not None:
            restore(saved["extra"]["trainer"])
        if not quiet:
            print(f"resuming after epoch {first - 1}", flush=True)
    epoch_times = []

    def save(epoch):
        saved_extra = dict(extra or {}, best_epoch=best_epoch)
        live = None
        if epoch is not None:
            live = training_state(epoch, optimizer, scheduler, generators, best={"score": score, "epoch": best_epoch},
                                  model=model.state_dict() if keep == "best" else None,
                                  extra={"trainer": trainer_state() if trainer_state else {}})
        save_checkpoint(checkpoint, model, config, history, optimizer, extra=saved_extra, resume=live,
                        model_state=best_state if keep == "best" else None)

    def one_epoch(epoch):
        nonlocal score, best_epoch, best_state, stopped
        if begin_epoch is not None:
            begin_epoch()
        loss, seconds = train_epoch(train_model, batches, optimizer, step, desc=f"epoch {epoch}/{epochs}",
                                    quiet=quiet, clip=clip, after_step=after_step, show=show, unit=unit)
        if scheduler is not None and not scheduler_per_step:
            scheduler.step()
        epoch_times.append(seconds)
        record = {"epoch": epoch, **(train_record(loss) if train_record else {"train_loss": loss}), **evaluate()}
        history.log(**record)
        value = record[monitor] if monitor is not None else epoch
        improved = score is None or better(value, score)
        if improved:
            score, best_epoch = value, epoch
            if keep == "best":
                best_state = kept_weights()
            if best_checkpoint is not None:
                save_checkpoint(best_checkpoint, model, config, history, extra=dict(extra or {}, best_epoch=epoch))
        save(epoch)
        if not quiet and describe is not None:
            print(describe(record, seconds, improved), flush=True)
        stopped = _out_of_patience(patience, monitor, epoch, best_epoch)
        if stopped and not quiet:
            print(f"no better {monitor} for {patience} epochs: stopping early", flush=True)
        return not stopped

    stopped = _out_of_patience(patience, monitor, first - 1, best_epoch)  # a resumed run may have stopped already
    with blas_threads(threads if str(device) == "cpu" else None):
        if not stopped:
            run_epochs(first, epochs, one_epoch, checkpoint)
        if not epoch_times and not resume:  # no epoch ran: the untrained (or given) weights are the result
            save(None)
        if keep == "best":
            model.load_state_dict(best_state)
        plotted = history.plot(curves[0], title=curves[1], groups=curves[2]) if curves else None
        done = Fit(history=history, score=score, best_epoch=best_epoch, epoch_times=epoch_times,
                   checkpoint=checkpoint, curves=plotted, stopped_early=stopped, metrics=None)
        if metrics is not None:
            done.metrics = metrics[1](done)
            write_json(metrics[0], done.metrics)
    return done


def load_model(path, task, build, device="cpu"):
    """``(model, checkpoint)`` from a checkpoint written by ``minigrad train <task>``: ``build(config)``
    makes the model the checkpoint's config describes; it gets the saved weights and moves to ``device``.

    A checkpoint of another task or model raises :class:`CheckpointMismatchError` (one line on the command
    line); a missing file FileNotFoundError, an unreadable one ``mg.serialization.CheckpointError``.
    """
    state = load_checkpoint(path, device="cpu", task=task)
    model = build(state["config"])
    saved_class = state.get("model_class")
    if saved_class is not None and saved_class != type(model).__name__:
        raise CheckpointMismatchError(f"{path} holds a {saved_class}, not the {type(model).__name__} its config "
                                      "describes: was it written by another version of minigrad?")
    model.load_state_dict(state["model"])
    return model.to(device), state
