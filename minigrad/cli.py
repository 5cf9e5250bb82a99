"""The ``minigrad`` command (also ``python -m minigrad``): train and use the models in ``models/``.

    minigrad train lenet [--epochs N] [--batch-size B] [--lr LR] [--device cpu|cuda] [--out DIR]
    minigrad eval lenet --checkpoint PATH
    minigrad train sentiment|charlm|forecast|seq2seq [...]
    minigrad generate --checkpoint PATH --prompt TEXT
    minigrad predict sentiment --checkpoint PATH "some text"
    minigrad summary lenet

Each task lives in a module of the ``models`` package, which provides
``add_train_arguments(parser)`` and ``train_from_args(args)`` (and, where it
applies, ``evaluate_from_args``, ``generate_from_args``, ``predict_from_args``).
"""
from __future__ import annotations

import argparse
import importlib
import sys

# task name -> module in the models package
TASKS = {
    "lenet": "models.lenet",
    "sentiment": "models.sentiment",
    "charlm": "models.language_model",
    "forecast": "models.forecaster",
    "seq2seq": "models.seq2seq",
}


# The recurrent models multiply small matrices (batch x hidden) once per time step: BLAS threads
# cannot speed those up, and on a busy machine threads waiting for each other made steps up to 10x
# slower.  LeNet's convolutions are large products that do gain from threads.
BLAS_THREADS = {"sentiment": 1, "charlm": 1, "forecast": 1, "seq2seq": 1}


def _task_module(task):
    try:
        return importlib.import_module(TASKS[task])
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("models"):
            raise SystemExit(
                f"minigrad: the '{task}' task needs the models package ({TASKS[task]}), which is not importable: "
                f"{e}. Run the command from a checkout of minigrad, or install it with `pip install .`"
            ) from None
        raise


def _add_common(parser):
    parser.add_argument("--device", default="cpu", help="cpu or cuda (needs the gpu extra)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def build_parser():
    parser = argparse.ArgumentParser(prog="minigrad", description="Train and use minigrad's models.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model")
    train_sub = train.add_subparsers(dest="task", required=True)
    train_parsers = {}  # the task's own options are added once we know the task
    for task in TASKS:
        p = train_sub.add_parser(task, help=f"train the {task} model")
        _add_common(p)
        p.add_argument("--out", default=None, help="directory for the checkpoint, metrics and curves")
        default = BLAS_THREADS.get(task)
        p.add_argument("--threads", type=int, default=default,
                       help="threads for NumPy's matrix products (default: "
                            + ("1, as this model's matrices are small" if default else "NumPy's own") + ")")
        train_parsers[task] = p

    ev = sub.add_parser("eval", help="evaluate a checkpoint on its held-out data")
    ev_sub = ev.add_subparsers(dest="task", required=True)
    for task in TASKS:
        p = ev_sub.add_parser(task)
        p.add_argument("--checkpoint", required=True)
        p.add_argument("--device", default="cpu")

    gen = sub.add_parser("generate", help="generate text from a language-model checkpoint")
    gen.add_argument("--checkpoint", required=True)
    gen.add_argument("--prompt", default="")
    gen.add_argument("--length", type=int, default=300)
    gen.add_argument("--temperature", type=float, default=0.8)
    gen.add_argument("--top-k", type=int, default=None)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--device", default="cpu")

    pred = sub.add_parser("predict", help="run a trained model on your input")
    pred_sub = pred.add_subparsers(dest="task", required=True)
    p = pred_sub.add_parser("sentiment")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("text", nargs="+")
    p.add_argument("--device", default="cpu")

    summ = sub.add_parser("summary", help="print a model's layers, shapes and parameter counts")
    summ.add_argument("model", choices=["lenet5", "lenet1989"])
    return parser, train_parsers


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, train_parsers = build_parser()
    # Task-specific training options come from the task's module: parse twice.
    known, _ = parser.parse_known_args(argv)
    if known.command == "train":
        module = _task_module(known.task)
        module.add_train_arguments(train_parsers[known.task])
        args = parser.parse_args(argv)
        if args.threads and str(args.device) == "cpu":
            import minigrad as mg  # noqa: PLC0415

            mg.set_num_threads(args.threads)
        return module.train_from_args(args)
    args = parser.parse_args(argv)
    if args.command == "eval":
        return _task_module(args.task).evaluate_from_args(args)
    if args.command == "generate":
        return _task_module("charlm").generate_from_args(args)
    if args.command == "predict":
        return _task_module(args.task).predict_from_args(args)
    if args.command == "summary":
        from models import lenet  # noqa: PLC0415

        import minigrad as mg  # noqa: PLC0415

        model = lenet.MODELS[args.model]()
        shape = (1, 1, 28, 28) if args.model == "lenet5" else (1, 1, 16, 16)
        print(mg.utils.summary(model, shape))
        return 0
    parser.error("unknown command")
    return 2


if __name__ == "__main__":
    sys.exit(main())
