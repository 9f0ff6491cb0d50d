"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the mail tests, with switches for the ways a
mail server fails: refused logins, a connection dropped in the middle of a message, and being
down altogether."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "analyst@example.org"
PASSWORD = "s3cret-Pa55word"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps what it accepted; `drop` hangs up instead of accepting."""

    received: list[Received] = field(default_factory=list)
    drop: bool = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop:
            server.transport.close()
            return "421 closing"
        message = email.message_from_bytes(envelope.original_content,
                                           policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      message))  # type: ignore[arg-type]
        return "250 OK"


@dataclass
class Login:
    """The authenticator: accepts USER/PASSWORD unless `refuse` is set."""

    refuse: bool = False
    tried: list[str] = field(default_factory=list)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and data.login.decode() == USER
              and data.password.decode() == PASSWORD and not self.refuse)
        self.tried.append(mechanism)
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox
    login: Login
    controller: Controller | None

    def env(self, **extra: str) -> dict[str, str]:
        """MONITOR_SMTP_* for this server: plain SMTP with a login."""
        return {"MONITOR_SMTP_HOST": "127.0.0.1", "MONITOR_SMTP_PORT": str(self.port),
                "MONITOR_SMTP_SECURITY": "none", "MONITOR_SMTP_USER": USER,
                "MONITOR_SMTP_PASSWORD": PASSWORD, "MONITOR_SMTP_FROM": "monitor@example.org",
                **extra}

    def stop(self) -> None:
        """Take the server down: connections to its port are refused."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def start(self) -> None:
        if self.controller is None:
            self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                         authenticator=self.login, auth_require_tls=False)
            self.controller.start()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port(), Inbox(), Login(), None)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_env(smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> SmtpServer:
    """The server, with MONITOR_SMTP_* pointing at it in this process's environment."""
    for key, value in smtp.env().items():
        monkeypatch.setenv(key, value)
    return smtp
