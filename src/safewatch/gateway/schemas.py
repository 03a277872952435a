"""Request parsing and response shapes of the gateway's routes (OpenAI's wire format plus `safewatch`)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from safewatch.gateway.errors import InvalidRequest, PayloadTooLarge
from safewatch.taxonomy import OPENAI_APPLIED_INPUT_TYPES, OPENAI_CATEGORIES, SAFEWATCH_CATEGORIES
from safewatch.verdict import Verdict

M = TypeVar("M", bound=BaseModel)

# Names a moderation request may ask for; all are the detector with the server's policy.
MODERATION_MODELS = ("safewatch-default", "omni-moderation-latest", "text-moderation-latest",
                     "text-moderation-stable", "omni-moderation-2024-09-26")
DEFAULT_MODERATION_MODEL = "safewatch-default"


async def read_json(request: Request, model: type[M], max_bytes: int) -> M:
    """The body, at most `max_bytes`, parsed as JSON and validated as `model`; any failure is a 4xx."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {max_bytes}")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"request body exceeds the limit of {max_bytes} bytes")
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"invalid value for '{where}': {first['msg']}", param=where or None) from exc


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    type: Literal["image_url"]
    image_url: Any = None


class ModerationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str | list[str] | list[TextPart | ImagePart]
    model: str | None = None

    def texts(self) -> list[str]:
        if isinstance(self.input, str):
            return [self.input]
        if all(isinstance(i, str) for i in self.input):
            return list(self.input)  # type: ignore[arg-type]
        # A list of parts is ONE multi-modal input in OpenAI's API.
        if any(isinstance(p, ImagePart) for p in self.input):
            raise InvalidRequest("image inputs are not supported; send text", param="input")
        return ["\n".join(p.text for p in self.input)]  # type: ignore[union-attr]


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str | list[str]
    role: Literal["input", "output"] = "input"

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        parts = self.content or []
        return "\n".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    user: str | None = None
    metadata: dict[str, Any] | None = None


def moderation_result(verdict: Verdict, input_types: tuple[str, ...] = ("text",)) -> dict:
    cats, scores = verdict.categories, verdict.category_scores
    # The taxonomy's own categories always; a policy's custom ones and the judge's misinformation when scored.
    extra = SAFEWATCH_CATEGORIES + tuple(c for c in scores if c not in OPENAI_CATEGORIES and c not in SAFEWATCH_CATEGORIES)
    return {
        "flagged": verdict.flagged,
        "categories": {c: bool(cats.get(c, False)) for c in OPENAI_CATEGORIES},
        "category_scores": {c: float(scores.get(c, 0.0)) for c in OPENAI_CATEGORIES},
        "category_applied_input_types": {
            c: [t for t in OPENAI_APPLIED_INPUT_TYPES[c] if t in input_types] for c in OPENAI_CATEGORIES
        },
        "safewatch": {
            "action": verdict.action.value,
            "overall_score": verdict.overall_score,
            "categories": {c: bool(cats.get(c, False)) for c in extra},
            "category_scores": {c: float(scores.get(c, 0.0)) for c in extra},
            "matches": [m.model_dump(mode="json") for m in verdict.matches],
            "language": verdict.language,
            "decided_by": verdict.decided_by,
            "redacted_text": verdict.redacted_text,
            "support_message": verdict.support_message,
            "policy_version": verdict.policy_version,
            # What the optional LLM judge said (or why it could not), when the verdict was in its band.
            "judge": verdict.judge,
        },
    }


def moderation_response(model: str, verdicts: list[Verdict]) -> dict:
    return {"id": f"modr-{uuid.uuid4().hex}", "model": model, "results": [moderation_result(v) for v in verdicts]}


def completion_id() -> str:
    return f"chatcmpl-sw{uuid.uuid4().hex[:24]}"


def guard_completion(model: str, text: str) -> dict:
    """The answer when the guard speaks instead of the model."""
    return {
        "id": completion_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "finish_reason": "content_filter", "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def guard_chunks(model: str, text: str) -> list[dict]:
    """The same answer as a stream: the role, the text, then the content_filter finish."""
    base = {"id": completion_id(), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    return [chunk({"role": "assistant", "content": ""}), chunk({"content": text}, "content_filter")]
