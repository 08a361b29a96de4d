"""``persona serve``: the packs as an OpenAI-compatible HTTP API (the server itself is persona/server/)."""

from __future__ import annotations

import argparse
import sys

from persona.cli.common import echo


def register(add) -> None:
    p = add("serve", cmd_serve, "serve the packs as an OpenAI-compatible API (/v1/chat/completions)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; "
                                                       "any other needs --api-key-env)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free one)")
    p.add_argument("--api-key-env", metavar="NAME",
                   help="environment variable holding the key clients send as Authorization: Bearer")
    p.add_argument("--max-queue", type=int, default=32, metavar="N",
                   help="requests that may wait for the model; more get 503 (default 32)")
    p.add_argument("--cors-origin", metavar="ORIGIN", help="allow browser pages from this origin (default: none)")
    from persona.cli.chat import add_backend_option

    add_backend_option(p)


def cmd_serve(args: argparse.Namespace) -> int:
    from persona.errors import InputError
    from persona.server import auth

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port} is not a port", "use 0 to 65535 (0: any free one)")
    if args.max_queue < 1:
        raise InputError(f"--max-queue {args.max_queue} must be at least 1", "the default is 32")
    key = auth.api_key(args.api_key_env, args.host)  # refuses a public address without a key, before anything loads
    sock = _bind(args.host, args.port)
    from persona.cli.common import progress
    from persona.engine import Engine
    from persona.server.app import Settings, create_app, make_server

    app = create_app(Engine(progress=progress),
                     Settings(api_key=key, max_queue=args.max_queue, cors_origin=args.cors_origin))
    host = f"[{args.host}]" if ":" in args.host else args.host

    def ready(port: int) -> None:
        echo(f"persona serve: listening on http://{host}:{port}/v1  (ctrl+c stops)", file=sys.stderr, flush=True)

    try:
        make_server(app, args.host, args.port, on_ready=ready).run(sockets=[sock])
    finally:
        app.state.queue.close()
        sock.close()
    return 0


def _bind(host: str, port: int):
    """The listening socket, bound here so a taken port or a bad address is an error with a hint."""
    import socket

    from persona.errors import PersonaError

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise PersonaError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                           "choose another --port (0: any free one), or stop what is using it") from None
    sock.set_inheritable(True)
    return sock
