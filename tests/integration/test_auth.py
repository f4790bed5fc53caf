"""Client authentication (auth_type trust/plain/md5/scram-sha-256 against
userlist.txt) and server-side login (md5 and SCRAM, with the password from
the [databases] entry, from userlist.txt, or passed through from a secret).

Error codes.  PgBouncer 1.18 reports every login failure as FATAL 08P01
("password authentication failed", "SASL authentication failed",
"no such database: X", '"trust" authentication failed').  pgswitch follows
PostgreSQL: 28P01 "password authentication failed for user ..." and 3D000
for an unknown database.  The expectations below are split on that.
"""

import psycopg
import pytest

from harness import IS_PGBOUNCER, PASSWORDS, default_userlist, md5_secret, raw_login, simple_query

AUTH_TYPES = ["trust", "plain", "md5", "scram-sha-256"]
PASSWORD_AUTH_TYPES = ["plain", "md5", "scram-sha-256"]


def assert_password_failure(status, fields):
    assert status == "error", (status, fields)
    assert fields["S"] == "FATAL", fields
    if IS_PGBOUNCER:
        # PgBouncer 1.18: 08P01, "password authentication failed" (plain, md5)
        # or "SASL authentication failed" (scram-sha-256)
        assert fields["C"] == "08P01", fields
        assert fields["M"] in ("password authentication failed", "SASL authentication failed"), fields
    else:
        assert fields["C"] == "28P01", fields
        # SCRAM: PgBouncer's "SASL authentication failed"
        assert ("password authentication failed" in fields["M"]
                or fields["M"] == "SASL authentication failed"), fields


def assert_unknown_database(status, fields, dbname):
    assert status == "error", (status, fields)
    assert fields["S"] == "FATAL", fields
    if IS_PGBOUNCER:
        # PgBouncer 1.18: FATAL 08P01 "no such database: X"
        assert fields["C"] == "08P01", fields
        assert fields["M"] == "no such database: %s" % dbname, fields
    else:
        assert fields["C"] == "3D000", fields
        assert dbname in fields["M"], fields


@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_right_password_connects(pooler_factory, auth_type):
    p = pooler_factory(auth_type=auth_type)
    with p.connect(user="alice", password=PASSWORDS["alice"]) as c:
        assert c.execute("SELECT current_user, session_user").fetchone() == ("alice", "alice")
    assert raw_login(p.port, "alice", "postgres", PASSWORDS["alice"]) == ("ok", {})


@pytest.mark.parametrize("auth_type", PASSWORD_AUTH_TYPES)
def test_wrong_password_rejected(pooler_factory, auth_type):
    p = pooler_factory(auth_type=auth_type)
    status, fields = raw_login(p.port, "alice", "postgres", "not-the-password")
    assert_password_failure(status, fields)
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="alice", password="not-the-password")
    assert "authentication failed" in str(ei.value)
    if not IS_PGBOUNCER:
        want = "SASL" if auth_type == "scram-sha-256" else "password"
        assert want + " authentication failed" in str(ei.value)
    # the pooler is fine afterwards
    with p.connect(user="alice", password=PASSWORDS["alice"]) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("auth_type", PASSWORD_AUTH_TYPES)
def test_unknown_user_rejected_like_wrong_password(pooler_factory, auth_type):
    p = pooler_factory(auth_type=auth_type)
    status, fields = raw_login(p.port, "nosuchuser", "postgres", "whatever")
    assert_password_failure(status, fields)
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="nosuchuser", password="whatever")
    assert "authentication failed" in str(ei.value)


def test_trust_unknown_user_rejected(pooler_factory):
    """auth_type=trust still requires the user to be in auth_file."""
    p = pooler_factory(auth_type="trust")
    status, fields = raw_login(p.port, "nosuchuser", "postgres", None)
    assert status == "error" and fields["S"] == "FATAL", (status, fields)
    # PgBouncer's answer, which pgswitch gives too.
    assert (fields["S"], fields["C"], fields["M"]) == \
        ("FATAL", "08P01", '"trust" authentication failed'), fields


@pytest.mark.parametrize("auth_type", ["trust", "scram-sha-256"])
def test_unknown_database_rejected(pooler_factory, auth_type):
    p = pooler_factory(auth_type=auth_type)
    status, fields = raw_login(p.port, "alice", "nosuchdb", PASSWORDS["alice"])
    assert_unknown_database(status, fields, "nosuchdb")
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(dbname="nosuchdb", user="alice", password=PASSWORDS["alice"])
    assert "nosuchdb" in str(ei.value)


