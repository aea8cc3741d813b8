#!/usr/bin/env python3
"""A tiny FreightOps stand-in for the quick start: the REST/JSON OPS that the
`freight-ops` target of examples/hub.toml talks to (plugin `rest-json`).

    python3 examples/ops-sim/freight_ops.py            # listens on 127.0.0.1:8090
    python3 examples/ops-sim/freight_ops.py --down     # answers 503 (watch retries and the breaker)

POST /api/bookings books once per Idempotency-Key (a repeat returns the first
booking, as a real OPS with idempotency keys does) and prints each request.
Standard library only; for trying the hub, not for tests (those use a
simulator inside the test harness).
"""

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

bookings = {}


class FreightOps(BaseHTTPRequestHandler):
    down = False

    def answer(self, status, body):
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        if status == 503:
            self.send_header("retry-after", "5")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path != "/api/bookings":
            return self.answer(404, {"message": "no such path"})
        length = int(self.headers.get("content-length", "0"))
        try:
            booking = json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return self.answer(400, {"message": f"cannot read the booking: {error}"})
        if self.down:
            return self.answer(503, {"message": "maintenance"})
        key = self.headers.get("idempotency-key", "")
        repeat = key in bookings
        number = bookings.setdefault(key, f"FO-{len(bookings) + 1:06d}")
        shipper = booking.get("shipper", {}).get("name", "?")
        print(f"{'repeat ' if repeat else 'booked '} {number}  key={key}  shipper={shipper}", flush=True)
        self.answer(200 if repeat else 201, {"bookingNo": number, "message": "订舱成功 booked"})

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--down", action="store_true", help="answer every booking with 503")
    args = parser.parse_args()
    FreightOps.down = args.down
    print(f"FreightOps stand-in on http://127.0.0.1:{args.port}/api/ ({'down' if args.down else 'up'})", flush=True)
    ThreadingHTTPServer(("127.0.0.1", args.port), FreightOps).serve_forever()


if __name__ == "__main__":
    main()
