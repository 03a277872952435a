"""A real HTTP server on loopback that plays an upstream model: OpenAI chat completions and Anthropic
Messages, plain and streamed (SSE), scripted per test.

    fake = FakeUpstream().start()
    fake.push(Reply(text="Hi!"), Reply.error(429, retry_after=0))   # answered in this order
    fake.openai_url     # http://127.0.0.1:PORT/v1   (SAFEWATCH_UPSTREAM_URL, kind openai)
    fake.anthropic_url  # http://127.0.0.1:PORT      (kind anthropic)
    fake.requests       # what it received: path, headers, json

When no reply is queued it answers `Reply()` (a harmless greeting).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_TEXT = "Hello! I am a helpful assistant. How can I help you today?"


@dataclass
class Reply:
    text: str = DEFAULT_TEXT
    # Streamed in these pieces; by default the text is cut every `piece` characters.
    chunks: list[str] | None = None
    piece: int = 6
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "upstream error"
    # Seconds to wait before answering at all (a hang, for timeout tests).
    hang_s: float = 0.0
    # Seconds between streamed chunks.
    chunk_delay_s: float = 0.0
    # Stream: after this many content chunks, send a chunk that is not JSON.
    malformed_after: int | None = None
    # Plain answer: send this raw body instead of a completion (malformed JSON).
    raw_body: bytes | None = None
    finish_reason: str = "stop"

    @classmethod
    def error(cls, status: int, *, retry_after: float | None = None, message: str = "upstream error") -> Reply:
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        return cls(status=status, headers=headers, error_message=message)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Reply:
        return cls(hang_s=seconds)

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return self.chunks
        return [self.text[i : i + self.piece] for i in range(0, len(self.text), self.piece)]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    json: dict

    @property
    def stream(self) -> bool:
        return bool(self.json.get("stream"))


def _sse(data: dict | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    return ((f"event: {event}\n" if event else "") + f"data: {payload}\n\n").encode()


class FakeUpstream:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        app = Starlette(routes=[
            Route("/v1/chat/completions", self._openai, methods=["POST"]),
            Route("/v1/messages", self._anthropic, methods=["POST"]),
        ])
        self.app = app

    # --- scripting -------------------------------------------------------------------------------------

    def push(self, *replies: Reply) -> FakeUpstream:
        with self._lock:
            self.replies.extend(replies)
        return self

    def reset(self) -> None:
        with self._lock:
            self.replies.clear()
            self.requests.clear()

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _next(self, request: Request) -> tuple[Reply, dict]:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        with self._lock:
            self.requests.append(Received(request.url.path, dict(request.headers), body))
            reply = self.replies.popleft() if self.replies else Reply()
        if reply.hang_s:
            await asyncio.sleep(reply.hang_s)
        return reply, body

    # --- OpenAI ----------------------------------------------------------------------------------------

    async def _openai(self, request: Request) -> Response:
        reply, body = await self._next(request)
        if reply.status >= 400:
            error = {"error": {"message": reply.error_message, "type": "server_error", "param": None, "code": None}}
            return JSONResponse(error, status_code=reply.status, headers=reply.headers)
        model = body.get("model", "fake-model")
        if not body.get("stream"):
            if reply.raw_body is not None:
                return Response(reply.raw_body, media_type="application/json")
            return JSONResponse({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                             "finish_reason": reply.finish_reason, "logprobs": None}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            })
        return StreamingResponse(self._openai_events(reply, model), media_type="text/event-stream")

    async def _openai_events(self, reply: Reply, model: str):
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            return _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        yield chunk({"role": "assistant", "content": ""})
        for n, piece in enumerate(reply.pieces()):
            if reply.malformed_after is not None and n == reply.malformed_after:
                yield b'data: {"id": "chatcmpl-fake", "choices": [{"delta": \n\n'
                return
            if reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)
            yield chunk({"content": piece})
        yield chunk({}, reply.finish_reason)
        yield b"data: [DONE]\n\n"

    # --- Anthropic -------------------------------------------------------------------------------------

    async def _anthropic(self, request: Request) -> Response:
        reply, body = await self._next(request)
        if reply.status >= 400:
            error = {"type": "error", "error": {"type": "api_error", "message": reply.error_message}}
            return JSONResponse(error, status_code=reply.status, headers=reply.headers)
        model = body.get("model", "claude-fake")
        stop = {"stop": "end_turn", "length": "max_tokens"}.get(reply.finish_reason, "end_turn")
        if not body.get("stream"):
            if reply.raw_body is not None:
                return Response(reply.raw_body, media_type="application/json")
            return JSONResponse({
                "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": reply.text}], "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 7},
            })
        return StreamingResponse(self._anthropic_events(reply, model, stop), media_type="text/event-stream")

    async def _anthropic_events(self, reply: Reply, model: str, stop: str):
        yield _sse({"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}}, "message_start")
        yield _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                   "content_block_start")
        yield _sse({"type": "ping"}, "ping")
        for n, piece in enumerate(reply.pieces()):
            if reply.malformed_after is not None and n == reply.malformed_after:
                yield b"event: content_block_delta\ndata: {not json\n\n"
                return
            if reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)
            yield _sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                       "content_block_delta")
        yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        yield _sse({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 7}}, "message_delta")
        yield _sse({"type": "message_stop"}, "message_stop")

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
