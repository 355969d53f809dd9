"""`python -m bench.scale_profile OUT`: `parley worker` under a profiler, for `bench/scale.py --profile`.

Every thread is profiled: the SDK runs workflow activations in a thread pool, the store activities run
in the worker's own pool, and the main thread drives Core. With yappi importable (a dev-only tool, not a
dependency of Parley: `pip install --target DIR yappi`, then `bench/scale.py --yappi DIR`) it measures CPU
time; otherwise it is cProfile on each thread (wall time). On SIGUSR2 it writes what it collected since
the previous SIGUSR2 (with PARLEY_BENCH_PROFILER=gc: no profiler, the garbage collector's figures alone) to
OUT-<n>.pstats and OUT-<n>.txt (the top functions by own time and by cumulative
time) and the time spent in the cyclic garbage collector by generation, and starts over (cProfile: the
dumps are cumulative instead).
"""

from __future__ import annotations

import cProfile
import gc
import io
import os
import pstats
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

TOP = 45


class _Snapshot:
    """What pstats.Stats takes: an object with `create_stats` and `stats`."""

    def __init__(self, stats: dict[Any, Any]) -> None:
        self.stats = stats

    def create_stats(self) -> None:
        pass


class GcClock:
    """Collections and the CPU time they took, by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.began = 0.0
        self.runs: dict[int, list[float]] = {0: [0, 0.0, 0], 1: [0, 0.0, 0], 2: [0, 0.0, 0]}  # count, s, collected
        gc.callbacks.append(self.on_gc)

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.began = time.thread_time()  # the CPU time of the thread that triggered the collection
            return
        run = self.runs[info["generation"]]
        run[0] += 1
        run[1] += time.thread_time() - self.began
        run[2] += info.get("collected", 0)

    def take(self) -> str:
        text = "; ".join(f"gen{g}: {int(c)} collections, {s * 1000:.0f} ms, {int(n)} objects freed"
                         for g, (c, s, n) in self.runs.items())
        for run in self.runs.values():
            run[:] = [0, 0.0, 0]
        return f"# garbage collector since the last dump: {text}; {len(gc.get_objects())} objects tracked now"


class ThreadProfiles:
    """cProfile on the main thread and on every thread started from now on."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self.lock = threading.Lock()
        original = threading.Thread.run
        profiles = self

        def run(thread: threading.Thread) -> None:
            profile = profiles.add()
            profile.enable()
            try:
                original(thread)
            finally:
                profile.disable()

        threading.Thread.run = run  # type: ignore[method-assign,assignment]
        self.add().enable()

    def add(self) -> cProfile.Profile:
        profile = cProfile.Profile()
        with self.lock:
            self.profiles.append(profile)
        return profile

    def stats(self) -> pstats.Stats | None:
        merged: pstats.Stats | None = None
        with self.lock:
            profiles = list(self.profiles)
        for profile in profiles:
            profile.snapshot_stats()  # reads the entries without stopping the profiler
            snap = _Snapshot(dict(profile.stats))
            if not snap.stats:
                continue
            if merged is None:
                merged = pstats.Stats(snap)  # type: ignore[arg-type]
            else:
                merged.add(snap)  # type: ignore[arg-type]
        return merged


def main() -> None:
    out = Path(sys.argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = os.environ.get("PARLEY_BENCH_YAPPI")
    if extra:
        sys.path.insert(0, extra)
    only_gc = os.environ.get("PARLEY_BENCH_PROFILER") == "gc"  # no profiler: the collector's figures alone
    try:
        import yappi  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        yappi = None
    threads: ThreadProfiles | None = None
    if only_gc:
        yappi = None
    elif yappi is not None:
        yappi.set_clock_type("cpu")
        yappi.start(builtins=False, profile_threads=True)
    else:
        threads = ThreadProfiles()
    count = 0
    collector = GcClock()

    busy = threading.Lock()

    def dump(_signum: int, _frame: FrameType | None) -> None:
        if not busy.acquire(blocking=False):  # a signal while the last dump is still being written
            return
        try:
            write()
        finally:
            busy.release()

    def write() -> None:
        nonlocal count
        count += 1
        path = Path(f"{out}-{count}.pstats")
        if only_gc:
            stats: pstats.Stats | None = None
            clock = "none"
        elif yappi is not None:
            yappi.stop()
            yappi.get_func_stats().save(str(path), type="pstat")
            yappi.clear_stats()
            yappi.start(builtins=False, profile_threads=True)
            stats = pstats.Stats(str(path))
            clock = "CPU time, yappi"
        else:
            assert threads is not None
            stats = threads.stats()
            if stats is not None:
                stats.dump_stats(str(path))
            clock = "wall time, cProfile per thread, cumulative"
        text = io.StringIO()
        print(collector.take(), file=text)
        if stats is not None:
            stats.stream = text  # type: ignore[attr-defined]
            print(f"# {clock}; by own time", file=text)
            stats.sort_stats("tottime").print_stats(TOP)
            print(f"# {clock}; by cumulative time", file=text)
            stats.sort_stats("cumulative").print_stats(TOP)
        Path(f"{out}-{count}.txt").write_text(text.getvalue())

    signal.signal(signal.SIGUSR2, dump)
    from cli import main as parley

    parley(["worker"])


if __name__ == "__main__":
    main()
