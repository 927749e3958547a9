"""Session metering: start (idempotent, quota-reserving) and end (gives back failed sessions).

Exactness rules: every start locks its customer's row, so the concurrency count and the
project count cannot race; the quota counter moves by one conditional UPDATE, so the quota
holds even without that lock; a `session_id` is unique in the database, so a retry can never
count twice. The start path is raw SQL (accounts/rawsql.py): it is the hottest path. On
PostgreSQL its common case is one call of the `usage_session_start` function, made from the
same admission statement as the general path (`_one_statement_start`).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.utils import timezone

from accounts.errors import (
    ConcurrencyLimitReached,
    Conflict,
    NotFound,
    ProjectLimitReached,
    QuotaExceeded,
)
from accounts.models import BillingUnit, Customer, Project
from accounts.periods import period_of
from accounts.rawsql import aware, decimal, fetch_one, param_date, param_datetime
from accounts.services.customers import customer_get_or_create
from usage.alerts import ALERT_PERCENTS, usage_alert_levels, usage_alerts_send
from usage.models import MonthlyUsage, Session, SessionStatus
from usage.ratelimit import rate_limit_count, rate_limit_enforce

logger = logging.getLogger(__name__)

DEFAULT_PROJECT_ID = "default"
CONCURRENCY_RETRY_AFTER_SECONDS = 10


@dataclass(frozen=True)
class SessionStart:
    session: Session
    created: bool


# Finds and locks the customer in one statement; SQLite has no row locks but serialises
# writers (transactions begin IMMEDIATE, see settings).
_LOCK_CUSTOMER_SQL = {
    True: """
        SELECT c.id, p.requests_per_minute
        FROM billing_customer c JOIN billing_plan p ON p.id = c.plan_id
        WHERE c.external_id = %s FOR UPDATE OF c
    """,
    False: """
        SELECT c.id, p.requests_per_minute
        FROM billing_customer c JOIN billing_plan p ON p.id = c.plan_id
        WHERE c.external_id = %s
    """,
}
# Everything admission decides on, read in one statement once the customer's row is locked.
_ADMISSION_SQL = """
    SELECT p.billing_unit, p.included_sessions, p.included_minutes, p.max_projects,
        p.max_concurrent_sessions, p.name,
        (SELECT s.customer_id FROM usage_session s WHERE s.session_id = %s),
        (SELECT pr.id FROM billing_project pr WHERE pr.customer_id = c.id AND pr.project_id = %s),
        (SELECT COUNT(*) FROM billing_project pr WHERE pr.customer_id = c.id),
        (SELECT COUNT(*) FROM usage_session s
            WHERE s.customer_id = c.id AND s.status = 'active' AND s.started_at > %s)
    FROM billing_customer c JOIN billing_plan p ON p.id = c.plan_id
    WHERE c.id = %s
"""
# Both return the month's use in sessions after the reservation (usage alerts read it).
_RESERVE_SESSION_SQL = """
    UPDATE usage_monthlyusage SET total_sessions = total_sessions + 1, updated_at = %s
    WHERE customer_id = %s AND period = %s AND total_sessions - failed_sessions < %s
    RETURNING total_sessions - failed_sessions
"""
_RESERVE_MINUTES_SQL = """
    UPDATE usage_monthlyusage SET total_sessions = total_sessions + 1, updated_at = %s
    WHERE customer_id = %s AND period = %s AND billable_minutes < %s
    RETURNING total_sessions - failed_sessions
"""
_NEW_MONTH_SQL = """
    INSERT INTO usage_monthlyusage (customer_id, period, total_sessions, successful_sessions,
        failed_sessions, total_minutes, billable_minutes, updated_at)
    VALUES (%s, %s, 0, 0, 0, 0, 0, %s)
    ON CONFLICT (customer_id, period) DO NOTHING
