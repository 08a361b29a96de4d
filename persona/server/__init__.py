"""``persona serve``: packs as an OpenAI-compatible chat completions API (FastAPI + uvicorn)."""
