"""`/healthz`: the database and the shared cache, without hosts, ports or error text."""

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse

from api.errors import json_methods
from api.metrics import cache_up

logger = logging.getLogger(__name__)


@json_methods("GET", "HEAD")
def healthz(request):
    """200 `ok`; 200 `degraded` when only the cache is down (the API keeps serving, without
    rate limits); 503 when the database is down."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        database = "ok"
    except DatabaseError:
        logger.exception("health check: the database cannot be reached")
        database = "unavailable"
    cache = "ok" if cache_up() else "unavailable"
    if cache != "ok":
        logger.error("health check: the cache cannot be reached")
    status = "error" if database != "ok" else "degraded" if cache != "ok" else "ok"
    return JsonResponse(
        {"status": status, "database": database, "cache": cache},
        status=503 if database != "ok" else 200,
    )
