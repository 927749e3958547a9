"""The session start's direct check must agree with the serializer it stands in for."""

import pytest
from rest_framework.exceptions import ValidationError

from usage.api.serializers import SessionStartInput

CASES = [
    {"session_id": "s1", "user_id": "alice"},
    {"session_id": " s1 ", "user_id": "alice\t"},
    {"session_id": "s1", "user_id": "alice", "project_id": "web.app:v2_1-x"},
    {"session_id": "s1", "user_id": "alice", "project_id": "bad id"},
    {"session_id": "s1", "user_id": "alice", "project_id": ""},
    {"session_id": "s1", "user_id": "alice", "email": "a@example.com"},
    {"session_id": "s1", "user_id": "alice", "email": "  "},
    {"session_id": "s1", "user_id": "alice", "email": "not-an-email"},
    {"session_id": "s1", "user_id": "alice", "email": None},
    {"session_id": "", "user_id": "alice"},
    {"session_id": "   ", "user_id": "alice"},
    {"session_id": "s\x001", "user_id": "alice"},
    {"session_id": "x" * 255, "user_id": "alice"},
    {"session_id": "x" * 256, "user_id": "alice"},
    {"session_id": "s1", "user_id": "é" * 255},
    {"session_id": 12345, "user_id": "alice"},
    {"session_id": "s1", "user_id": None},
    {"session_id": "s1"},
    {"user_id": "alice"},
    {"session_id": "s1", "user_id": "alice", "project_id": "p" * 129},
    {"session_id": "s1", "user_id": "alice", "extra": "ignored by the serializer"},
    {"session_id": ["s1"], "user_id": "alice"},
]


@pytest.mark.parametrize("data", CASES)
def test_direct_check_agrees_with_the_serializer(data):
    serializer = SessionStartInput(data=data)
    expected = dict(serializer.validated_data) if serializer.is_valid() else None
    direct = SessionStartInput._plain(data)
    if direct is not None:
        assert direct == expected
    try:
        result = dict(SessionStartInput.validated(data))
    except ValidationError:
        result = None
    assert result == expected


def test_well_formed_bodies_take_the_direct_path():
    assert SessionStartInput._plain({"session_id": "s1", "user_id": "alice"}) == {
        "session_id": "s1",
        "user_id": "alice",
        "project_id": "default",
        "email": "",
    }
