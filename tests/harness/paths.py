"""Where the repository and the charters the tests run on are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAST_CHARTER = ROOT / "charters" / "fast.toml"  # second-long SLAs on a 24x7 calendar
DEFAULT_CHARTER = ROOT / "charters" / "default.toml"
