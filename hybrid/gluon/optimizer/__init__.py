"""`hb.gluon.optimizer`: update rules usable eagerly and inside a traced training step
(the contract is documented in hybrid.gluon.optimizer.base)."""
from .adam import Adam, AdamW
from .adaptive import FTML, AdaBelief, AdaDelta, AdaGrad, Adamax, Nadam
from .base import Optimizer, create, register
from .large_batch import LAMB, LANS, LARS
from .rmsprop import RMSProp
from .sgd import NAG, SGD
from .sgd_variants import DCASGD, SGLD, Ftrl, Signum

__all__ = ["Optimizer", "create", "register", "SGD", "NAG", "Adam", "AdamW", "RMSProp", "AdaGrad", "AdaDelta",
           "Adamax", "Nadam", "AdaBelief", "FTML", "LAMB", "LANS", "LARS", "Signum", "SGLD", "DCASGD", "Ftrl"]
