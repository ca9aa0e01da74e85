#!/usr/bin/env python3
"""psycopg 3 through gatehouse: what the driver relies on works as against PostgreSQL directly.

Run by `crates/gatehouse/tests/compat_drivers.rs` against a gateway in front of a database holding
`people (id int, email text, card text, note text)` with rows 1..50 (`user<n>@example.com`,
`4111 1111 1111 1111`, `note <n>`). It can also be run by hand, against the gateway or directly
against PostgreSQL (leave COMPAT_CA_FILE unset for a plaintext direct connection):

    COMPAT_HOST=127.0.0.1 COMPAT_PORT=5432 COMPAT_USER=postgres COMPAT_DBNAME=somedb \
        python3 psycopg_compat.py --mode admins

Environment: COMPAT_HOST, COMPAT_PORT, COMPAT_DBNAME, COMPAT_USER, COMPAT_PASSWORD (the
gatehouse token), COMPAT_CA_FILE (verify the server's certificate with it: TLS required),
COMPAT_MODE (`admins` or `readers`; `--mode` wins), and in readers mode COMPAT_ADMIN_USER and
COMPAT_ADMIN_PASSWORD (an admins identity, to compare what it sees and to send notifications).

`admins` sees values as stored and may do anything; `readers` must read the same rows through
every path with the sensitive columns masked, and what it may not do is refused with
gatehouse's 42501 while the session goes on.

Prints one line per check and exits 1 when any check failed. Needs `psycopg[binary]` whose
bundled libpq is 17 or later (see .ci/run for the pinned version).
"""

import argparse
import os
import sys
import threading
import time
import traceback

import psycopg
from psycopg import errors, pq

ROWS = 50
CARD = "4111 1111 1111 1111"
MASKED_CARD = "**** **** **** 1111"


def raw_row(n):
    return (n, f"user{n}@example.com", CARD, f"note {n}")


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def expect_error(sqlstate, function, what):
    """Run `function`; it must raise a psycopg error with `sqlstate`. Returns the error."""
    try:
        function()
    except psycopg.Error as error:
        if error.sqlstate != sqlstate:
            raise CheckFailed(
                f"{what}: expected SQLSTATE {sqlstate}, got {error.sqlstate}: {error}"
            ) from error
        return error
    raise CheckFailed(f"{what}: expected SQLSTATE {sqlstate}, but it succeeded")


