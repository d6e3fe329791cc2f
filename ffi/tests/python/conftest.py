"""Fixtures of the Python end-to-end test: the generated bindings and a real hub.

Run through ../run-python.sh, which builds the library, generates the bindings and sets
BIANMIN_FFI_BINDINGS (the folder holding bianmin_ffi.py and the library beside it) and
BIANMIN_SERVER (the bianmin-server binary).
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

BINDINGS = os.environ.get("BIANMIN_FFI_BINDINGS")
SERVER = os.environ.get("BIANMIN_SERVER")
if not BINDINGS or not SERVER:
    raise RuntimeError(
        "run this test through ffi/tests/run-python.sh (BIANMIN_FFI_BINDINGS and "
        "BIANMIN_SERVER are not set)"
    )
sys.path.insert(0, BINDINGS)


class Hub:
    """A bianmin-server process serving the demo data on a loopback port."""

    def __init__(self, data_dir):
        self.data_dir = str(data_dir)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(self.data_dir, "server.log"), "wb")
        self.process = subprocess.Popen(
            [SERVER, "--data-dir", self.data_dir, "serve", "--demo",
             "--listen", f"127.0.0.1:{port}"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"bianmin-server exited: see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"bianmin-server did not come up at {self.url}")
                time.sleep(0.05)

    def code(self, user):
        """A fresh one-time enrolment code for one of `user`'s devices, as an operator gets it."""
        out = subprocess.run(
            [SERVER, "--data-dir", self.data_dir, "device", "code", "--user", user],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    hub = Hub(tmp_path_factory.mktemp("hub"))
    yield hub
    hub.stop()
