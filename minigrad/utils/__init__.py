"""Learning tools: draw graphs, summarise models, watch gradients flow."""
from .bptt import bptt_contributions, plot_bptt_contributions, step_norms  # noqa: F401
from .graph import to_dot  # noqa: F401
from .gradient_flow import gradient_flow  # noqa: F401
from .summary import Summary, summary  # noqa: F401