"""
# PostgreSQL only: admission, reservation and record in one statement (data-modifying WITH),
# run once the customer's row is locked, so that every count it reads is current. It records
# only when every limit admits the start, the project exists and the month's row is there (the
# common case); otherwise it changes nothing and returns the admission figures, from which the
# general path below raises the limit broken or makes the missing rows. Two conditions serve
# the one-statement path (`_one_statement_start`), which leaves such starts to the general
# path: `requests` over the plan's requests per minute, and a start that brings a session
# plan's month to a usage-alert level (`usage_alert_levels`), whose e-mail is queued in the
# same transaction; the general path passes NULL and true. A template: the general path runs
# it with query parameters, the `usage_session_start` function with its arguments.
_ADMIT_AND_RECORD = """
    WITH admission AS (
        SELECT c.id AS customer_id, p.billing_unit, p.included_sessions, p.included_minutes,
            p.max_projects, p.max_concurrent_sessions, p.name, p.requests_per_minute,
            (SELECT s.customer_id FROM usage_session s WHERE s.session_id = {session_id})
                AS owner_id,
            (SELECT pr.id FROM billing_project pr
                WHERE pr.customer_id = c.id AND pr.project_id = {project_id}) AS project_pk,
            (SELECT COUNT(*) FROM billing_project pr WHERE pr.customer_id = c.id)
                AS project_count,
            (SELECT COUNT(*) FROM usage_session s WHERE s.customer_id = c.id
                AND s.status = 'active' AND s.started_at > {stale_before}) AS open_sessions
        FROM billing_customer c JOIN billing_plan p ON p.id = c.plan_id
        WHERE c.external_id = {external_id}
    ),
    reserved AS (
        UPDATE usage_monthlyusage u
        SET total_sessions = u.total_sessions + 1, updated_at = {now}
        FROM admission a
        WHERE u.customer_id = a.customer_id AND u.period = {period}
            AND a.owner_id IS NULL AND a.project_pk IS NOT NULL
            AND a.open_sessions < a.max_concurrent_sessions
            AND CASE WHEN a.billing_unit = 'minutes' THEN u.billable_minutes < a.included_minutes
                ELSE u.total_sessions - u.failed_sessions < a.included_sessions END
            AND ({requests}::integer IS NULL OR {requests}::integer <= a.requests_per_minute)
            AND ({at_alert_levels} OR a.billing_unit = 'minutes' OR a.included_sessions = 0
                OR u.total_sessions - u.failed_sessions + 1 NOT IN ({alert_levels}))
        RETURNING u.total_sessions - u.failed_sessions AS used
    ),
    recorded AS (
        INSERT INTO usage_session (session_id, customer_id, project_id, period, status,
            started_at)
        SELECT {session_id}, a.customer_id, a.project_pk, {period}, 'active', {now}
        FROM reserved, admission a
        RETURNING id
    )
    SELECT a.billing_unit::text, a.included_sessions::bigint, a.included_minutes::bigint,
        a.max_projects::bigint, a.max_concurrent_sessions::bigint, a.name::text, a.owner_id,
        a.project_pk, a.project_count, a.open_sessions, (SELECT id FROM recorded),
        (SELECT used FROM reserved)::bigint, a.customer_id
    FROM admission a
