"""``mg.nn.functional`` (``F``): the functional form of every layer and loss."""
from ...ops.pointwise import leaky_relu, relu, sigmoid, softplus, tanh  # noqa: F401
from ...ops.reduce import log_softmax, softmax  # noqa: F401
from ...ops.shape import pad  # noqa: F401
from .core import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .attention import scaled_dot_product_attention  # noqa: F401
from ..rnn import gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell  # noqa: F401,E402
from ..rnn import gru_layer, lstm_layer, rnn_layer  # noqa: F401,E402
from .extra import *  # noqa: F401,F403
