"""The owner cookie: the only key to a visitor's data, read and written the same way everywhere.

The middleware and the app's handlers must always see the same visitor, so both read the
token here, with Starlette's lenient parser, from one merged Cookie header. No Gradio import.
"""
from __future__ import annotations

from starlette.requests import cookie_parser

OWNER_COOKIE = "portrait_lab_owner"


def owner_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The owner token from the request's cookies, read with Starlette's lenient parser, the
    same one the app's handlers use, so that both always see the same visitor."""
    for name, value in headers:
        if name.lower() == b"cookie":
            token = cookie_parser(value.decode("latin-1")).get(OWNER_COOKIE)
            if token:
                return token
    return None


def with_cookie(headers: list[tuple[bytes, bytes]], token: str) -> list[tuple[bytes, bytes]]:
    """The request's headers with the new owner token added to its (first) Cookie header,
    where the handlers will read it."""
    added = f"{OWNER_COOKIE}={token}".encode()
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"cookie":
            return headers[:index] + [(name, value + b"; " + added)] + headers[index + 1:]
    return headers + [(b"cookie", added)]


def merged_cookies(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Several Cookie headers (HTTP/2 may split them) joined into one, so that the middleware
    and the app's handlers, which read only one, see the same cookies."""
    values = [value for name, value in headers if name.lower() == b"cookie"]
    if len(values) < 2:
        return headers
    rest = [(name, value) for name, value in headers if name.lower() != b"cookie"]
    return rest + [(b"cookie", b"; ".join(values))]


def is_https(scope: dict, headers: list[tuple[bytes, bytes]]) -> bool:
    forwarded = dict((k.lower(), v) for k, v in headers).get(b"x-forwarded-proto", b"")
    return scope.get("scheme") == "https" or forwarded.split(b",")[0].strip() == b"https"


def cookie_header(token: str, secure: bool) -> bytes:
    # Behind HTTPS (a Space is embedded in an iframe) the cookie must be SameSite=None and
    # Partitioned to reach the app at all; on plain http (localhost) Lax is the safe choice.
    attributes = "Path=/; HttpOnly; Secure; SameSite=None; Partitioned" if secure else "Path=/; HttpOnly; SameSite=Lax"
    return f"{OWNER_COOKIE}={token}; {attributes}".encode()
