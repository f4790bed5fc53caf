#!/usr/bin/env bash
# Quickstart command 1: install what the demo needs (Debian 12), build
# pgswitch, and run it with no config file, which starts the demo
# (demo/demo.sh): a PostgreSQL it creates itself, pgswitch in front, load.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && [ "${SKIP_APT:-0}" != 1 ]; then
	export DEBIAN_FRONTEND=noninteractive
	need=()
	for p in build-essential cmake libssl-dev libpq-dev postgresql-15 postgresql-client-15 python3-psycopg; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	if [ ${#need[@]} -gt 0 ]; then
		apt-get update -q
		apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null
	fi
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGSWITCH_TESTS=OFF >/dev/null
cmake --build build -j2 >/dev/null
exec build/pgswitch
