// pgjdbc through the pooler with the driver's defaults (prepareThreshold=5):
// THREADS connections, each running two PreparedStatements ITERATIONS times
// concurrently, so that after the fifth execution pgjdbc switches to named
// server-side statements (S_1, S_2, ...) and every connection uses the same
// names while its transactions move between the pool's server connections.
//
// Usage: java -cp postgresql.jar:DIR PgjdbcPrepared JDBC_URL USER THREADS ITERATIONS
// Prints one line: RESULT ok=<n> failed=<n> pids=<distinct backend pids>
//   moved=<connections that saw more than one backend> serverprepared=<n>
// and, for each failure (at most 10), a line: ERROR <message>.
// Exit code 0 when every execution returned the right value, 1 otherwise.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

public class PgjdbcPrepared {
	public static void main(String[] args) throws Exception {
		final String url = args[0];
		final String user = args[1];
		final int threads = Integer.parseInt(args[2]);
		final int iterations = Integer.parseInt(args[3]);
		final AtomicInteger ok = new AtomicInteger();
		final AtomicInteger failed = new AtomicInteger();
		final AtomicInteger moved = new AtomicInteger();
		final AtomicInteger serverPrepared = new AtomicInteger();
		final Set<Integer> pids = Collections.synchronizedSet(new HashSet<Integer>());
		final List<String> errors = Collections.synchronizedList(new ArrayList<String>());
		// all connected before any runs, so that they share the pool's servers
		final CyclicBarrier start = new CyclicBarrier(threads);
		List<Thread> ts = new ArrayList<Thread>();
		for (int t = 0; t < threads; t++) {
			final int id = t;
			Thread th = new Thread(new Runnable() {
				public void run() {
					Set<Integer> mine = new HashSet<Integer>();
					Properties props = new Properties();
					props.setProperty("user", user);
					props.setProperty("connectTimeout", "10");
					props.setProperty("socketTimeout", "30");
					try (Connection c = DriverManager.getConnection(url, props)) {
						PreparedStatement add = c.prepareStatement(
							"SELECT ?::int + 1, pg_backend_pid()");
						PreparedStatement cat = c.prepareStatement(
							"SELECT ?::text || '-jdbc', pg_backend_pid()");
						start.await(20, TimeUnit.SECONDS);
						for (int i = 0; i < iterations; i++) {
							try {
								add.setInt(1, id * 1000 + i);
								try (ResultSet rs = add.executeQuery()) {
									rs.next();
									if (rs.getInt(1) != id * 1000 + i + 1)
										throw new IllegalStateException("wrong sum " + rs.getInt(1));
									mine.add(rs.getInt(2));
								}
								cat.setString(1, "v" + i);
								try (ResultSet rs = cat.executeQuery()) {
									rs.next();
									if (!rs.getString(1).equals("v" + i + "-jdbc"))
										throw new IllegalStateException("wrong text " + rs.getString(1));
									mine.add(rs.getInt(2));
								}
								ok.incrementAndGet();
							} catch (Exception e) {
								failed.incrementAndGet();
								if (errors.size() < 10)
									errors.add(e.toString().replace('\n', ' '));
							}
						}
						if (add.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare())
							serverPrepared.incrementAndGet();
						if (cat.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare())
							serverPrepared.incrementAndGet();
					} catch (Exception e) {
						start.reset(); /* the others stop waiting */
						failed.incrementAndGet();
						if (errors.size() < 10)
							errors.add(e.toString().replace('\n', ' '));
					}
					pids.addAll(mine);
					if (mine.size() > 1)
						moved.incrementAndGet();
				}
			});
			th.start();
			ts.add(th);
		}
		for (Thread th : ts)
			th.join(60000);
		System.out.println("RESULT ok=" + ok.get() + " failed=" + failed.get() + " pids=" + pids.size()
				   + " moved=" + moved.get() + " serverprepared=" + serverPrepared.get());
		for (String e : errors)
			System.out.println("ERROR " + e);
		System.out.flush();
		System.exit(failed.get() == 0 ? 0 : 1);
	}
}
