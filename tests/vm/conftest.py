"""The boot test of the demo box needs KVM, qemu, root and ten minutes: it runs only when asked
(``make vm-test`` sets FLOWCEP_VM_TEST=1), never in CI by accident."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vm: boots the demo box in a KVM virtual machine (make vm-test)")
