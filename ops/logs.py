"""Log lines of the API and the worker: plain text by default, one JSON object a line with PARLEY_LOG_FORMAT=json.

A JSON line has `time` (UTC, ISO 8601), `level`, `logger`, `message` and `process`, and whatever is known
where it was logged: `request_id` (bound per request by `ops.http`), `dispute_id` (the request's path, or
the workflow's id inside a dispute's workflow and activities), `workflow_id` and `run_id` (from the `extra`
that temporalio's `workflow.logger` and `activity.logger` attach, or from `activity.info()` /
`workflow.info()` for a plain logger called inside Temporal code), and `exception` with its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow

from ops.temporal_runtime import forward_core_logs
from settings import Settings

DISPUTE_WORKFLOW = "DisputeWorkflow"  # its workflow id is the dispute's id
QUIET_LOGGERS = ("httpx", "httpcore")  # a line per outgoing request at INFO


@dataclass(frozen=True)
class RequestContext:
    """The request being handled: its id, and its ASGI scope, whose path parameters routing fills in later."""

    request_id: str
    scope: MutableMapping[str, Any]

    def dispute_id(self) -> str | None:
        value = (self.scope.get("path_params") or {}).get("dispute_id")  # /api/disputes/{dispute_id}, the pages
        return value if isinstance(value, str) else None


CURRENT_REQUEST: ContextVar[RequestContext | None] = ContextVar("parley_request", default=None)


def configure_logging(settings: Settings) -> None:
    """Send every logger's records to stderr in the configured format (once per process: the API's and
    the worker's entry points call it)."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
        # the JSON line carries the Temporal context in fields: keep it out of the message text
        activity.logger.activity_info_on_message = False
        workflow.logger.workflow_info_on_message = False
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    forward_core_logs()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        line.update(context_of(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def context_of(record: logging.LogRecord) -> dict[str, str]:
    """The request, dispute, workflow and run a record was logged for, as far as they are known."""
    found: dict[str, str] = {}
    request = CURRENT_REQUEST.get()
    if request is not None:
        found["request_id"] = request.request_id
        if (dispute := request.dispute_id()) is not None:
            found["dispute_id"] = dispute
    temporal = _temporal_context(record)
    if temporal.get("workflow_id"):
        found["workflow_id"] = str(temporal["workflow_id"])
        if temporal.get("workflow_type") == DISPUTE_WORKFLOW:
            found["dispute_id"] = str(temporal["workflow_id"])
    if temporal.get("run_id"):
        found["run_id"] = str(temporal["run_id"])
    explicit = getattr(record, "dispute_id", None)  # log.info(..., extra={"dispute_id": …})
    if isinstance(explicit, str):
        found["dispute_id"] = explicit
    return found


def _temporal_context(record: logging.LogRecord) -> Mapping[str, Any]:
    core = getattr(getattr(record, "temporal_log", None), "fields", None)  # forwarded from the SDK's Core
    if isinstance(core, Mapping):
        return core
    adapted = getattr(record, "temporal_workflow", None)
    if isinstance(adapted, Mapping):
        return adapted
    adapted = getattr(record, "temporal_activity", None)
    if isinstance(adapted, Mapping):
        return {**adapted, "run_id": adapted.get("workflow_run_id")}
    if activity.in_activity():
        info = activity.info()
        return {"workflow_id": info.workflow_id, "run_id": info.workflow_run_id, "workflow_type": info.workflow_type}
    if workflow.in_workflow():
        winfo = workflow.info()
        return {"workflow_id": winfo.workflow_id, "run_id": winfo.run_id, "workflow_type": winfo.workflow_type}
    return {}