"""
# The session counts at which alerts are due (`usage_alert_levels`), as a list of expressions: a
# subquery over the percents cost about a tenth of the statement's time on the server (pgbench).
_ALERT_LEVELS_SQL = ", ".join(
    f"(a.included_sessions * {int(percent)} + 99) / 100" for percent in ALERT_PERCENTS
)
_ADMIT_AND_RECORD_SQL = _ADMIT_AND_RECORD.format(
    **{
        name: f"%({name})s"
        for name in (
            "session_id",
            "project_id",
            "stale_before",
            "external_id",
            "now",
            "period",
            "requests",
            "at_alert_levels",
        )
    },
    alert_levels=_ALERT_LEVELS_SQL,
)
# The common start as one statement: the customer's row lock, then the admission statement
# (each statement in a PL/pgSQL function takes a new snapshot, so the admission reads every
# count after the lock, as in the general path), committed as the caller's statement is.
# (Re)made after every `migrate` (usage/apps.py); its plans are kept per connection.
SESSION_START_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION usage_session_start(
    p_session_id text, p_external_id text, p_project_id text, p_stale_before timestamptz,
    p_period date, p_now timestamptz, p_requests integer
) RETURNS TABLE (
    r_billing_unit text, r_included_sessions bigint, r_included_minutes bigint,
    r_max_projects bigint, r_max_concurrent_sessions bigint, r_plan_name text,
    r_owner_id bigint, r_project_pk bigint, r_project_count bigint, r_open_sessions bigint,
    r_session_pk bigint, r_used bigint, r_customer_id bigint
) LANGUAGE plpgsql VOLATILE AS $function$
BEGIN
    PERFORM 1 FROM billing_customer WHERE external_id = p_external_id FOR UPDATE;
    IF NOT FOUND THEN
        -- Unknown, or made by a transaction that has not committed yet: the next statement's
        -- snapshot might see it, unlocked. The general path provisions or waits and locks.
        RETURN;
    END IF;
    RETURN QUERY {admit_and_record};
END
$function$
""".replace(
    "{admit_and_record}",
    _ADMIT_AND_RECORD.format(
        session_id="p_session_id",
        project_id="p_project_id",
        stale_before="p_stale_before",
        external_id="p_external_id",
        now="p_now",
        period="p_period",
        requests="p_requests",
        at_alert_levels="false",
        alert_levels=_ALERT_LEVELS_SQL,
    ).strip(),
)
_UNDEFINED_FUNCTION = "42883"  # PostgreSQL's SQLSTATE
_SESSION_START_CALL_SQL = """
    SELECT * FROM usage_session_start(%(session_id)s, %(external_id)s, %(project_id)s,
        %(stale_before)s, %(period)s, %(now)s, %(requests)s)
"""


def install_session_start_function(connection) -> None:
    """Make (or replace) the `usage_session_start` function on a PostgreSQL database."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(SESSION_START_FUNCTION_SQL)


_INSERT_SESSION_SQL = """
    INSERT INTO usage_session (session_id, customer_id, project_id, period, status, started_at)
    VALUES (%s, %s, %s, %s, 'active', %s)
    RETURNING id
