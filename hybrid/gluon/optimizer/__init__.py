"""`hb.gluon.optimizer`: update rules usable eagerly and inside a traced training step
(the contract is documented in hybrid.gluon.optimizer.base)."""
from .adam import Adam, AdamW
from .base import Optimizer, create, register
from .rmsprop import RMSProp
from .sgd import NAG, SGD

__all__ = ["Optimizer", "create", "register", "SGD", "NAG", "Adam", "AdamW", "RMSProp"]
