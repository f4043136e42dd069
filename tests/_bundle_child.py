"""A stand-in native runtime, run as the program inside a test bundle.

The end-to-end tests pack a two-line ``#!/bin/sh`` script as a bundle's
binary region; it ``exec``s this file with the bundle path (``$0``), a mode,
and the ``--comm=host:port --logs=host:port`` arguments Airflow appends.
It speaks the SDK coordinator protocol the way a Go or Rust runtime would,
with no Airflow import:

* ``--logs``: newline-delimited JSON log records (``timestamp``, ``level``,
  ``event``, ``logger`` plus any fields);
* ``--comm``: frames of a 4-byte big-endian length followed by msgpack; the
  supervisor's first frame is ``[id, StartupDetails body]``, a request is
  ``[id, body]`` and its response ``[id, body, error]``.

Modes:

``succeed``
    Print to stdout, connect, log, read ``StartupDetails``, send
    ``SucceedTask``, wait for the acknowledgement, exit 0.
``exit=N``
    Connect, log, read ``StartupDetails``, exit with status ``N`` without
    reporting a state (the supervisor derives it from the exit code).
``exit-before-connect=N``
    Write to stderr and exit with status ``N`` before connecting.
``never-connect``
    Sleep without connecting, to exercise the startup timeout.
"""

from __future__ import annotations

import datetime
import json
import socket
import sys
import time
from typing import Any

import msgspec

#: The child never waits on a socket longer than this, so a broken test fails instead of hanging.
SOCKET_TIMEOUT = 30.0
#: How long ``never-connect`` sleeps; the coordinator is expected to kill it long before.
NEVER_CONNECT_SLEEP = 60.0


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT)


class _Channels:
    def __init__(self, comm: socket.socket, logs: socket.socket) -> None:
        self.comm = comm
        self.logs = logs
        self._next_id = 1

    def log(self, event: str, **fields: Any) -> None:
        record = {"timestamp": _now(), "level": "info", "event": event, "logger": "bundle.child"}
        self.logs.sendall(json.dumps({**record, **fields}).encode() + b"\n")

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.comm.recv(n - len(buf))
            if not chunk:
                raise EOFError("supervisor closed the comm socket")
            buf += chunk
        return bytes(buf)

    def read_frame(self) -> list[Any]:
        length = int.from_bytes(self._recv_exact(4), "big")
        return msgspec.msgpack.decode(self._recv_exact(length))

    def request(self, body: dict[str, Any]) -> list[Any]:
        frame_id, self._next_id = self._next_id, self._next_id + 1
        data = msgspec.msgpack.encode([frame_id, body])
        self.comm.sendall(len(data).to_bytes(4, "big") + data)
        return self.read_frame()


def main(argv: list[str]) -> int:
    bundle_path, mode, *airflow_args = argv
    options = dict(arg.removeprefix("--").split("=", 1) for arg in airflow_args)

    if mode.startswith("exit-before-connect="):
        print("bundle gives up before connecting", file=sys.stderr, flush=True)
        return int(mode.partition("=")[2])
    if mode == "never-connect":
        time.sleep(NEVER_CONNECT_SLEEP)
        return 0

    print("bundle stdout before connect", flush=True)
    channels = _Channels(comm=_connect(options["comm"]), logs=_connect(options["logs"]))
    channels.log("hello from the bundle", argv=[bundle_path, *airflow_args])

    _frame_id, startup, *_ = channels.read_frame()
    channels.log(
        "startup received",
        type=startup["type"],
        dag_id=startup["ti"]["dag_id"],
        task_id=startup["ti"]["task_id"],
    )

    if mode == "succeed":
        body = {"type": "SucceedTask", "end_date": _now(), "task_outlets": [], "outlet_events": []}
        response = channels.request(body)
        channels.log("success acknowledged", error=response[2] if len(response) > 2 else None)
        return 0
    if mode.startswith("exit="):
        code = int(mode.partition("=")[2])
        channels.log("exiting on purpose", exit_code=code)
        return code
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
