"""`parley up --workers N --apis M` as planned (ops/stack.py): one of each is the stack as it always was; more
are named parts with ports of their own behind the front; a layout that cannot start is refused before
anything starts, naming the flag or the port."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ops.stack import MAX_APIS, MAX_WORKERS, check_layout, plan
from settings import Settings
from tests.harness.paths import ROOT
from tests.harness.ports import free_port, port_is_free


def free_run(length: int = 4) -> int:
    """The first of `length` consecutive free ports."""
    while True:
        first = free_port()
        if all(port_is_free(first + i) for i in range(1, length)):
            return first


def settings(tmp_path: Path, **fields: object) -> Settings:
    dev = free_port(with_offset=1000)
    defaults: dict[str, object] = {"data_dir": tmp_path, "http_port": free_run(), "temporal_dev_port": dev}
    return Settings(**{**defaults, **fields})  # type: ignore[arg-type]


def test_one_of_each_is_the_stack_as_it_always_was(tmp_path: Path) -> None:
    s = settings(tmp_path, worker_metrics_port=9464)
    parts = plan(s)
    assert [p.name for p in parts] == ["temporal", "worker", "api"]
    assert parts[2].argv[-2:] == ["cli", "api"] and parts[1].env == {"PARLEY_WORKER_METRICS_PORT": "9464"}


def test_many_workers_and_apis_are_named_parts_with_ports_of_their_own(tmp_path: Path) -> None:
    s = settings(tmp_path, http_host="127.0.0.1", http_port=8000, worker_metrics_port=9464,
                 temporal_address="temporal:7233")
    parts = {p.name: p for p in plan(s, workers=3, apis=2)}
    assert list(parts) == ["worker-1", "worker-2", "worker-3", "api-1", "api-2", "front"]  # no embedded server
    assert [parts[f"worker-{i}"].env["PARLEY_WORKER_METRICS_PORT"] for i in (1, 2, 3)] == ["9464", "9465", "9466"]
    assert parts["api-1"].argv[-2:] == ["--port", "8001"] and parts["api-2"].argv[-2:] == ["--port", "8002"]
    assert parts["front"].argv[3:] == ["--listen", "127.0.0.1:8000", "--backend", "127.0.0.1:8001",
                                       "--backend", "127.0.0.1:8002"]
    assert {p.kind for p in parts.values()} == {"worker", "api", "front"}
    assert parts["worker-2"].log == tmp_path / "logs" / "worker-2.log"


@pytest.mark.parametrize(("workers", "apis", "words"), [
    (0, 1, f"--workers must be from 1 to {MAX_WORKERS}, not 0"),
    (MAX_WORKERS + 1, 1, "--workers must be"),
    (1, 0, f"--apis must be from 1 to {MAX_APIS}, not 0"),
    (1, MAX_APIS + 1, "--apis must be"),
])
def test_counts_out_of_range_are_refused_naming_the_flag(tmp_path: Path, workers: int, apis: int, words: str) -> None:
    with pytest.raises(SystemExit, match=words):
        check_layout(settings(tmp_path), workers, apis)


def test_a_taken_port_is_refused_naming_what_wanted_it(tmp_path: Path) -> None:
    first = free_run()
    port = first + 2
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(SystemExit, match=rf"port {port} for api-2 \(PARLEY_HTTP_PORT \+ 2.*is taken"):
            check_layout(settings(tmp_path, http_port=port - 2), 1, 2)
        with pytest.raises(SystemExit, match=rf"port {port} for the metrics of worker 2 .* is taken"):
            check_layout(settings(tmp_path, worker_metrics_port=port - 1), 2, 1)
    clash = settings(tmp_path)
    clash.worker_metrics_port = clash.http_port + 1
    with pytest.raises(SystemExit, match="wanted by both api-1 .* and the metrics of worker 1"):
        check_layout(clash, 1, 2)
    check_layout(settings(tmp_path), 2, 2)  # free ports: fine


def test_parley_up_refuses_a_bad_layout_before_touching_the_store(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "up", "--apis", "0"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PARLEY_DATA_DIR": str(tmp_path)})
    assert done.returncode == 1 and "--apis must be from 1" in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []
