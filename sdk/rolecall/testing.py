"""Record and replay rolecall's LLM calls in your own tests (vcrpy).

```python
from rolecall.testing import recorded_llm

def test_my_chatbot():
    with recorded_llm("tests/cassettes/chatbot.yaml"):
        result = retriever.search("allergy medicine that doesn't make you drowsy")
    assert result.hits
```

Replay (the default) never touches the network: a request that is not in the cassette
fails the test, and leaving the block with recorded interactions unplayed fails it too.
Record by setting `ROLECALL_RECORD=1` (or `record=True`) with a real model reachable:
the cassette is rewritten from scratch.  Auth headers and API keys are scrubbed before
anything is written.

Installed with rolecall, a pytest plugin provides two fixtures: `rolecall_cassette` does the
same with a cassette named after the test (`<test dir>/cassettes/<module>/<test>.yaml`), and
`rolecall_llm_api_base` is where to point an `LLMRewriter`: the local Qwen server (started
for the session) when recording, an address nobody answers when replaying.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import MissingDependencyError

__all__ = [
    "SCRUBBED_HEADERS",
    "recorded_llm",
    "recording",
    "rolecall_cassette",
    "rolecall_llm_api_base",
]

#: Request headers never written to a cassette.
SCRUBBED_HEADERS = (
    "authorization", "api-key", "x-api-key", "openai-organization", "openai-project",
    "cookie", "x-goog-api-key", "anthropic-api-key", "proxy-authorization",
)
_KEY_RE = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,})")


def recording() -> bool:
    """Whether this run re-records cassettes (`ROLECALL_RECORD=1`)."""
    return os.environ.get("ROLECALL_RECORD", "").strip().lower() in ("1", "true", "yes")


def _json_body(r1: Any, r2: Any) -> None:
    def load(body: Any) -> Any:
        if body is None:
            return None
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            return json.loads(body)
        except (TypeError, ValueError):
            return body

    if load(r1.body) != load(r2.body):
        raise AssertionError("request bodies differ")


def _scrub_request(request: Any) -> Any:
    for name in list(request.headers):
        if name.lower() in SCRUBBED_HEADERS:
            del request.headers[name]
    if isinstance(request.body, (bytes, str)):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        request.body = _KEY_RE.sub("<scrubbed>", body).encode()
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in ("set-cookie",) + SCRUBBED_HEADERS:
            del headers[name]
    return response


@contextlib.contextmanager
def recorded_llm(cassette: str | Path, *, record: bool | None = None) -> Iterator[Any]:
    """Replay (or, recording, capture) every HTTP call made inside the block."""
    try:
        import vcr
    except ImportError as exc:
        raise MissingDependencyError("vcrpy", "testing") from exc
    record = recording() if record is None else record
    path = Path(cassette)
    if record:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()  # a re-recording starts clean: no stale interaction survives
    elif not path.exists():
        raise FileNotFoundError(
            f"cassette {path} does not exist; record it with ROLECALL_RECORD=1 and a model "
            "reachable (see `make record`)"
        )
    recorder = vcr.VCR(
        record_mode="all" if record else "none",
        match_on=["method", "path", "json_body"],
        filter_headers=list(SCRUBBED_HEADERS),
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )
    recorder.register_matcher("json_body", _json_body)
    with recorder.use_cassette(str(path), allow_playback_repeats=False) as cass:
        yield cass
    if not record and not cass.all_played:
        unplayed = len(cass.data) - cass.play_count
        raise AssertionError(
            f"{unplayed} recorded interaction(s) in {path} were not played: the code under "
            "test made fewer LLM calls than when it was recorded; re-record it"
        )


try:  # the fixture exists only where pytest does
    import pytest

    @pytest.fixture
    def rolecall_cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
        """A cassette named after the test, replayed (or recorded with ROLECALL_RECORD=1)."""
        test_dir = Path(str(request.node.fspath)).parent
        module = Path(str(request.node.fspath)).stem
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        with recorded_llm(test_dir / "cassettes" / module / f"{name}.yaml") as cass:
            yield cass

    #: In replay nothing listens here: a request missing from a cassette fails, never connects.
    REPLAY_API_BASE = "http://127.0.0.1:9/v1"

    @pytest.fixture(scope="session")
    def rolecall_llm_api_base() -> Iterator[str]:
        """Where the LLM is: when recording, the local Qwen server (assembled, verified and
        started for the session, stopped after); when replaying, an address nobody answers."""
        if not recording():
            yield REPLAY_API_BASE
            return
        from .llm import local as local_llm
        from .rewrite.auto import LOCAL_ALIAS

        path = local_llm.assemble(local_llm.default_model_path())
        threads = int(os.environ.get("ROLECALL_LLM_THREADS", "2"))
        handle = local_llm.start_server(path, threads=threads, alias=LOCAL_ALIAS)
        try:
            yield handle.api_base
        finally:
            local_llm.stop_server(handle)

except ImportError:  # pragma: no cover - pytest is a dev dependency
    pass
