"""A local, in-process fake of the Slack Web API for tests.

Point a real ``slack_sdk.WebClient`` at it::

    with FakeSlack() as fake:
        client = WebClient(token=fake.token, base_url=fake.base_url)
        client.chat_postMessage(channel="C1", text="hi")
        assert fake.messages("C1")[0]["text"] == "hi"

The fake listens on 127.0.0.1 (ephemeral port) with a ``ThreadingHTTPServer`` running in a
daemon thread. It answers like Slack does: HTTP 200 with ``{"ok": false, "error": ...}`` for
API-level errors, HTTP 429 (with ``Retry-After``) for rate limits and HTTP 500 for server errors.

Messages keep the ``metadata`` they were posted with, and ``ts`` values are Unix times (unique and
increasing, like Slack's). ``conversations.history`` (top-level messages, newest first) and
``conversations.replies`` (the parent, then its replies, oldest first) answer as Slack does: ``oldest`` /
``latest`` / ``inclusive``, ``limit`` and ``cursor`` pages (``has_more``,
``response_metadata.next_cursor``), and each message's ``metadata`` only with ``include_all_metadata``;
they want a channel ID, not a ``#name``, and a bot may read only the channels it is in: with ``joined``
set (None: every one), another channel answers ``not_in_channel`` until ``conversations.join`` (posting
needs no membership, as with ``chat:write.public``; DMs are always readable). ``channel_names`` (name ->
ID) makes ``chat.postMessage`` to ``#name`` land in (and answer with) that ID, and is what
``conversations.list`` lists.

Fault injection (``fail_next`` / ``fail_rate``) lets tests exercise retry behaviour:

* ``"429"``     -> HTTP 429 + ``Retry-After: <retry_after>``; the call is NOT applied.
* ``"500"``     -> HTTP 500; the call is NOT applied.
* ``"timeout"`` -> the server holds the connection for ``hang_seconds`` (longer than the client
  timeout) before answering 200. Like real Slack, the work MAY have happened: when
  ``timeout_applies`` is true the call is applied immediately (before the hang) and the real
  result is sent late; otherwise nothing is applied and the late answer is
  ``{"ok": false, "error": "request_timeout"}``.

``fail_next(..., taken=True)`` makes a ``"500"`` or ``"timeout"`` fault happen after the call was applied
(Slack took the post, then answered 500 or held the answer past the client's time-out), whatever
``timeout_applies`` says; ``Call.taken`` tells such calls apart.
"""

from __future__ import annotations

import base64
import json
import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Call", "FakeSlack", "FAULT_KINDS"]

FAULT_KINDS = ("429", "500", "timeout")

# Form-encoded arguments that Slack expects to carry JSON documents.
_JSON_ARGS = frozenset(
    {"blocks", "attachments", "view", "metadata", "unfurls", "user_auth_blocks", "options", "profile"}
)

JsonDict = dict[str, Any]


@dataclass
class Call:
    """One request received by the fake (including rejected and faulted ones)."""

    method: str
    args: JsonDict
    at: float  # time.time() when the request was received
    status: int  # HTTP status answered
    fault: str | None = None  # injected fault kind ("429"/"500"/"timeout") or "ratelimited"
    response: JsonDict | None = field(default=None, repr=False)
    taken: bool = False  # the call was applied although its answer is a fault (fail_next(taken=True))

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return None if self.response is None else self.response.get("error")


