"""Limits on what exporters (or anyone who can reach a collector) can make an input hold.

Every table an input keeps on behalf of an exporter is bounded here, with a default sized for
real deployments and a stats counter for each eviction or refusal (docs/operations.md
lists them). Sessions that never delivered a data record are evicted before established ones,
and when the template budget is full new templates are refused rather than evicting an
established exporter's: a flood of templates from fresh source ports costs the flood, not
the exporters that were already working.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DecoderLimits", "TEMPLATE_OVERHEAD", "FIELD_COST", "template_cost"]

#: Estimated bytes one compiled template costs (struct, numpy dtype, name and plan lists), and
#: per field: measured with tracemalloc at 520-560 B/field for 10 to 1000 fields.
TEMPLATE_OVERHEAD = 2048
FIELD_COST = 600


def template_cost(n_fields: int) -> int:
    """Estimated memory of a template with ``n_fields`` fields (what the budget counts)."""
    return TEMPLATE_OVERHEAD + FIELD_COST * n_fields


@dataclass(frozen=True)
class DecoderLimits:
    """Per-input bounds on decoder state; see docs/operations.md for each default."""

    #: exporter sessions: (transport session = source address and port, observation domain,
    #: protocol version); the least recently heard is evicted, sessions without data first
    max_sessions: int = 4096
    #: templates per session; the oldest defined is evicted
    max_templates: int = 1024
    #: fields per template; a longer template is refused (RFC 7011 allows ~16k in 64 KiB)
    max_fields: int = 512
    #: estimated bytes of all templates of one input; beyond it new templates are refused
    max_template_bytes: int = 64 << 20
    #: UDP sessions silent this long are forgotten with their templates (None: never)
    session_timeout: float | None = 1800.0
