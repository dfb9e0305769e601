#!/usr/bin/env python3
"""smtp_sink.py - a real SMTP server on loopback (aiosmtpd) for
test_channels.sh: each accepted message is written to DIR as N.eml, with
the envelope and the authenticated user as X-Sink-* lines first.
AUTH (PLAIN/LOGIN, allowed without TLS on loopback) accepts USER/PASSWORD
only; mail without AUTH is accepted too.

Usage: smtp_sink.py DIR PORTFILE USER PASSWORD
"""
import os
import signal
import socket
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

DIR, PORTFILE, USER, PASSWORD = sys.argv[1:5]
lock = threading.Lock()
n = [0]


class Handler:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            n[0] += 1
            k = n[0]
        user = session.auth_data.decode() if isinstance(session.auth_data, bytes) else ""
        head = "X-Sink-From: %s\r\nX-Sink-To: %s\r\nX-Sink-User: %s\r\n" % (
            envelope.mail_from, ",".join(envelope.rcpt_tos), user)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        tmp = os.path.join(DIR, "%d.tmp" % k)
        with open(tmp, "wb") as f:
            f.write(head.encode() + data)
        os.rename(tmp, os.path.join(DIR, "%d.eml" % k))
        return "250 OK queued as %d" % k


def auth(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
c = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=auth,
               auth_require_tls=False, auth_required=False)
c.start()
with open(PORTFILE + ".tmp", "w") as f:
    f.write("%d\n" % port)
os.rename(PORTFILE + ".tmp", PORTFILE)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
signal.signal(signal.SIGINT, lambda *a: stop.set())
stop.wait()
c.stop()
