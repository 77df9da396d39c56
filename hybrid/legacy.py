"""The message for MXNet 1.x APIs hybrid leaves out (mx.nd, mx.sym, mx.symbol, mx.ndarray)."""

_INSTEAD = {
    "nd": "use hb.np for arrays (mx.nd.array -> np.array, mx.nd.ones -> np.ones) and hb.npx for deep-learning "
          "operators (mx.nd.relu -> npx.relu, mx.nd.softmax -> npx.softmax), as MXNet 2's NumPy interface does",
    "sym": "write the model as a HybridBlock or a function and call hybridize() (then net.ir() shows the graph); "
           "load exported graphs with nn.SymbolBlock.imports or hb.load",
}
ALIASES = {"nd": "nd", "ndarray": "nd", "sym": "sym", "symbol": "sym"}


def legacy_api_error(name: str) -> ImportError:
    kind = ALIASES[name]
    return ImportError(f"hybrid has no mx.{name} (MXNet's legacy {'NDArray' if kind == 'nd' else 'Symbol'} API): "
                       f"{_INSTEAD[kind]}.")
