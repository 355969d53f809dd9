"""Charter versions as stored: the shipped charters, with their `[registrations]` section, come back
from the store as they were adopted (text, hash, version id)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from store import charters
from store.db import session

CHARTERS = Path(__file__).resolve().parents[2] / "charters"


@pytest.mark.parametrize("name", ["default.toml", "fast.toml"])
def test_a_stored_charter_reads_back_with_its_registration_rules(engine: Engine, name: str) -> None:
    charter, text = charters.load_charter_file(CHARTERS / name)
    with session(engine) as s:
        assert charters.register(s, charter, text, by="admin@example.com", reason="adopted")
        assert not charters.register(s, charter, text, by="admin@example.com", reason="again")
    charters._by_version.clear()  # read it from the store, not from this process's memory
    with session(engine) as s:
        stored = charters.charter_by_version(s, charter.version_id)
        changes = [c.version_id for c in charters.history(s)]
    assert stored == charter and stored.registrations == charter.registrations
    assert stored.version_id == f"{charter.version}+{charter.sha256[:8]}"
    assert changes == [charter.version_id]
