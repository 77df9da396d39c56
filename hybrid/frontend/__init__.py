"""The user-facing layer: arrays, the np/npx namespaces, tracing, blocks, layers, autograd."""
