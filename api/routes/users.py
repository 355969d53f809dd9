"""/api/users and /api/tokens: the admin's user management and token rotation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import AdminUser, CurrentUser, SessionDep
from api.schemas import errors
from domain.errors import NotFound
from domain.model import NOT_BLANK, Email, Role, Strict
from store.users import create_user, issue_token, revoke_token, user_by_email

router = APIRouter(prefix="/api", tags=["users"])


class UserCreate(Strict):  # unknown fields refused, text trimmed and storable (no NUL)
    email: Email
    name: str = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)
    role: Role
    channel: Literal["direct", "partner"] | None = None
    partner_org: Annotated[str, Field(max_length=200)] | None = None
    region: Annotated[str, Field(max_length=50)] | None = None
    segment: Annotated[str, Field(max_length=50)] | None = None
    slack_user_id: Annotated[str, Field(max_length=40)] | None = None


class Created(BaseModel):
    id: int
    token: str
    token_id: str


class TokenIssued(BaseModel):
    token: str
    token_id: str


@router.post("/users", status_code=201, summary="Create a user (admin)",
             responses=errors(401, 403, 409, 413, 422))
def add_user(body: UserCreate, admin: AdminUser, session: SessionDep) -> Created:
    user, token = create_user(session, **body.model_dump())
    session.commit()
    assert user.id is not None
    return Created(id=user.id, token=token.secret, token_id=token.id)


@router.post("/users/{email}/tokens", status_code=201, summary="Issue another token (admin)",
             responses=errors(401, 403, 404, 422))
def add_token(email: str, admin: AdminUser, session: SessionDep) -> TokenIssued:
    user = user_by_email(session, email)
    if user is None:
        raise NotFound(f"no user {email}")
    token = issue_token(session, user, label=f"issued by {admin.email}")
    session.commit()
    return TokenIssued(token=token.secret, token_id=token.id)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token (admin or its owner)",
               responses=errors(401, 404, 409, 422))
def delete_token(token_id: str, user: CurrentUser, session: SessionDep) -> Response:
    revoke_token(session, token_id, by=user)
    session.commit()
    return Response(status_code=204)
