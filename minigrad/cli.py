"""The ``minigrad`` command (also ``python -m minigrad``): train and use the models of ``minigrad_models``.

    minigrad train lenet [--epochs N] [--batch-size B] [--lr LR] [--device cpu|cuda] [--out DIR]
    minigrad train <task> --help       (every option of a task, with its default)
    minigrad eval lenet --checkpoint PATH
    minigrad train sentiment|charlm|forecast|seq2seq [...]
    minigrad generate --checkpoint PATH --prompt TEXT
    minigrad predict sentiment --checkpoint PATH "some text" ["another text" ...]
    minigrad predict charlm --checkpoint PATH --next "the boy crossed the" [--top 5]
    minigrad predict seq2seq --checkpoint PATH 12345 "12+345"
    minigrad predict forecast --checkpoint PATH 51.2 50.8 ...   (or - to read the values from stdin)
    minigrad summary lenet5|lenet1989|sentiment|charlm|forecast|seq2seq [--checkpoint PATH]

Each task lives in a module of the ``minigrad_models`` package (the repository's
``models/`` folder, installed under that name), which provides
``add_train_arguments(parser)`` and ``train_from_args(args)`` (and, where it
applies, ``evaluate_from_args``, ``generate_from_args``, ``predict_from_args``,
``add_predict_arguments(parser)``, ``summary_models()``): the task's options are
declared there, once, in its ``OPTIONS`` table, which also gives its ``train``
function its keywords.

Expected failures (a bad option, a missing or wrong checkpoint, a missing
optional package, a data or device problem, a loss that became NaN) print one
or two lines on stderr and exit with status 2; ``MINIGRAD_DEBUG=1`` shows the
traceback as well.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

# task name -> module in the minigrad_models package
TASKS = {
    "lenet": "minigrad_models.lenet",
    "sentiment": "minigrad_models.sentiment",
    "charlm": "minigrad_models.language_model",
    "forecast": "minigrad_models.forecaster",
    "seq2seq": "minigrad_models.seq2seq",
}
TASK_HELP = {
    "lenet": "LeNet digit recognition on MNIST",
    "sentiment": "sentiment of movie-review snippets (GRU over GloVe)",
    "charlm": "character (or word) language model on Hamlet or your own text",
    "forecast": "temperature (or epidemic) forecasting",
    "seq2seq": "sequence-to-sequence: reverse or add digit strings",
}

# optional module -> the extra that installs it
EXTRAS = {"tqdm": "progress", "matplotlib": "plot", "pyarrow": "data", "cupy": "gpu"}
DEBUG_VAR = "MINIGRAD_DEBUG"


class UsageError(Exception):
    """A command-line mistake found after parsing (printed as one line, exit status 2)."""


def _task_module(task):
    try:
        return importlib.import_module(TASKS[task])
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("minigrad_models"):
            raise UsageError(
                f"the '{task}' task needs the minigrad_models package ({TASKS[task]}), which is not importable; "
                "install minigrad with `pip install .` (or `pip install -e .` in a checkout)"
            ) from None
        raise


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default (unless the help already names it)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.option_strings and action.default is not argparse.SUPPRESS and "default" not in text
                and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                text += " (default: off)"  # the switch, not the value it sets
            elif action.default is None:
                text += " (default: none)"
            else:
                text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse, with mistakes reported in two lines (the error, then where to find the options)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\nsee `{self.prog} --help` for the options\n")
        sys.exit(2)


def _training():
    from minigrad_models import training  # noqa: PLC0415 - the option types live beside the trainers

    return training


def build_parser():
    """The whole command line: every task's options are declared by its module's ``add_train_arguments``."""
    T = _training()
    parser = _Parser(prog="minigrad", description="Train and use minigrad's models.",
                     epilog="tasks: " + "; ".join(f"{k} ({v})" for k, v in TASK_HELP.items())
                     + ". `minigrad train TASK --help` lists a task's options.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a model: " + ", ".join(TASKS),
                           description="Train a model; `minigrad train TASK --help` lists its options.")
    train_sub = train.add_subparsers(dest="task_name", required=True, metavar="TASK")
    for task in TASKS:
        p = train_sub.add_parser(task, help=TASK_HELP[task], description=f"Train the {task} model: {TASK_HELP[task]}.")
        _task_module(task).add_train_arguments(p)

    ev = sub.add_parser("eval", help="evaluate a checkpoint on its held-out data")
    ev_sub = ev.add_subparsers(dest="task_name", required=True, metavar="TASK")
    for task in TASKS:
        p = ev_sub.add_parser(task, help=f"evaluate a {task} checkpoint")
        p.add_argument("--checkpoint", required=True, help="a checkpoint written by `minigrad train " + task + "`")
        p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")

    gen = sub.add_parser("generate", help="generate text from a language-model checkpoint")
    gen.add_argument("--checkpoint", required=True, help="a checkpoint written by `minigrad train charlm`")
    gen.add_argument("--prompt", default=None,
                     help="text to continue (default: the start of the text the model was trained on)")
    gen.add_argument("--length", type=T.NON_NEGATIVE_INT, default=300, help="characters (or words) to generate")
    gen.add_argument("--temperature", type=T.NON_NEGATIVE_FLOAT, default=0.8,
                     help="sampling temperature (0: always the most likely)")
    gen.add_argument("--top-k", type=T.POSITIVE_INT, default=None, help="sample among the k most likely only")
    gen.add_argument("--seed", type=int, default=0, help="random seed")
    gen.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")

    pred = sub.add_parser("predict", help="run a trained model on your input")
    pred_sub = pred.add_subparsers(dest="task_name", required=True, metavar="TASK")
    for task in TASKS:
        module = _task_module(task)
        if hasattr(module, "add_predict_arguments"):
            p = pred_sub.add_parser(task, help=getattr(module, "PREDICT_HELP", f"run a {task} checkpoint"))
            p.add_argument("--checkpoint", required=True, help=f"a checkpoint written by `minigrad train {task}`")
            p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
            module.add_predict_arguments(p)

    summ = sub.add_parser("summary", help="print a model's layers, shapes and parameter counts")
    models = _summary_models()
    summ.add_argument("model", choices=sorted(models), help="the model: " + ", ".join(sorted(models)))
    summ.add_argument("--checkpoint", default=None,
                      help="describe the model this checkpoint holds (default: the task's default settings)")
    return parser


def _summary_models():
    """name -> (task, builder) for every model the command line trains."""
    found = {}
    for task in TASKS:
        module = _task_module(task)
        for name, build in getattr(module, "summary_models", dict)().items():
            found[name] = (task, build)
    return found


def _run(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        module = _task_module(args.task_name)
        if args.threads and str(args.device) == "cpu":
            import minigrad as mg  # noqa: PLC0415

            mg.set_num_threads(args.threads)
        return module.train_from_args(args)
    if args.command == "eval":
        return _task_module(args.task_name).evaluate_from_args(args)
    if args.command == "generate":
        return _task_module("charlm").generate_from_args(args)
    if args.command == "predict":
        return _task_module(args.task_name).predict_from_args(args)
    if args.command == "summary":
        import minigrad as mg  # noqa: PLC0415

        task, build = _summary_models()[args.model]
        config = None
        if args.checkpoint:
            config = _training().load_checkpoint(args.checkpoint, task=task)["config"]
        model, input_shape, kwargs = build(config)
        print(mg.utils.summary(model, input_shape, **kwargs))
        return 0
    parser.error("unknown command")
    return 2


def _expected_errors():
    """The exception types that are the user's to fix: reported in one or two lines, no traceback."""
    import minigrad as mg  # noqa: PLC0415

    T = _training()
    return (UsageError, T.TrainingError, mg.CheckpointError, mg.DeviceError, mg.datasets.DataError,
            FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, ValueError)


