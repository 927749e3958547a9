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


def _component(schema: dict, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


@pytest.mark.django_db
def test_the_plan_list_matches_its_schema_legacy_plans_included(api, anon):
    """`GET /api/v1/plans` answered null where the schema said integer (a legacy minute
    plan's sessionsIncluded): every field's value now fits its declared type."""
    schema = anon.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    answer = schema["paths"]["/api/v1/plans"]["get"]["responses"]["200"]
    items = answer["content"]["application/json"]["schema"]
    item = _component(schema, items["items"]["$ref"] if "items" in items else items["$ref"])
    types = {"integer": int, "string": str, "boolean": bool, "number": (int, float)}
    plans = api.get("/api/v1/plans").json()
    assert any(plan["isLegacy"] and plan["sessionsIncluded"] is None for plan in plans)
    for plan in plans:
        for name, value in plan.items():
            declared = item["properties"][name]
            if value is None:
                assert declared.get("nullable"), f"{name} is null but not nullable"
            elif declared.get("type") in types:
                assert isinstance(value, types[declared["type"]]), (name, value)
