# receiver.py PORTFILE OUT.jsonl - an HTTP receiver on a free loopback port
# that records every POST (Idempotency-Key header and body) as a JSON line.
import http.server
import json
import sys

out = open(sys.argv[2], "a")


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        out.write(json.dumps({"idem": self.headers.get("Idempotency-Key"),
                              "path": self.path, "body": body.decode()}) + "\n")
        out.flush()
        try:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:  # the sender was killed (crash tests)
            pass

    def log_message(self, *a):
        pass


s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
