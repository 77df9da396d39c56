"""`gluon.block`: Block, HybridBlock and SymbolBlock under Gluon's module path."""
from ..frontend.block import Block, HybridBlock, SymbolBlock

__all__ = ["Block", "HybridBlock", "SymbolBlock"]
