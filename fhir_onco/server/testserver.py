"""Start and stop a real local FHIR R4 server for tests and benchmarks.

The server is ``sekmet-fhir`` (SQLite-backed, pure Python) from PyPI, installed in its **own**
virtual environment because it pins fhir.resources, pydantic and FastAPI versions of its own.
The environment lives in ``$FHIR_ONCO_CACHE/sekmet-venv`` (default:
``<repo>/.cache/sekmet-venv``) and is reused while it is healthy.

This is development tooling: nothing in the push/pull/sync code depends on it, and the tests only
use what any FHIR R4 server offers, so they can run against e.g. HAPI instead
(``FHIR_ONCO_TEST_SERVER=http://localhost:8080/fhir``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEKMET_REQUIREMENT = "sekmet-fhir==0.1.1"
SEKMET_VERSION = "0.1.1"


class TestServerError(RuntimeError):
    """The local test server could not be installed or started."""

    __test__ = False  # not a pytest test class


def repo_root() -> Path | None:
    """The source checkout this module runs from, if any."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").exists() else None


def cache_dir() -> Path:
    env = os.environ.get("FHIR_ONCO_CACHE")
    if env:
        return Path(env).expanduser()
    root = repo_root()
    if root is not None:
        return root / ".cache"
    return Path.home() / ".cache" / "fhir-onco"


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _healthy(venv: Path) -> bool:
    py = _venv_python(venv)
    if not py.exists():
        return False
    probe = "import importlib.metadata as m, sekmet.fhir.service; print(m.version('sekmet-fhir'))"
    try:
        out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == SEKMET_VERSION


def ensure_sekmet(venv: Path | None = None, *, python: str | None = None) -> Path:
    """Return a virtual environment with sekmet-fhir installed, installing it when needed.

    Concurrent callers (parallel test runs) serialise on a lock file next to the environment.
    """
    venv = (venv or cache_dir() / "sekmet-venv").resolve()
    venv.parent.mkdir(parents=True, exist_ok=True)
    lock_path = venv.parent / (venv.name + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _healthy(venv):
            return venv
        if venv.exists():
            shutil.rmtree(venv)
        py = python or sys.executable
        steps = [
            [py, "-m", "venv", str(venv)],
            [
                str(_venv_python(venv)),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                SEKMET_REQUIREMENT,
            ],
        ]
        for cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise TestServerError(
                    f"installing {SEKMET_REQUIREMENT} failed ({' '.join(cmd[:3])}...):\n"
                    + (proc.stderr or proc.stdout)[-3000:]
                )
        if not _healthy(venv):
            raise TestServerError(f"{SEKMET_REQUIREMENT} installed in {venv} but does not import")
        return venv


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _settings_yaml(settings: dict[str, Any]) -> str:
    # JSON is valid YAML 1.2 and sekmet reads its settings with yaml.safe_load
    return json.dumps(settings, indent=2) + "\n"


class SekmetServer:
    """One sekmet-fhir process on 127.0.0.1, with its own data directory.

    ``extra_settings`` are merged into the settings file (e.g. ``server_auth``). The data directory
    survives :meth:`stop` / :meth:`start`, so a restart keeps the stored resources.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        venv: Path | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        extra_settings: dict[str, Any] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.venv = venv
        self.host = host
        self.port = port or free_port(host)
        self.extra_settings = dict(extra_settings or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/fhir"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def settings(self) -> dict[str, Any]:
        s: dict[str, Any] = {
            "base_url": self.base_url,
            "host": self.host,
            "port": self.port,
            "data_dir": str(self.data_dir / "data"),
            "simulator": {"enabled": False},
            "log_inbound": False,
            "own_private_key_path": str(self.data_dir / "keys" / "sekmet_private.pem"),
        }
        s.update(self.extra_settings)
        return s

    def start(self, timeout: float = 60.0) -> SekmetServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        venv = self.venv or ensure_sekmet()
        self.venv = venv
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.data_dir / "settings.yaml"
        cfg.write_text(_settings_yaml(self.settings()), encoding="utf-8")
        exe = venv / "bin" / "sekmet"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEKMET_", "FHIR_ONCO_"))}
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                [str(exe), "serve", "-c", str(cfg)],
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(self.data_dir),
                env=env,
                start_new_session=True,  # our signals go to it alone, not to the test runner
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestServerError(f"sekmet exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise TestServerError(f"sekmet did not answer /metadata in {timeout}s:\n{self.log_tail()}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/metadata", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL if it does not exit in time."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the server (a crash, for restart tests)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def restart(self, timeout: float = 60.0) -> SekmetServer:
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> SekmetServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_server(data_dir: Path, **kwargs: Any) -> Iterator[SekmetServer]:
    server = SekmetServer(data_dir, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()
