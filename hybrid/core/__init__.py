"""The layer everything else builds on: arrays and their one dispatch point, tracing, the eager
tape, dtype promotion, graph replay and graph autodiff (`ad`). Imports only `hybrid.ir`."""
