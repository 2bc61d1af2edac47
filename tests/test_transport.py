"""The client's HTTP transport (api/transport.py): connections are reused across calls and
threads, one the server closed while idle is not, and a cut body is an error, all seen
through `Client` against a small real server that counts its connections."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from waiting import wait_until

from kimi_magic.api.client import Client
from kimi_magic.core.errors import KimiError

REPLY = {"result": {"response": "fine", "usage": {"prompt_tokens": 3, "completion_tokens": 1}}}


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, close_after_reply: bool, cut_body: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.close_after_reply = close_after_reply  # hang up once idle, as servers do
        self.cut_body = cut_body
        self.connections = 0
        self.hung_up = 0  # connections this server closed
        self.lock = threading.Lock()


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections += 1
        while True:
            request = self.rfile.readline()
            if not request:
                return
            length = 0
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self.rfile.read(length)
            body = json.dumps(REPLY).encode()
            sent = body[: len(body) // 2] if self.server.cut_body else body
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            self.wfile.write(head.encode() + sent)
            self.wfile.flush()
            if self.server.close_after_reply or self.server.cut_body:
                self.connection.shutdown(socket.SHUT_RDWR)
                with self.server.lock:
                    self.server.hung_up += 1
                return


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[_Server]:
    options: dict[str, Any] = getattr(request, "param", {})
    served = _Server(**{"close_after_reply": False, **options})
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def _client(server: _Server) -> Client:
    host, port = server.server_address[:2]
    return Client(
        base_url=f"http://{host}:{port}/client/v4",
        account_id="acct",
        api_token="t" * 40,
        max_retries=0,
    )


def _ask(client: Client, text: str = "hi") -> str:
    return client.stream([{"role": "user", "content": text}], stream=False).result().text


def test_calls_reuse_one_connection(server: _Server) -> None:
    with _client(server) as client:
        assert [_ask(client) for _ in range(20)] == ["fine"] * 20
    assert server.connections == 1


def test_threads_share_the_pool_and_open_no_more_connections_than_run_at_once(
    server: _Server,
) -> None:
    with _client(server) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: _ask(client, f"item {i}"), range(200)))
    assert answers == ["fine"] * 200
    assert server.connections <= 8


@pytest.mark.parametrize("server", [{"close_after_reply": True}], indirect=True)
def test_a_connection_the_server_closed_while_idle_is_not_reused(server: _Server) -> None:
    with _client(server) as client:
        for done in range(1, 6):
            assert _ask(client) == "fine"
            wait_until(lambda: server.hung_up == done, "the server to hang up")  # noqa: B023
    assert server.connections == 5


@pytest.mark.parametrize("server", [{"cut_body": True}], indirect=True)
def test_a_body_cut_short_of_its_content_length_is_an_error(server: _Server) -> None:
    with _client(server) as client, pytest.raises(KimiError):
        _ask(client)
