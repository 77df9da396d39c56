"""MXNet 2's `Block.save(prefix)` / `Block.load(prefix)`: a model's parameters (`prefix-model.params`,
hybrid's npz parameter format) with a description of its structure (`prefix-model.json`: each
block's class, child names in order, its parameters' names, shapes and dtypes, and whether it was
hybridized). `load` works on a model built again by the same code: it checks that the structure
matches, loads the parameters (their shapes come from the file, so the model needs no forward pass
first) and hybridizes the blocks that were hybridized."""
from __future__ import annotations

import json

from .. import fileio
from ..errors import FormatError

MODEL_FORMAT = "hybrid-block-structure"
MAX_STRUCTURE_BYTES = 1 << 28


def describe(block) -> dict:
    """The structure entry of `block` and its children."""
    return {"class": type(block).__name__,
            "hybridized": getattr(block, "_compiled", None) is not None,
            "params": {name: {"shape": list(p.shape) if p.shape is not None else None, "dtype": str(p.dtype)}
                       for name, p in block._reg_params.items()},
            "children": {name: describe(child) for name, child in block._child_items()}}


def save(block, prefix: str) -> tuple[str, str]:
    structure_file, params_file = f"{prefix}-model.json", f"{prefix}-model.params"
    block.save_parameters(params_file)
    with open(structure_file, "w") as f:
        json.dump({"format": MODEL_FORMAT, "format_version": 1, "model": describe(block)}, f, indent=1)
    return structure_file, params_file


def _check(block, entry: dict, path: str, where: str) -> None:
    if entry.get("class") != type(block).__name__:
        raise FormatError(f"{where}: block {path or '(root)'} was a {entry.get('class')} when saved, this model has "
                          f"a {type(block).__name__} there; build the model with the code that saved it")
    saved, here = list(entry.get("children", {})), [name for name, _ in block._child_items()]
    if saved != here:
        raise FormatError(f"{where}: block {path or '(root)'} had children {saved} when saved, this model has {here}")
    if sorted(entry.get("params", {})) != sorted(block._reg_params):
        raise FormatError(f"{where}: block {path or '(root)'} had parameters {sorted(entry.get('params', {}))} when "
                          f"saved, this model has {sorted(block._reg_params)}")
    for name, child in block._child_items():
        _check(child, entry["children"][name], f"{path}{name}.", where)


def _rehybridize(block, entry: dict) -> None:
    if entry["hybridized"] and hasattr(block, "hybridize"):
        block.hybridize()
        return
    for name, child in block._child_items():
        _rehybridize(child, entry["children"][name])


def load(block, prefix: str) -> None:
    structure_file, params_file = f"{prefix}-model.json", f"{prefix}-model.params"
    try:
        text = fileio.read_regular(structure_file, MAX_STRUCTURE_BYTES, "model structure file")
        document = json.loads(text.decode("utf-8", "replace"))
    except FileNotFoundError:
        raise FormatError(f"{structure_file} does not exist (Block.save(prefix) writes it)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise FormatError(f"{structure_file} cannot be read ({e})") from None
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT or "model" not in document:
        raise FormatError(f"{structure_file} is not a model structure written by Block.save")
    _check(block, document["model"], "", structure_file)
    block.load_parameters(params_file)
    _rehybridize(block, document["model"])
