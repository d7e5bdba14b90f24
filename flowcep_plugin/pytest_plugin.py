"""pytest fixtures for detector authors (registered as the ``flowcep`` pytest11 entry point).

The fixtures are thin wrappers over :mod:`flowcep_plugin.testing`; they are imported lazily so
that loading this plugin never fails, whatever state the rest of the package is in.
"""

from __future__ import annotations
