"""(Re)generate the RegistrationWorkflow histories that tests/workflows/test_replay.py replays.

    .venv/bin/python -m tests.workflows.make_registration_histories                 # every path
    .venv/bin/python -m tests.workflows.make_registration_histories registration_fast

Runs each test of tests/workflows/test_registration.py marked `keeps_registration_history` on a fresh
time-skipping server and saves the history of every registration it started as
tests/histories/<name>.json (or <name>-<label>.json when a path starts several). As for the dispute
histories (make_histories.py): regenerate only for a new path, or after a change behind
`workflow.patched`, keeping the previous version's files.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from tests.workflows import test_registration
from tests.workflows.harness import HISTORIES, start_environment
from tests.workflows.registration_harness import RegHarness, registration_harness

PathTest = Callable[[RegHarness], Coroutine[Any, Any, None]]


def paths() -> dict[str, PathTest]:
    return {fn.history_name: fn for fn in vars(test_registration).values()
            if callable(fn) and hasattr(fn, "history_name")}


async def generate(names: list[str]) -> list[str]:
    chosen = paths()
    unknown = sorted(set(names) - set(chosen))
    if unknown:
        raise SystemExit(f"unknown path(s): {', '.join(unknown)}; known: {', '.join(chosen)}")
    written: list[str] = []
    env = await start_environment()
    try:
        for name, test in chosen.items():
            if names and name not in names:
                continue
            async with registration_harness(env) as h:
                await test(h)  # the test's own assertions check the path before it is kept
                handles = h.handles
                for label, handle in handles.items():
                    filename = f"{name}.json" if len(handles) == 1 else f"{name}-{label}.json"
                    history = await handle.fetch_history()
                    (HISTORIES / filename).write_text(history.to_json() + "\n")
                    written.append(f"{filename} ({len(history.events)} events)")
    finally:
        await env.shutdown()
    return written


def main() -> None:
    for line in asyncio.run(generate(sys.argv[1:])):
        print(f"wrote tests/histories/{line}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the SDK's Rust threads can abort the interpreter while it finalizes (sdk-python #300)


if __name__ == "__main__":
    main()
