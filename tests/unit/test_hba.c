/* SPDX-License-Identifier: MIT */
/*
 * test_hba.c - auth_hba_file and auth_ident_file: every record type,
 * field, keyword and method, first match wins, CIDR edges, @files,
 * quoting, each malformed-line diagnostic with its line, ident maps with
 * and without regular expressions, and the hard limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cmocka.h>

#include "auth/hba.h"

/* ---- helpers ---- */

static hba_t *parse_id(const char *text, const hba_ident_t *id, hba_diags_t *d)
{
	hba_t *h = hba_parse(text, strlen(text), "t.conf", id, NULL, d);

	assert_non_null(h);
	return h;
}

static hba_t *parse(const char *text, hba_diags_t *d)
{
	return parse_id(text, NULL, d);
}

/* A connection from ADDR ("unix", an IPv4 or an IPv6 address). */
static hba_conn_t conn(const char *addr, const char *db, const char *user)
{
	hba_conn_t c = {0};

	c.database = db;
	c.user = user;
	if (strcmp(addr, "unix") == 0) {
		c.is_unix = true;
	} else if (inet_pton(AF_INET6, addr, c.addr) == 1) {
		c.family = AF_INET6;
	} else {
		assert_int_equal(inet_pton(AF_INET, addr, c.addr), 1);
		c.family = AF_INET;
	}
	return c;
}

/* Line of the rule C matches (0: none), with its method in *M. */
static int line_of(const hba_t *h, const hba_conn_t *c, hba_method_t *m)
{
	const hba_rule_t *r = (const hba_rule_t *)1;
	hba_method_t got = hba_match(h, c, &r);

	if (m != NULL)
		*m = got;
	if (r == NULL) {
		assert_int_equal(got, HBA_REJECT);
		return 0;
	}
	assert_int_equal(got, r->method);
	return r->line;
}

static void expect(const hba_t *h, hba_conn_t c, hba_method_t want,
		   int want_line)
{
	hba_method_t m;

	assert_int_equal(line_of(h, &c, &m), want_line);
	assert_string_equal(hba_method_name(m), hba_method_name(want));
}

static void expect_tls(const hba_t *h, hba_conn_t c, hba_method_t want,
		       int want_line)
{
	c.is_tls = true;
	expect(h, c, want, want_line);
}

static void expect_repl(const hba_t *h, hba_conn_t c, hba_method_t want,
			int want_line)
{
	c.is_replication = true;
	expect(h, c, want, want_line);
}

/* Diagnostic I is SEV at LINE of FILE and its message contains SUB. */
static void expect_diag(const hba_diags_t *d, int i, hba_sev_t sev,
			const char *file, int line, const char *sub)
{
	assert_true(i < d->count);
	if (strstr(d->items[i].msg, sub) == NULL)
		fail_msg("diag %d \"%s\" lacks \"%s\"", i, d->items[i].msg,
			 sub);
	assert_int_equal(d->items[i].sev, sev);
	assert_int_equal(d->items[i].line, line);
	assert_string_equal(d->items[i].file, file);
}

/* Parse TEXT, which must be one rule line 1 rejected with SUB. */
static void expect_bad(const char *text, const char *sub)
{
	hba_diags_t d = {0};
	hba_t *h = parse(text, &d);

	if (d.errors != 1 || hba_rule_count(h) != 0)
		fail_msg("\"%s\": %d errors, %zu rules", text, d.errors,
			 hba_rule_count(h));
	expect_diag(&d, 0, HBA_SEV_ERROR, "t.conf", 1, sub);
	hba_free(h);
	hba_diags_free(&d);
}

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
}

static char *path_in(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgswitch_hba_XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return mkdir(path_in("sub"), 0700);
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(hba_method_name(HBA_REJECT), "reject");
	assert_string_equal(hba_method_name(HBA_TRUST), "trust");
	assert_string_equal(hba_method_name(HBA_MD5), "md5");
	assert_string_equal(hba_method_name(HBA_PASSWORD), "password");
	assert_string_equal(hba_method_name(HBA_SCRAM_SHA_256),
			    "scram-sha-256");
	assert_string_equal(hba_method_name(HBA_CERT), "cert");
	assert_string_equal(hba_method_name(HBA_PEER), "peer");
	assert_string_equal(hba_method_name(HBA_LDAP), "ldap");
	assert_string_equal(hba_method_name((hba_method_t)99), "unknown");
	assert_string_equal(hba_type_name(HBA_LOCAL), "local");
	assert_string_equal(hba_type_name(HBA_HOST), "host");
	assert_string_equal(hba_type_name(HBA_HOSTSSL), "hostssl");
	assert_string_equal(hba_type_name(HBA_HOSTNOSSL), "hostnossl");
	assert_string_equal(hba_type_name((hba_type_t)99), "unknown");
	assert_string_equal(hba_sev_name(HBA_SEV_WARNING), "warning");
	assert_string_equal(hba_sev_name(HBA_SEV_ERROR), "error");
}

static void test_types(void **state)
{
	static const char text[] = "local   all all              peer\n"
				   "hostssl all all 10.9.0.0/16  cert\n"
				   "hostnossl all all 10.9.0.0/16 md5\n"
				   "host    all all 10.0.0.0/8   password\n";
	hba_diags_t d = {0};
	hba_t *h = parse(text, &d);
	const hba_rule_t *r;
	hba_conn_t c;
	(void)state;

	assert_int_equal(d.errors + d.warnings, 0);
	assert_int_equal(hba_rule_count(h), 4);
	expect(h, conn("unix", "d", "u"), HBA_PEER, 1);
	/* TLS or not on a Unix socket: only local rules apply. */
	expect_tls(h, conn("unix", "d", "u"), HBA_PEER, 1);
	expect_tls(h, conn("10.9.1.1", "d", "u"), HBA_CERT, 2);
	expect(h, conn("10.9.1.1", "d", "u"), HBA_MD5, 3);
	/* host takes both. */
	expect_tls(h, conn("10.1.1.1", "d", "u"), HBA_PASSWORD, 4);
	expect(h, conn("10.1.1.1", "d", "u"), HBA_PASSWORD, 4);
	/* No rule: reject, and no rule to blame. */
	expect(h, conn("11.1.1.1", "d", "u"), HBA_REJECT, 0);

	c = conn("10.9.1.1", "d", "u");
	c.is_tls = true;
	assert_int_equal(hba_match(h, &c, &r), HBA_CERT);
	assert_non_null(r);
	assert_string_equal(r->file, "t.conf");
	assert_int_equal(r->type, HBA_HOSTSSL);
	assert_int_equal(r->addr_kind, HBA_ADDR_IPV4);
	assert_null(r->map);
	assert_int_equal(hba_match(h, &c, NULL), HBA_CERT);
	assert_int_equal(hba_match(NULL, &c, &r), HBA_REJECT);
	assert_null(r);
	hba_free(h);
}

