# Copyright 2026 the Duplex authors. MIT license.
# The ratio Python `websockets` gets on the same traffic, for
# bench/compression.ts: reads {"messages": [...], "window_bits": N,
# "mem_level": M} on stdin, compresses each message as a websockets
# endpoint with context takeover would (its PerMessageDeflate, the server's
# default settings), and prints {"raw": bytes, "compressed": bytes,
# "us_per_message": µs}.
import json
import sys
import time

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

request = json.load(sys.stdin)
bits = request.get("window_bits", 12)
extension = PerMessageDeflate(False, False, bits, bits, {"memLevel": request.get("mem_level", 5)})
raw = compressed = 0
started = time.perf_counter()
for text in request["messages"]:
    data = text.encode()
    frame = extension.encode(Frame(Opcode.TEXT, data))
    raw += len(data)
    compressed += len(frame.data)
elapsed = time.perf_counter() - started
print(json.dumps({
    "raw": raw,
    "compressed": compressed,
    "us_per_message": elapsed / len(request["messages"]) * 1e6,
}))
