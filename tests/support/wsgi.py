"""Requests to the WSGI application gunicorn serves (config/wsgi.py), as a server sends them."""

from __future__ import annotations

from django.test import RequestFactory


def environ(
    method: str, path: str, *, query: str = "", body: bytes = b"", key: str = "", **headers
) -> dict:
    """A WSGI environ, as a server hands it to the application."""
    if key:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    url = f"{path}?{query}" if query else path
    return RequestFactory().generic(method, url, body, "application/json", **headers).environ


def answer(app, env: dict) -> tuple[int, dict, bytes]:
    """(status, headers but Date, body), the response closed as a server closes it."""
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = int(status[:3]), headers

    chunks = app(env, start_response)
    try:
        body = b"".join(chunks)
    finally:
        chunks.close()
    headers = {name: value for name, value in captured["headers"] if name != "Date"}
    return captured["status"], headers, body