"""


def session_start(
    *,
    session_id: str,
    external_id: str,
    project_id: str = DEFAULT_PROJECT_ID,
    email: str = "",
    now: datetime | None = None,
) -> SessionStart:
    """Admit a session for the customer `external_id`, or raise the limit it breaks.

    An unknown customer is provisioned on the free plan. Each call counts towards the plan's
    requests per minute. Idempotent on `session_id`: a retry returns the session already
    recorded and counts nothing; the id already used by another customer is a Conflict.
    """
    now = now or timezone.now()
    # Counted before the row lock: a slow or frozen cache never holds the customer's lock
    # (and fails open); the plan's limit is compared once the lock has read it.
    requests_this_minute = rate_limit_count(subject=external_id, now=now.timestamp())
    started = None
    if connection.vendor == "postgresql":
        started = _one_statement_start(
            session_id=session_id,
            external_id=external_id,
            project_id=project_id,
            now=now,
            requests_this_minute=requests_this_minute,
        )
    if started is None:
        started = _general_start(
            session_id=session_id,
            external_id=external_id,
            project_id=project_id,
            email=email,
            now=now,
            requests_this_minute=requests_this_minute,
        )
    if started.created:
        logger.info(
            "session started",
            extra={"session_id": session_id, "customer": external_id, "project": project_id},
        )
    return started


def _one_statement_start(
    *,
    session_id: str,
    external_id: str,
    project_id: str,
    now: datetime,
    requests_this_minute: int | None,
) -> SessionStart | None:
    """PostgreSQL: the common start in one statement, or None to leave it to the general path.

    One call of `usage_session_start`: lock the customer's row, admit, count and record, in
    the statement's own transaction (a savepoint inside a caller's). It records only a start
    the general path would record without more: a known customer, within every limit and the
    rate limit, its project and the month's row there, and no usage alert due. Anything else
    (a refusal, a replay, a first start, an alert, a `session_id` inserted meanwhile under
    another customer) changed nothing and goes to the general path, which decides as it
    always has. One round trip instead of four on the hottest path (issue 14).
    """
    params = _admission_params(
        session_id=session_id,
        external_id=external_id,
        project_id=project_id,
        now=now,
        requests=requests_this_minute,
        at_alert_levels=False,  # the function's own: it leaves those starts to the general path
    )
    inside = contextlib.nullcontext() if connection.get_autocommit() else transaction.atomic()
    try:
        with inside:
            row = fetch_one(_SESSION_START_CALL_SQL, params)
    except IntegrityError:
        # The same session_id was inserted concurrently under another customer's lock.
        return None
    except ProgrammingError as error:
        if getattr(error.__cause__, "sqlstate", None) != _UNDEFINED_FUNCTION:
            raise
        # Code deployed before `migrate` made the function: every start still works, slower.
        logger.error(
            "usage_session_start() is missing from the database: run `manage.py migrate`; "
            "session starts take the general path until then"
        )
        return None
    if row is None or row[10] is None:
        return None
    billing_unit, included_sessions, included_minutes = row[:3]
    bills_minutes = billing_unit == BillingUnit.MINUTES
    session, alert_due = _started(
        session_pk=row[10],
        used=row[11],
        session_id=session_id,
        external_id=external_id,
        customer_id=row[12],
        project_pk=row[7],
        project_id=project_id,
        period=params["period"],
        now=now,
        bills_minutes=bills_minutes,
        quota=included_minutes if bills_minutes else included_sessions,
    )
    if alert_due:  # the statement leaves these to the general path; a test pins it
        raise RuntimeError("the admission statement's usage-alert levels differ from Python's")
    return SessionStart(session, created=True)


def _admission_params(
    *,
    session_id: str,
    external_id: str,
    project_id: str,
    now: datetime,
    requests: int | None,
    at_alert_levels: bool,
) -> dict:
    return {
        "session_id": session_id,
        "external_id": external_id,
        "project_id": project_id,
        "stale_before": now - timedelta(seconds=settings.SESSION_STALE_AFTER),
        "period": period_of(now).start,
        "now": now,
        "requests": requests,
        "at_alert_levels": at_alert_levels,
    }


def _general_start(
    *,
    session_id: str,
    external_id: str,
    project_id: str,
    email: str,
    now: datetime,
    requests_this_minute: int | None,
) -> SessionStart:
    """Every start, on any database: lock (or provision) the customer, check, count, record."""
    lock_sql = _LOCK_CUSTOMER_SQL[connection.features.has_select_for_update]
    customer_id = None
    try:
        with transaction.atomic():
            row = fetch_one(lock_sql, [external_id])
            if row is None:
                # Provisioned inside this transaction: a refused first start creates nothing.
                customer_get_or_create(external_id=external_id, email=email)
                row = fetch_one(lock_sql, [external_id])
            customer_id, requests_per_minute = row
            rate_limit_enforce(
                count=requests_this_minute, limit=requests_per_minute, now=now.timestamp()
            )
            session, alert_due = _admit(
                session_id=session_id,
                external_id=external_id,
                customer_id=customer_id,
                project_id=project_id,
                now=now,
            )
            if alert_due and session.pk is not None:
                # Recorded (and queued) in this transaction: counted and told, or neither.
                usage_alert_for(customer_id=customer_id, period=session.period)
    except IntegrityError:
        # The same session_id was inserted concurrently under another customer's lock; this
        # transaction, reservation included, was rolled back.
        if customer_id is None:
            raise
        return SessionStart(_recorded_session(session_id, customer_id), created=False)
    if session.pk is None:
        return SessionStart(_recorded_session(session_id, customer_id), created=False)
    return SessionStart(session, created=True)


def _admit(
    *, session_id: str, external_id: str, customer_id: int, project_id: str, now: datetime
) -> tuple[Session, bool]:
    """Inside a transaction, the customer's row locked: check every limit, count, record.

    Returns the session (unsaved, pk None, when `session_id` was already recorded for this
    customer) and whether this start brought the month's sessions to a usage-alert level.
    """
    stale_before = now - timedelta(seconds=settings.SESSION_STALE_AFTER)
    period = period_of(now).start
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                _ADMIT_AND_RECORD_SQL,
                _admission_params(
                    session_id=session_id,
                    external_id=external_id,
                    project_id=project_id,
                    now=now,
                    requests=None,
                    at_alert_levels=True,
                ),
            )
            *admission, recorded_pk, recorded_used, _ = cursor.fetchone()
        else:
            cursor.execute(
                _ADMISSION_SQL, [session_id, project_id, param_datetime(stale_before), customer_id]
            )
            admission, recorded_pk, recorded_used = cursor.fetchone(), None, None
        (
            billing_unit,
            included_sessions,
            included_minutes,
            max_projects,
            max_concurrent,
            plan_name,
            owner_id,
            project_pk,
            project_count,
            open_sessions,
        ) = admission
        bills_minutes = billing_unit == BillingUnit.MINUTES
        quota = included_minutes if bills_minutes else included_sessions
        if recorded_pk is not None:
            return _started(
                session_pk=recorded_pk,
                used=recorded_used,
                session_id=session_id,
                external_id=external_id,
                customer_id=customer_id,
                project_pk=project_pk,
                project_id=project_id,
                period=period,
                now=now,
                bills_minutes=bills_minutes,
                quota=quota,
            )
        if owner_id is not None:
            if owner_id != customer_id:
                raise Conflict(
                    f"session_id {session_id!r} is already recorded for another customer.",
                    field="session_id",
                )
            return Session(session_id=session_id), False
        if project_pk is None and project_count >= max_projects:
            raise ProjectLimitReached(
                f"The {plan_name} plan allows {max_projects} project(s); this customer already "
                f"has {project_count}. Use an existing project or upgrade the plan.",
                limit=max_projects,
            )
        if open_sessions >= max_concurrent:
            raise ConcurrencyLimitReached(
                f"{open_sessions} sessions are open; the {plan_name} plan allows "
                f"{max_concurrent} at once. End a session or retry later.",
                retry_after=CONCURRENCY_RETRY_AFTER_SECONDS,
                limit=max_concurrent,
            )
        reserve = [
            _RESERVE_MINUTES_SQL if bills_minutes else _RESERVE_SESSION_SQL,
            [param_datetime(now), customer_id, param_date(period), quota],
        ]
        cursor.execute(*reserve)
        reserved = cursor.fetchone()
        if reserved is None:
            # First session of the month: make the row, then try again.
            cursor.execute(_NEW_MONTH_SQL, [customer_id, param_date(period), param_datetime(now)])
            cursor.execute(*reserve)
            reserved = cursor.fetchone()
            if reserved is None:
                unit = "minutes" if bills_minutes else "sessions"
                raise QuotaExceeded(
                    f"The {plan_name} plan's {quota:,} {unit} for {period:%B %Y} are used up. "
                    "Upgrade the plan or wait for next month.",
                    limit=quota,
                    unit=unit,
                )
        if project_pk is None:
            project_pk = Project.objects.create(customer_id=customer_id, project_id=project_id).pk
        cursor.execute(
            _INSERT_SESSION_SQL,
            [session_id, customer_id, project_pk, param_date(period), param_datetime(now)],
        )
        session_pk = cursor.fetchone()[0]
    return _started(
        session_pk=session_pk,
        used=reserved[0],
        session_id=session_id,
        external_id=external_id,
        customer_id=customer_id,
        project_pk=project_pk,
        project_id=project_id,
        period=period,
        now=now,
        bills_minutes=bills_minutes,
        quota=quota,
    )


# In the model's field order: Model.from_db() pairs values with fields in that order.
_SESSION_FIELDS = [
    "id",
    "session_id",
    "customer_id",
    "project_id",
    "period",
    "status",
    "started_at",
    "ended_at",
    "minutes",
]


def _started(
    *,
    session_pk: int,
    used: int,
    session_id: str,
    external_id: str,
    customer_id: int,
    project_pk: int,
    project_id: str,
    period,
    now: datetime,
    bills_minutes: bool,
    quota: int,
) -> tuple[Session, bool]:
    """The recorded session, and whether `used` sessions reach a usage-alert level."""
    # Minute plans reach their alert levels when minutes are recorded, at the session's end.
    alert_due = not bills_minutes and used in usage_alert_levels(quota)
    # Built as a row read from the database is (`_session_of`): on the hottest path, models
    # built from keyword arguments cost a twentieth of the request.
    session = _session_of(
        (
            session_pk,
            session_id,
            customer_id,
            project_pk,
            period,
            SessionStatus.ACTIVE,
            now,
            None,
            None,
            external_id,
            project_id,
        )
    )
    return session, alert_due


def _recorded_session(session_id: str, customer_id: int) -> Session:
    session = _session_read(session_id)
    if session is None:
        raise RuntimeError(f"session {session_id!r} vanished after a unique-key conflict")
    if session.customer_id != customer_id:
        raise Conflict(
            f"session_id {session_id!r} is already recorded for another customer.",
            field="session_id",
        )
    return session


_SESSION_READ_SQL = """
    SELECT s.id, s.session_id, s.customer_id, s.project_id, s.period, s.status, s.started_at,
        s.ended_at, s.minutes, c.external_id, p.project_id
    FROM usage_session s
    JOIN billing_customer c ON c.id = s.customer_id
    JOIN billing_project p ON p.id = s.project_id
    WHERE s.session_id = %s
