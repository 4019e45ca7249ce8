"""A scripted OpenAI-compatible server on 127.0.0.1 for fault injection (not a cassette:
it exercises litellm's real HTTP stack against timeouts, 429s, 5xx and bad replies)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLLM:
    """`script` items: ("reply", text) | ("status", code, headers) | ("sleep", seconds, text)
    | ("close",).  When the script is exhausted the last item repeats."""

    def __init__(self, *script: tuple[Any, ...]) -> None:
        self.script: deque[tuple[Any, ...]] = deque(script)
        self.last: tuple[Any, ...] = script[-1] if script else ("status", 500, {})
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", 0))
                fake.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                step = fake.script.popleft() if fake.script else fake.last
                kind = step[0]
                if kind == "close":
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                if kind == "status":
                    body = json.dumps({"error": {"message": f"injected {step[1]}"}}).encode()
                    self.send_response(step[1])
                    for k, v in step[2].items():
                        self.send_header(k, v)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if kind == "sleep":
                    time.sleep(step[1])
                    text = step[2]
                else:
                    text = step[1]
                body = json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
