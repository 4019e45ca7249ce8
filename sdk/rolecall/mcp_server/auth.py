"""The bearer token of the HTTP transport, and the rule for exposing it beyond loopback.

A static shared secret, not OAuth: `rolecall mcp` serves one index to the clients its
operator configures, and an MCP client config can carry a header.  The check is a small
ASGI wrapper so it covers every route of the app, including ones the SDK adds later.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..errors import ConfigurationError

__all__ = ["TOKEN_ENV", "BearerTokenMiddleware", "check_exposure", "is_loopback", "token_from"]

#: The environment variable holding the token (safer than `--token`, which `ps` shows).
TOKEN_ENV = "ROLECALL_MCP_TOKEN"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def token_from(given: str | None) -> str | None:
    """The token: the one given, else `ROLECALL_MCP_TOKEN`; None when neither is set."""
    token = given if given is not None else os.environ.get(TOKEN_ENV)
    if token is not None and not token.strip():
        raise ConfigurationError(
            f"the bearer token is empty; pass --token SECRET (or set {TOKEN_ENV}) with a "
            "non-empty secret, or unset it to serve 127.0.0.1 without one"
        )
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to serve an index beyond this machine to anyone who can reach the port."""
    if token is None and not is_loopback(host):
        raise ConfigurationError(
            f"--host {host} exposes the index to the network without a bearer token: set "
            f"{TOKEN_ENV}=SECRET (or pass --token SECRET) so every request must carry "
            "'Authorization: Bearer SECRET', or bind --host 127.0.0.1"
        )


class BearerTokenMiddleware:
    """Answers 401 to every HTTP request without `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Lifespan events carry no headers and must reach the app (it starts the sessions).
        if scope["type"] != "http" or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({
            "error": "invalid_token",
            "error_description": "send the server's token as 'Authorization: Bearer TOKEN'",
        }).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="rolecall"'),
        ]})
        await send({"type": "http.response.body", "body": body})

    def _authorized(self, scope: Scope) -> bool:
        given = next((v for k, v in scope.get("headers", []) if k == b"authorization"), b"")
        # Constant time: the comparison must not tell an attacker how much of a guess matched.
        return hmac.compare_digest(given, self._expected)