static void test_methods(void **state)
{
	static const char text[] =
		"host all u1 all trust\n"
		"host all u2 all reject\n"
		"host all u3 all md5\n"
		"host all u4 all password\n"
		"host all u5 all scram-sha-256\n"
		"host all u6 all cert\n"
		"local all u7 peer\n"
		"host all u8 all ldap ldapserver=dir.example "
		"ldapprefix=\"cn=\" ldapsuffix=\",dc=x # y\"  # comment\n"
		"host all u9 all ldap\n";
	static const hba_method_t want[] = {
		HBA_TRUST,	   HBA_REJECT, HBA_MD5,	 HBA_PASSWORD,
		HBA_SCRAM_SHA_256, HBA_CERT,   HBA_PEER, HBA_LDAP};
	hba_t *h = parse(text, NULL);
	const hba_rule_t *r;
	hba_conn_t c;
	char user[8];
	int i;
	(void)state;

	assert_int_equal(hba_rule_count(h), 9);
	for (i = 0; i < 8; i++) {
		snprintf(user, sizeof(user), "u%d", i + 1);
		expect(h, conn(i == 6 ? "unix" : "192.0.2.1", "db", user),
		       want[i], i + 1);
	}
	c = conn("192.0.2.1", "db", "u8");
	assert_int_equal(hba_match(h, &c, &r), HBA_LDAP);
	assert_string_equal(r->ldap_options,
			    "ldapserver=dir.example ldapprefix=\"cn=\" "
			    "ldapsuffix=\",dc=x # y\"");
	c.user = "u9";
	assert_int_equal(hba_match(h, &c, &r), HBA_LDAP);
	assert_null(r->ldap_options);
	hba_free(h);
}

static void test_bad_methods(void **state)
{
	(void)state;
	expect_bad("host all all all ident\n", "method ident is not supported");
	expect_bad("host all all all pam\n", "method pam is not supported");
	expect_bad("host all all all gss\n", "method gss is not supported");
	expect_bad("host all all all sspi\n", "not supported");
	expect_bad("host all all all radius\n", "not supported");
	expect_bad("host all all all md6\n", "unknown authentication method");
	expect_bad("host all all all MD5\n", "unknown authentication method");
	expect_bad("host all all all \"md5\"\n",
		   "authentication method must not be quoted");
	expect_bad("host all all all\n", "missing authentication method");
	expect_bad("local all all 127.0.0.1/32 trust\n",
		   "unknown authentication method \"127.0.0.1/32\"");
}

static void test_first_match_wins(void **state)
{
	static const char text[] = "host all alice 192.0.2.0/24 reject\n"
				   "host all all 192.0.2.0/24 md5\n"
				   "host all alice 192.0.2.7/32 trust\n"
				   "host all all 0.0.0.0/0 scram-sha-256\n";
	hba_t *h = parse(text, NULL);
	(void)state;

	expect(h, conn("192.0.2.7", "db", "alice"), HBA_REJECT, 1);
	expect(h, conn("192.0.2.7", "db", "bob"), HBA_MD5, 2);
	expect(h, conn("198.51.100.1", "db", "alice"), HBA_SCRAM_SHA_256, 4);
	hba_free(h);
}

static void test_database_field(void **state)
{
	static const char text[] =
		"host sameuser all 10.0.0.0/8 trust\n"
		"host sales,\"hr dept\" , ops  all 10.0.0.0/8 md5\n"
		"host \"all\" all 10.0.0.0/8 password\n"
		"host \"with \"\"quote\"\",comma\" all 10.0.0.0/8 cert\n"
		"host replication all 10.0.0.0/8 scram-sha-256\n"
		"host Sales all 10.0.0.0/8 reject\n"
		"host \"sameuser\",\"replication\" all 10.0.0.0/8 peer\n";
	hba_diags_t d = {0};
	hba_t *h = parse(text, &d);
	(void)state;

	assert_int_equal(d.errors, 0);
	/* Only the peer on a host line is remarked on. */
	assert_int_equal(d.warnings, 1);
	expect_diag(&d, 0, HBA_SEV_WARNING, "t.conf", 7, "peer on a host");
	expect(h, conn("10.1.1.1", "carol", "carol"), HBA_TRUST, 1);
	expect(h, conn("10.1.1.1", "sales", "carol"), HBA_MD5, 2);
	expect(h, conn("10.1.1.1", "hr dept", "carol"), HBA_MD5, 2);
	expect(h, conn("10.1.1.1", "ops", "carol"), HBA_MD5, 2);
	expect(h, conn("10.1.1.1", "hr", "carol"), HBA_REJECT, 0);
	/* A quoted keyword is a plain name. */
	expect(h, conn("10.1.1.1", "all", "carol"), HBA_PASSWORD, 3);
	expect(h, conn("10.1.1.1", "with \"quote\",comma", "x"), HBA_CERT, 4);
	/*
	 * The replication keyword matches physical replication only, never
	 * a database of that name: only the quoted one on line 7 does.
	 */
	expect(h, conn("10.1.1.1", "replication", "x"), HBA_PEER, 7);
	expect_repl(h, conn("10.1.1.1", "anything", "x"), HBA_SCRAM_SHA_256, 5);
	/* all and sameuser do not match physical replication. */
	expect_repl(h, conn("10.1.1.1", "x", "x"), HBA_SCRAM_SHA_256, 5);
	/* Names are case-sensitive. */
	expect(h, conn("10.1.1.1", "Sales", "x"), HBA_REJECT, 6);
	expect(h, conn("10.1.1.1", "sameuser", "x"), HBA_PEER, 7);
	hba_free(h);
	hba_diags_free(&d);
}

static void test_replication(void **state)
{
	static const char text[] = "host all walker ::1/128 trust\n"
				   "host app,replication walker ::1/128 md5\n"
				   "local replication all peer\n";
	hba_t *h = parse(text, NULL);
	(void)state;

	/* Physical: all and app do not match, the keyword does. */
	expect_repl(h, conn("::1", "app", "walker"), HBA_MD5, 2);
	expect_repl(h, conn("unix", "whatever", "walker"), HBA_PEER, 3);
	/* Logical replication and plain connections: by database name. */
	expect(h, conn("::1", "app", "walker"), HBA_TRUST, 1);
	hba_free(h);
}

static void test_user_field(void **state)
{
	static const char text[] =
		"host all alice,bob all md5\n"
		"host all \"eve smith\",\"a,b\" all password\n"
		"host all sameuser all trust\n"
		"host all replication all cert\n"
		"host all \"replication\" all scram-sha-256\n"
		"host all \"\" all reject\n";
	hba_diags_t d = {0};
	hba_t *h = parse(text, &d);
	(void)state;

	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 1);
	expect_diag(&d, 0, HBA_SEV_WARNING, "t.conf", 4,
		    "replication keyword never matches in the user field");
	expect(h, conn("192.0.2.1", "db", "bob"), HBA_MD5, 1);
	expect(h, conn("192.0.2.1", "db", "eve smith"), HBA_PASSWORD, 2);
	expect(h, conn("192.0.2.1", "db", "a,b"), HBA_PASSWORD, 2);
	expect(h, conn("192.0.2.1", "db", "eve"), HBA_REJECT, 0);
	/* sameuser in the user field: user == database, as PgBouncer. */
	expect(h, conn("192.0.2.1", "dave", "dave"), HBA_TRUST, 3);
	expect(h, conn("192.0.2.1", "db", "replication"), HBA_SCRAM_SHA_256, 5);
	expect(h, conn("192.0.2.1", "db", ""), HBA_REJECT, 6);
	hba_free(h);
	hba_diags_free(&d);
}