def _missing_optional(e):
    """The ``pip install`` line for a missing optional package, or None when ``e`` is not one."""
    name = (getattr(e, "name", None) or "").split(".")[0]
    if isinstance(e, ModuleNotFoundError) and name in EXTRAS:
        return f"this needs {name}, which is not installed: pip install \"minigrad[{EXTRAS[name]}]\""
    return None


def _report(e):
    lines = [line for line in str(e).strip().splitlines() if line.strip()] or [type(e).__name__]
    first = lines[0]
    if isinstance(e, OSError) and e.filename and str(e.filename) not in first:
        first = f"{e.filename}: {e.strerror or first}"
    out = [f"minigrad: error: {first}"]
    import minigrad as mg  # noqa: PLC0415

    if isinstance(e, mg.datasets.FetchError):
        out.append(f"no network to the package index? {DEBUG_VAR}=1 prints how to put the file in place by hand "
                   f"(or set {mg.datasets._cache.ENV_VAR} to a folder that holds it)")
    elif len(lines) > 1:
        out.append(f"(set {DEBUG_VAR}=1 for the details)")
    sys.stderr.write("\n".join(out) + "\n")


def main(argv=None):
    """Run the command line; returns the exit status (0 on success, 2 for an expected failure)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get(DEBUG_VAR, "") not in ("", "0")
    try:
        return _run(argv)
    except KeyboardInterrupt:
        # The trainers print where their checkpoint is; this covers every other command.
        if debug:
            traceback.print_exc()
        sys.stderr.write("minigrad: interrupted\n")
        return 130
    except Exception as e:  # noqa: BLE001 - sorted into expected and unexpected below
        hint = _missing_optional(e)
        if hint is None and not isinstance(e, _expected_errors()):
            raise
        if debug:
            traceback.print_exc()
        if hint is not None:
            sys.stderr.write(f"minigrad: error: {hint}\n")
        else:
            _report(e)
        status = getattr(e, "exit_status", 2)
        _end_other_ranks(status)
        return status


def _end_other_ranks(status):
    """Under ``mpiexec``, a failure on one rank must end the others too: they may be waiting for it
    inside a collective, and would wait forever."""
    dist = sys.modules.get("minigrad.distributed")
    if dist is not None and dist.is_initialized() and dist.get_world_size() > 1:
        dist.abort(status)


if __name__ == "__main__":
    sys.exit(main())
