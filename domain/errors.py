"""One error tree for Parley; the API maps each class to one HTTP status in one place.

    ParleyError
    ├── InvalidInput      422  the request is malformed or a value is out of range (names the field)
    ├── NotAuthenticated  401  no or unknown credentials
    ├── Forbidden         403  this user may not do this
    ├── NotFound          404  unknown, or not visible to this user
    ├── WrongState        409  not allowed in the dispute's current state (or a duplicate)
    └── Unavailable       503  Temporal or the store did not answer in time

Workflow validators raise these; they reach the API as an ApplicationError whose `type` is
the class name, and `from_type` turns them back into the same class.
"""

from __future__ import annotations

from collections.abc import Mapping


class ParleyError(Exception):
    status = 500

    def __init__(self, message: str, field: str | None = None, extra: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = dict(extra or {})  # more keys of the JSON answer beside `detail`, e.g. a 409's `existing`


class InvalidInput(ParleyError):
    status = 422


class NotAuthenticated(ParleyError):
    status = 401


class Forbidden(ParleyError):
    status = 403


class NotFound(ParleyError):
    status = 404


class WrongState(ParleyError):
    status = 409


class Unavailable(ParleyError):
    status = 503


_BY_NAME: dict[str, type[ParleyError]] = {
    cls.__name__: cls for cls in (InvalidInput, NotAuthenticated, Forbidden, NotFound, WrongState)
}


def from_type(type_name: str | None, message: str) -> ParleyError | None:
    cls = _BY_NAME.get(type_name or "")
    return cls(message) if cls else None