static void test_bad_names(void **state)
{
	(void)state;
	expect_bad("host all +admins all md5\n", "group names (\"+admins\")");
	expect_bad("host samerole all all md5\n", "samerole is not supported");
	expect_bad("host samegroup all all md5\n", "samegroup is not");
	expect_bad("host all a,,b all md5\n", "',' where a user name");
	expect_bad("host all a, all md5\n", "is not an IP address");
	expect_bad("host ,db all all md5\n", "',' where a database name");
	expect_bad("host all \"open all md5\n", "unterminated quoted string");
	expect_bad("host\n", "missing a database name");
	expect_bad("host all\n", "missing a user name");
	expect_bad("host all @ all md5\n", "@ must be followed by a file");
	expect_bad("host all @nonexistent.txt all md5\n",
		   "cannot read @file \"nonexistent.txt\"");
}

static void test_addresses(void **state)
{
	static const char text[] =
		"host all a 192.0.2.5/32 trust\n"
		"host all a 192.0.2.0/24 md5\n"
		"host all a 2001:db8::5/128 password\n"
		"host all a 2001:db8::/32 scram-sha-256\n"
		"host all a 198.51.100.0 255.255.255.128 cert\n"
		"host all a fe80:: ffff:ffff:ffff:ffff:: trust\n"
		"host all a ::ffff:203.0.113.9/128 ldap\n"
		"host all b 0.0.0.0/0 md5\n"
		"host all b ::/0 password\n"
		"host all c all trust\n"
		"host all d 10.0.0.0/8 reject\n"
		"host all d 10.0.0.0/9 trust\n"
		"host all e 192.0.2.0/23 md5\n"
		"host all f 172.16.1.1/0 trust\n"
		"host all g 10.1.0.0 255.0.255.0 trust\n";
	hba_diags_t d = {0};
	hba_t *h = parse(text, &d);
	(void)state;

	assert_int_equal(d.errors, 0);
	expect(h, conn("192.0.2.5", "db", "a"), HBA_TRUST, 1);
	expect(h, conn("192.0.2.6", "db", "a"), HBA_MD5, 2);
	expect(h, conn("192.0.3.6", "db", "a"), HBA_REJECT, 0);
	expect(h, conn("2001:db8::5", "db", "a"), HBA_PASSWORD, 3);
	expect(h, conn("2001:db8:ffff::1", "db", "a"), HBA_SCRAM_SHA_256, 4);
	expect(h, conn("2001:db9::1", "db", "a"), HBA_REJECT, 0);
	expect(h, conn("198.51.100.127", "db", "a"), HBA_CERT, 5);
	expect(h, conn("198.51.100.128", "db", "a"), HBA_REJECT, 0);
	expect(h, conn("fe80::1234", "db", "a"), HBA_TRUST, 6);
	/*
	 * IPv4-mapped IPv6 is not IPv4, as in PostgreSQL: 203.0.113.9 from
	 * a v6 socket matches the ::ffff: rule only, a v4 client does not.
	 */
	expect(h, conn("::ffff:203.0.113.9", "db", "a"), HBA_LDAP, 7);
	expect(h, conn("203.0.113.9", "db", "a"), HBA_REJECT, 0);
	expect(h, conn("::ffff:192.0.2.5", "db", "a"), HBA_REJECT, 0);
	/* /0 matches its own family only; all matches both. */
	expect(h, conn("203.0.113.9", "db", "b"), HBA_MD5, 8);
	expect(h, conn("::1", "db", "b"), HBA_PASSWORD, 9);
	expect(h, conn("255.255.255.255", "db", "b"), HBA_MD5, 8);
	expect(h, conn("203.0.113.9", "db", "c"), HBA_TRUST, 10);
	expect(h, conn("::1", "db", "c"), HBA_TRUST, 10);
	expect(h, conn("unix", "db", "c"), HBA_REJECT, 0);
	expect(h, conn("10.127.255.255", "db", "d"), HBA_REJECT, 11);
	/* Prefix boundaries: /23 is 192.0.2.0 - 192.0.3.255. */
	expect(h, conn("192.0.3.255", "db", "e"), HBA_MD5, 13);
	expect(h, conn("192.0.4.0", "db", "e"), HBA_REJECT, 0);
	expect(h, conn("192.0.1.255", "db", "e"), HBA_REJECT, 0);
	/*
	 * Host bits outside the mask: kept with a warning and never match,
	 * as in PgBouncer (PostgreSQL would match everything for line 14).
	 */
	assert_int_equal(d.warnings, 2);
	expect_diag(&d, 0, HBA_SEV_WARNING, "t.conf", 14,
		    "address 172.16.1.1 has bits outside netmask 0.0.0.0");
	expect_diag(&d, 1, HBA_SEV_WARNING, "t.conf", 15,
		    "outside netmask 255.0.255.0");
	expect(h, conn("172.16.1.1", "db", "f"), HBA_REJECT, 0);
	expect(h, conn("10.1.0.0", "db", "g"), HBA_REJECT, 0);
	hba_free(h);
	hba_diags_free(&d);
}

static void test_good_masks(void **state)
{
	static const char text[] = "host all a 10.0.0.0/008 md5\n"
				   "host all b 10.0.0.0 255.0.255.0 md5\n"
				   "host all c 0.0.0.0 0.0.0.0 trust\n";
	hba_diags_t d = {0};
	hba_t *h = parse(text, &d);
	(void)state;

	assert_int_equal(d.errors + d.warnings, 0);
	expect(h, conn("10.200.0.1", "db", "a"), HBA_MD5, 1);
	/* A non-contiguous netmask is accepted, as PgBouncer does. */
	expect(h, conn("10.9.0.200", "db", "b"), HBA_MD5, 2);
	expect(h, conn("10.9.1.200", "db", "b"), HBA_REJECT, 0);
	expect(h, conn("1.2.3.4", "db", "c"), HBA_TRUST, 3);
	hba_free(h);
	hba_diags_free(&d);
}