# ---------------------------------------------------------------------------
# server-side login


@pytest.mark.parametrize("role", ["md5user", "scramuser"])
def test_server_login_password_from_database_entry(pg, pooler_factory, role):
    """[databases] entry with user= and password=: the pooler logs in to
    PostgreSQL (md5 resp. SCRAM in pg_hba) with that password, whatever the
    client's login name."""
    dbs = {
        "forced": "host=127.0.0.1 port=%d dbname=postgres user=%s password=%s" % (pg.port, role, PASSWORDS[role]),
    }
    p = pooler_factory(auth_type="trust", databases=dbs)
    with p.connect(dbname="forced", user="alice") as c:
        assert c.execute("SELECT current_user, current_database()").fetchone() == (role, "postgres")


@pytest.mark.parametrize("client_auth", PASSWORD_AUTH_TYPES)
@pytest.mark.parametrize("role", ["md5user", "scramuser"])
def test_server_login_plain_password_from_userlist(pooler_factory, client_auth, role):
    """userlist.txt holds the plain password: the client authenticates to the
    pooler with it (plain/md5/scram), the pooler uses it for the server's
    md5 resp. SCRAM challenge."""
    p = pooler_factory(auth_type=client_auth)
    with p.connect(user=role, password=PASSWORDS[role]) as c:
        assert c.execute("SELECT current_user").fetchone() == (role,)
    status, fields = raw_login(p.port, role, "postgres", "wrong")
    assert_password_failure(status, fields)


def test_server_login_md5_secret_passthrough(pooler_factory):
    """userlist.txt holds only the md5 secret: md5 client auth is verified
    against it and the same secret answers the server's md5 challenge."""
    secret = md5_secret("md5user", PASSWORDS["md5user"])
    p = pooler_factory(auth_type="md5", users_txt=default_userlist(overrides={"md5user": secret}))
    with p.connect(user="md5user", password=PASSWORDS["md5user"]) as c:
        assert c.execute("SELECT current_user").fetchone() == ("md5user",)
    assert_password_failure(*raw_login(p.port, "md5user", "postgres", "wrong"))


def test_server_login_scram_secret_passthrough(pg, pooler_factory):
    """userlist.txt holds PostgreSQL's SCRAM secret (from pg_authid): the
    client's SCRAM proof gives the pooler the ClientKey, which it uses for
    the server's SCRAM exchange (PgBouncer >= 1.14)."""
    secret = pg.rolpassword("scramuser")
    assert secret.startswith("SCRAM-SHA-256$")
    p = pooler_factory(auth_type="scram-sha-256", users_txt=default_userlist(overrides={"scramuser": secret}))
    with p.connect(user="scramuser", password=PASSWORDS["scramuser"]) as c:
        assert c.execute("SELECT current_user").fetchone() == ("scramuser",)
    # a second client reuses the pooled server, a third logs in afresh
    with p.connect(user="scramuser", password=PASSWORDS["scramuser"]) as c1, \
            p.connect(user="scramuser", password=PASSWORDS["scramuser"]) as c2:
        c1.execute("BEGIN")
        c2.execute("BEGIN")
        assert c1.execute("SELECT current_user").fetchone() == ("scramuser",)
        assert c2.execute("SELECT current_user").fetchone() == ("scramuser",)
        c1.execute("COMMIT")
        c2.execute("COMMIT")
    assert_password_failure(*raw_login(p.port, "scramuser", "postgres", "wrong"))


def test_server_login_failure_reported(pg, pooler_factory):
    """A wrong password in the [databases] entry: the client gets an error
    (not a hang)."""
    dbs = {"badpw": "host=127.0.0.1 port=%d dbname=postgres user=md5user password=wrong" % pg.port}
    p = pooler_factory(auth_type="trust", databases=dbs, extra={"server_login_retry": 1})
    with pytest.raises(psycopg.OperationalError) as ei:
        with p.connect(dbname="badpw", user="alice", connect_timeout=15) as c:
            c.execute("SELECT 1")
    assert "password authentication failed" in str(ei.value) or "server login" in str(ei.value), str(ei.value)


def test_admin_console_requires_auth(pooler_factory):
    p = pooler_factory(auth_type="scram-sha-256")
    with p.admin() as c:
        cols, rows = simple_query(c, "SHOW VERSION")
        assert len(rows) == 1
    status, fields = raw_login(p.port, "admin", "pgbouncer", "wrong")
    assert_password_failure(status, fields)
