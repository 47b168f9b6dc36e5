"""Tools that worker processes of the governance tests import."""

from __future__ import annotations

import os
from pathlib import Path

from tether import tool


@tool(side_effect="high_risk")
def wipe(n: int) -> dict[str, int]:
    """Wipe record n for good.

    Args:
        n: the record number
    """
    with Path(os.environ["TETHER_TEST_EFFECTS"]).open("a") as f:
        f.write(f"wiped {n}\n")
    return {"wiped": n}
