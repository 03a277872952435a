"""Any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, Ollama, LiteLLM, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from safewatch.gateway.upstream.base import UpstreamProtocolError
from safewatch.gateway.upstream.http import open_stream, post_json
from safewatch.gateway.upstream.sse import iter_events


def _check_chunk(chunk: dict) -> None:
    """Reject chunks the guard could not read: an unread text would pass the guard unchecked."""
    choices = chunk.get("choices", [])
    if not isinstance(choices, list):
        raise UpstreamProtocolError("malformed chunk from upstream: choices is not a list")
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict | None) or not isinstance(choice, dict):
            raise UpstreamProtocolError("malformed chunk from upstream: a choice without a delta object")
        if delta and not isinstance(delta.get("content"), str | None):
            raise UpstreamProtocolError("malformed chunk from upstream: delta.content is not a string")


class OpenAIChunkStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[dict]:
        try:
            async for event in iter_events(self._response):
                if event.data.strip() == "[DONE]":
                    return
                chunk = event.json()
                if "error" in chunk:
                    raise UpstreamProtocolError(f"upstream stream error: {chunk['error']}")
                _check_chunk(chunk)
                yield chunk
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()


class OpenAIUpstream:
    kind = "openai"

    def __init__(self, name: str, base_url: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self._url = f"{base_url}/chat/completions"
        self._client = client

    def _headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    async def complete(self, body: dict, api_key: str) -> dict:
        data = await post_json(self._client, self._url, self._headers(api_key), {**body, "stream": False})
        choices = data.get("choices")
        if not isinstance(choices, list) or not all(
            isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices
        ):
            raise UpstreamProtocolError("upstream answer has no well-formed choices")
        return data

    async def open_stream(self, body: dict, api_key: str) -> OpenAIChunkStream:
        response = await open_stream(self._client, self._url, self._headers(api_key), {**body, "stream": True})
        return OpenAIChunkStream(response)

    async def aclose(self) -> None:
        await self._client.aclose()
