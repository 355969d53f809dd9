"""Registering the dispute workflow's search attributes on a namespace.

`parley up` starts its embedded server with them; a worker registers whichever are missing on the
namespace it serves (a self-hosted cluster, or the time-skipping test server). Where the operator API
is not open to workers (Temporal Cloud), create them once as the README's production guide shows; the
worker then finds them and adds nothing.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.service import RPCError, RPCStatusCode

from workflows.search import KEYS

# the `temporal operator search-attribute create --type` names, for the dev server's flags and the README
TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword", SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double", SearchAttributeIndexedValueType.DATETIME: "Datetime",
}


class SearchAttributesMissing(RuntimeError):
    pass


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` arguments that register every attribute at start."""
    flags: list[str] = []
    for key in KEYS:
        flags += ["--search-attribute", f"{key.name}={TYPE_NAMES[key.indexed_value_type]}"]
    return flags


async def missing(client: Client, namespace: str) -> list[str]:
    """The attributes the namespace lacks (all of them where it cannot list them: the time-skipping
    server adds attributes but does not list them)."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace))
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        return [key.name for key in KEYS]
    return [key.name for key in KEYS if key.name not in listed.custom_attributes]


async def ensure_registered(client: Client, namespace: str) -> list[str]:
    """Adds the attributes the namespace lacks; returns their names. Raises `SearchAttributesMissing`,
    naming the command to run, when the namespace lacks some and refuses to add them."""
    absent = await missing(client, namespace)
    if not absent:
        return []
    wanted = {key.name: IndexedValueType.ValueType(int(key.indexed_value_type)) for key in KEYS if key.name in absent}
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=wanted))
    except RPCError as exc:
        commands = "; ".join(
            f"temporal operator search-attribute create --namespace {namespace} --name {key.name} "
            f"--type {TYPE_NAMES[key.indexed_value_type]}" for key in KEYS if key.name in absent)
        raise SearchAttributesMissing(
            f"namespace {namespace} lacks the search attributes {', '.join(absent)} and refused to add them "
            f"({exc.message}); create them once: {commands}") from exc
    return absent
