"""slow_clients.py PORT SECONDS: three hostile clients against the http source.

Two trickle a request's headers one byte every 0.3 s (slowloris), one sends its
headers and then 10 of the 1000 body bytes it announced and stalls. Prints, for
each trickler, the seconds until the server closed it (or "open"), after at most
SECONDS. The stalled body is left open until the end."""
import socket
import sys
import time

port, limit = int(sys.argv[1]), float(sys.argv[2])
start = time.monotonic()
trick = []
for _ in range(2):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    trick.append([s, b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n", None])
stall = socket.create_connection(("127.0.0.1", port))
stall.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"id\":1,\"n")
while time.monotonic() - start < limit and any(t[2] is None for t in trick):
    for t in trick:
        if t[2] is not None:
            continue
        try:
            if t[1]:
                t[0].send(t[1][:1])
                t[1] = t[1][1:]
            data = t[0].recv(100)
            if data == b"":
                t[2] = time.monotonic() - start
        except BlockingIOError:
            pass
        except OSError:
            t[2] = time.monotonic() - start
    time.sleep(0.3)
print(" ".join("open" if t[2] is None else "%.1f" % t[2] for t in trick))
stall.close()
