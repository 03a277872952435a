from __future__ import annotations


class AuthError(Exception):
    """A request without a valid key; the app renders it in the caller's API dialect (OpenAI or Langfuse)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
