# Copyright 2026 the Duplex authors. MIT license.
# Python `websockets` (Debian's python3-websockets) as a peer for
# tests/interop/python_test.ts: an echo server that serves one connection,
# or an echo client. Both print the negotiated Sec-WebSocket-Extensions as
# their first line (the server prints its port before it).
#
# Usage:
#   python3 _websockets_peer.py server SETTINGS_JSON
#   python3 _websockets_peer.py client URL SETTINGS_JSON
#
# SETTINGS_JSON: {} for websockets' default permessage-deflate, null for no
# compression, or the keyword arguments of its permessage-deflate factory
# (server_no_context_takeover, client_no_context_takeover,
# server_max_window_bits, client_max_window_bits, compress_settings).
import asyncio
import json
import sys

import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)


def extensions(kind, settings):
    if settings is None:
        return {"compression": None}
    if settings == {}:
        return {}  # the library's own default
    factory = ServerPerMessageDeflateFactory if kind == "server" else ClientPerMessageDeflateFactory
    return {"compression": None, "extensions": [factory(**settings)]}


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def server(settings):
    done = asyncio.get_running_loop().create_future()

    async def handler(ws, *_):
        print(ws.response_headers.get("Sec-WebSocket-Extensions", ""), flush=True)
        await echo(ws)
        if not done.done():
            done.set_result(None)

    async with websockets.serve(
        handler, "127.0.0.1", 0, max_size=None, **extensions("server", settings)
    ) as running:
        print(running.sockets[0].getsockname()[1], flush=True)
        await asyncio.wait_for(done, 120)


async def client(url, settings):
    async with websockets.connect(url, max_size=None, **extensions("client", settings)) as ws:
        print(ws.response_headers.get("Sec-WebSocket-Extensions", ""), flush=True)
        await echo(ws)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        asyncio.run(server(json.loads(sys.argv[2])))
    else:
        asyncio.run(client(sys.argv[2], json.loads(sys.argv[3])))
