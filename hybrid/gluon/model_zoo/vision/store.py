"""Where `pretrained=True` finds parameters: a local file, never a download.

`<root>/<model name>.params` (hybrid's `save_parameters` format: NumPy .npz, no pickle), with `root`
from the argument, else `$HYBRID_HOME/models`, else `~/.hybrid/models`.
"""
from __future__ import annotations

import os
from typing import Optional

from ....config import config
from ....errors import HybridError


def model_file(name: str, root: Optional[str] = None) -> str:
    root = root or os.path.join(config.get("home"), "models")
    path = os.path.join(os.path.expanduser(root), f"{name}.params")
    if not os.path.isfile(path):
        raise HybridError(f"pretrained parameters for {name!r} not found at {path}: hybrid never downloads. Save "
                          f"them there (net.save_parameters(path), e.g. after converting MXNet's file with "
                          f"hb.npx.load) or pass root= to the folder holding {name}.params")
    return path


def finish(net, name: str, pretrained: bool, root: Optional[str], device=None):
    """`net`, with its parameters loaded from the local file onto `device` when `pretrained`
    (MXNet's `device=`; without pretrained weights the network is returned uninitialized)."""
    if pretrained:
        net.load_parameters(model_file(name, root), device=device)
    return net
