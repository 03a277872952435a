"""`POST /v1/chat/completions`: the guarded proxy.

Check the new user input (blocked → the guard answers, the upstream is never called), call the upstream,
check the answer (blocked → the guard's answer replaces it). Streams are checked in windows as they flow
(see `streaming`). Anything that goes wrong comes back in OpenAI's error shape, never as a hang.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from safewatch.auth.context import ProjectContext
from safewatch.gateway.errors import (
    InvalidRequest,
    NotConfigured,
    UpstreamRejected,
    UpstreamUnavailable,
    unavailable_message,
)
from safewatch.gateway.guard import DETECTOR_ERROR, blocks, strongest
from safewatch.gateway.schemas import ChatRequest, guard_chunks, guard_completion, read_json
from safewatch.gateway.state import GatewayState, authorized, gateway
from safewatch.gateway.streaming import StreamGuard
from safewatch.gateway.upstream import AllUpstreamsFailed, UpstreamError, UpstreamStatusError
from safewatch.verdict import Action, Verdict

log = logging.getLogger("safewatch.gateway")
router = APIRouter()


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _sse_response(events: AsyncIterator[str], headers: dict[str, str]) -> StreamingResponse:
    # No caching, and no buffering by a reverse proxy (nginx): each checked chunk should leave at once.
    headers = {**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


def _new_turn(body: ChatRequest) -> list[int]:
    """Indexes of the messages the user added since the model last spoke: earlier turns were checked
    when they were new, and the system prompt is the developer's, not the user's."""
    last_assistant = max((i for i, m in enumerate(body.messages) if m.role == "assistant"), default=-1)
    return [i for i, m in enumerate(body.messages) if i > last_assistant and m.role == "user" and m.text()]


def _check_limits(body: ChatRequest, state: GatewayState) -> None:
    s = state.settings
    if len(body.messages) > s.max_messages:
        raise InvalidRequest(f"messages has {len(body.messages)} items; at most {s.max_messages} are allowed",
                             param="messages")
    for i, m in enumerate(body.messages):
        if len(m.text()) > s.max_text_chars:
            raise InvalidRequest(f"messages[{i}] has more than {s.max_text_chars} characters", param="messages")


def _upstream_failure(exc: Exception, language: str) -> Exception:
    """Map an upstream failure onto the error the caller gets."""
    if isinstance(exc, UpstreamStatusError) and exc.is_client_error:
        message = exc.body.get("error", {}).get("message") if isinstance(exc.body, dict) and isinstance(
            exc.body.get("error"), dict) else None
        return UpstreamRejected(message or str(exc), status_code=exc.status)
    status = 504 if isinstance(exc, AllUpstreamsFailed) and exc.timed_out else 502
    return UpstreamUnavailable(unavailable_message(language), status_code=status)


class _Call:
    """One chat request on its way through the guard; collects what the trace will say."""

    def __init__(self, request: Request, project: ProjectContext, body: ChatRequest, state: GatewayState):
        self.request, self.project, self.body, self.state = request, project, body, state
        self.start = time.perf_counter()
        self.user_id = body.user or request.headers.get("x-safewatch-user-id")
        self.session_id = request.headers.get("x-safewatch-session-id") or (body.metadata or {}).get("session_id")
        self.headers: dict[str, str] = {}
        self.input_verdict: Verdict | None = None
        self.upstream: str | None = None

    @property
    def language(self) -> str:
        return self.input_verdict.language if self.input_verdict else "en"

    def note(self, verdicts: list[Verdict], role: str) -> Verdict | None:
        top = strongest(verdicts)
        if top is not None:
            self.headers[f"X-Safewatch-{role.title()}-Action"] = top.action.value
            if any(v.decided_by == DETECTOR_ERROR for v in verdicts):
                self.headers["X-Safewatch-Warning"] = f"detector error on {role}; policy fail_mode applied"
        return top

    def record(self, *, output: str | None, output_verdict: Verdict | None, blocked: str | None,
               usage: dict | None = None, error: str | None = None) -> None:
        self.state.record(
            self.project.project_id, name="chat", user_id=self.user_id, session_id=self.session_id,
            input=[m.model_dump(exclude_none=True) for m in self.body.messages], output=output,
            model=self.body.model, input_verdict=self.input_verdict, output_verdict=output_verdict,
            blocked=blocked, usage=usage, latency_ms=(time.perf_counter() - self.start) * 1000,
            metadata={"upstream": self.upstream, "stream": self.body.stream, "blocked_at": blocked,
                      "error": error},
        )


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, project: ProjectContext = Depends(authorized)):
    state = gateway(request)
    body = await read_json(request, ChatRequest, state.settings.max_body_bytes)
    _check_limits(body, state)
    if not state.router.configured:
        raise NotConfigured("No upstream model is configured: set SAFEWATCH_UPSTREAM_URL.")
    call = _Call(request, project, body, state)

    turn = _new_turn(body)
    verdicts = await state.guard.decide([body.messages[i].text() for i in turn], "input")
    call.input_verdict = call.note(verdicts, "input")
    if call.input_verdict is not None and blocks(call.input_verdict):
        return _answer_instead(call, call.input_verdict, stage="input")

    forward = body.model_dump(exclude_unset=True)
    for i, verdict in zip(turn, verdicts, strict=True):
        if verdict.action == Action.REDACT and verdict.redacted_text is not None:
            forward["messages"][i]["content"] = verdict.redacted_text
    if body.stream:
        return await _stream(call, forward)
    return await _complete(call, forward)


def _answer_instead(call: _Call, verdict: Verdict, *, stage: str):
    state = call.state
    state.metrics.blocked.labels(stage).inc()
    text = state.guard.fallback_text(verdict)
    call.record(output=text, output_verdict=None, blocked=stage)
    if call.body.stream:
        chunks = guard_chunks(call.body.model, text)

        async def events() -> AsyncIterator[str]:
            for chunk in chunks:
                yield _sse(chunk)
            yield "data: [DONE]\n\n"

        return _sse_response(events(), call.headers)
    return JSONResponse(guard_completion(call.body.model, text), headers=call.headers)


async def _complete(call: _Call, forward: dict) -> JSONResponse:
    state = call.state
    try:
        completion, call.upstream = await state.router.complete(forward, call.user_id)
    except (AllUpstreamsFailed, UpstreamStatusError) as exc:
        raise _upstream_failure(exc, call.language) from exc
    call.headers["X-Safewatch-Upstream"] = call.upstream

    choices = [c for c in completion["choices"] if isinstance(c["message"].get("content"), str)
               and c["message"]["content"]]
    verdicts = await state.guard.decide([c["message"]["content"] for c in choices], "output")
    output_verdict = call.note(verdicts, "output")
    blocked = None
    for choice, verdict in zip(choices, verdicts, strict=True):
        if blocks(verdict):
            blocked = "output"
            choice["message"]["content"] = state.guard.fallback_text(verdict)
            choice["message"].pop("tool_calls", None)
            choice["finish_reason"] = "content_filter"
        elif verdict.action == Action.REDACT and verdict.redacted_text is not None:
            choice["message"]["content"] = verdict.redacted_text
    if blocked:
        state.metrics.blocked.labels("output").inc()
    output = choices[0]["message"]["content"] if choices else None
    call.record(output=output, output_verdict=output_verdict, blocked=blocked, usage=completion.get("usage"))
    return JSONResponse(completion, headers=call.headers)


async def _stream(call: _Call, forward: dict) -> StreamingResponse:
    state = call.state
    try:
        chunks, call.upstream = await state.router.open_stream(forward, call.user_id)
    except (AllUpstreamsFailed, UpstreamStatusError) as exc:
        raise _upstream_failure(exc, call.language) from exc
    call.headers["X-Safewatch-Upstream"] = call.upstream
    guard = StreamGuard(
        check=lambda texts: state.guard.decide(texts, "output"),
        fallback=state.guard.fallback_text,
        window=state.settings.stream_window_chars,
        overlap=state.settings.stream_overlap_chars,
    )

    async def events() -> AsyncIterator[str]:
        blocked = error = None
        try:
            async for chunk in chunks:
                for out in await guard.feed(chunk):
                    yield _sse(out)
                if guard.cut_by is not None:
                    break
            else:
                for out in await guard.finish():
                    yield _sse(out)
            if guard.cut_by is not None:
                blocked = "output"
                state.metrics.blocked.labels("stream").inc()
            yield "data: [DONE]\n\n"
        except UpstreamError as exc:
            error = str(exc)
            state.metrics.upstream_error(call.upstream or "upstream", exc)
            log.warning("upstream stream from %s failed: %s", call.upstream, exc)
            yield _sse({"error": {"message": f"{unavailable_message(call.language)} ({exc})",
                                  "type": "upstream_error", "param": None, "code": f"upstream_{exc.kind}"}})
        finally:
            await chunks.aclose()
            call.record(output=guard.text(), output_verdict=guard.cut_by or strongest(guard.verdicts),
                        blocked=blocked, error=error)

    return _sse_response(events(), call.headers)
