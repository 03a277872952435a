"""Checking a streamed answer while it streams.

Chunks are held back until the text they carry has been checked: every `window` new characters, the pending
text is checked together with the last `overlap` characters already released, so a phrase split across chunks
or across windows is seen whole. Unsafe → stop forwarding and end with the fallback text and
`finish_reason: "content_filter"`. When the stream ends, the rest is checked, and so is the whole answer
when the last window did not cover all of it. Chunks that carry no text (the role, usage) pass at once when nothing is
held back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from safewatch.gateway.guard import blocks
from safewatch.verdict import Action, Verdict

CheckFn = Callable[[list[str]], Awaitable[list[Verdict]]]


@dataclass
class _Choice:
    released: str = ""
    pending: str = ""


@dataclass
class StreamGuard:
    check: CheckFn
    fallback: Callable[[Verdict], str]
    window: int = 160
    overlap: int = 48
    choices: dict[int, _Choice] = field(default_factory=dict)
    held: list[dict] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    # The verdict that cut the stream, once it has.
    cut_by: Verdict | None = None
    _template: dict | None = None
    # Set once a chunk carried a finish_reason: from then on everything waits for `finish()`.
    _ending: bool = False

    def text(self, index: int = 0) -> str:
        c = self.choices.get(index)
        return (c.released + c.pending) if c else ""

    async def feed(self, chunk: dict) -> list[dict]:
        """Take one upstream chunk; answer the chunks to forward now (the last one ends the stream if cut)."""
        if self.cut_by is not None:
            return []
        self._template = chunk
        self.held.append(chunk)
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str) and content:
                self.choices.setdefault(int(choice.get("index", 0)), _Choice()).pending += content
        self._ending = self._ending or _finishes(chunk)
        if self._ending:
            return []
        if not any(c.pending for c in self.choices.values()):
            return self._release()
        if any(len(c.pending) >= self.window for c in self.choices.values()):
            return await self._check_pending()
        return []

    async def finish(self) -> list[dict]:
        """The upstream ended: check what is still held, then the whole answer, and release or cut.

        The end of the stream (its finish chunk) stays held until both checks pass, so a cut here still ends
        the stream with `content_filter` rather than after a `stop`."""
        if self.cut_by is not None:
            return []
        cut, redact = await self._screen()
        if cut is not None:
            return cut
        # The last window saw the whole answer only if little enough had been released before it.
        partial = [i for i, c in self.choices.items() if len(c.released) > self.overlap]
        if partial:
            verdicts = await self.check([self.text(i) for i in partial])
            self.verdicts.extend(verdicts)
            for index, verdict in zip(partial, verdicts, strict=True):
                if blocks(verdict):
                    return self._cut(index, verdict)
        return await self._release_screened(redact)

    async def _check_pending(self) -> list[dict]:
        cut, redact = await self._screen()
        if cut is not None:
            return cut
        return await self._release_screened(redact)

    async def _screen(self) -> tuple[list[dict] | None, list[int]]:
        """Check each choice's held text with its overlap: the chunks that end the stream if one is unsafe,
        and the choices whose text must be masked before release."""
        indexes = [i for i, c in self.choices.items() if c.pending]
        if not indexes:
            return None, []
        windows = [self.choices[i].released[-self.overlap:] + self.choices[i].pending if self.overlap
                   else self.choices[i].pending for i in indexes]
        verdicts = await self.check(windows)
        self.verdicts.extend(verdicts)
        for index, verdict in zip(indexes, verdicts, strict=True):
            if blocks(verdict):
                return self._cut(index, verdict), []
        return None, [i for i, v in zip(indexes, verdicts, strict=True) if v.action == Action.REDACT]

    async def _release_screened(self, redact: list[int]) -> list[dict]:
        if redact:
            return await self._release_redacted(redact)
        return self._release()

    def _release(self) -> list[dict]:
        out, self.held = self.held, []
        for c in self.choices.values():
            c.released += c.pending
            c.pending = ""
        return out

    async def _release_redacted(self, redact: list[int]) -> list[dict]:
        """Release the held text with PII masked: checked on its own, so the redaction covers only it."""
        verdicts = await self.check([self.choices[i].pending for i in redact])
        for i, v in zip(redact, verdicts, strict=True):
            self.choices[i].pending = v.redacted_text or self.choices[i].pending
        # Chunks without text (role, finish) keep their place; the text goes out as one chunk per choice.
        bare = [c for c in (self._strip_content(c) for c in self.held) if c is not None]
        finishing = [c for c in bare if _finishes(c)]
        texts = [self._content_chunk(i, c.pending) for i, c in self.choices.items() if c.pending]
        self._release()
        return [c for c in bare if not _finishes(c)] + texts + finishing

    def _strip_content(self, chunk: dict) -> dict | None:
        choices = []
        for choice in chunk.get("choices") or []:
            delta = {k: v for k, v in (choice.get("delta") or {}).items() if k != "content"}
            if delta or choice.get("finish_reason"):
                choices.append({**choice, "delta": delta})
        if not choices and not chunk.get("usage"):
            return None
        return {**chunk, "choices": choices}

    def _content_chunk(self, index: int, content: str, finish_reason: str | None = None) -> dict:
        t = self._template or {}
        return {
            "id": t.get("id", "chatcmpl-safewatch"), "object": "chat.completion.chunk",
            "created": t.get("created", 0), "model": t.get("model", ""),
            "choices": [{"index": index, "delta": {"content": content}, "finish_reason": finish_reason,
                         "logprobs": None}],
        }

    def _cut(self, index: int, verdict: Verdict) -> list[dict]:
        """Drop the held text and end the stream with the fallback text."""
        self.cut_by = verdict
        # The role chunk may still be held; the client needs it before any content.
        keep = [c for c in (self._strip_content(c) for c in self.held) if c is not None]
        keep = [c for c in keep if not _finishes(c)]
        self.held = []
        shown = self.choices[index].released
        text = ("\n\n" if shown else "") + self.fallback(verdict)
        return keep + [self._content_chunk(index, text, "content_filter")]


def _finishes(chunk: dict) -> bool:
    return any(ch.get("finish_reason") for ch in chunk.get("choices") or [])
