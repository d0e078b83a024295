# Copyright 2026 the Duplex authors. MIT license.
# The raw-socket attacker for tests/attack_test.ts: Deno cannot set
# SO_LINGER, and a reset (RST) rather than a close (FIN) is what makes
# Deno.Listener.accept() throw on the server.
#
# Usage: python3 tests/_attack.py reset HOST PORT COUNT
#
# Opens COUNT connections, in batches, each sending the start of a request
# line; then resets them all (SO_LINGER on with a zero timeout, then close).
# Prints "reset N" after each batch, N the connections reset so far, or
# "refused N ERROR" if a connection is refused.
import socket
import struct
import sys

BATCH = 50
REQUEST_LINE = b"GET / HTTP/1.1\r\n"


def reset_storm(host, port, count):
    done = 0
    while done < count:
        batch = []
        for _ in range(min(BATCH, count - done)):
            try:
                sock = socket.create_connection((host, port), timeout=5)
            except OSError as error:
                # The server stopped listening: say so, and stop.
                for sock in batch:
                    sock.close()
                print("refused %d %s" % (done, error), flush=True)
                return done
            # l_onoff = 1, l_linger = 0: close() sends RST and drops the buffer.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.sendall(REQUEST_LINE)
            batch.append(sock)
        for sock in batch:
            sock.close()
        done += len(batch)
        print("reset %d" % done, flush=True)
    return done


def main():
    if len(sys.argv) != 5 or sys.argv[1] != "reset":
        sys.stderr.write("usage: _attack.py reset HOST PORT COUNT\n")
        return 2
    reset_storm(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
