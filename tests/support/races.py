"""Real races for the `postgres`-marked tests: threads released together, each on its own
database connection."""

import threading

from django.db import connection


def race(n: int, call) -> list:
    """Run call(i) in n threads released at the same instant, each on its own database
    connection; return the results (an exception raised in a thread is returned, not lost)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = call(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
