#!/usr/bin/env bash
# Zone load time and memory: Warden against Knot DNS with a 1,000,000-record zone bench.test.
#
# For each server and repetition: start it on MEMLOAD_ADDR (pinned to CPU 0), poll a query for the
# zone's last name (the owner and type of the file's last line) until it is answered (load time =
# start to that answer: the zone served whole), then read VmRSS and VmHWM from /proc/PID/status
# right away and again after a short pause. Medians over the repetitions are shown.
#
# Usage (from the repository root): bench/memload.sh
# Environment (defaults in brackets):
#   MEMLOAD_RECORDS [1000000]    records in the zone
#   MEMLOAD_REPS [3]             repetitions (interleaved: A B A B A B)
#   MEMLOAD_SETTLE [2]           seconds between the first answer and the second RSS reading
#   MEMLOAD_TIMEOUT [300]        seconds to wait for a server to load the zone
#   MEMLOAD_CPUS [0]             taskset CPU list for the servers
#   MEMLOAD_SERVERS ["warden knot"]
#   MEMLOAD_PORT_BASE [15390]    first port tried; busy ports are skipped
#   MEMLOAD_ADDR [127.0.0.1]     the loopback address the servers listen on
#   WARDEN_GOMAXPROCS [unset]    passed to Warden when set
#   WARDEN_BIN [unset]           use this warden binary instead of building ./cmd/warden
set -euo pipefail

RECORDS=${MEMLOAD_RECORDS:-1000000}
REPS=${MEMLOAD_REPS:-3}
SETTLE=${MEMLOAD_SETTLE:-2}
TIMEOUT=${MEMLOAD_TIMEOUT:-300}
CPUS=${MEMLOAD_CPUS:-0}
SERVERS=${MEMLOAD_SERVERS:-warden knot}
PORT_BASE=${MEMLOAD_PORT_BASE:-15390}

ADDR=${MEMLOAD_ADDR:-127.0.0.1}
ORIGIN=bench.test.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

log() { printf '[memload.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in dig taskset knotd go awk ss; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done

TMP=$(mktemp -d /tmp/warden-memload.XXXXXX)
SERVER_PID=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$PORT_BASE
while port_busy "$PORT"; do
	PORT=$((PORT + 1))
done


ZONE=$TMP/bench.test.zone
log "generating the $RECORDS-record zone"
go run ./bench/genzone -n "$RECORDS" -zone "$ZONE" 2>&1 | sed 's/^/[memload.sh] /' >&2
ZONE_MIB=$(du -m "$ZONE" | awk '{print $1}')
# The last name of the file: a server that answers it has read the whole zone.
read -r LAST_NAME LAST_TYPE < <(tail -n 1 "$ZONE" | awk '{print $1, $4}')

write_knot_conf "$TMP/knot" "$ADDR" "$PORT" "$ORIGIN" "$ZONE"

ACTIVE=()
for s in $SERVERS; do
	case $s in
	warden)
		if warden_binary memload.sh; then
			ACTIVE+=(warden)
		fi
		;;
	knot) ACTIVE+=(knot) ;;
	*) die "unknown server '$s' in MEMLOAD_SERVERS (warden, knot)" ;;
	esac
done
[ "${#ACTIVE[@]}" -gt 0 ] || die "no server to measure"

RES=$TMP/results.txt
: >"$RES"

# answered PORT NAME TYPE: true when the server answers NAME TYPE with NOERROR and records in the
# answer or (a referral) the authority section.
answered() {
	dig +norec +tries=1 +time=1 -p "$1" "@$ADDR" "$2" "$3" 2>/dev/null |
		awk '/status: NOERROR/ {ok = 1} /ANSWER: [1-9]|AUTHORITY: [1-9]/ {some = 1} END {exit !(ok && some)}'
}

