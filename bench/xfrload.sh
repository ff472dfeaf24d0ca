#!/usr/bin/env bash
# Reloads and zone transfers under query load: runs the test TestServingUnderLoad
# (cmd/warden/underload_test.go) longer and at a higher query rate than `go test` does by default,
# and prints its figures.
#
# What runs, all on loopback: Warden (in the test process) serves load.test. from a file rewritten
# with a higher serial every 150 ms (watch_interval 100ms) and sec.test. as a secondary of a knotd
# primary that changes every 300 ms and NOTIFYs (IXFR in); a knotd secondary follows load.test.
# (NOTIFY, IXFR out); `warden ctl reload` and SIGHUP alternate every 400 ms. dnsperf sends a fixed
# rate of queries over both zones and must lose none; two checkers ask, one at a time, names whose
# answers say which version of the zone they come from, and fail on any answer that mixes versions,
# is older than one seen before, or is not an authoritative answer. At the end every copy must hold
# the last version.
#
# Usage (from the repository root): bench/xfrload.sh
# Environment (defaults in brackets):
#   XFRLOAD_SECONDS [60]    seconds of load (at most 600)
#   XFRLOAD_QPS [10000]     dnsperf queries per second
#   XFRLOAD_CPUS [unset]    taskset CPU list for the whole test process (Warden, checkers) and the
#                           peers it starts; unset: no pinning
set -euo pipefail

SECONDS_OF_LOAD=${XFRLOAD_SECONDS:-60}
QPS=${XFRLOAD_QPS:-10000}
CPUS=${XFRLOAD_CPUS:-}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[xfrload.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in dnsperf knotd knotc go; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done
if ! [[ $SECONDS_OF_LOAD =~ ^[0-9]+$ ]] || [ "$SECONDS_OF_LOAD" -lt 1 ] || [ "$SECONDS_OF_LOAD" -gt 600 ]; then
	die "XFRLOAD_SECONDS=$SECONDS_OF_LOAD: want 1..600"
fi
[[ $QPS =~ ^[0-9]+$ ]] || die "XFRLOAD_QPS=$QPS: want a whole number"

TMP=$(mktemp -d --suffix=.warden-xfrload)
trap 'rm -rf "$TMP"' EXIT

log "building the test binary"
go test -c -o "$TMP/warden.test" ./cmd/warden
pin=()
[ -z "$CPUS" ] || pin=(taskset -c "$CPUS")
log "running $SECONDS_OF_LOAD s at $QPS queries/s"
rc=0
UNDERLOAD_SECONDS=$SECONDS_OF_LOAD UNDERLOAD_QPS=$QPS "${pin[@]}" "$TMP/warden.test" \
	-test.run '^TestServingUnderLoad$' -test.count 1 -test.v -test.timeout "$((SECONDS_OF_LOAD + 120))s" \
	>"$TMP/out" 2>&1 || rc=$?
# The test's own summary lines, and its failures when it failed.
grep -E 'underload_test.go:[0-9]+: (load|dnsperf|checker|during the run):' "$TMP/out" | sed 's/^ *underload_test.go:[0-9]*: //' || true
if [ "$rc" != 0 ]; then
	tail -n 40 "$TMP/out" >&2
	die "the test failed (exit $rc)"
fi
grep -q -- '--- PASS: TestServingUnderLoad' "$TMP/out" || { tail -n 20 "$TMP/out" >&2; die "the test did not run (skipped?)"; }
echo "PASS: no query lost, every answer one whole version, every copy at the last version"
