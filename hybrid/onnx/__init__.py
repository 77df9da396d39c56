"""ONNX interchange: `import_model` (ONNX -> a block built through hb.np/hb.npx), `export_model`
(hybrid IR -> ONNX), and `backend` (an onnx.backend Backend, for the official test suite)."""
from .exporter import OnnxExportError, export_model, graph_to_onnx
from .importer import OnnxBlock, import_model, input_shapes
from .ops import OnnxImportError, supported_ops

__all__ = ["OnnxBlock", "OnnxExportError", "OnnxImportError", "export_model", "graph_to_onnx", "import_model",
           "input_shapes", "supported_ops"]
