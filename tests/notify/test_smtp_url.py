"""UPSTATE_SMTP_URL and a channel's smtp_url: one URL says server, port, login and TLS."""

from __future__ import annotations

import pytest

from upstate.errors import UsageError
from upstate.notify.smtp_url import SmtpSecurity, parse_smtp_url


@pytest.mark.parametrize(
    ("url", "port", "security"),
    [
        ("smtp://mx.example", 25, SmtpSecurity.OPPORTUNISTIC),
        ("smtp://mx.example?starttls=true", 587, SmtpSecurity.STARTTLS),
        ("smtp://mx.example:2525?starttls=true", 2525, SmtpSecurity.STARTTLS),
        ("smtp://mx.example?starttls=false", 25, SmtpSecurity.NONE),
        ("smtps://mx.example", 465, SmtpSecurity.TLS),
        ("smtps://mx.example:4650", 4650, SmtpSecurity.TLS),
    ],
)
def test_it_reads_port_and_security(url: str, port: int, security: SmtpSecurity) -> None:
    server = parse_smtp_url(url)

    assert (server.host, server.port, server.security) == ("mx.example", port, security)
    assert server.username is None
    assert server.password is None


def test_it_decodes_the_login_and_keeps_the_password_secret() -> None:
    server = parse_smtp_url("smtp://alerts%40example.com:p%40ss%2Fw0rd@mx.example:587")

    assert server.username == "alerts@example.com"
    assert server.password is not None
    assert server.password.get_secret_value() == "p@ss/w0rd"
    assert "p@ss" not in repr(server)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@mx.example",
        "smtp://user:hunter2@",
        "smtp://user:hunter2@mx.example:99999",
        "smtp://user:hunter2@mx.example?starttls=maybe",
    ],
)
def test_it_refuses_a_bad_url_without_repeating_it(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_smtp_url(url)

    assert "hunter2" not in caught.value.message
