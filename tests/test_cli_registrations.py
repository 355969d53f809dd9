"""`parley registrations import | list`, run as a process the way an operator runs it (tests/test_cli.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.test_cli import parley

EXPORT = """external_ref,account,account_domain,title,deal_value,currency,region,owner_email,products,crm_owner
OPP-1,Globex Corporation,globex.com,Globex renewal,120000,USD,AMER,dana.direct@example.com,Platform;Support,Dana
OPP-2,Initech,,Initech expansion,-5,USD,AMER,dana.direct@example.com,,Dana
OPP-3,"Acme, Inc.",,"Acme ""big"" deal",80000,EUR,EMEA,dana.direct@example.com,,Dana
"""


def seeded(tmp_path: Path) -> Path:
    assert parley(tmp_path, "seed").returncode == 0  # dana.direct@example.com and the others
    export = tmp_path / "export.csv"
    export.write_text(EXPORT)
    return export


def test_import_keeps_the_good_rows_reports_the_bad_and_is_idempotent(tmp_path: Path) -> None:
    export = seeded(tmp_path)
    done = parley(tmp_path, "registrations", "import", str(export))
    assert done.returncode == 1, done.stderr  # a row was refused
    assert "export.csv: 2 created, 0 updated, 0 unchanged, 2 refused" in done.stdout
    assert "line 1, crm_owner: is not a column Parley imports" in done.stderr
    assert "line 3, deal_value: must be greater than 0" in done.stderr
    assert "\r" not in done.stderr  # no progress bar off a terminal
    again = parley(tmp_path, "registrations", "import", str(export))
    assert "0 created, 0 updated, 2 unchanged" in again.stdout
    with sqlite3.connect(tmp_path / "parley.db") as db:
        actions = db.execute("SELECT action, actor FROM audit_events WHERE action = 'imported'").fetchall()
    assert actions == [("imported", "admin@parley.local")] * 2


def test_import_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    export = seeded(tmp_path)
    assert parley(tmp_path, "registrations", "import", str(tmp_path / "missing.csv")).returncode == 2
    odd = tmp_path / "export.xls"
    odd.write_text(EXPORT)
    refused = parley(tmp_path, "registrations", "import", str(odd))
    assert refused.returncode == 2 and "--format" in refused.stderr
    not_admin = parley(tmp_path, "registrations", "import", str(export), "--by", "dana.direct@example.com")
    assert not_admin.returncode == 2 and "only an admin" in not_admin.stderr
    headless = tmp_path / "headless.csv"
    headless.write_text("OPP-9,Initech,Initech renewal\n")
    refused = parley(tmp_path, "registrations", "import", str(headless))
    assert refused.returncode == 2, refused.stderr
    assert "error: headless.csv: line 1: the header lacks the column(s)" in refused.stderr
    # a file it can read, every row of which is bad, is reported row by row like any other
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(line for line in EXPORT.splitlines() if "OPP-1" not in line and "OPP-3" not in line)
                   + "\nOPP-4,Hooli,,Hooli deal,100,USD,AMER,nobody@example.com,,\n")
    done = parley(tmp_path, "registrations", "import", str(bad))
    assert done.returncode == 1, done.stderr  # rows refused, as in any other file
    assert "bad.csv: 0 created, 0 updated, 0 unchanged, 3 refused" in done.stdout
    assert "line 2, deal_value: must be greater than 0" in done.stderr
    assert "line 3, owner_email: no Parley user nobody@example.com" in done.stderr


def test_list_shows_the_registrations_to_whom_may_see_them(tmp_path: Path) -> None:
    export = seeded(tmp_path)
    parley(tmp_path, "registrations", "import", str(export))
    table = parley(tmp_path, "registrations", "list")
    assert table.returncode == 0, table.stderr
    assert "Globex Corporation" in table.stdout and "120,000 USD" in table.stdout
    assert table.stdout.rstrip().endswith("2 registrations")
    lines = parley(tmp_path, "registrations", "list", "--json", "--account", "globex").stdout.splitlines()
    assert [json.loads(line)["ref"] for line in lines] == ["OPP-1"]
    partner = parley(tmp_path, "registrations", "list", "--as", "pat.partner@example.com")
    assert partner.stdout.rstrip().endswith("0 registrations")  # direct opportunities are not a partner's
