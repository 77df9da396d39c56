"""`hb.gluon.rnn`: recurrent layers (RNN, LSTM, GRU; one fused `rnn_param` each, as MXNet 2) and
cells (dense and convolutional) with MXNet Gluon's names, parameter names (i2h_weight, ...) and gate order. Hybridized, a layer's time loop is one `scan` node.
Parameter files of either layout load into a layer: MXNet 2's `rnn_param`, or MXNet 1.x's per-layer
`l0_i2h_weight`, ... (joined by `gluon.utils.join_rnn_params`, the inverse of `split_rnn_params`)."""
from .rnn_cell import (BidirectionalCell, DropoutCell, GRUCell, HybridRecurrentCell, HybridSequentialRNNCell,
                       LSTMCell, LSTMPCell, ModifierCell, RecurrentCell, ResidualCell, RNNCell, SequentialRNNCell,
                       VariationalDropoutCell, ZoneoutCell, dynamic_unroll)
from .conv_rnn_cell import (Conv1DGRUCell, Conv1DLSTMCell, Conv1DRNNCell, Conv2DGRUCell, Conv2DLSTMCell, Conv2DRNNCell,
                            Conv3DGRUCell, Conv3DLSTMCell, Conv3DRNNCell)
from .rnn_layer import GRU, LSTM, RNN

__all__ = ["RNN", "LSTM", "GRU", "RecurrentCell", "HybridRecurrentCell", "RNNCell", "LSTMCell", "LSTMPCell", "GRUCell",
           "SequentialRNNCell", "HybridSequentialRNNCell", "BidirectionalCell", "ModifierCell", "DropoutCell",
           "ResidualCell", "ZoneoutCell", "VariationalDropoutCell", "dynamic_unroll",
           "Conv1DRNNCell", "Conv2DRNNCell", "Conv3DRNNCell", "Conv1DLSTMCell", "Conv2DLSTMCell", "Conv3DLSTMCell",
           "Conv1DGRUCell", "Conv2DGRUCell", "Conv3DGRUCell"]
