"""`gluon.parameter`: Parameter, Constant, ParameterDict and the deferred-initialization error."""
from ..frontend.parameter import Constant, DeferredInitializationError, Parameter, ParameterDict

__all__ = ["Constant", "DeferredInitializationError", "Parameter", "ParameterDict"]
