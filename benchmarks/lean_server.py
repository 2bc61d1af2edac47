"""A minimal Workers AI stand-in for benchmarks/bench_map.py: asyncio, one canned answer after
a fixed latency, about 0.2 ms of CPU per request (the emulator spends about 0.5 ms validating
and building each reply, on the same two cores as the client being measured). It shows the
client's own pace, the way an independent server, or Cloudflare, which costs this machine
nothing, would.

    python benchmarks/lean_server.py [LATENCY_S]     # prints "port N", serves until killed
"""

from __future__ import annotations

import asyncio
import json
import sys

REPLY = json.dumps(
    {
        "result": {
            "id": "lean",
            "object": "chat.completion",
            "created": 0,
            "model": "@cf/moonshotai/kimi-k2.6",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "label"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 30, "completion_tokens": 2, "total_tokens": 32},
        },
        "success": True,
        "errors": [],
        "messages": [],
    }
).encode()
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(
    REPLY
)


async def answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float
) -> None:
    """Answer each request on a keep-alive connection after `latency` seconds."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            await asyncio.sleep(latency)
            writer.write(HEAD + REPLY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main(latency: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: answer(r, w, latency), "127.0.0.1", 0, backlog=256
    )
    print("port", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.1))
