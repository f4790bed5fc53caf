# bench/lib.sh - sourced by bench/*.sh: the build and the throwaway cluster
# they share. Expects root, build, harness, BENCH_DATA and PGPORT set.

# bench_build DEST: (re)build pgswitch, always, since a stale binary would
# measure old code; copy it to DEST, readable by the unprivileged bench user.
bench_build() {
	cmake -S "$root" -B "$root/$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGSWITCH_TESTS=OFF >/dev/null
	cmake --build "$root/$build" -j2 >/dev/null
	cp "$root/$build/pgswitch" "$1"
	chmod 755 "$1"
}

# bench_cluster: a fresh cluster on PGPORT (scale SCALE, default 10). One
# left behind by an interrupted run is stopped by PID and removed first.
bench_cluster() {
	if [ -d "$BENCH_DATA/pg-$PGPORT" ]; then
		if [ -f "$BENCH_DATA/pg-$PGPORT/postmaster.pid" ]; then
			"$harness/pg-setup.sh" stop "$PGPORT" >/dev/null 2>&1 || true
		fi
		rm -rf "$BENCH_DATA/pg-$PGPORT"
	fi
	"$harness/pg-setup.sh" "$PGPORT" "${SCALE:-10}" >/dev/null
}
