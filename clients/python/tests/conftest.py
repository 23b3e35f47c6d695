from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import Ratufa, local  # noqa: E402


@pytest.fixture
def cluster() -> Iterator[Ratufa]:
    """`ratufa local` with one agent (cpus:4;mem:2048), 1 s heartbeats."""
    c = local(1)
    try:
        yield c
    finally:
        c.cleanup()
