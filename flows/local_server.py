"""A local Prefect API server for `relance worker` on the embedded default: Prefect only schedules deployments
through an API server, so when none is configured the worker starts one (its state under `.prefect/`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STARTUP_TIMEOUT = 120.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local Prefect server exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the local Prefect server did not answer at {url} within {timeout:.0f} s")


@contextmanager
def local_prefect_server(home: Path, *, port: int | None = None, scheduler_seconds: float = 10.0,
                         ui: bool = False) -> Iterator[str]:
    """Run `prefect server start` on 127.0.0.1 for the duration of the block; yields its API URL."""
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "1" if ui else "0",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": str(scheduler_seconds)}
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(url, process, STARTUP_TIMEOUT)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
