"""Learning tools: draw graphs, summarise models, watch gradients flow."""
from .graph import to_dot  # noqa: F401
