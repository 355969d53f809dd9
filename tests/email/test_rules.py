"""The pure rules of e-mail: PARLEY_SMTP_URL and PARLEY_MAIL_FROM at start-up, and whom each medium reaches."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.notify_prefs import effective, may_set, media_for
from domain.smtp import SmtpTarget, parse_smtp_url
from settings import Settings


@pytest.mark.parametrize(("url", "target"), [
    ("smtp://mail.corp.example", SmtpTarget("mail.corp.example", 25, "plain")),
    ("smtp://10.0.0.5:2525", SmtpTarget("10.0.0.5", 2525, "plain")),
    ("smtp+starttls://parley%40corp.example:p%3Ass@smtp.corp.example:587",
     SmtpTarget("smtp.corp.example", 587, "starttls", "parley@corp.example", "p:ss")),
    ("smtp+starttls://u:p@smtp.corp.example", SmtpTarget("smtp.corp.example", 587, "starttls", "u", "p")),
    ("smtps://u:p@smtp.corp.example", SmtpTarget("smtp.corp.example", 465, "tls", "u", "p")),
])
def test_the_three_schemes(url: str, target: SmtpTarget) -> None:
    assert parse_smtp_url(url) == target
    assert Settings(smtp_url=url, mail_from="parley@corp.example").smtp == target


@pytest.mark.parametrize(("url", "reason"), [
    ("http://mail.corp.example", "the scheme must be one of"),
    ("mail.corp.example:25", "the scheme must be one of"),
    ("smtp://", "names no host"),
    ("smtps://u:p@host:99999", "port must be a number"),
    ("smtp://host/inbox", "no path"),
    ("smtp+starttls://:secret@host", "a password needs a user name"),
])
def test_a_bad_url_is_a_start_up_error_naming_the_variable(url: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(smtp_url=url, mail_from="parley@corp.example")
    message = str(info.value)
    assert "PARLEY_SMTP_URL" in message and reason in message
    assert "secret" not in message  # the password is never echoed


def test_mail_from_is_needed_with_smtp_and_must_be_an_address() -> None:
    with pytest.raises(ValidationError, match="PARLEY_MAIL_FROM must be set"):
        Settings(smtp_url="smtp://mail.corp.example")
    with pytest.raises(ValidationError, match="PARLEY_MAIL_FROM is not an e-mail address"):
        Settings(smtp_url="smtp://mail.corp.example", mail_from="Parley")
    assert Settings().smtp is None and Settings(smtp_url="").smtp is None


@pytest.mark.parametrize(("preference", "slack_id", "slack_on", "email_on", "media"), [
    (None, True, True, True, {"slack"}),  # the default: Slack for people with a Slack id …
    (None, False, True, True, {"email"}),  # … otherwise e-mail when SMTP is set …
    (None, False, False, False, set()),  # … otherwise the outbox
    (None, False, True, False, {"slack"}),  # no SMTP: Slack still looks them up by e-mail
    (None, True, False, True, {"email"}),
    ("slack", False, True, True, {"slack"}),
    ("email", True, True, True, {"email"}),
    ("both", True, True, True, {"slack", "email"}),
    ("both", True, False, True, {"email"}),  # a medium that is not set up is dropped
    ("email", True, True, False, set()),  # and with none left, the outbox
])
def test_whom_each_medium_reaches(preference: str | None, slack_id: bool, slack_on: bool, email_on: bool,
                                  media: set[str]) -> None:
    assert media_for(preference, has_slack_id=slack_id, slack_on=slack_on, email_on=email_on) == media
    shown = effective(preference, has_slack_id=slack_id, slack_on=slack_on, email_on=email_on)
    assert shown == ("both" if len(media) == 2 else next(iter(media), "outbox"))


def test_who_may_set_a_preference() -> None:
    assert may_set("rep", "pat@x.example", "Pat@X.example")
    assert not may_set("mediator", "mo@x.example", "pat@x.example")
    assert may_set("admin", "root@x.example", "pat@x.example")
