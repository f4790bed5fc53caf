// node-postgres (npm "pg") through the pooler with its defaults: named
// statements ({name, text, values}), which pg prepares once per connection
// and then only Binds.  CLIENTS pg.Client connections plus one pg.Pool run
// ITERATIONS queries each, concurrently, so the pooler's few server
// connections are shared and a statement is Bound on servers that never
// saw its Parse.
//
// Usage: node node_pg.js PORT CLIENTS ITERATIONS   (NODE_PATH must reach "pg")
// Prints one JSON line: {"ok": n, "failed": n, "pids": n, "moved": n,
//   "errors": [...], "version": "..."}; exit code 0 when nothing failed.
'use strict';

const pg = require('pg');

const port = parseInt(process.argv[2], 10);
const clients = parseInt(process.argv[3], 10);
const iterations = parseInt(process.argv[4], 10);
const conf = {host: '127.0.0.1', port, user: 'postgres', database: 'postgres',
	connectionTimeoutMillis: 10000, query_timeout: 30000};

const sum = (i) => ({name: 'sum_stmt', text: 'SELECT $1::int + 1 AS v, pg_backend_pid() AS pid', values: [i]});
const cat = (i) => ({name: 'cat_stmt', text: "SELECT $1::text || '-node' AS v, pg_backend_pid() AS pid",
	values: ['v' + i]});

let ok = 0;
let failed = 0;
let moved = 0;
const pids = new Set();
const errors = [];

function fail(e) {
	failed++;
	if (errors.length < 10) errors.push(String(e && e.message ? e.message : e));
}

async function run(query, id) {
	const mine = new Set();
	for (let i = 0; i < iterations; i++) {
		try {
			const a = await query(sum(id * 1000 + i));
			if (a.rows[0].v !== id * 1000 + i + 1) throw new Error('wrong sum ' + a.rows[0].v);
			const b = await query(cat(i));
			if (b.rows[0].v !== 'v' + i + '-node') throw new Error('wrong text ' + b.rows[0].v);
			mine.add(a.rows[0].pid);
			mine.add(b.rows[0].pid);
			ok++;
		} catch (e) {
			fail(e);
		}
	}
	mine.forEach((p) => pids.add(p));
	if (mine.size > 1) moved++;
}

async function main() {
	// connect every client first, so that all of them run at the same time
	// and share the pooler's servers
	const conns = [];
	for (let i = 0; i < clients; i++) conns.push(new pg.Client(conf));
	const pool = new pg.Pool(Object.assign({max: 4}, conf));
	try {
		await Promise.all(conns.map((c) => c.connect()));
		const jobs = conns.map((c, i) => run((q) => c.query(q), i));
		for (let i = 0; i < 4; i++) jobs.push(run((q) => pool.query(q), clients + i));
		await Promise.all(jobs);
	} catch (e) {
		fail(e);
	}
	await Promise.all(conns.map((c) => c.end().catch(() => {})));
	await pool.end().catch(() => {});
	let version = 'unknown';
	try {
		version = require('pg/package.json').version;
	} catch (e) { /* older layouts */ }
	console.log(JSON.stringify({ok, failed, pids: pids.size, moved, errors, version}));
	process.exit(failed === 0 ? 0 : 1);
}

const timer = setTimeout(() => {
	console.log(JSON.stringify({ok, failed: failed + 1, pids: pids.size, moved,
		errors: errors.concat(['node_pg.js: gave up after 60 s']), version: 'unknown'}));
	process.exit(2);
}, 60000);
timer.unref();

main().catch((e) => {
	fail(e);
	console.log(JSON.stringify({ok, failed, pids: pids.size, moved, errors, version: 'unknown'}));
	process.exit(1);
});