class _ApiError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class _Outcome:
    status: int
    body: JsonDict
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default (5) makes concurrent clients wait for SYN retransmits
    fake: FakeSlack

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up on a "timeout" fault is expected; stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.server.fake
        received = time.time()
        url = urlsplit(self.path)
        if not url.path.startswith("/api/"):
            self._write(_Outcome(404, {"ok": False, "error": "not_found"}))
            return
        method = url.path[len("/api/") :].strip("/")
        try:
            args = _parse_args(url.query, self.headers.get("Content-Type", ""), self._read_body())
        except ValueError:
            args, bad_body = {}, True
        else:
            bad_body = False
        token = args.pop("token", None)
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[len("bearer ") :].strip()
        outcome = fake._dispatch(method, args, token, received, bad_body)
        if outcome.hang > 0:
            fake._stopping.wait(outcome.hang)
        self._write(outcome)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, outcome: _Outcome) -> None:
        payload = json.dumps(outcome.body).encode("utf-8")
        try:
            self.send_response(outcome.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in outcome.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:  # client gave up (timeout) or server is stopping
            pass


def _parse_args(query: str, content_type: str, body: bytes) -> JsonDict:
    args: JsonDict = {}
    for key, values in parse_qs(query, keep_blank_values=True).items():
        args[key] = values[-1]
    ctype = content_type.split(";", 1)[0].strip().lower()
    if body:
        if ctype == "application/json":
            decoded = json.loads(body.decode("utf-8"))
            if not isinstance(decoded, dict):
                raise ValueError("JSON body must be an object")
            args.update(decoded)
        else:  # application/x-www-form-urlencoded (and anything else we can read as such)
            for key, values in parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
                args[key] = values[-1]
    for key in _JSON_ARGS & args.keys():
        value = args[key]
        if isinstance(value, str) and value.strip()[:1] in ("{", "["):
            try:
                args[key] = json.loads(value)
            except json.JSONDecodeError:
                pass
    return args


def _present(args: JsonDict, key: str) -> bool:
    value = args.get(key)
    return value is not None and value != "" and value != [] and value != {}


class FakeSlack:
    """Fake Slack Web API server. See the module docstring for the behaviour summary."""

    def __init__(
        self,
        token: str = "xoxb-test-token",
        *,
        retry_after: int = 1,
        hang_seconds: float = 3.0,
        timeout_applies: bool = False,
        min_interval_per_channel: float = 0.0,
        team_id: str = "T0FAKE",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
    ) -> None:
        self.token = token
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.timeout_applies = timeout_applies
        self.min_interval_per_channel = min_interval_per_channel
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        # Directory used by users.info / users.lookupByEmail: slack_id -> {"email", "real_name", ...}
        self.users: dict[str, JsonDict] = {}
        # Optional allow-list of channel ids; None accepts any channel.
        self.known_channels: set[str] | None = None
        # Channels known by name (without "#") -> their ID: posts to "#name" land there; conversations.list.
        self.channel_names: dict[str, str] = {}
        # Methods Slack refuses with an API error, e.g. {"conversations.history": "missing_scope"}.
        self.refuse: dict[str, str] = {}
        # The channels the bot is a member of (it may read only those); None: every channel.
        self.joined: set[str] | None = None

        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[JsonDict], JsonDict]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.list": self._conversations_list,
            "conversations.join": self._conversations_join,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
        }
        self._dms: dict[str, str] = {}
        self._view_seq = 0
        self._init_state()

    def _init_state(self) -> None:
        self._calls: list[Call] = []
        self._messages: dict[tuple[str, str], JsonDict] = {}
        self.ephemerals: list[JsonDict] = []
        self.views: dict[str, JsonDict] = {}  # view id -> current view (modals and home tabs)
        self._home_view_ids: dict[str, str] = {}
        self.faults = 0
        self.faults_by_kind: Counter[str] = Counter()
        self.rate_limited = 0  # 429s served by the min_interval_per_channel check
        self._pending: deque[tuple[str, str | None, bool]] = deque()
        self._fail_p = 0.0
        self._fail_kinds: tuple[str, ...] = FAULT_KINDS
        self._fail_methods: frozenset[str] | None = None
        self._rng = random.Random()
        self._last_ts = 0  # microseconds
        self._last_post: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="FakeSlack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wake up hanging "timeout" handlers
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not running; call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    # ------------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[Call]:
        """Snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def messages(self, channel: str | None = None) -> list[JsonDict]:
        """Current state of posted messages (after updates), oldest first.

        ``channel`` may also be a user id, meaning that user's DM channel.
        """
        with self._lock:
            if channel is not None:
                channel = self._dms.get(channel, channel)
            return [
                {k: _copy(v) for k, v in m.items()}
                for m in self._messages.values()
                if channel is None or m["channel"] == channel
            ]

    def dm_channel(self, user_id: str) -> str:
        """The stable DM channel id for ``user_id`` (as conversations.open would return)."""
        with self._lock:
            return self._dm_for(user_id)

    def reset(self) -> None:
        """Forget calls, messages, ephemerals, views and fault/rate settings.

        Keeps configuration (token, retry_after, hang_seconds, timeout_applies,
        min_interval_per_channel), the ``users`` directory and DM channel ids.
        """
        with self._lock:
            self._init_state()

    # ------------------------------------------------------------------ fault injection

    def fail_next(self, n: int = 1, kind: str = "500", *, method: str | None = None, taken: bool = False) -> None:
        """Make the next ``n`` requests (optionally only to ``method``) fail with ``kind``; with ``taken``, a
        ``"500"`` or ``"timeout"`` comes after the call was applied (Slack did it, the answer says otherwise)."""
        kind = _check_kind(kind)
        if taken and kind == "429":
            raise ValueError("a rate-limited call is never applied")
        with self._lock:
            self._pending.extend([(kind, method, taken)] * n)

    def fail_rate(
        self,
        p: float,
        kinds: Iterable[str] = FAULT_KINDS,
        seed: int | None = None,
        *,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Fail each request with probability ``p`` using a kind drawn from ``kinds``.

        ``p=0`` turns random faults off. ``fail_next`` faults take precedence.
        """
        if not 0.0 <= p <= 1.0:
            raise ValueError("p must be within [0, 1]")
        kinds_t = tuple(_check_kind(k) for k in kinds)
        if not kinds_t:
            raise ValueError("kinds must not be empty")
        with self._lock:
            self._fail_p = p
            self._fail_kinds = kinds_t
            self._fail_methods = frozenset(methods) if methods is not None else None
            self._rng = random.Random(seed)

    # ------------------------------------------------------------------ request handling

    def _dispatch(
        self, method: str, args: JsonDict, token: str | None, at: float, bad_body: bool
    ) -> _Outcome:
        with self._lock:
            fault, taken = self._take_fault(method)
            if fault is not None:
                self.faults += 1
                self.faults_by_kind[fault] += 1
            # Slack does the work; its answer says otherwise (or never comes in time)
            applied = self._execute(method, args, token, bad_body) if taken else None
            if fault == "429":
                outcome = self._ratelimited(self.retry_after)
            elif fault == "500":
                outcome = _Outcome(500, {"ok": False, "error": "internal_error"})
            elif fault == "timeout" and applied is not None:
                outcome = applied  # the real answer, late
            elif fault == "timeout" and not self.timeout_applies:
                outcome = _Outcome(200, {"ok": False, "error": "request_timeout"})
            else:
                outcome = self._execute(method, args, token, bad_body)
            if outcome.status == 429 and fault is None:
                fault = "ratelimited"
                self.rate_limited += 1
            if fault == "timeout":
                outcome.hang = self.hang_seconds
            taken = applied is not None and applied.status == 200 and bool(applied.body.get("ok"))
            self._calls.append(Call(method, _copy(args), at, outcome.status, fault, outcome.body, taken))
            return outcome

    def _take_fault(self, method: str) -> tuple[str | None, bool]:
        """The fault this request gets, if any, and whether it is applied all the same."""
        for i, (kind, only, taken) in enumerate(self._pending):
            if only is None or only == method:
                del self._pending[i]
                return kind, taken
        if self._fail_p > 0 and (self._fail_methods is None or method in self._fail_methods):
            if self._rng.random() < self._fail_p:
                return self._rng.choice(self._fail_kinds), False
        return None, False

    def _execute(self, method: str, args: JsonDict, token: str | None, bad_body: bool) -> _Outcome:
        handler = self._handlers.get(method)
        if handler is None:
            return _Outcome(200, {"ok": False, "error": "unknown_method"})
        if not token:
            return _Outcome(200, {"ok": False, "error": "invalid_auth"})
        if token != self.token:
            return _Outcome(200, {"ok": False, "error": "invalid_auth"})
        if bad_body:
            return _Outcome(200, {"ok": False, "error": "invalid_json"})
        if method in self.refuse:
            return _Outcome(200, {"ok": False, "error": self.refuse[method]})
        if method == "chat.postMessage" and self.min_interval_per_channel > 0 and _present(args, "channel"):
            channel = self._resolve_channel(str(args["channel"]))
            last = self._last_post.get(channel)
            now = time.monotonic()
            if last is not None and now - last < self.min_interval_per_channel:
                wait = max(1, math.ceil(self.min_interval_per_channel - (now - last)))
                return self._ratelimited(wait)
        try:
            body = handler(args)
        except _ApiError as e:
            return _Outcome(200, {"ok": False, "error": e.error})
        return _Outcome(200, {"ok": True, **body})

    @staticmethod
    def _ratelimited(retry_after: int) -> _Outcome:
        return _Outcome(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})

    # ------------------------------------------------------------------ helpers (lock held)

    def _next_ts(self) -> str:
        """Now as Slack writes it ("seconds.micros"), later than every ts before it."""
        micros = self._last_ts = max(time.time_ns() // 1000, self._last_ts + 1)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _dm_for(self, user_id: str) -> str:
        if user_id not in self._dms:
            self._dms[user_id] = f"D{len(self._dms) + 1:08d}"
        return self._dms[user_id]

    def _resolve_channel(self, channel: str) -> str:
        # Posting to a user id lands in the bot's DM with that user, as on real Slack.
        if channel[:1] in ("U", "W"):
            return self._dm_for(channel)
        return self.channel_names.get(channel.removeprefix("#"), channel)

    def _channel_arg(self, args: JsonDict) -> str:
        if not _present(args, "channel"):
            raise _ApiError("channel_not_found")
        channel = self._resolve_channel(str(args["channel"]))
        if self.known_channels is not None and channel not in self.known_channels and channel[:1] != "D":
            raise _ApiError("channel_not_found")
        return channel

    def _require(self, args: JsonDict, *keys: str) -> None:
        if not all(_present(args, k) for k in keys):
            raise _ApiError("invalid_arguments")

    def _require_content(self, args: JsonDict) -> None:
        if not (_present(args, "text") or _present(args, "blocks") or _present(args, "attachments")):
            raise _ApiError("no_text")

    def _view_arg(self, args: JsonDict) -> JsonDict:
        view = args.get("view")
        if not isinstance(view, dict):
            raise _ApiError("invalid_arguments")
        return view

    def _store_view(self, view: JsonDict, view_id: str | None = None, **extra: Any) -> JsonDict:
        self._view_seq += 1
        if view_id is None:
            view_id = f"V{self._view_seq:08d}"
        stored = {
            **_copy(view),
            "id": view_id,
            "team_id": self.team_id,
            "hash": f"{int(time.time())}.{self._view_seq:08d}",
            "state": {"values": {}},
            "bot_id": self.bot_id,
            **extra,
        }
        self.views[view_id] = stored
        result: JsonDict = _copy(stored)
        return result

    def _user_payload(self, user_id: str) -> JsonDict:
        entry = self.users[user_id]
        real_name = entry.get("real_name", "")
        profile = {
            "email": entry.get("email"),
            "real_name": real_name,
            "display_name": entry.get("display_name", real_name),
            **entry.get("profile", {}),
        }
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": entry.get("name", (entry.get("email") or user_id).split("@")[0]),
            "real_name": real_name,
            "deleted": entry.get("deleted", False),
            "is_bot": entry.get("is_bot", False),
            "tz": entry.get("tz", "UTC"),
            "profile": profile,
        }

    # ------------------------------------------------------------------ API methods

    def _auth_test(self, args: JsonDict) -> JsonDict:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake Team",
            "user": "parley-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: JsonDict) -> JsonDict:
        channel = self._channel_arg(args)
        self._require_content(args)
        ts = self._next_ts()
        message = {
            "channel": channel,
            "ts": ts,
            "text": args.get("text", ""),
            "blocks": _copy(args.get("blocks")),
            "thread_ts": args.get("thread_ts") or None,
        }
        if _present(args, "metadata"):
            metadata = args["metadata"]
            if not isinstance(metadata, dict) or not _present(metadata, "event_type"):
                raise _ApiError("invalid_metadata_format")
            message["metadata"] = {"event_type": metadata["event_type"],
                                   "event_payload": _copy(metadata.get("event_payload") or {})}
        self._messages[(channel, ts)] = message
        if self.min_interval_per_channel > 0:
            self._last_post[channel] = time.monotonic()
        return {"channel": channel, "ts": ts, "message": self._message_payload(message)}

    def _chat_update(self, args: JsonDict) -> JsonDict:
        channel = self._channel_arg(args)
        if not _present(args, "ts"):
            raise _ApiError("message_not_found")
        self._require_content(args)
        message = self._messages.get((channel, str(args["ts"])))
        if message is None:
            raise _ApiError("message_not_found")
        if "text" in args:
            message["text"] = args["text"]
        if "blocks" in args:
            message["blocks"] = _copy(args["blocks"])
        payload = self._message_payload(message)
        return {"channel": channel, "ts": message["ts"], "text": message["text"], "message": payload}

    def _message_payload(self, message: JsonDict, *, with_metadata: bool = True) -> JsonDict:
        payload = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": "A0FAKE",
            "text": message["text"],
            "ts": message["ts"],
        }
        if message["blocks"] is not None:
            payload["blocks"] = _copy(message["blocks"])
        if message["thread_ts"]:
            payload["thread_ts"] = message["thread_ts"]
        if with_metadata and "metadata" in message:
            payload["metadata"] = _copy(message["metadata"])
        return payload

    def _reading_channel(self, args: JsonDict) -> str:
        """The reading methods take a conversation ID (a "#name" is not one)."""
        raw = str(args.get("channel") or "")
        if raw.startswith("#") or raw in self.channel_names:
            raise _ApiError("channel_not_found")
        channel = self._channel_arg(args)
        if self.joined is not None and channel not in self.joined and channel[:1] != "D":
            raise _ApiError("not_in_channel")
        return channel

    def _page(self, args: JsonDict, messages: list[JsonDict], *, newest_first: bool) -> JsonDict:
        """One page of `messages` (in time order) as conversations.history / .replies answer it."""
        inclusive = _flag(args.get("inclusive"))
        oldest = float(args["oldest"]) if _present(args, "oldest") else None
        latest = float(args["latest"]) if _present(args, "latest") else None

        def within(ts: float) -> bool:
            after = oldest is None or (ts >= oldest if inclusive else ts > oldest)
            before = latest is None or (ts <= latest if inclusive else ts < latest)
            return after and before

        chosen = [m for m in messages if within(float(m["ts"]))]
        if newest_first:
            chosen.reverse()
        if _present(args, "cursor"):  # "next_ts:<ts>": carry on past the last message of the page before
            try:
                mark = float(base64.b64decode(str(args["cursor"])).decode().removeprefix("next_ts:"))
            except ValueError as exc:
                raise _ApiError("invalid_cursor") from exc
            chosen = [m for m in chosen if (float(m["ts"]) < mark if newest_first else float(m["ts"]) > mark)]
        try:
            limit = min(max(int(args.get("limit") or 100), 1), 999)
        except ValueError as exc:
            raise _ApiError("invalid_limit") from exc
        page, more = chosen[:limit], len(chosen) > limit
        with_metadata = _flag(args.get("include_all_metadata"))
        body: JsonDict = {"messages": [self._message_payload(m, with_metadata=with_metadata) for m in page],
                          "has_more": more}
        cursor = base64.b64encode(f"next_ts:{page[-1]['ts']}".encode()).decode() if more else ""
        body["response_metadata"] = {"next_cursor": cursor}
        return body

    def _conversations_history(self, args: JsonDict) -> JsonDict:
        channel = self._reading_channel(args)
        top = sorted((m for m in self._messages.values() if m["channel"] == channel and not m["thread_ts"]),
                     key=lambda m: float(m["ts"]))
        return self._page(args, top, newest_first=True)

    def _conversations_replies(self, args: JsonDict) -> JsonDict:
        channel = self._reading_channel(args)
        if not _present(args, "ts"):
            raise _ApiError("invalid_arguments")
        parent = self._messages.get((channel, str(args["ts"])))
        if parent is None or parent["thread_ts"]:
            raise _ApiError("thread_not_found")
        replies = sorted((m for m in self._messages.values()
                          if m["channel"] == channel and m["thread_ts"] == parent["ts"]), key=lambda m: float(m["ts"]))
        body = self._page(args, replies, newest_first=False)
        if not _present(args, "cursor"):  # the first page starts with the parent, whatever the range
            with_metadata = _flag(args.get("include_all_metadata"))
            body["messages"].insert(0, self._message_payload(parent, with_metadata=with_metadata))
        return body

    def _conversations_join(self, args: JsonDict) -> JsonDict:
        if str(args.get("channel") or "").startswith("#"):
            raise _ApiError("channel_not_found")
        channel = self._channel_arg(args)
        if channel[:1] != "C":
            raise _ApiError("method_not_supported_for_channel_type")
        if self.joined is not None:
            self.joined.add(channel)
        return {"channel": {"id": channel, "is_channel": True, "is_member": True}}

    def _conversations_list(self, args: JsonDict) -> JsonDict:
        channels = sorted(self.channel_names.items(), key=lambda item: item[1])
        start = 0
        if _present(args, "cursor"):
            try:
                start = int(base64.b64decode(str(args["cursor"])).decode().removeprefix("offset:"))
            except ValueError as exc:
                raise _ApiError("invalid_cursor") from exc
        limit = min(max(int(args.get("limit") or 100), 1), 1000)
        page = channels[start:start + limit]
        more = start + limit < len(channels)
        cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
        return {"channels": [{"id": cid, "name": name, "is_channel": True, "is_private": False,
                              "is_archived": False} for name, cid in page],
                "response_metadata": {"next_cursor": cursor}}

    def _chat_post_ephemeral(self, args: JsonDict) -> JsonDict:
        channel = self._channel_arg(args)
        if not _present(args, "user"):
            raise _ApiError("invalid_arguments")
        self._require_content(args)
        ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel,
                "user": args["user"],
                "ts": ts,
                "text": args.get("text", ""),
                "blocks": _copy(args.get("blocks")),
                "thread_ts": args.get("thread_ts") or None,
            }
        )
        return {"message_ts": ts}

    def _conversations_open(self, args: JsonDict) -> JsonDict:
        if _present(args, "channel"):
            return {"channel": {"id": str(args["channel"])}}
        if not _present(args, "users"):
            raise _ApiError("users_list_not_supplied")
        raw = args["users"]
        users = sorted({u.strip() for u in (raw.split(",") if isinstance(raw, str) else raw) if u.strip()})
        if not users:
            raise _ApiError("users_list_not_supplied")
        if len(users) == 1:
            return {"channel": {"id": self._dm_for(users[0])}}
        key = ",".join(users)
        if key not in self._dms:
            self._dms[key] = f"G{len(self._dms) + 1:08d}"
        return {"channel": {"id": self._dms[key]}}

    def _views_open(self, args: JsonDict) -> JsonDict:
        self._require(args, "trigger_id", "view")
        view = self._view_arg(args)
        return {"view": self._store_view(view)}

    def _views_update(self, args: JsonDict) -> JsonDict:
        self._require(args, "view")
        view = self._view_arg(args)
        if _present(args, "view_id"):
            view_id = str(args["view_id"])
            current = self.views.get(view_id)
        elif _present(args, "external_id"):
            current = next(
                (v for v in self.views.values() if v.get("external_id") == args["external_id"]), None
            )
        else:
            raise _ApiError("invalid_arguments")
        if current is None:
            raise _ApiError("not_found")
        if _present(args, "hash") and args["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        return {"view": self._store_view(view, current["id"])}

    def _views_publish(self, args: JsonDict) -> JsonDict:
        self._require(args, "user_id", "view")
        view = self._view_arg(args)
        user_id = str(args["user_id"])
        current_id = self._home_view_ids.get(user_id)
        current = self.views.get(current_id) if current_id else None
        if current is not None and _present(args, "hash") and args["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        stored = self._store_view(view, current_id, user_id=user_id)
        self._home_view_ids[user_id] = stored["id"]
        return {"view": stored}

    def _users_info(self, args: JsonDict) -> JsonDict:
        self._require(args, "user")
        user_id = str(args["user"])
        if user_id not in self.users:
            raise _ApiError("user_not_found")
        return {"user": self._user_payload(user_id)}

    def _users_lookup_by_email(self, args: JsonDict) -> JsonDict:
        self._require(args, "email")
        email = str(args["email"]).lower()
        for user_id, entry in self.users.items():
            if str(entry.get("email", "")).lower() == email:
                return {"user": self._user_payload(user_id)}
        raise _ApiError("users_not_found")


def _flag(value: Any) -> bool:
    """A boolean argument as clients send it (slack-sdk sends 1/0 in a query string)."""
    return value is True or str(value).lower() in ("1", "true")


def _check_kind(kind: str | int) -> str:
    kind = str(kind)
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
    return kind


def _copy(value: Any) -> Any:
    """Cheap deep copy for JSON-like data."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
