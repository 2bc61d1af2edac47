"""Requests over TLS, as every real Cloudflare call is: the emulator behind a TLS endpoint on
127.0.0.1 whose certificate a test authority (trustme) signed. The client's transport
(api/transport.py) speaks HTTPS with the system's verification rules: the authority is trusted
through SSL_CERT_FILE, as a user behind a corporate proxy would do it, and an endpoint it
does not trust is refused with one paragraph."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

import kimi_magic
from kimi_magic.emulator import Emulator

trustme = pytest.importorskip("trustme")


@contextmanager
def tls_endpoint(target_port: int, context: ssl.SSLContext) -> Iterator[int]:
    """A TLS listener on 127.0.0.1 that passes each connection's bytes to `target_port`."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    opened: list[socket.socket] = []  # closed at the end (pipes only shut them down)

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65_536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                secure = context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):  # a client that refused our certificate
                raw.close()
                continue
            plain = socket.create_connection(("127.0.0.1", target_port))
            opened.extend((secure, plain))
            for ends in ((secure, plain), (plain, secure)):
                threading.Thread(target=pipe, args=ends, daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)
        for end in opened:
            end.close()


@pytest.fixture
def https_base(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    bundle = tmp_path / "authority.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with tls_endpoint(emulator.port, context) as port:
        yield f"https://127.0.0.1:{port}/client/v4", bundle


def _connection(emulator: Emulator, base_url: str) -> dict[str, Any]:
    return {"base_url": base_url, "account_id": emulator.account_id, "api_token": emulator.token}


def test_a_streamed_answer_and_a_map_over_https(
    emulator: Emulator, https_base: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, bundle = https_base
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    emulator.script({"content": "Hello over TLS."})
    answer = kimi_magic.ask("hi", **_connection(emulator, base_url))
    assert answer.text == "Hello over TLS."
    emulator.script({"content": "one"}, {"content": "two"})
    labels = kimi_magic.map(
        ["a", "b"],
        "Label {item}",
        concurrency=1,
        checkpoint=False,
        progress=False,
        **_connection(emulator, base_url),
    )
    assert list(labels) == ["one", "two"]
    assert all(r["json"]["messages"] for r in emulator.requests)


def test_an_endpoint_whose_certificate_is_not_trusted_is_one_paragraph(
    emulator: Emulator, https_base: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, _ = https_base
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    emulator.script({"content": "never"})
    with pytest.raises(kimi_magic.KimiError) as raised:
        kimi_magic.ask("hi", **_connection(emulator, base_url))
    message = str(raised.value)
    assert message.startswith("The TLS certificate of 127.0.0.1:")
    assert "is not trusted (" in message and "SSL_CERT_FILE" in message
    assert "Not retried" in message and "tried" not in message.split("Not retried")[1]
    assert "Traceback" not in message and "\n" not in message
    assert not emulator.requests  # nothing reached the server