static void test_bad_addresses(void **state)
{
	(void)state;
	expect_bad("host all all 10.0.0.0/33 md5\n",
		   "invalid mask length \"/33\" (0 to 32)");
	expect_bad("host all all ::/129 md5\n", "(0 to 128)");
	expect_bad("host all all 10.0.0.0/ md5\n", "invalid mask length");
	expect_bad("host all all 10.0.0.0/+8 md5\n", "invalid mask length");
	expect_bad("host all all 10.0.0.0/-0 md5\n", "invalid mask length");
	expect_bad("host all all 10.0.0.0/8/8 md5\n", "invalid mask length");
	expect_bad("host all all 10.0.0.0/0x8 md5\n", "invalid mask length");
	expect_bad("host all all 10.0.0.0 md5\n", "invalid netmask \"md5\"");
	expect_bad("host all all 10.0.0.0\n", "missing netmask");
	expect_bad("host all all 10.0.0.0 ffff:: md5\n", "invalid netmask");
	expect_bad("host all all 10.0.0.0 \"255.0.0.0\" md5\n",
		   "netmask must not be quoted");
	expect_bad("host all all \"10.0.0.0/8\" md5\n",
		   "address must not be quoted");
	expect_bad("host all all \"all\" md5\n", "address must not be quoted");
	expect_bad("host all all samehost md5\n", "\"samehost\" is not an IP");
	expect_bad("host all all samenet md5\n", "\"samenet\" is not an IP");
	expect_bad("host all all db.example.com md5\n", "host names");
	expect_bad("host all all .example.com md5\n", "is not an IP address");
	expect_bad("host all all 10.1/16 md5\n", "\"10.1\" is not an IP");
	expect_bad("host all all fe80::1%eth0/64 md5\n", "is not an IP");
	expect_bad("host all all [::1]/128 md5\n", "is not an IP address");
	expect_bad("host all all all/0 md5\n", "\"all\" is not an IP");
	expect_bad("host all all\n", "missing address");
}

static void test_options(void **state)
{
	static const char ident_text[] = "certmap  CN-alice alice\n"
					 "peermap  root     postgres\n";
	hba_diags_t d = {0};
	hba_ident_t *id = hba_ident_parse(ident_text, strlen(ident_text),
					  "ident.conf", 0, &d);
	hba_t *h;
	const hba_rule_t *r;
	hba_conn_t c;
	(void)state;

	assert_non_null(id);
	h = parse_id("hostssl all all all cert map=certmap\n"
		     "local all all peer map=peermap # comment\n"
		     "host all all all md5 map=certmap\n"
		     "host all all all cert map=nomap\n"
		     "host all all all cert map=\n"
		     "host all all all cert map=certmap map=peermap\n"
		     "host all all all cert foo=bar\n"
		     "host all all all cert \"map=certmap\"\n"
		     "host all all all cert map = certmap\n"
		     "host all all all md5 clientcert=verify-full\n",
		     id, &d);
	assert_int_equal(hba_rule_count(h), 3);
	assert_int_equal(d.errors, 7);
	expect_diag(&d, 0, HBA_SEV_ERROR, "t.conf", 4,
		    "map=nomap: no such map in ident.conf");
	expect_diag(&d, 1, HBA_SEV_ERROR, "t.conf", 5, "map= needs a map");
	expect_diag(&d, 2, HBA_SEV_ERROR, "t.conf", 6,
		    "only one option (map=NAME)");
	expect_diag(&d, 3, HBA_SEV_ERROR, "t.conf", 7,
		    "unsupported option \"foo=bar\"");
	expect_diag(&d, 4, HBA_SEV_ERROR, "t.conf", 8,
		    "unsupported option \"map=certmap\"");
	expect_diag(&d, 5, HBA_SEV_ERROR, "t.conf", 9,
		    "unsupported option \"map\"");
	expect_diag(&d, 6, HBA_SEV_ERROR, "t.conf", 10,
		    "unsupported option \"clientcert=verify-full\"");
	c = conn("192.0.2.1", "db", "alice");
	c.is_tls = true;
	assert_int_equal(hba_match(h, &c, &r), HBA_CERT);
	assert_string_equal(r->map, "certmap");
	c = conn("unix", "db", "postgres");
	assert_int_equal(hba_match(h, &c, &r), HBA_PEER);
	assert_string_equal(r->map, "peermap");
	/* The map is kept for any method, as PgBouncer does. */
	c = conn("192.0.2.1", "db", "alice");
	assert_int_equal(hba_match(h, &c, &r), HBA_MD5);
	assert_string_equal(r->map, "certmap");
	hba_free(h);
	hba_diags_free(&d);

	/* Without an ident file, any map= is an error. */
	expect_bad("local all all peer map=peermap\n",
		   "map=peermap: no auth_ident_file is loaded");
	hba_ident_free(id);
}

static void test_warnings(void **state)
{
	hba_diags_t d = {0};
	hba_t *h = parse("host all all all peer\n"
			 "local all all cert\n"
			 "hostnossl all all all cert\n"
			 "hostssl all all all peer\n"
			 "hostssl all all all cert\n"
			 "host all all all cert\n",
			 &d);
	(void)state;

	assert_int_equal(hba_rule_count(h), 6);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 4);
	expect_diag(&d, 0, HBA_SEV_WARNING, "t.conf", 1,
		    "peer on a host line always fails");
	expect_diag(&d, 1, HBA_SEV_WARNING, "t.conf", 2,
		    "cert on a local line always fails");
	expect_diag(&d, 2, HBA_SEV_WARNING, "t.conf", 3, "cert needs TLS");
	expect_diag(&d, 3, HBA_SEV_WARNING, "t.conf", 4, "hostssl line");
	hba_free(h);
	hba_diags_free(&d);
}

static void test_lexing(void **state)
{
	static const char text[] =
		"# a comment line\n"
		"\n"
		" \t \r\n"
		"host\tall\tt1\t10.0.0.0/8\ttrust#no space before it\n"
		"host all t2 10.0.0.0/8 md5\r\n"
		"  host  all  t3  10.0.0.0/8  password  # trailing\n"
		"host all t4\"t5\" 10.0.0.0/8 cert\n"
		"host all \"\"\"\" 10.0.0.0/8 md5\n"
		"host all t#6 10.0.0.0/8 md5\n"
		"host all t7 10.0.0.0/8 md5";
	hba_diags_t d = {0};
	hba_t *h = parse(text, &d);
	(void)state;

	expect(h, conn("10.1.1.1", "db", "t1"), HBA_TRUST, 4);
	expect(h, conn("10.1.1.1", "db", "t2"), HBA_MD5, 5);
	expect(h, conn("10.1.1.1", "db", "t3"), HBA_PASSWORD, 6);
	/* t4"t5" is two tokens: t4, then "t5" where the address goes. */
	expect_diag(&d, 0, HBA_SEV_ERROR, "t.conf", 7,
		    "address must not be quoted: \"t5\"");
	expect(h, conn("10.1.1.1", "db", "\""), HBA_MD5, 8);
	/* # ends the line even inside a word: "t" and no address. */
	expect_diag(&d, 1, HBA_SEV_ERROR, "t.conf", 9, "missing address");
	/* The last line needs no newline. */
	expect(h, conn("10.1.1.1", "db", "t7"), HBA_MD5, 10);
	assert_int_equal(d.errors, 2);
	hba_free(h);
	hba_diags_free(&d);
}

