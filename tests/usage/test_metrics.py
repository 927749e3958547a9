import pytest

from accounts.models import Plan


@pytest.mark.django_db
def test_metrics_count_sessions_customers_and_refusals(api, anon):
    Plan.objects.filter(code="free").update(included_sessions=1)
    api.post("/api/v1/sessions", {"session_id": "s1", "user_id": "alice"}, format="json")
    api.post("/api/v1/sessions/s1/end", {"status": "succeeded", "minutes": 2}, format="json")
    refused = api.post("/api/v1/sessions", {"session_id": "s2", "user_id": "alice"}, format="json")
    assert refused.status_code == 402

    assert anon.get("/metrics").status_code == 401
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'aigate_sessions_this_month{outcome="all"} 1' in text
    assert 'aigate_customers{plan="free",status="active"} 1' in text
    assert 'aigate_refusals_total{code="quota_exceeded"} 1' in text
    assert 'aigate_refusals_total{code="concurrency_limit"} 0' in text
    assert "aigate_sessions_open 0" in text
    assert 'aigate_webhooks_last_24h{result="failed"} 0' in text


@pytest.mark.django_db
def test_a_webhook_waiting_for_its_worker_is_not_a_failure(api):
    from datetime import timedelta

    from django.utils import timezone
    from djstripe.models import WebhookEventTrigger

    def delivery(*, ago: timedelta, exception: str = "") -> None:
        trigger = WebhookEventTrigger.objects.create(
            remote_ip="127.0.0.1",
            headers={},
            body="{}",
            valid=True,
            processed=False,
            exception=exception,
        )
        WebhookEventTrigger.objects.filter(pk=trigger.pk).update(created=timezone.now() - ago)

    delivery(ago=timedelta(seconds=5))  # just received, queued for a worker
    delivery(ago=timedelta(minutes=2), exception="StripeUnavailable: try again")  # failed
    delivery(ago=timedelta(hours=1))  # no worker took it: lost or stuck
    text = api.get("/metrics").content.decode()
    assert 'aigate_webhooks_last_24h{result="failed"} 2' in text.splitlines()
