"""Prompt building: stable header, other files, aligned truncation."""

from .fim import DocumentSnapshot, FimPrompt, build_fim_prompt, wants_multiline

__all__ = ["DocumentSnapshot", "FimPrompt", "build_fim_prompt", "wants_multiline"]
