"""`hb.gluon.rnn`: recurrent layers (RNN, LSTM, GRU; one fused `rnn_param` each, as MXNet 2) and
cells with MXNet Gluon's names, parameter names (i2h_weight, ...) and gate order. Hybridized, a layer's time loop is one `scan` node."""
from .rnn_cell import (BidirectionalCell, DropoutCell, GRUCell, HybridRecurrentCell, HybridSequentialRNNCell,
                       LSTMCell, ModifierCell, RecurrentCell, ResidualCell, RNNCell, SequentialRNNCell, ZoneoutCell)
from .rnn_layer import GRU, LSTM, RNN

__all__ = ["RNN", "LSTM", "GRU", "RecurrentCell", "HybridRecurrentCell", "RNNCell", "LSTMCell", "GRUCell",
           "SequentialRNNCell", "HybridSequentialRNNCell", "BidirectionalCell", "ModifierCell", "DropoutCell", "ResidualCell", "ZoneoutCell"]
