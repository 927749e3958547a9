"""The session start's and end's direct checks must agree with the serializers they stand in
for."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from usage.api.serializers import SessionEndInput, SessionStartInput

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


def _end_by_serializer(data):
    serializer = SessionEndInput(data=data)
    if serializer.is_valid():
        return dict(serializer.validated_data)
    return serializer.errors


def _end_direct(data):
    try:
        return dict(SessionEndInput.validated(data))
    except ValidationError as error:
        return error.detail


MINUTES = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["2.5", " 3 ", "1e3", "1E-2", "0.001", "-0", "NaN", "inf", "", "12,5", "0x10"]),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
)
STATUS = st.one_of(
    st.sampled_from(["succeeded", "failed", "active", "SUCCEEDED", " failed", ""]),
    st.integers(),
    st.none(),
)


@settings(max_examples=400, deadline=None)
@given(status=STATUS, minutes=MINUTES, extra=st.booleans())
def test_the_end_check_answers_as_the_serializer_does(status, minutes, extra):
    data = {"status": status, "minutes": minutes}
    if extra:
        data["note"] = "ignored by the serializer"
    assert _end_direct(data) == _end_by_serializer(data)


@pytest.mark.parametrize(
    "data", [{"status": "succeeded"}, {"minutes": 1}, [1, 2], "text", None, {}]
)
def test_an_end_body_of_another_shape_answers_as_the_serializer_does(data):
    assert _end_direct(data) == _end_by_serializer(data)
