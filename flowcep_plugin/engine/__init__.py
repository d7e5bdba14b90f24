"""FlowCEP's CEP engine: an EPL dialect (Esper's) compiled to plans over columnar batches.

Usage::

    module = compile_module(text, filename, params)   # EPLError before any data flows
    rt = module.runtime()                              # independent state
    rows = rt.on_batch(batch) + rt.on_watermark(ms) + rt.flush()
"""

from __future__ import annotations

from .compiler import Module, StatementInfo, compile_module
from .runtime import Row, Runtime

__all__ = ["compile_module", "Module", "Runtime", "Row", "StatementInfo"]
