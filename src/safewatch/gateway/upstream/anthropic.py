"""Anthropic's Messages API, translated to and from OpenAI's chat format (plain and streamed)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx

from safewatch.gateway.errors import InvalidRequest
from safewatch.gateway.upstream.base import UpstreamProtocolError
from safewatch.gateway.upstream.http import open_stream, post_json
from safewatch.gateway.upstream.sse import iter_events

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "refusal": "content_filter", "pause_turn": "stop"}


def _text_of(content: object, role: str) -> str | list[dict]:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    blocks: list[dict] = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict) and part.get("type") == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise InvalidRequest(f"message part of type {kind!r} cannot be sent to an Anthropic upstream",
                                 param="messages")
    return blocks


def to_anthropic(body: dict, default_max_tokens: int) -> dict:
    """An OpenAI chat request as an Anthropic Messages request."""
    system: list[str] = []
    messages: list[dict] = []
    for m in body.get("messages", []):
        role = m.get("role")
        if role in ("system", "developer"):
            text = _text_of(m.get("content"), role)
            system.append(text if isinstance(text, str) else "\n".join(b["text"] for b in text))
        elif role in ("user", "assistant"):
            messages.append({"role": role, "content": _text_of(m.get("content"), role)})
        else:
            raise InvalidRequest(f"messages with role {role!r} cannot be sent to an Anthropic upstream",
                                 param="messages")
    out: dict = {
        "model": body["model"],
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens,
    }
    if system:
        out["system"] = "\n\n".join(system)
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])}
    return out


def _usage(usage: dict | None) -> dict:
    usage = usage or {}
    prompt, completion = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def from_anthropic(message: dict) -> dict:
    """An Anthropic Messages answer as an OpenAI chat.completion."""
    content = message.get("content")
    if not isinstance(content, list):
        raise UpstreamProtocolError("Anthropic answer has no content list")
    text = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return {
        "id": message.get("id", "msg"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model", ""),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": _FINISH.get(message.get("stop_reason") or "end_turn", "stop"),
            "logprobs": None,
        }],
        "usage": _usage(message.get("usage")),
    }


class AnthropicChunkStream:
    """Anthropic's event stream (message_start, content_block_delta, message_delta, ...) as OpenAI chunks."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def _chunk(self, state: dict, delta: dict, finish_reason: str | None = None) -> dict:
        return {
            "id": state["id"], "object": "chat.completion.chunk", "created": state["created"],
            "model": state["model"],
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }

    async def __aiter__(self) -> AsyncIterator[dict]:
        state = {"id": "msg", "model": "", "created": int(time.time())}
        try:
            async for event in iter_events(self._response):
                data = event.json()
                kind = data.get("type") or event.event
                if kind == "message_start":
                    message = data.get("message") or {}
                    state.update(id=message.get("id", "msg"), model=message.get("model", ""))
                    yield self._chunk(state, {"role": "assistant", "content": ""})
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta":
                        if not isinstance(delta.get("text"), str):
                            raise UpstreamProtocolError("malformed text delta from Anthropic upstream")
                        yield self._chunk(state, {"content": delta["text"]})
                elif kind == "message_delta":
                    reason = (data.get("delta") or {}).get("stop_reason")
                    if reason:
                        yield self._chunk(state, {}, _FINISH.get(reason, "stop"))
                elif kind == "message_stop":
                    return
                elif kind == "error":
                    err = data.get("error") or {}
                    raise UpstreamProtocolError(f"Anthropic stream error: {err.get('message', err)}")
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()


class AnthropicUpstream:
    kind = "anthropic"

    def __init__(self, name: str, base_url: str, client: httpx.AsyncClient, *,
                 default_max_tokens: int = 1024, version: str = "2023-06-01") -> None:
        self.name = name
        self._url = f"{base_url}/v1/messages"
        self._client = client
        self._max_tokens = default_max_tokens
        self._version = version

    def _headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key, "anthropic-version": self._version}

    async def complete(self, body: dict, api_key: str) -> dict:
        request = {**to_anthropic(body, self._max_tokens), "stream": False}
        return from_anthropic(await post_json(self._client, self._url, self._headers(api_key), request))

    async def open_stream(self, body: dict, api_key: str) -> AnthropicChunkStream:
        request = {**to_anthropic(body, self._max_tokens), "stream": True}
        return AnthropicChunkStream(await open_stream(self._client, self._url, self._headers(api_key), request))

    async def aclose(self) -> None:
        await self._client.aclose()
