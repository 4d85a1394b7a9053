"""Debounce + latest-wins scheduling, caches and post-processing of ghost text."""

from .engine import CompletionEngine, CompletionRequest, Suggestion

__all__ = ["CompletionEngine", "CompletionRequest", "Suggestion"]
