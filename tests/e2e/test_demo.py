"""`make demo`'s program, `python -m ops.demo`, as a process: `parley up` on the fast charter, then the two
sample disputes, one escalating by itself to the executive while the other is settled at frontline.
(Free ports and a temporary data dir here; `make demo`'s own settings are checked in
tests/test_readme_commands.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.harness import ROOT, Parley, Stack


def _wait_for_samples(stack: Stack, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = stack.supervisor_log.read_text(errors="replace")
        if "could not file the sample disputes" in out:
            raise AssertionError(out)
        if "Sign in at" in out:
            return re.findall(r"^ {2}(PRL-[0-9A-F]{8}) ", out, re.MULTILINE)
        time.sleep(0.2)
    raise AssertionError(f"no sample disputes after {timeout:.0f}s:\n{stack.log_dump()}")


async def test_the_demo_files_a_dispute_that_escalates_and_one_that_is_settled(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "demo", None)  # the fast charter, free ports, like `make demo`
    stack.logs.mkdir(parents=True, exist_ok=True)
    try:
        with stack.supervisor_log.open("ab") as out:
            stack.proc = subprocess.Popen([sys.executable, "-m", "ops.demo"], cwd=ROOT, env=stack.env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        stack.wait_healthy(timeout=90)
        stuck, settled = _wait_for_samples(stack)
        api = Parley(stack)
        try:
            resolved = await api.get(settled)
            assert (resolved["status"], resolved["decision"]["kind"]) == ("resolved", "agreement")
            # frontline SLA 4 s, mediation 8 s: the executive tier well within half a minute, nobody acting
            view = await api.wait_status(stuck, "executive", timeout=40)
            assert view["tier"] == 3
            actions = [e["action"] for e in await api.audit(stuck)]
            assert actions[0] == "filed" and actions.count("escalated") == 2, actions
        finally:
            await api.aclose()
        assert stack.terminate() == 0  # Ctrl-C / SIGTERM stops everything, as with `parley up`
        assert "Parley is up." in stack.supervisor_log.read_text()
    finally:
        stack.stop()
