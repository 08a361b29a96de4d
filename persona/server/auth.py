"""Who may call the API: loopback only unless a key is set, then ``Authorization: Bearer <key>``."""

from __future__ import annotations

import hmac
import ipaddress
import os

from persona.errors import PersonaError
from persona.server.errors import ApiError

OPEN_PATHS = ("/health",)  # answered without a key: a load balancer's probe


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_key(env_name: str | None, host: str) -> str | None:
    """The key from ``$env_name``; refuses a non-loopback ``host`` without one (PersonaError, exit 2)."""
    if env_name is None:
        if not is_loopback(host):
            raise PersonaError(f"refusing to serve on {host} without an API key: anyone who can reach it "
                               "could use your models and read stored sessions",
                               "set a key in an environment variable and pass its name: "
                               "PERSONA_API_KEY=$(openssl rand -hex 16) persona serve --host "
                               f"{host} --api-key-env PERSONA_API_KEY")
        return None
    key = os.environ.get(env_name, "")
    if not key.strip():
        raise PersonaError(f"--api-key-env {env_name}: the variable is unset or empty",
                           f"export {env_name}=<a long random key> first")
    return key.strip()


def check(key: str | None, path: str, authorization: str | None) -> None:
    """Raise ApiError(401) unless the request may go on."""
    if key is None or path in OPEN_PATHS:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
        raise ApiError(401, "invalid or missing API key: send Authorization: Bearer <key>",
                       code="invalid_api_key")
