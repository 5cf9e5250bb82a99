"""Learning tools: draw graphs, summarise models, watch gradients flow."""
from .bptt import bptt_contributions, plot_bptt_contributions, step_norms  # noqa: F401
from .gates import GateRecord, plot_gates, record_gates  # noqa: F401
from .graph import Dot, graphviz_available, to_dot  # noqa: F401
from .gradient_flow import gradient_flow  # noqa: F401
from .summary import Summary, summary  # noqa: F401
from .unrolled import draw_unrolled  # noqa: F401
