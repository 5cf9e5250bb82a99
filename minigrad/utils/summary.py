"""``mg.utils.summary``: a table of a model's layers, output shapes and parameter counts."""
from __future__ import annotations

from ..creation import zeros
from ..autograd.engine import no_grad


class Summary:
    """The result of :func:`summary`: ``rows`` of (name, type, output shape, params) and totals; prints as a table."""

    def __init__(self, model_name, rows, total, trainable, input_shape, output_shape):
        self.model_name = model_name
        self.rows = rows
        self.total_params = total
        self.trainable_params = trainable
        self.input_shape = input_shape
        self.output_shape = output_shape

    def __str__(self):
        header = ("Layer (type)", "Output shape", "Param #")
        lines = [(f"{'  ' * depth}{name} ({kind})", str(shape), f"{params:,}") for name, kind, shape, params, depth
                 in self.rows]
        widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
        title = f"{self.model_name}  input {self.input_shape} -> output {self.output_shape}"
        width = max(sum(widths) + 4, len(title))  # the rules span the title too
        widths[0] += width - (sum(widths) + 4)  # a long title widens the first column, so the table fills it
        rule = "=" * width
        fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{:>{widths[2]}}}"
        out = [rule, title, rule, fmt.format(*header), "-" * width]
        out += [fmt.format(*line) for line in lines]
        out += [rule, f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.total_params - self.trainable_params:,}", rule]
        return "\n".join(out)

    __repr__ = __str__


def _shape_of(output):
    if hasattr(output, "shape"):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return [_shape_of(o) for o in output]
    return type(output).__name__


def summary(model, input_shape=None, input=None, dtype=None, device=None, print_summary=False):
    """Run ``model`` once on zeros of ``input_shape`` (or on ``input``) and list every layer.

    One row per submodule, in the order they ran: its dotted name and type, its
    output shape and the number of parameters it owns itself (a container's
    row counts only its own, so the column sums to the total).  Parameters
    shared between layers are counted once.  Returns a :class:`Summary`
    (``print`` it; ``.total_params``).
    """
    if input is None:
        if input_shape is None:
            raise ValueError("summary needs input_shape (e.g. (1, 1, 28, 28)) or input")
        if device is None:
            first = next(iter(model.parameters()), None)
            device = first.device if first is not None else "cpu"
        input = zeros(tuple(input_shape), dtype=dtype, device=device)
    names = {id(m): name for name, m in model.named_modules()}
    depth = {id(m): (name.count(".") + 1 if name else 0) for name, m in model.named_modules()}
    counted = set()
    rows, handles = [], []

    def own_params(module):
        n = 0
        for p in module.parameters(recurse=False):
            if id(p) not in counted:
                counted.add(id(p))
                n += p.numel()
        return n

    open_rows = {}  # a row is made when a module starts (containers before their layers), filled when it ends

    def pre_hook(module, inputs):
        open_rows.setdefault(id(module), []).append(len(rows))
        rows.append(None)

    def hook(module, inputs, output):
        i = open_rows[id(module)].pop()
        rows[i] = (names[id(module)], type(module).__name__, _shape_of(output), own_params(module),
                   depth[id(module)] - 1)

    for name, m in model.named_modules():
        if m is not model:
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            # a tuple or list of inputs: the model takes several (e.g. ids and lengths)
            output = model(*input) if isinstance(input, (tuple, list)) else model(input)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    rows = [r for r in rows if r is not None]
    # Parameters of modules that never ran (or of the model itself) still count in the totals.
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    own_root = own_params(model)
    if own_root:
        rows.insert(0, ("(self)", type(model).__name__, "", own_root, 0))
    in_shape = _shape_of(tuple(input)) if isinstance(input, (tuple, list)) else tuple(input.shape)
    result = Summary(type(model).__name__, rows, total, trainable, in_shape, _shape_of(output))
    if print_summary:
        print(result)
    return result
