"""The message for MXNet 1.x's Symbol API, which hybrid leaves out (mx.sym, mx.symbol); the legacy
NDArray functions are offered as hb.nd (hybrid/ndarray)."""

_INSTEAD = ("write the model as a HybridBlock or a function and call hybridize() (then net.ir() shows the graph); "
            "load exported graphs with nn.SymbolBlock.imports or hb.load")
ALIASES = ("sym", "symbol")


def legacy_api_error(name: str) -> ImportError:
    return ImportError(f"hybrid has no mx.{name} (MXNet's legacy Symbol API): {_INSTEAD}.")