"""


def _session_read(session_id: str) -> Session | None:
    """The session, with its customer's user_id and its project: what the API shows of it.
    Plain SQL: the ORM's query with `select_related` cost an end two fifths of its CPU."""
    row = fetch_one(_SESSION_READ_SQL, [session_id])
    return None if row is None else _session_of(row)


def _session_of(row) -> Session:
    """A session from the columns of _SESSION_READ_SQL, in its order."""
    (pk, sid, customer_id, project_pk, period, status, started, ended, minutes, *names) = row
    external_id, project_id = names
    session = Session.from_db(
        "default",
        _SESSION_FIELDS,
        [
            pk,
            sid,
            customer_id,
            project_pk,
            _as_date(period),
            status,
            aware(started),
            aware(ended),
            None if minutes is None else decimal(minutes),
        ],
    )
    session.customer = Customer.from_db(
        "default", ["id", "external_id"], [customer_id, external_id]
    )
    session.project = Project.from_db(
        "default", ["id", "customer_id", "project_id"], [project_pk, customer_id, project_id]
    )
    return session


@dataclass(frozen=True)
class SessionEnd:
    session: Session
    changed: bool


# Returns the columns of _SESSION_READ_SQL, in its order: the session as it is now.
_END_SESSION_SQL = """
    UPDATE usage_session SET status = %s, minutes = %s, ended_at = %s
    WHERE session_id = %s AND status = 'active'
    RETURNING id, session_id, customer_id, project_id, period, status, started_at, ended_at,
        minutes,
        (SELECT c.external_id FROM billing_customer c WHERE c.id = usage_session.customer_id),
        (SELECT p.project_id FROM billing_project p WHERE p.id = usage_session.project_id)
"""
_COUNT_END_SQL = """
    UPDATE usage_monthlyusage SET
        successful_sessions = successful_sessions + %s,
        failed_sessions = failed_sessions + %s,
        total_minutes = total_minutes + %s,
        billable_minutes = billable_minutes + %s,
        updated_at = %s
    WHERE customer_id = %s AND period = %s
    RETURNING billable_minutes, (
        SELECT p.included_minutes FROM billing_customer c JOIN billing_plan p ON p.id = c.plan_id
        WHERE c.id = usage_monthlyusage.customer_id AND p.billing_unit = 'minutes'
    )
"""