# run_once NAME REP: start NAME, time its first SOA answer, read its memory, stop it.
run_once() {
	local name=$1 rep=$2 t0 t1 load cpu rss0 rss1 hwm
	rm -rf "$TMP/knot/timers" "$TMP/knot/journal" "$TMP/knot/"*.pid
	t0=$(now)
	case $name in
	warden)
		env ${WARDEN_GOMAXPROCS:+GOMAXPROCS="$WARDEN_GOMAXPROCS"} taskset -c "$CPUS" "$TMP/warden" serve --listen "$ADDR:$PORT" --zone "$ORIGIN=$ZONE" \
			>"$TMP/warden.log" 2>&1 &
		;;
	knot)
		taskset -c "$CPUS" knotd -c "$TMP/knot/knot.conf" >"$TMP/knot.log" 2>&1 &
		;;
	esac
	SERVER_PID=$!
	if ! await_load "$name" "$SERVER_PID" "$t0" "$TIMEOUT" "$CPUS" memload.sh "$TMP/$name.log" \
		answered "$PORT" "$LAST_NAME" "$LAST_TYPE"; then
		kill -0 "$SERVER_PID" 2>/dev/null || SERVER_PID=
		return 1
	fi
	t1=$(now)
	cpu=$(cpu_s "$SERVER_PID")
	rss0=$(status_kib "$SERVER_PID" VmRSS)
	sleep "$SETTLE"
	rss1=$(status_kib "$SERVER_PID" VmRSS)
	hwm=$(status_kib "$SERVER_PID" VmHWM)
	load=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	echo "$name $rep $load $rss0 $rss1 $hwm $cpu" >>"$RES"
	log "$(printf '%-7s rep %d  load %6s s (CPU %6s s)  RSS %7d KiB (after %s s: %7d KiB)  peak %7d KiB' \
		"$name" "$rep" "$load" "$cpu" "$rss0" "$SETTLE" "$rss1" "$hwm")"
}

for ((rep = 1; rep <= REPS; rep++)); do
	for name in "${ACTIVE[@]}"; do
		run_once "$name" "$rep"
		sleep 0.5
	done
done

echo
echo "== Settings"
echo "zone:     $ORIGIN, $RECORDS records, $ZONE_MIB MiB (go run ./bench/genzone -n $RECORDS)"
echo "servers:  taskset -c $CPUS; warden serve --listen $ADDR:PORT --zone $ORIGIN=ZONE${WARDEN_GOMAXPROCS:+ (GOMAXPROCS=$WARDEN_GOMAXPROCS)}"
echo "          knotd -c knot.conf (udp-workers 1, background-workers 1, zonefile-sync -1, journal-content none)"
echo "load:     from process start until dig @$ADDR -p PORT $LAST_NAME $LAST_TYPE (the file's last record) is answered (polled every ~20 ms)"
echo "cpu:      utime+stime of all the server's threads at the first answer (less sensitive to other load than load-s)"
echo "memory:   VmRSS at the first answer and $SETTLE s later, VmHWM (peak RSS) after those $SETTLE s; medians of $REPS runs"
echo "versions: $(knotd --version 2>&1 | head -n 1), $(go version | awk '{print $3}')"
echo
awk -v order="${ACTIVE[*]}" '
	function median(s,   n, i, j, t, a) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ load[$1] = load[$1] " " $3; r0[$1] = r0[$1] " " $4; r1[$1] = r1[$1] " " $5; hw[$1] = hw[$1] " " $6; cp[$1] = cp[$1] " " $7 }
	END {
		m = split(order, names, " ")
		printf "%-8s %10s %10s %14s %14s %14s\n", "server", "load-s", "load-cpu-s", "RSS-MiB", "RSS+settle-MiB", "peak-MiB"
		for (i = 1; i <= m; i++) {
			s = names[i]
			L[s] = median(load[s]); C[s] = median(cp[s])
			A[s] = median(r0[s]) / 1024; B[s] = median(r1[s]) / 1024; H[s] = median(hw[s]) / 1024
			printf "%-8s %10.2f %10.2f %14.1f %14.1f %14.1f\n", s, L[s], C[s], A[s], B[s], H[s]
		}
		if (("warden" in L) && ("knot" in L) && L["knot"] > 0 && C["knot"] > 0)
			printf "%-8s %10.2f %10.2f %14.2f %14.2f %14.2f\n", "w/knot", L["warden"] / L["knot"], C["warden"] / C["knot"],
				A["warden"] / A["knot"], B["warden"] / B["knot"], H["warden"] / H["knot"]
	}' "$RES"