static void test_malformed_lines(void **state)
{
	static const char text[] =
		"host all all 10.0.0.0/8 md5 \\\n"	 /* 1 */
		"   sameuser\n"				 /* 2 */
		"include other.conf\n"			 /* 3 */
		"include_if_exists other.conf\n"	 /* 4 */
		"include_dir conf.d\n"			 /* 5 */
		"hostgssenc all all 10.0.0.0/8 md5\n"	 /* 6 */
		"hostnogssenc all all 10.0.0.0/8 md5\n"	 /* 7 */
		"HOST all all 10.0.0.0/8 md5\n"		 /* 8 */
		"\"host\" all all 10.0.0.0/8 md5\n"	 /* 9 */
		", all all 10.0.0.0/8 md5\n"		 /* 10 */
		"host all ok 10.0.0.0/8 trust\n"	 /* 11 */
		"# a comment ending in a backslash \\\n" /* 12 */
		"host all all 10.0.0.0/8 md5 \\ \n"	 /* 13 */
		"host all all 10.0.0.0/8 md5 extra\n"	 /* 14 */
		"\"unterminated\n"			 /* 15 */
		"host all ok2 10.0.0.0/8 trust\n";	 /* 16 */
	hba_diags_t d = {0};
	hba_t *h = parse(text, &d);
	(void)state;

	assert_int_equal(hba_rule_count(h), 2);
	expect(h, conn("10.1.1.1", "db", "ok"), HBA_TRUST, 11);
	expect(h, conn("10.1.1.1", "db", "ok2"), HBA_TRUST, 16);
	assert_int_equal(d.errors, 13);
	assert_int_equal(d.count, 13);
	expect_diag(&d, 0, HBA_SEV_ERROR, "t.conf", 1,
		    "continuation lines (a trailing backslash) are not "
		    "supported");
	expect_diag(&d, 1, HBA_SEV_ERROR, "t.conf", 2,
		    "unknown connection type \"sameuser\"");
	expect_diag(&d, 2, HBA_SEV_ERROR, "t.conf", 3,
		    "include is not supported in auth_hba_file");
	expect_diag(&d, 3, HBA_SEV_ERROR, "t.conf", 4,
		    "include_if_exists is not supported");
	expect_diag(&d, 4, HBA_SEV_ERROR, "t.conf", 5,
		    "include_dir is not supported");
	expect_diag(&d, 5, HBA_SEV_ERROR, "t.conf", 6,
		    "hostgssenc is not supported");
	expect_diag(&d, 6, HBA_SEV_ERROR, "t.conf", 7,
		    "hostnogssenc is not supported");
	expect_diag(&d, 7, HBA_SEV_ERROR, "t.conf", 8,
		    "unknown connection type \"HOST\"");
	expect_diag(&d, 8, HBA_SEV_ERROR, "t.conf", 9,
		    "unknown connection type \"host\"");
	expect_diag(&d, 9, HBA_SEV_ERROR, "t.conf", 10,
		    "',' where connection type was expected");
	expect_diag(&d, 10, HBA_SEV_ERROR, "t.conf", 13, "continuation");
	expect_diag(&d, 11, HBA_SEV_ERROR, "t.conf", 14,
		    "unsupported option \"extra\"");
	expect_diag(&d, 12, HBA_SEV_ERROR, "t.conf", 15,
		    "unterminated quoted string where connection type");
	hba_free(h);
	hba_diags_free(&d);
}

static void test_at_files(void **state)
{
	hba_diags_t d = {0};
	hba_t *h;
	(void)state;

	write_file("admins.txt", "# admins, one per line or comma list\n"
				 "\n"
				 "ann, ben\n"
				 "  cid dan   # two on a line\n"
				 "\"eve q\",\n"
				 "@sub/more.txt\n");
	write_file("sub/more.txt", "fay\n@deeper.txt");
	write_file("sub/deeper.txt", "gus");
	write_file("dbs.txt", "replication,sales\nall_not_keyword \"all\"");
	write_file("kw.txt", "all\n");
	write_file("empty.txt", "# nobody yet\n\n");
	write_file("bad.txt", "ok\n+grp\n");
	write_file("loop.txt", "x @loop2.txt\n");
	write_file("loop2.txt", "@loop.txt\n");
	write_file("hba.conf", "host @dbs.txt @admins.txt 10.0.0.0/8 md5\n"
			       "host all \"@admins.txt\" 10.0.0.0/8 trust\n"
			       "host all @kw.txt 192.0.2.0/24 password\n"
			       "host all @bad.txt 10.0.0.0/8 md5\n"
			       "host all @loop.txt 10.0.0.0/8 md5\n"
			       "host all @missing.txt 10.0.0.0/8 md5\n"
			       "host all @sub 10.0.0.0/8 md5\n"
			       "host @empty.txt @empty.txt 10.0.0.0/8 trust\n"
			       "host all @" /* absolute path */);
	{
		FILE *f = fopen(path_in("hba.conf"), "a");

		assert_non_null(f);
		fprintf(f, "%s 172.16.0.0/12 cert\n", path_in("kw.txt"));
		fclose(f);
	}
	h = hba_load(path_in("hba.conf"), NULL, &d);
	assert_non_null(h);
	assert_int_equal(hba_rule_count(h), 5);
	expect(h, conn("10.1.1.1", "sales", "ann"), HBA_MD5, 1);
	expect(h, conn("10.1.1.1", "sales", "ben"), HBA_MD5, 1);
	expect(h, conn("10.1.1.1", "sales", "cid"), HBA_MD5, 1);
	expect(h, conn("10.1.1.1", "sales", "dan"), HBA_MD5, 1);
	expect(h, conn("10.1.1.1", "sales", "eve q"), HBA_MD5, 1);
	expect(h, conn("10.1.1.1", "sales", "fay"), HBA_MD5, 1);
	expect(h, conn("10.1.1.1", "sales", "gus"), HBA_MD5, 1);
	expect(h, conn("10.1.1.1", "all", "gus"), HBA_MD5, 1);
	expect(h, conn("10.1.1.1", "all_not_keyword", "gus"), HBA_MD5, 1);
	expect(h, conn("10.1.1.1", "other", "gus"), HBA_REJECT, 0);
	expect_repl(h, conn("10.1.1.1", "x", "ann"), HBA_MD5, 1);
	/* "@name" quoted is a plain user name. */
	expect(h, conn("10.1.1.1", "other", "@admins.txt"), HBA_TRUST, 2);
	/* Keywords work inside @files. */
	expect(h, conn("192.0.2.1", "db", "anyone"), HBA_PASSWORD, 3);
	expect(h, conn("172.16.0.1", "db", "anyone"), HBA_CERT, 9);
	/* Empty @files: a rule that matches nobody, with warnings. */
	expect(h, conn("10.1.1.1", "", ""), HBA_REJECT, 0);

	assert_int_equal(d.errors, 4);
	assert_int_equal(d.warnings, 2);
	expect_diag(&d, 4, HBA_SEV_WARNING, path_in("hba.conf"), 8,
		    "no database names (empty @files)");
	expect_diag(&d, 5, HBA_SEV_WARNING, path_in("hba.conf"), 8,
		    "no user names");
	expect_diag(&d, 0, HBA_SEV_ERROR, path_in("bad.txt"), 2,
		    "group names (\"+grp\") are not supported");
	assert_non_null(strstr(d.items[0].msg, "hba.conf:4)"));
	expect_diag(&d, 1, HBA_SEV_ERROR, path_in("loop2.txt"), 1,
		    "@loop.txt includes itself");
	assert_non_null(strstr(d.items[1].msg, "hba.conf:5)"));
	expect_diag(&d, 2, HBA_SEV_ERROR, path_in("hba.conf"), 6,
		    "cannot read @file");
	assert_non_null(strstr(d.items[2].msg, "No such file"));
	expect_diag(&d, 3, HBA_SEV_ERROR, path_in("hba.conf"), 7,
		    "not a regular file");
	hba_free(h);
	hba_diags_free(&d);

	/* A file that cannot be read at all: NULL, rejecting everything. */
	h = hba_load(path_in("nothere.conf"), NULL, &d);
	assert_null(h);
	expect_diag(&d, 0, HBA_SEV_ERROR, path_in("nothere.conf"), 0,
		    "cannot read hba file");
	hba_diags_free(&d);
}

