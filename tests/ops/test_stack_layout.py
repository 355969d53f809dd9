"""`parley up --workers N --apis M --delivery-workers K` as planned (ops/stack.py): one of each is the stack as it
always was; more are named parts with ports of their own behind the front; delivery workers are parts of their
own (role "deliveries", niced, metrics ports after the workers') that leave the workers the workflows alone; a
layout that cannot start is refused before anything starts, naming the flag or the port."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ops.stack import DELIVERY_NICE, MAX_APIS, MAX_WORKERS, PYTHON, check_layout, plan
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


def test_delivery_workers_are_parts_of_their_own_and_the_workers_run_the_workflows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_WORKER_NICE", raising=False)
    s = settings(tmp_path, worker_metrics_port=9464, temporal_address="temporal:7233")
    parts = {p.name: p for p in plan(s, workers=2, apis=1, delivery_workers=3)}
    assert list(parts) == ["worker-1", "worker-2", "deliveries-1", "deliveries-2", "deliveries-3", "api"]
    assert [parts[f"worker-{i}"].env for i in (1, 2)] == [
        {"PARLEY_WORKER_ROLE": "workflows", "PARLEY_WORKER_NICE": "0", "PARLEY_WORKER_METRICS_PORT": port}
        for port in ("9464", "9465")]
    assert [parts[f"deliveries-{i}"].env for i in (1, 2, 3)] == [  # their metrics after the workers'
        {"PARLEY_WORKER_ROLE": "deliveries", "PARLEY_WORKER_NICE": DELIVERY_NICE, "PARLEY_WORKER_METRICS_PORT": port}
        for port in ("9466", "9467", "9468")]
    assert all(parts[f"deliveries-{i}"].argv == [PYTHON, "-m", "cli", "worker"] for i in (1, 2, 3))
    assert parts["deliveries-2"].kind == "deliveries"
    assert parts["deliveries-2"].log == tmp_path / "logs" / "deliveries-2.log"
    assert 0 <= int(DELIVERY_NICE) <= 19  # a niceness the setting takes


def test_one_delivery_worker_keeps_a_plain_name_and_the_niceness_of_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_WORKER_NICE", "5")
    parts = {p.name: p for p in plan(settings(tmp_path), delivery_workers=1)}
    assert list(parts) == ["temporal", "worker", "deliveries", "api"]
    # the niceness the environment gives is the delivery workers': the workflows worker keeps its priority
    assert parts["worker"].env == {"PARLEY_WORKER_ROLE": "workflows", "PARLEY_WORKER_NICE": "0"}
    assert parts["deliveries"].env == {"PARLEY_WORKER_ROLE": "deliveries", "PARLEY_WORKER_NICE": "5"}
    assert "PARLEY_WORKER_ROLE" not in plan(settings(tmp_path), delivery_workers=0)[1].env  # role "all"


@pytest.mark.parametrize(("workers", "apis", "words"), [
    (0, 1, f"--workers must be from 1 to {MAX_WORKERS}, not 0"),
    (MAX_WORKERS + 1, 1, "--workers must be"),
    (1, 0, f"--apis must be from 1 to {MAX_APIS}, not 0"),
    (1, MAX_APIS + 1, "--apis must be"),
])
def test_counts_out_of_range_are_refused_naming_the_flag(tmp_path: Path, workers: int, apis: int, words: str) -> None:
    with pytest.raises(SystemExit, match=words):
        check_layout(settings(tmp_path), workers, apis)


@pytest.mark.parametrize("delivery_workers", [-1, MAX_WORKERS + 1])
def test_delivery_workers_out_of_range_are_refused_naming_the_flag(tmp_path: Path, delivery_workers: int) -> None:
    with pytest.raises(SystemExit, match=f"--delivery-workers must be from 0 to {MAX_WORKERS}, not {delivery_workers}"):
        check_layout(settings(tmp_path), 1, 1, delivery_workers)
    check_layout(settings(tmp_path), 1, 1, MAX_WORKERS)  # the most there may be


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
        with pytest.raises(SystemExit, match=rf"port {port} for the metrics of delivery worker 1 "
                                             r"\(PARLEY_WORKER_METRICS_PORT \+ 2\) is taken"):
            check_layout(settings(tmp_path, worker_metrics_port=port - 2), 2, 1, 1)
    clash = settings(tmp_path)
    clash.worker_metrics_port = clash.http_port + 1
    with pytest.raises(SystemExit, match="wanted by both api-1 .* and the metrics of worker 1"):
        check_layout(clash, 1, 2)
    check_layout(settings(tmp_path), 2, 2)  # free ports: fine


@pytest.mark.parametrize(("flags", "words"), [(["--apis", "0"], "--apis must be from 1"),
                                             (["--delivery-workers", "-1"], "--delivery-workers must be from 0")])
def test_parley_up_refuses_a_bad_layout_before_touching_the_store(tmp_path: Path, flags: list[str], words: str) -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "up", *flags], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PARLEY_DATA_DIR": str(tmp_path)})
    assert done.returncode == 1 and words in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []
