"""/api/users and /api/tokens: the admin's user management and token rotation; who am I; the `notify` preference."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import AdminUser, BearerDep, CurrentUser, NowDep, SessionDep, SettingsDep
from api.routes.away import absence_public
from api.routing import StoreRoute
from api.schemas import NotifyChoice, UserPublic, errors
from domain.errors import Forbidden, NotFound
from domain.model import NOT_BLANK, Email, Role, Strict
from domain.plain_words import a_role
from service.away import status_of as away_status
from service.users import notify_setting, set_notify
from settings import Settings
from store.tables import User
from store.users import create_user, hash_token, issue_token, revoke_token, tokens_of, user_by_email

router = APIRouter(prefix="/api", tags=["users"], route_class=StoreRoute)


class UserCreate(Strict):  # unknown fields refused, text trimmed and storable (no NUL)
    email: Email
    name: str = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)
    role: Role
    channel: Literal["direct", "partner"] | None = None
    partner_org: Annotated[str, Field(max_length=200)] | None = None
    region: Annotated[str, Field(max_length=50)] | None = None
    segment: Annotated[str, Field(max_length=50)] | None = None
    slack_user_id: Annotated[str, Field(max_length=40)] | None = None
    notify: NotifyChoice | None = Field(default=None, description="slack, email or both; unset: the default")
    manager_email: Email | None = Field(default=None, description="who manages this user (someone else; they need "
                                                                  "not be a user yet): never the mediator or executive "
                                                                  "of a dispute this user is a party to")


class NotifyUpdate(Strict):
    notify: NotifyChoice | None = Field(description="slack, email or both; null: back to the default")


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


class TokenPublic(BaseModel):
    id: str = Field(description="what `DELETE /api/tokens/{token_id}` takes")
    label: str
    created_at: datetime
    revoked_at: datetime | None
    current: bool = Field(description="the token this request was sent with")


@router.get("/users/{email}/tokens", summary="A user's tokens, oldest first (admin, or the user)",
            responses=errors(401, 403, 404, 422))
def list_tokens(email: str, user: CurrentUser, session: SessionDep, credentials: BearerDep) -> list[TokenPublic]:
    """Never a secret: the ids to revoke by, which one this request used, and which are revoked already."""
    owner = user_by_email(session, email)
    if Role(user.role) != Role.admin and (owner is None or owner.email != user.email):
        raise Forbidden(f"only an admin or the user sees a user's tokens; {user.email} is {a_role(user.role)}")
    if owner is None or owner.id is None:
        raise NotFound(f"no user {email}")
    used = hash_token(credentials.credentials) if credentials is not None else None
    return [TokenPublic(id=t.id, label=t.label, created_at=t.created_at, revoked_at=t.revoked_at,
                        current=t.token_hash == used) for t in tokens_of(session, owner.id)]


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token (admin or its owner)",
               responses=errors(401, 404, 409, 422))
def delete_token(token_id: str, user: CurrentUser, session: SessionDep) -> Response:
    revoke_token(session, token_id, by=user)
    session.commit()
    return Response(status_code=204)


def _public(user: User, settings: Settings) -> UserPublic:
    setting = notify_setting(user, settings)
    return UserPublic.model_validate({
        "id": user.id or 0, "email": user.email, "name": user.name, "role": user.role, "channel": user.channel,
        "partner_org": user.partner_org, "region": user.region, "segment": user.segment,
        "slack_user_id": user.slack_user_id, "notify": setting.notify, "notify_effective": setting.effective,
        "manager_email": user.manager_email,
    })


@router.get("/users/me", summary="The signed-in user, with their notification preference and absence",
            responses=errors(401))
def me(user: CurrentUser, settings: SettingsDep, session: SessionDep, now: NowDep) -> UserPublic:
    status = away_status(session, user.email, now)  # DESIGN §8: their absence, and whom they stand in for
    return _public(user, settings).model_copy(update={
        "away": absence_public(status.absence) if status.absence else None,
        "standing_in_for": [absence_public(p) for p in status.standing_in_for]})


@router.put("/users/{email}/notify", summary="Set how a user hears from Parley (admin, or the user)",
            responses=errors(401, 403, 404, 413, 422))
def put_notify(email: str, body: NotifyUpdate, user: CurrentUser, session: SessionDep,
               settings: SettingsDep) -> UserPublic:
    set_notify(session, user, email, body.notify, settings)
    target = user_by_email(session, email)
    assert target is not None
    return _public(target, settings)