def session_end(
    *, session_id: str, status: str, minutes: Decimal, now: datetime | None = None
) -> SessionEnd:
    """Record a session's end once; a repeat changes nothing. A failed session frees its unit.

    The UPDATE only matches an active session, so of two simultaneous ends exactly one wins.
    """
    now = now or timezone.now()
    if status not in (SessionStatus.SUCCEEDED, SessionStatus.FAILED):
        raise ValueError(f"status must be succeeded or failed, not {status!r}")
    succeeded = status == SessionStatus.SUCCEEDED
    minutes_param = connection.ops.adapt_decimalfield_value(minutes, 10, 2)
    alert_due = False
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_END_SESSION_SQL, [status, minutes_param, param_datetime(now), session_id])
        ended = cursor.fetchone()
        if ended is not None:
            customer_id, period = ended[2], ended[4]
            cursor.execute(
                _COUNT_END_SQL,
                [
                    int(succeeded),
                    int(not succeeded),
                    minutes_param,
                    minutes_param if succeeded else 0,
                    param_datetime(now),
                    customer_id,
                    period,
                ],
            )
            counted = cursor.fetchone()
            if succeeded and minutes and counted is not None and counted[1] is not None:
                # A minute plan: did these minutes carry the month past an alert level?
                after = decimal(counted[0])
                before = after - minutes
                alert_due = any(before < level <= after for level in usage_alert_levels(counted[1]))
                if alert_due:
                    # Recorded (and queued) in this transaction, with the minutes it counts.
                    usage_alert_for(customer_id=customer_id, period=_as_date(period))
    # A repeat, or an end another request won: the session as that end left it.
    session = _session_of(ended) if ended is not None else _session_read(session_id)
    if session is None:
        raise NotFound(f"No session {session_id!r}.")
    if ended is not None:
        logger.info(
            "session ended",
            extra={"session_id": session_id, "status": status, "minutes": str(minutes)},
        )
    return SessionEnd(session, changed=ended is not None)