/* An in-memory @file reader: every path reads as arg's text. */
static int mem_reads;

static bool mem_read(void *arg, const char *path, size_t max, char **data,
		     size_t *len, char *err, size_t errlen)
{
	const char *text = arg;

	(void)path;
	mem_reads++;
	if (strlen(text) > max) {
		snprintf(err, errlen, "too large");
		return false;
	}
	*data = strdup(text);
	*len = strlen(text);
	return *data != NULL;
}

static void test_reader_limits(void **state)
{
	hba_reader_t rd = {mem_read, "u1 @sub/next"};
	hba_diags_t d = {0};
	hba_t *h;
	char *big;
	(void)state;

	/* Each @sub/next is a new, deeper path, so depth ends it. */
	h = hba_parse("host all @a all md5\nlocal all all trust\n", 40,
		      "/etc/x/hba.conf", NULL, &rd, &d);
	assert_non_null(h);
	assert_int_equal(hba_rule_count(h), 1);
	assert_int_equal(d.errors, 1);
	expect_diag(&d, 0, HBA_SEV_ERROR,
		    "/etc/x/sub/sub/sub/sub/sub/sub/sub/next", 1,
		    "@files nest deeper than 8");
	assert_non_null(strstr(d.items[0].msg, "/etc/x/hba.conf:1)"));
	assert_int_equal(mem_reads, HBA_MAX_INCLUDE_DEPTH);
	hba_free(h);
	hba_diags_free(&d);

	/* An @file over the size limit. */
	big = malloc(HBA_MAX_FILE_SIZE + 2);
	assert_non_null(big);
	memset(big, 'x', HBA_MAX_FILE_SIZE + 1);
	big[HBA_MAX_FILE_SIZE + 1] = '\0';
	rd.arg = big;
	h = hba_parse("host all @a all md5\n", 20, "h", NULL, &rd, &d);
	assert_int_equal(hba_rule_count(h), 0);
	expect_diag(&d, 0, HBA_SEV_ERROR, "h", 1, "too large");
	hba_free(h);
	hba_diags_free(&d);

	/* The hba text itself over the limit. */
	assert_null(hba_parse(big, HBA_MAX_FILE_SIZE + 1, "h", NULL, NULL, &d));
	expect_diag(&d, 0, HBA_SEV_ERROR, "h", 0, "larger than");
	hba_diags_free(&d);
	free(big);
}

static void test_line_limits(void **state)
{
	size_t n = HBA_MAX_LINE + 64, off;
	char *text = malloc(n + 200);
	hba_diags_t d = {0};
	hba_t *h;
	(void)state;

	assert_non_null(text);
	off = (size_t)sprintf(text, "local all a trust\nlocal all ");
	memset(text + off, 'u', n);
	off += n;
	off += (size_t)sprintf(text + off, " trust\nlocal all b md5\n");
	/* A NUL byte inside line 4. */
	memcpy(text + off, "local all c\0 md5\nlocal all d cert\n", 34);
	off += 34;
	h = hba_parse(text, off, "t.conf", NULL, NULL, &d);
	assert_non_null(h);
	assert_int_equal(hba_rule_count(h), 3);
	assert_int_equal(d.errors, 2);
	expect_diag(&d, 0, HBA_SEV_ERROR, "t.conf", 2,
		    "line is longer than 65536 bytes");
	expect_diag(&d, 1, HBA_SEV_ERROR, "t.conf", 4, "NUL byte");
	expect(h, conn("unix", "db", "b"), HBA_MD5, 3);
	expect(h, conn("unix", "db", "d"), HBA_CERT, 5);
	hba_free(h);
	hba_diags_free(&d);
	free(text);
}

static void test_rule_and_diag_limits(void **state)
{
	static const char line[] = "local all all trust\n";
	size_t i, n = HBA_MAX_RULES + 2, ll = sizeof(line) - 1;
	char *text = malloc(n * ll);
	hba_diags_t d = {0};
	hba_t *h;
	(void)state;

	assert_non_null(text);
	for (i = 0; i < n; i++)
		memcpy(text + i * ll, line, ll);
	h = hba_parse(text, n * ll, "t.conf", NULL, NULL, &d);
	assert_int_equal(hba_rule_count(h), HBA_MAX_RULES);
	assert_int_equal(d.errors, 1);
	expect_diag(&d, 0, HBA_SEV_ERROR, "t.conf", HBA_MAX_RULES + 1,
		    "more than 100000 rules");
	hba_free(h);
	hba_diags_free(&d);

	/* Only HBA_MAX_DIAGS diagnostics are kept; all are counted. */
	for (i = 0; i < 300; i++)
		memcpy(text + i * 4, "bad\n", 4);
	h = hba_parse(text, 300 * 4, "t.conf", NULL, NULL, &d);
	assert_int_equal(hba_rule_count(h), 0);
	assert_int_equal(d.errors, 300);
	assert_int_equal(d.count, HBA_MAX_DIAGS);
	assert_int_equal(d.dropped, 300 - HBA_MAX_DIAGS);
	expect_diag(&d, HBA_MAX_DIAGS - 1, HBA_SEV_ERROR, "t.conf",
		    HBA_MAX_DIAGS, "unknown connection type");
	hba_free(h);
	hba_diags_free(&d);
	free(text);
}

static void test_name_limit(void **state)
{
	size_t n = HBA_MAX_NAMES + 1, i, off = 0;
	char *names = malloc(n * 8 + 1);
	hba_reader_t rd = {mem_read, NULL};
	hba_diags_t d = {0};
	hba_t *h;
	(void)state;

	assert_non_null(names);
	for (i = 0; i < n; i++)
		off += (size_t)sprintf(names + off, "u%06zu\n", i);
	rd.arg = names;
	h = hba_parse("local all @big trust\n", 21, "t.conf", NULL, &rd, &d);
	assert_int_equal(hba_rule_count(h), 0);
	expect_diag(&d, 0, HBA_SEV_ERROR, "big", HBA_MAX_NAMES + 1,
		    "more than 100000 names in the user field");
	hba_free(h);
	hba_diags_free(&d);

	/* Exactly the limit, with duplicates folded. */
	names[HBA_MAX_NAMES * 8] = '\0';
	memcpy(names, "u000001\n", 8);
	h = hba_parse("local all @big trust\n", 21, "t.conf", NULL, &rd, &d);
	assert_int_equal(hba_rule_count(h), 1);
	assert_int_equal(d.errors, 0);
	expect(h, conn("unix", "db", "u099999"), HBA_TRUST, 1);
	expect(h, conn("unix", "db", "u000001"), HBA_TRUST, 1);
	expect(h, conn("unix", "db", "u000000"), HBA_REJECT, 0);
	hba_free(h);
	hba_diags_free(&d);
	free(names);
}

