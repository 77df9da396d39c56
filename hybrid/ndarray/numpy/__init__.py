"""`mxnet.ndarray.numpy`: in MXNet the home of its NumPy operators' internal entry points; hybrid offers
the ones MXNet 2 programs call directly (`_internal`, imported as `_npi`). Use `hb.np` otherwise."""
from . import _internal  # noqa: F401