def _as_date(value) -> date:
    """A DATE column as the database driver returns it (SQLite: text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def usage_alert_for(*, customer_id: int, period) -> None:
    """Send the usage alert the month's use calls for (once per customer and month). Called
    only when a start or an end has just reached a level, so it may read what it needs."""
    customer = Customer.objects.select_related("plan").get(pk=customer_id)
    usage = MonthlyUsage.objects.filter(customer_id=customer_id, period=period).first()
    if usage is None:
        return
    plan = customer.plan
    used = usage.billable_minutes if plan.bills_minutes else usage.sessions_used
    usage_alerts_send(customer=customer, plan=plan, period=period_of(period), used=used)


@transaction.atomic
def usage_recount(*, customer: Customer, period) -> MonthlyUsage:
    """Rebuild one month's counters from the customer's sessions (repair and demo data).

    Locks the customer so that no start or end of this customer interleaves with the count.
    """
    from django.db.models import Count, Q, Sum

    Customer.objects.select_for_update(of=("self",)).filter(pk=customer.pk).first()
    sessions = Session.objects.filter(customer=customer, period=period)
    totals = sessions.aggregate(
        total=Count("id"),
        succeeded=Count("id", filter=Q(status=SessionStatus.SUCCEEDED)),
        failed=Count("id", filter=Q(status=SessionStatus.FAILED)),
        all_minutes=Sum("minutes", default=Decimal(0)),
        billable=Sum("minutes", filter=~Q(status=SessionStatus.FAILED), default=Decimal(0)),
    )
    usage, _ = MonthlyUsage.objects.update_or_create(
        customer=customer,
        period=period,
        defaults={
            "total_sessions": totals["total"],
            "successful_sessions": totals["succeeded"],
            "failed_sessions": totals["failed"],
            "total_minutes": totals["all_minutes"],
            "billable_minutes": totals["billable"],
        },
    )
    return usage