class Suite:
    def __init__(self, mode):
        self.mode = mode
        self.host = os.environ.get("COMPAT_HOST", "127.0.0.1")
        self.port = os.environ.get("COMPAT_PORT", "5432")
        self.dbname = os.environ.get("COMPAT_DBNAME", "demo")
        self.user = os.environ.get("COMPAT_USER", "postgres")
        self.password = os.environ.get("COMPAT_PASSWORD")
        self.ca_file = os.environ.get("COMPAT_CA_FILE") or None
        self.admin_user = os.environ.get("COMPAT_ADMIN_USER")
        self.admin_password = os.environ.get("COMPAT_ADMIN_PASSWORD")
        # What this identity reads for `people`, through the plainest path (set by `reads`).
        self.reference = None
        self.passed = 0
        self.failed = []

    # -- connections ---------------------------------------------------------------------------

    def params(self, user, password, **extra):
        params = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": user,
            "connect_timeout": 10,
            "application_name": "psycopg_compat",
        }
        if password:
            params["password"] = password
        if self.ca_file:
            params["sslmode"] = "verify-full"
            params["sslrootcert"] = self.ca_file
        else:
            params["sslmode"] = "disable"
        params.update(extra)
        return params

    def connect(self, autocommit=True, **extra):
        return psycopg.connect(
            autocommit=autocommit, **self.params(self.user, self.password, **extra)
        )

    def connect_admin(self, **extra):
        """An admins session next to a readers one (None when not given one)."""
        if not self.admin_user:
            return None
        return psycopg.connect(
            autocommit=True, **self.params(self.admin_user, self.admin_password, **extra)
        )

    @property
    def readers(self):
        return self.mode == "readers"

    # -- running -------------------------------------------------------------------------------

    def run(self, name, check):
        try:
            detail = check()
        except Exception as error:  # every failure is reported, then the next check runs
            reason = f"{type(error).__name__}: {error}"
            self.failed.append(f"{name}: {reason}")
            print(f"FAIL {name}: {reason}", flush=True)
            traceback.print_exc(file=sys.stderr)
            return
        self.passed += 1
        print(f"ok   {name}{': ' + detail if detail else ''}", flush=True)

    def expected_row(self, n):
        """The row `n` this identity must see (from `reads`, checked there)."""
        expect(self.reference is not None, "the `reads` check did not produce the reference rows")
        return self.reference[n - 1]

    def expect_refused(self, conn, sql, what):
        """A readers refusal: gatehouse's 42501, and the session goes on."""
        error = expect_error("42501", lambda: conn.execute(sql), what)
        expect(
            isinstance(error, errors.InsufficientPrivilege),
            f"{what}: psycopg maps 42501 to InsufficientPrivilege, got {type(error).__name__}",
        )
        expect("gatehouse" in str(error), f"{what}: not gatehouse's refusal: {error}")
        expect_eq(conn.execute("SELECT 1").fetchone(), (1,), f"{what}: the session after it")
        return error

    # -- checks --------------------------------------------------------------------------------

    def check_connect(self):
        version = pq.version()
        expect(
            version >= 170000,
            f"psycopg's libpq is {pq.version()}: the suite needs libpq >= 17 (cancel over TLS)",
        )
        # What the checks below rely on to exercise libpq >= 17's paths.
        expect(psycopg.capabilities.has_send_close_prepared(), "no protocol Close (libpq < 17)")
        expect(psycopg.capabilities.has_cancel_safe(), "no PQcancelCreate (libpq < 17)")
        with self.connect() as conn:
            if self.ca_file:
                expect(conn.pgconn.ssl_in_use, "the session is not encrypted")
            server = conn.info.server_version
            expect_eq(conn.execute("SELECT 41 + 1").fetchone(), (42,), "SELECT 41 + 1")
        return (
            f"psycopg {psycopg.__version__} ({pq.__impl__}), libpq {version}, server {server}, "
            f"tls={'yes' if self.ca_file else 'no'}"
        )

    def check_reads(self):
        query = "SELECT id, email, card, note FROM people ORDER BY id"
        with self.connect() as conn:
            rows = conn.execute(query).fetchall()
        expect_eq(len(rows), ROWS, "rows of people")
        for row in rows:
            raw = raw_row(row[0])
            expect_eq((row[0], row[3]), (raw[0], raw[3]), f"unmasked columns of row {row[0]}")
            if self.readers:
                expect(
                    row[1].startswith("email:") and row[1] != raw[1],
                    f"row {row[0]}: the email is not masked for readers: {row[1]!r}",
                )
                expect_eq(row[2], MASKED_CARD, f"row {row[0]}: the card for readers")
            else:
                expect_eq(row, raw, f"row {row[0]} for admins")
        if self.readers:
            expect(
                len({row[1] for row in rows}) == ROWS,
                "distinct emails must stay distinct once masked (a hash)",
            )
        self.reference = rows
        detail = f"{len(rows)} rows, email of 1 = {rows[0][1]!r}, card = {rows[0][2]!r}"
        admin = self.connect_admin()
        if admin is not None:
            with admin:
                seen = admin.execute(query).fetchall()
            expect_eq(seen, [raw_row(n) for n in range(1, ROWS + 1)], "what admins read")
            for mine, theirs in zip(rows, seen):
                expect_eq((mine[0], mine[3]), (theirs[0], theirs[3]), "readers vs admins")
                expect(mine[1] != theirs[1], f"row {mine[0]}: readers see the admins' email")
            detail += "; admins read the same rows unmasked"
        return detail

    def check_binary_and_parameters(self):
        with self.connect() as conn:
            with conn.cursor(binary=True) as cur:
                rows = cur.execute(
                    "SELECT id, email, card, note FROM people WHERE id <= %s ORDER BY id", [10]
                ).fetchall()
            expect_eq(rows, [self.expected_row(n) for n in range(1, 11)], "binary rows")
            row = conn.execute(
                "SELECT id, email, card, note FROM people WHERE id = %s", [7]
            ).fetchone()
            expect_eq(row, self.expected_row(7), "text row with a parameter")
        return "binary format and bound parameters read the same rows"

    def check_named_cursor(self):
        with self.connect(autocommit=False) as conn:
            with conn.cursor("compat_named") as cur:
                cur.itersize = 7
                cur.execute("SELECT id, email, card, note FROM people ORDER BY id")
                first = cur.fetchmany(3)
                rest = list(cur)
            expect_eq(first + rest, self.reference, "rows through a named cursor")
            # The cursor is the server's: it shows in pg_cursors while it is open.
            with conn.cursor("compat_named_2") as cur:
                cur.execute("SELECT id FROM people ORDER BY id")
                cur.fetchone()
                open_cursors = conn.execute(
                    "SELECT name FROM pg_cursors WHERE name = 'compat_named_2'"
                ).fetchall()
                expect_eq(open_cursors, [("compat_named_2",)], "the server's cursor")
            conn.commit()
            # Binary results: psycopg fetches with FETCH through the extended protocol.
            with conn.cursor("compat_named_binary", binary=True) as cur:
                cur.itersize = 9
                cur.execute(
                    "SELECT id, email, card, note FROM people WHERE id > %s ORDER BY id", [20]
                )
                rows = list(cur)
            expect_eq(rows, self.reference[20:], "rows through a binary named cursor")
            conn.commit()
        return f"{len(first) + len(rest)} rows, fetched 7 at a time; binary, with a parameter"

    def check_scrollable_cursor(self):
        with self.connect(autocommit=False) as conn:
            with conn.cursor("compat_scroll", scrollable=True) as cur:
                cur.execute("SELECT id, email, card, note FROM people ORDER BY id")
                cur.scroll(10, mode="absolute")
                expect_eq(cur.fetchone(), self.expected_row(11), "after scroll(10, absolute)")
                cur.scroll(-5)
                expect_eq(cur.fetchone(), self.expected_row(7), "after scroll(-5)")
                cur.scroll(0, mode="absolute")
                expect_eq(cur.fetchmany(2), self.reference[:2], "after scroll(0, absolute)")
                cur.scroll(ROWS - 3, mode="absolute")
                expect_eq(cur.fetchall(), self.reference[ROWS - 3 :], "the last rows")
            conn.commit()
        return "scroll absolute/relative, forwards and backwards"

    def check_with_hold_cursor(self):
        with self.connect(autocommit=False) as conn:
            cur = conn.cursor("compat_hold", withhold=True)
            cur.execute("SELECT id, email, card, note FROM people ORDER BY id")
            before = cur.fetchmany(5)
            conn.commit()
            expect_eq(
                conn.info.transaction_status, pq.TransactionStatus.IDLE, "status after commit"
            )
            after = cur.fetchmany(5)
            expect_eq(before + after, self.reference[:10], "rows before and after the commit")
            cur.close()
            conn.commit()
            left = conn.execute("SELECT count(*) FROM pg_cursors").fetchone()
            expect_eq(left, (0,), "cursors left after close")
            conn.commit()
        # In autocommit the cursor outlives the DECLARE's own transaction.
        with self.connect() as conn:
            with conn.cursor("compat_hold_auto", withhold=True) as cur:
                cur.execute("SELECT id, email, card, note FROM people ORDER BY id")
                cur.scroll(45, mode="absolute")
                expect_eq(cur.fetchall(), self.reference[45:], "WITH HOLD cursor in autocommit")
        return "fetched across a commit, closed; in autocommit too"

    def protocol_statements(self, conn):
        # Not itself prepared (prepare=False): psycopg would otherwise prepare it too.
        return conn.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql", prepare=False
        ).fetchone()[0]

    def run_distinct_queries(self, conn, rounds=3):
        for _ in range(rounds):
            for k in range(5):
                n = k + 1
                row = conn.execute(
                    f"SELECT id, email, card, note, {k} AS k FROM people WHERE id = %s", [n]
                ).fetchone()
                expect_eq(row, (*self.expected_row(n), k), f"prepared query {k}")

    def check_prepared_statements(self):
        with self.connect() as conn:
            conn.prepare_threshold = 0
            conn.prepared_max = 2
            self.run_distinct_queries(conn)
            # psycopg evicts the oldest statement past prepared_max: with libpq >= 17 by a
            # protocol Close, older libpq by `DEALLOCATE name`.
            expect_eq(self.protocol_statements(conn), 2, "statements left prepared on the server")
            # A ROLLBACK makes psycopg send `DEALLOCATE ALL` and prepare again afterwards.
            conn.execute("BEGIN")
            conn.execute("SELECT id FROM people WHERE id = %s", [1])
            conn.execute("ROLLBACK")
            expect_eq(self.protocol_statements(conn), 0, "statements left after DEALLOCATE ALL")
            self.run_distinct_queries(conn, rounds=1)
            expect_eq(self.protocol_statements(conn), 2, "statements prepared again")
        return (
            "prepare_threshold=0, prepared_max=2: 5 queries x 3, evicted by Close; "
            "DEALLOCATE ALL"
        )

    def check_deallocate(self):
        # psycopg deallocates with SQL `DEALLOCATE name` when its libpq is older than 17; make
        # it take that path (a private switch of psycopg's, read at each eviction).
        import psycopg._connection_base as base

        expect(hasattr(base, "_HAS_SEND_CLOSE"), "psycopg moved its libpq < 17 switch")
        saved = base._HAS_SEND_CLOSE
        base._HAS_SEND_CLOSE = False
        try:
            with self.connect() as conn:
                conn.prepare_threshold = 0
                conn.prepared_max = 2
                self.run_distinct_queries(conn)
                expect_eq(self.protocol_statements(conn), 2, "statements left after DEALLOCATE")
        finally:
            base._HAS_SEND_CLOSE = saved

        with self.connect() as conn:
            # A statement prepared through the protocol, deallocated by SQL.
            result = conn.pgconn.prepare(b"compat_stmt", b"SELECT email FROM people WHERE id = 1")
            expect_eq(result.status, pq.ExecStatus.COMMAND_OK, "Parse of compat_stmt")
            result = conn.pgconn.exec_prepared(b"compat_stmt", [])
            expect_eq(result.status, pq.ExecStatus.TUPLES_OK, "Execute of compat_stmt")
            cur = conn.execute("DEALLOCATE compat_stmt")
            expect_eq(cur.statusmessage, "DEALLOCATE", "DEALLOCATE's command tag")
            result = conn.pgconn.exec_prepared(b"compat_stmt", [])
            expect_eq(
                result.error_field(pq.DiagnosticField.SQLSTATE),
                b"26000",
                "using compat_stmt after DEALLOCATE",
            )
            expect_error("26000", lambda: conn.execute("DEALLOCATE nosuch"), "DEALLOCATE nosuch")
            # SQL-level PREPARE / EXECUTE / DEALLOCATE.
            conn.execute(
                "PREPARE compat_sql (int) AS"
                " SELECT id, email, card, note FROM people WHERE id = $1"
            )
            row = conn.execute("EXECUTE compat_sql (3)").fetchone()
            expect_eq(row, self.expected_row(3), "EXECUTE compat_sql (3)")
            cur = conn.execute("DEALLOCATE compat_sql")
            expect_eq(cur.statusmessage, "DEALLOCATE", "DEALLOCATE compat_sql")
            expect_eq(conn.execute("SELECT 1").fetchone(), (1,), "the session after it")
        return "psycopg's DEALLOCATE eviction, DEALLOCATE of a protocol statement, PREPARE/EXECUTE"

    def check_pipeline(self):
        with self.connect() as conn:
            conn.prepare_threshold = 0
            for _ in range(2):
                with conn.pipeline():
                    cursors = [
                        conn.execute(
                            "SELECT id, email, card, note FROM people WHERE id = %s", [n]
                        )
                        for n in (1, 2, 3)
                    ]
                    counted = conn.execute("SELECT count(*) FROM people WHERE id > %s", [40])
                rows = [cur.fetchone() for cur in cursors]
                expect_eq(rows, self.reference[:3], "rows read in a pipeline")
                expect_eq(counted.fetchone(), (10,), "count read in a pipeline")
            with conn.transaction(), conn.pipeline():
                cur = conn.execute("SELECT note FROM people WHERE id = %s", [9])
            expect_eq(cur.fetchone(), ("note 9",), "a pipeline in a transaction")
        return "4 queries per Sync, twice (prepared the second time), and in a transaction"

    def check_backend_pid(self):
        with self.connect() as conn:
            pid = conn.info.backend_pid
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            expect_eq(row, (pid,), "pg_backend_pid()")
            seen = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
            expect_eq(seen, (1,), "the pid in pg_stat_activity")
        return f"backend_pid {pid} is the server's"

    def check_notify(self):
        payload = "contact user1@example.com"
        with self.connect() as conn:
            pid = conn.info.backend_pid
            conn.execute("LISTEN compat")
            if not self.readers:
                conn.execute("NOTIFY compat, 'contact user1@example.com'")
                got = list(conn.notifies(timeout=10, stop_after=1))
                expect_eq(len(got), 1, "notifications received")
                expect_eq(got[0].pid, pid, "the notification's pid (our own backend_pid)")
                expect_eq((got[0].channel, got[0].payload), ("compat", payload), "the notification")
                return f"own notification with pid {pid}"
            self.expect_refused(conn, "NOTIFY compat, 'from a reader'", "NOTIFY by readers")
            admin = self.connect_admin()
            if admin is None:
                return "LISTEN works, NOTIFY refused (no admins identity given to notify)"
            with admin:
                sender = admin.info.backend_pid
                admin.execute("NOTIFY compat, 'contact user1@example.com'")
            got = list(conn.notifies(timeout=10, stop_after=1))
            expect_eq(len(got), 1, "notifications received")
            expect_eq(got[0].pid, sender, "the notification's pid (the sender's backend_pid)")
            expect_eq(got[0].channel, "compat", "the channel")
            expect(
                "user1@example.com" not in got[0].payload and "email:" in got[0].payload,
                f"the payload is not masked for readers: {got[0].payload!r}",
            )
            return f"NOTIFY refused; an admin's notification arrives with pid {sender}, masked"

    def check_terminate_own_backend(self):
        conn = self.connect()
        try:
            pid = conn.info.backend_pid
            sql = f"SELECT pg_terminate_backend({pid})"
            if self.readers:
                self.expect_refused(conn, sql, "pg_terminate_backend by readers")
                expect_eq(conn.info.backend_pid, pid, "the same session")
                return "refused with 42501, the session goes on"
            try:
                conn.execute(sql)
            except errors.AdminShutdown as error:
                expect_eq(error.sqlstate, "57P01", "SQLSTATE")
                expect(conn.closed or conn.broken, "the session is over")
                return f"AdminShutdown: {str(error).strip()}"
            except psycopg.Error as error:
                raise CheckFailed(
                    f"expected AdminShutdown (57P01), got {type(error).__name__} "
                    f"({error.sqlstate}): {error}"
                ) from error
            raise CheckFailed("pg_terminate_backend of our own pid returned normally")
        finally:
            conn.close()

    def cancel_sleep(self, cancel_with):
        with self.connect() as conn, self.connect() as watcher:
            if self.ca_file:
                expect(conn.pgconn.ssl_in_use, "the session is not encrypted")
            pid = conn.info.backend_pid
            outcome = {}

            def sleeper():
                try:
                    conn.execute("SELECT pg_sleep(10)")
                    outcome["result"] = "returned"
                except Exception as error:  # reported below
                    outcome["result"] = error
                outcome["finished"] = time.monotonic()

            thread = threading.Thread(target=sleeper)
            thread.start()
            # Cancel only once the server runs the sleep (a cancel before it is a no-op).
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                running = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE pid = %s AND state = 'active' AND query LIKE %s",
                    [pid, "%pg_sleep(10)%"],
                ).fetchone()
                if running == (1,):
                    break
                time.sleep(0.05)
            else:
                raise CheckFailed("pg_sleep(10) did not start within 10 s")
            cancelled = time.monotonic()
            cancel_with(conn)
            thread.join(15)
            expect(not thread.is_alive(), "pg_sleep(10) still running 15 s after the cancel")
            result = outcome["result"]
            expect(
                isinstance(result, errors.QueryCanceled),
                f"expected QueryCanceled, got {result!r}",
            )
            took = outcome["finished"] - cancelled
            expect(took < 5, f"cancelled only {took:.1f} s after the cancel request")
            expect_eq(conn.execute("SELECT 1").fetchone(), (1,), "the session after the cancel")
            return f"QueryCanceled {took:.2f} s after the cancel request"

    def check_cancel_safe(self):
        # libpq >= 17's PQcancelCreate: the cancel request goes over TLS like the session.
        return self.cancel_sleep(lambda conn: conn.cancel_safe(timeout=5))

    def check_cancel_legacy(self):
        # PQcancel: the cancel request in plaintext, as libpq always sent it.
        return self.cancel_sleep(lambda conn: conn.cancel())

    def check_latin9(self):
        word = "café €"
        with self.connect(client_encoding="LATIN9") as conn:
            expect_eq(conn.info.encoding, "iso8859-15", "psycopg's codec")
            expect_eq(conn.execute("SHOW client_encoding").fetchone(), ("LATIN9",), "setting")
            cur = conn.execute(
                'SELECT \'café €\' AS word, %s::text AS "€ param"', ["naïve œ €"]
            )
            expect_eq(cur.fetchone(), (word, "naïve œ €"), "non-ASCII text in LATIN9")
            expect_eq(
                [column.name for column in cur.description],
                ["word", "€ param"],
                "a non-ASCII column name in LATIN9",
            )
            row = conn.execute(
                "SELECT id, email, card, note FROM people WHERE id = %s", [2]
            ).fetchone()
            expect_eq(row, self.expected_row(2), "a people row in LATIN9")
            # Switching back to UTF-8 is followed.
            conn.execute("SET client_encoding TO 'UTF8'")
            expect_eq(conn.info.encoding, "utf-8", "psycopg's codec after SET")
            row = conn.execute("SELECT 'café €', %s::text", ["日本"]).fetchone()
            expect_eq(row, (word, "日本"), "text after switching to UTF8")
        return "round trip of 'café €' (and a column named '€ param') in LATIN9, then UTF8"

    def check_syntax_error(self):
        with self.connect() as conn:
            error = expect_error(
                "42601",
                lambda: conn.execute("SELECT 1 FROM FROM people"),
                "text that does not parse",
            )
            expect(
                isinstance(error, errors.SyntaxError), f"SyntaxError, got {type(error).__name__}"
            )
            expect_eq(error.diag.statement_position, "15", "the error's position")
            expect_eq(conn.execute("SELECT 2").fetchone(), (2,), "the session after it")
        return "42601 at position 15, session goes on"

    def check_writes(self):
        insert = "INSERT INTO people VALUES (99, 'x@example.com', '', 'x')"
        with self.connect(autocommit=False) as conn:
            if self.readers:
                conn.execute("SELECT 1")
                refused = expect_error(
                    "42501", lambda: conn.execute(insert), "INSERT by readers"
                )
                expect("gatehouse" in str(refused), f"not gatehouse's refusal: {refused}")
                # Inside a transaction the refusal fails it, like any error would.
                expect_error("25P02", lambda: conn.execute("SELECT 1"), "the failed transaction")
                conn.rollback()
                expect_eq(conn.execute("SELECT count(*) FROM people").fetchone(), (ROWS,), "rows")
                conn.commit()
                conn.autocommit = True
                self.expect_refused(conn, insert, "INSERT by readers (autocommit)")
                self.expect_refused(conn, "DELETE FROM people", "DELETE by readers")
                self.expect_refused(
                    conn, "CREATE TABLE compat_t (a int)", "CREATE TABLE by readers"
                )
                return "INSERT, DELETE, CREATE refused with 42501; transaction and session go on"
            conn.execute(insert)
            expect_eq(conn.execute("SELECT count(*) FROM people").fetchone(), (ROWS + 1,), "rows")
            conn.rollback()
            expect_eq(conn.execute("SELECT count(*) FROM people").fetchone(), (ROWS,), "rows")
            conn.commit()
        return "INSERT in a transaction, rolled back"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode", choices=["admins", "readers"], default=os.environ.get("COMPAT_MODE", "admins")
    )
    args = parser.parse_args()
    suite = Suite(args.mode)
    print(f"psycopg compat, mode {args.mode}, {suite.host}:{suite.port}/{suite.dbname}", flush=True)
    suite.run("connect", suite.check_connect)
    suite.run("reads", suite.check_reads)
    if suite.reference is None:
        print("FAIL: no reference rows, the remaining checks cannot run", flush=True)
        return 1
    for name, check in [
        ("binary format and parameters", suite.check_binary_and_parameters),
        ("named cursor with itersize", suite.check_named_cursor),
        ("scrollable cursor", suite.check_scrollable_cursor),
        ("WITH HOLD cursor after commit", suite.check_with_hold_cursor),
        ("prepared statements and eviction", suite.check_prepared_statements),
        ("DEALLOCATE", suite.check_deallocate),
        ("pipeline mode", suite.check_pipeline),
        ("backend_pid", suite.check_backend_pid),
        ("LISTEN/NOTIFY pid", suite.check_notify),
        ("pg_terminate_backend of own pid", suite.check_terminate_own_backend),
        ("cancel_safe over TLS", suite.check_cancel_safe),
        ("legacy cancel", suite.check_cancel_legacy),
        ("LATIN9 client encoding", suite.check_latin9),
        ("syntax error", suite.check_syntax_error),
        ("writes", suite.check_writes),
    ]:
        suite.run(name, check)
    print(f"psycopg compat ({args.mode}): {suite.passed} checks passed, {len(suite.failed)} failed")
    for failure in suite.failed:
        print(f"  failed: {failure}")
    return 1 if suite.failed else 0


if __name__ == "__main__":
    sys.exit(main())
