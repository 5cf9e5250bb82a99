"""``mg.nn``: modules, layers, losses, initialisation (PyTorch's names, shapes and defaults)."""
from . import functional, init, utils  # noqa: F401
from .module import Identity, Module, ModuleDict, ModuleList, Parameter, Sequential  # noqa: F401
from .layers import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from . import parallel  # noqa: F401,E402
