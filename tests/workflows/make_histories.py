"""(Re)generate the histories that tests/workflows/test_replay.py replays.

    .venv/bin/python -m tests.workflows.make_histories              # every path
    .venv/bin/python -m tests.workflows.make_histories withdrawn    # some paths, by name

Runs each workflow test marked `keeps_history` (tests/workflows/test_dispute_workflow.py, test_away.py) on a fresh
time-skipping test server with the stand-in activities, then saves the history of every dispute it
filed as tests/histories/<name>.json (or <name>-<label>.json when a path files several).

Regenerate only for a new path, or after a change to the workflow's commands that sits behind
`workflow.patched`: the histories of the previous version are what the replay test protects, so
rename the files you want to keep (e.g. `v1-<name>.json`) before overwriting them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from tests.workflows import test_away, test_dispute_workflow
from tests.workflows.harness import HISTORIES, Harness, harness, history_files, start_environment

PathTest = Callable[[Harness], Coroutine[Any, Any, None]]


def paths() -> dict[str, PathTest]:
    """The lifecycle paths, by history name, in the order the test module defines them."""
    return {
        fn.history_name: fn
        for module in (test_dispute_workflow, test_away)
        for fn in vars(module).values()
        if callable(fn) and hasattr(fn, "history_name")
    }


async def generate(names: list[str]) -> list[str]:
    chosen = paths()
    unknown = sorted(set(names) - set(chosen))
    if unknown:
        raise SystemExit(f"unknown path(s): {', '.join(unknown)}; known: {', '.join(chosen)}")
    HISTORIES.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    env = await start_environment()
    try:
        for name, test in chosen.items():
            if names and name not in names:
                continue
            async with harness(env) as h:
                await test(h)  # the test's own assertions check the path before it is kept
                for filename, handle in history_files(name, h).items():
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
    # The SDK's Rust threads can abort the interpreter while it finalizes (sdk-python issue #300):
    # everything is shut down and flushed, so leave without finalizing.
    os._exit(0)


if __name__ == "__main__":
    main()
