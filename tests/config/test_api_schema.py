import pytest


@pytest.mark.django_db
def test_openapi_schema_and_docs(anon):
    schema = anon.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ["/billing/usage", "/api/v1/sessions", "/api/v1/sessions/{session_id}/end"]:
        assert path in paths
    docs = anon.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
