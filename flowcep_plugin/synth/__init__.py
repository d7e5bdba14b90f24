"""Synthetic, labelled traffic: deterministic scenarios written as IPFIX or pcap.

``generate(name, seed, duration_s, start_ms)`` returns a :class:`Scenario` (conversations
and labels); :func:`write_ipfix`, :func:`write_pcap` and :func:`write_labels` write it.
See docs/evaluation.md for the organisation, the attacks and how labels are matched.
"""

from .model import DEFAULT_START_MS, Conversation, Label, Scenario
from .scenarios import SCENARIOS, generate, scenario_names

__all__ = ["Conversation", "DEFAULT_START_MS", "Label", "SCENARIOS", "Scenario", "generate",
           "scenario_names"]
