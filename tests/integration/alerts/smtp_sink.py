#!/usr/bin/env python3
"""smtp_sink.py - a real SMTP server on loopback (aiosmtpd) for
test_channels.sh: each accepted message is written to DIR as N.eml, with
the envelope, the authenticated user and whether the session was TLS as
X-Sink-* lines first. AUTH (PLAIN/LOGIN) accepts USER/PASSWORD only; mail
without AUTH is accepted too. With CERT and KEY the server offers STARTTLS
and requires it (for AUTH too); without, it speaks plain SMTP and allows
AUTH in clear (loopback only).

Usage: smtp_sink.py DIR PORTFILE USER PASSWORD [CERT KEY]
"""
import os
import signal
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

DIR, PORTFILE, USER, PASSWORD = sys.argv[1:5]
TLS = None
if len(sys.argv) > 6:
    TLS = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    TLS.load_cert_chain(sys.argv[5], sys.argv[6])
lock = threading.Lock()
n = [0]


class Handler:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            n[0] += 1
            k = n[0]
        user = session.auth_data.decode() if isinstance(session.auth_data, bytes) else ""
        head = "X-Sink-From: %s\r\nX-Sink-To: %s\r\nX-Sink-User: %s\r\nX-Sink-TLS: %s\r\n" % (
            envelope.mail_from, ",".join(envelope.rcpt_tos), user, "yes" if session.ssl else "no")
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
               auth_require_tls=TLS is not None, auth_required=False, tls_context=TLS,
               require_starttls=TLS is not None)
c.start()
with open(PORTFILE + ".tmp", "w") as f:
    f.write("%d\n" % port)
os.rename(PORTFILE + ".tmp", PORTFILE)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
signal.signal(signal.SIGINT, lambda *a: stop.set())
stop.wait()
c.stop()