static void test_big_file_on_disk(void **state)
{
	hba_diags_t d = {0};
	FILE *f;
	(void)state;

	f = fopen(path_in("huge.conf"), "w");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), HBA_MAX_FILE_SIZE + 1), 0);
	fclose(f);
	assert_null(hba_load(path_in("huge.conf"), NULL, &d));
	expect_diag(&d, 0, HBA_SEV_ERROR, path_in("huge.conf"), 0,
		    "file is larger than 16777216 bytes");
	assert_null(hba_ident_load(path_in("huge.conf"), 0, &d));
	expect_diag(&d, 1, HBA_SEV_ERROR, path_in("huge.conf"), 0,
		    "cannot read ident file");
	hba_diags_free(&d);
	/* NULL diagnostics are allowed. */
	assert_null(hba_load(path_in("huge.conf"), NULL, NULL));
	unlink(path_in("huge.conf"));
}

static void test_set_addr(void **state)
{
	struct sockaddr_in s4 = {0};
	struct sockaddr_in6 s6 = {0};
	struct sockaddr_un su = {0};
	struct sockaddr other = {0};
	hba_conn_t c = {0};
	uint8_t want[16] = {0};
	(void)state;

	s4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.9", &s4.sin_addr);
	assert_true(hba_conn_set_addr(&c, (struct sockaddr *)&s4));
	assert_false(c.is_unix);
	assert_int_equal(c.family, AF_INET);
	inet_pton(AF_INET, "192.0.2.9", want);
	assert_memory_equal(c.addr, want, 16);

	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:192.0.2.9", &s6.sin6_addr);
	assert_true(hba_conn_set_addr(&c, (struct sockaddr *)&s6));
	assert_int_equal(c.family, AF_INET6);
	assert_memory_equal(c.addr, &s6.sin6_addr, 16);

	su.sun_family = AF_UNIX;
	assert_true(hba_conn_set_addr(&c, (struct sockaddr *)&su));
	assert_true(c.is_unix);
	other.sa_family = AF_UNSPEC;
	assert_false(hba_conn_set_addr(&c, &other));
}

static hba_ident_t *ident(const char *text, unsigned flags, hba_diags_t *d)
{
	hba_ident_t *id =
		hba_ident_parse(text, strlen(text), "id.conf", flags, d);

	assert_non_null(id);
	return id;
}

static void test_ident_literal(void **state)
{
	static const char text[] =
		"# MAPNAME SYSTEM-USERNAME PG-USERNAME\n"
		"ops    root        postgres\n"
		"ops    root        backup   # second line, same map\n"
		"ops    \"jo smith\"  jo\n"
		"admins alice       all\n"
		"quoted bob         \"all\"\n"
		"case   Carol       carol\n"
		"plus   dave        +staff\n"
		"ops\n"
		"ops root\n"
		"ops root postgres extra\n"
		"ops root,admin postgres\n"
		"ops \"root postgres\n"
		"include other.conf\n"
		"last   erin        erin";
	hba_diags_t d = {0};
	hba_ident_t *id = ident(text, 0, &d);
	(void)state;

	assert_true(hba_ident_ok(id, "ops", "root", "postgres"));
	assert_true(hba_ident_ok(id, "ops", "root", "backup"));
	assert_true(hba_ident_ok(id, "ops", "jo smith", "jo"));
	assert_false(hba_ident_ok(id, "ops", "root", "jo"));
	assert_false(hba_ident_ok(id, "admins", "root", "postgres"));
	assert_true(hba_ident_ok(id, "admins", "alice", "anyone"));
	assert_false(hba_ident_ok(id, "admins", "bob", "anyone"));
	assert_true(hba_ident_ok(id, "quoted", "bob", "all"));
	assert_false(hba_ident_ok(id, "quoted", "bob", "bob"));
	assert_true(hba_ident_ok(id, "case", "Carol", "carol"));
	assert_false(hba_ident_ok(id, "case", "carol", "carol"));
	assert_false(hba_ident_ok(id, "Case", "Carol", "carol"));
	assert_true(hba_ident_ok(id, "plus", "dave", "+staff"));
	assert_false(hba_ident_ok(id, "plus", "dave", "staff"));
	assert_true(hba_ident_ok(id, "last", "erin", "erin"));
	assert_false(hba_ident_ok(id, "nomap", "root", "postgres"));
	assert_false(hba_ident_ok(NULL, "ops", "root", "postgres"));
	assert_true(hba_ident_has_map(id, "ops"));
	assert_false(hba_ident_has_map(id, "op"));
	assert_false(hba_ident_has_map(NULL, "ops"));

	assert_int_equal(d.warnings, 1);
	assert_int_equal(d.errors, 6);
	expect_diag(&d, 0, HBA_SEV_WARNING, "id.conf", 8,
		    "group names are not supported (as in PgBouncer): "
		    "\"+staff\"");
	expect_diag(&d, 1, HBA_SEV_ERROR, "id.conf", 9,
		    "expected MAPNAME SYSTEM-USERNAME PG-USERNAME");
	expect_diag(&d, 2, HBA_SEV_ERROR, "id.conf", 10, "expected MAPNAME");
	expect_diag(&d, 3, HBA_SEV_ERROR, "id.conf", 11,
		    "extra field \"extra\"");
	expect_diag(&d, 4, HBA_SEV_ERROR, "id.conf", 12, "',' in an ident");
	expect_diag(&d, 5, HBA_SEV_ERROR, "id.conf", 13,
		    "unterminated quoted string in an ident line");
	expect_diag(&d, 6, HBA_SEV_ERROR, "id.conf", 14,
		    "include is not supported in auth_ident_file");
	hba_ident_free(id);
	hba_diags_free(&d);
}

