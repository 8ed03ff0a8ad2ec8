"""Failure analysts: explain failure slices in the scene vocabulary (offline, Qwen2.5-VL, OpenAI-compatible)."""