static void test_ident_regex(void **state)
{
	static const char text[] = "mail  /^(.*)@example\\.com$  \\1\n"
				   "mail  /^(.*)@example\\.org$  x\\1y\n"
				   "any   /^svc-               all\n"
				   "plain /^root$              postgres\n"
				   "part  /oo                  postgres\n"
				   "quot  \"/^r{1,2}oot$\"      postgres\n"
				   "bad   /^(                  x\n"
				   "noref /^root$              \\1\n";
	hba_diags_t d = {0};
	hba_ident_t *id = ident(text, HBA_IDENT_REGEX, &d);
	(void)state;

	assert_true(hba_ident_ok(id, "mail", "ann@example.com", "ann"));
	assert_false(hba_ident_ok(id, "mail", "ann@example.com", "bob"));
	assert_false(hba_ident_ok(id, "mail", "ann@example.net", "ann"));
	assert_false(hba_ident_ok(id, "mail", "ann@exampleXcom", "ann"));
	assert_true(hba_ident_ok(id, "mail", "ann@example.org", "xanny"));
	assert_false(hba_ident_ok(id, "mail", "ann@example.org", "ann"));
	assert_false(hba_ident_ok(id, "mail", "ann@example.org", "xanny "));
	assert_true(hba_ident_ok(id, "any", "svc-web", "whoever"));
	assert_false(hba_ident_ok(id, "any", "web-svc", "whoever"));
	assert_true(hba_ident_ok(id, "plain", "root", "postgres"));
	assert_false(hba_ident_ok(id, "plain", "rooty", "postgres"));
	/* Unanchored, as in PostgreSQL. */
	assert_true(hba_ident_ok(id, "part", "root", "postgres"));
	/* Quoted too, so that a regex can hold a comma. */
	assert_true(hba_ident_ok(id, "quot", "rroot", "postgres"));
	assert_false(hba_ident_ok(id, "quot", "/^r{1,2}oot$", "postgres"));
	assert_int_equal(d.errors, 2);
	expect_diag(&d, 0, HBA_SEV_ERROR, "id.conf", 7,
		    "invalid regular expression");
	expect_diag(&d, 1, HBA_SEV_ERROR, "id.conf", 8,
		    "uses \\1 but the regular expression has no");
	assert_false(hba_ident_has_map(id, "bad"));
	assert_false(hba_ident_has_map(id, "noref"));
	hba_ident_free(id);
	hba_diags_free(&d);

	/* PgBouncer's way (the default): compared as a plain name. */
	id = ident(text, 0, &d);
	assert_false(hba_ident_ok(id, "plain", "root", "postgres"));
	assert_true(hba_ident_ok(id, "plain", "/^root$", "postgres"));
	assert_true(hba_ident_ok(id, "noref", "/^root$", "\\1"));
	assert_true(hba_ident_ok(id, "quot", "/^r{1,2}oot$", "postgres"));
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 8);
	expect_diag(&d, 0, HBA_SEV_WARNING, "id.conf", 1,
		    "regular expressions are not supported");
	hba_ident_free(id);
	hba_diags_free(&d);
}

static void test_ident_regex_limits(void **state)
{
	static const char text[] =
		"ok1 \"/^[a-z]{1,32}@(x|y)\\.example$\" all\n"
		"ok2 /^(a+)+b[*+?]{2}[[:alpha:]]*$ all\n"
		"ok3 /^((a{8}){8}){16}$ all\n"
		"ok4 /^a\\+\\+$ all\n"
		"no1 /^a++$ all\n"
		"no2 /^a*{2}$ all\n"
		"no3 /^((a{16}){8}){9}$ all\n"
		"no4 /^(a)\\1$ all\n"
		"no5 /^a{99999999999999999999}$ all\n"
		"no6 /^a?*$ all\n";
	hba_diags_t d = {0};
	hba_ident_t *id = ident(text, HBA_IDENT_REGEX, &d);
	char line[300];
	int i;
	(void)state;

	assert_true(hba_ident_ok(id, "ok1", "ann@y.example", "x"));
	assert_true(hba_ident_ok(id, "ok2", "aaab**", "x"));
	assert_true(hba_ident_ok(id, "ok4", "a++", "x"));
	assert_true(hba_ident_has_map(id, "ok3"));
	assert_int_equal(d.errors, 6);
	expect_diag(&d, 0, HBA_SEV_ERROR, "id.conf", 5,
		    "a repetition right after another is not supported");
	expect_diag(&d, 1, HBA_SEV_ERROR, "id.conf", 6, "right after another");
	expect_diag(&d, 2, HBA_SEV_ERROR, "id.conf", 7,
		    "repetition counts multiply past 1024");
	expect_diag(&d, 3, HBA_SEV_ERROR, "id.conf", 8,
		    "back-references are not supported");
	expect_diag(&d, 4, HBA_SEV_ERROR, "id.conf", 9, "multiply past");
	expect_diag(&d, 5, HBA_SEV_ERROR, "id.conf", 10, "right after");
	hba_ident_free(id);
	hba_diags_free(&d);

	/* Length: HBA_MAX_REGEX bytes after the slash. */
	for (i = 0; i < 2; i++) {
		memset(line, 'a', sizeof(line));
		memcpy(line, "m /", 3);
		memcpy(line + 3 + HBA_MAX_REGEX + i, " all", 5);
		id = ident(line, HBA_IDENT_REGEX, &d);
		assert_int_equal(hba_ident_has_map(id, "m"), i == 0);
		assert_int_equal(d.errors, i);
		hba_ident_free(id);
	}
	expect_diag(&d, 0, HBA_SEV_ERROR, "id.conf", 1,
		    "longer than 256 bytes");
	hba_diags_free(&d);
}

static void test_ident_files(void **state)
{
	hba_diags_t d = {0};
	hba_ident_t *id;
	char *big;
	size_t i;
	(void)state;

	write_file("pg_ident.conf", "m1 u1 p1\n");
	id = hba_ident_load(path_in("pg_ident.conf"), 0, &d);
	assert_non_null(id);
	assert_true(hba_ident_ok(id, "m1", "u1", "p1"));
	hba_ident_free(id);
	assert_null(hba_ident_load(path_in("none.conf"), 0, &d));
	expect_diag(&d, 0, HBA_SEV_ERROR, path_in("none.conf"), 0,
		    "cannot read ident file");
	hba_diags_free(&d);

	/* Entry limit: the line past it and the rest are ignored. */
	big = malloc((HBA_MAX_IDENT_ENTRIES + 2) * 6);
	assert_non_null(big);
	for (i = 0; i < HBA_MAX_IDENT_ENTRIES + 2; i++)
		memcpy(big + i * 6, "m a b\n", 6);
	id = hba_ident_parse(big, (HBA_MAX_IDENT_ENTRIES + 2) * 6, "id", 0, &d);
	assert_non_null(id);
	assert_int_equal(d.errors, 1);
	expect_diag(&d, 0, HBA_SEV_ERROR, "id", HBA_MAX_IDENT_ENTRIES + 1,
		    "more than 100000 map lines");
	hba_ident_free(id);
	hba_diags_free(&d);
	assert_null(hba_ident_parse(big, HBA_MAX_FILE_SIZE + 1, "id", 0, &d));
	expect_diag(&d, 0, HBA_SEV_ERROR, "id", 0, "larger than");
	hba_diags_free(&d);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_bad_methods),
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_database_field),
		cmocka_unit_test(test_replication),
		cmocka_unit_test(test_user_field),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_good_masks),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_lexing),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_at_files),
		cmocka_unit_test(test_reader_limits),
		cmocka_unit_test(test_line_limits),
		cmocka_unit_test(test_rule_and_diag_limits),
		cmocka_unit_test(test_name_limit),
		cmocka_unit_test(test_big_file_on_disk),
		cmocka_unit_test(test_set_addr),
		cmocka_unit_test(test_ident_literal),
		cmocka_unit_test(test_ident_regex),
		cmocka_unit_test(test_ident_regex_limits),
		cmocka_unit_test(test_ident_files),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
