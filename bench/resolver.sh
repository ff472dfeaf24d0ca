#!/usr/bin/env bash
# Cache-hit performance of Warden against Unbound as resolvers: both forward bench.test. to the same
# knotd and, after a warm-up that puts every name of the query file in their caches, answer the
# same queries with dnsperf. Knot's CPU time is read before and after each measurement to show that
# the upstream stayed idle (every answer came from the cache).
#
# Method as bench/auth.sh: resolver pinned to CPU 0, knotd and dnsperf to CPU 1, net.core.rmem_*
# raised for the run and restored, servers interleaved (W U W U W U), server CPU per answered query
# from /proc (utime+stime of all threads), and a fixed-rate run for latency percentiles.
#
# Usage (from the repository root): bench/resolver.sh
# Environment: RBENCH_REPS [3], RBENCH_DURATION [10], RBENCH_RATE [20000], RBENCH_NAMES [10000]
set -euo pipefail

REPS=${RBENCH_REPS:-3}
DURATION=${RBENCH_DURATION:-10}
RATE=${RBENCH_RATE:-20000}
NAMES=${RBENCH_NAMES:-10000}
ADDR=127.0.0.1
ORIGIN=bench.test.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

log() { printf '[resolver.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in dig taskset knotd unbound dnsperf go awk ss; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done

TMP=$(mktemp -d /tmp/warden-rbench.XXXXXX)
PIDS=()
ORIG_RMEM_DEFAULT=$(sysctl -n net.core.rmem_default)
ORIG_RMEM_MAX=$(sysctl -n net.core.rmem_max)
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	sysctl -qw net.core.rmem_default="$ORIG_RMEM_DEFAULT" net.core.rmem_max="$ORIG_RMEM_MAX" || true
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
sysctl -qw net.core.rmem_default=4194304 net.core.rmem_max=4194304

next_port() { local p=$1; while port_busy "$p"; do p=$((p + 1)); done; echo "$p"; }
KPORT=$(next_port 15450)
WPORT=$(next_port $((KPORT + 1)))
UPORT=$(next_port $((WPORT + 1)))

log "generating a $NAMES-record zone and the query file"
go run ./bench/genzone -n "$NAMES" -zone "$TMP/zone" -queries "$TMP/all" -nq 100000 -nx 0 2>/dev/null
# Every name once for the warm-up, the shuffled file for the runs.
sort -u "$TMP/all" >"$TMP/warm"

write_knot_conf "$TMP/knot" "$ADDR" "$KPORT" "$ORIGIN" "$TMP/zone"
taskset -c 1 knotd -c "$TMP/knot/knot.conf" >"$TMP/knot.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")

go build -o "$TMP/warden" ./cmd/warden
taskset -c 0 "$TMP/warden" serve --listen "$ADDR:$WPORT" --forward "$ORIGIN=$ADDR:$KPORT" >"$TMP/warden.log" 2>&1 &
WPID=$!
PIDS+=("$WPID")

cat >"$TMP/unbound.conf" <<-EOF
	server:
	    interface: $ADDR@$UPORT
	    port: $UPORT
	    do-daemonize: no
	    username: ""
	    chroot: ""
	    directory: "$TMP"
	    pidfile: "$TMP/unbound.pid"
	    use-syslog: no
	    logfile: ""
	    num-threads: 1
	    do-ip6: no
	    so-reuseport: no
	    do-not-query-localhost: no
	    access-control: 127.0.0.0/8 allow
	    module-config: "iterator"
	    msg-cache-size: 64m
	    rrset-cache-size: 128m
	    prefetch: no
	forward-zone:
	    name: "$ORIGIN"
	    forward-addr: $ADDR@$KPORT
	remote-control:
	    control-enable: no
EOF
taskset -c 0 unbound -d -c "$TMP/unbound.conf" >"$TMP/unbound.log" 2>&1 &
UPID=$!
PIDS+=("$UPID")

wait_ready() {
	for _ in $(seq 1 100); do
		dig +short +time=1 +tries=1 @"$ADDR" -p "$1" h1.bench.test. A >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "nothing answers on port $1"
}
for p in "$KPORT" "$WPORT" "$UPORT"; do wait_ready "$p"; done
# knotd pins its threads itself; keep all of them on CPU 1 with dnsperf, away from the resolvers.
taskset -a -p -c 1 "$KPID" >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

log "warming both caches with every name"
for p in "$WPORT" "$UPORT"; do
	taskset -c 1 dnsperf -s "$ADDR" -p "$p" -d "$TMP/warm" -c 1 -q 50 -n 1 >/dev/null 2>&1
done

RES=$TMP/results
: >"$RES"
# measure NAME PID PORT KIND: one dnsperf run ("max" or fixed-rate "lat"); appends
# "name kind qps cpu-us/q upstream-ticks p50 p99" to RES.
measure() {
	local name=$1 pid=$2 port=$3 kind=$4 out=$TMP/out a b ka kb qps t0 t1 hz
	local -a args=(-s "$ADDR" -p "$port" -d "$TMP/all" -c 1 -q 500 -S 1 -l "$DURATION")
	if [ "$kind" = lat ]; then args+=(-Q "$RATE" -v); fi
	taskset -c 1 dnsperf "${args[@]}" >"$out" 2>&1 &
	local dp=$!
	sleep 2
	a=$(cpu_ticks "$pid"); ka=$(cpu_ticks "$KPID"); t0=$(now)
	sleep $((DURATION - 4))
	b=$(cpu_ticks "$pid"); kb=$(cpu_ticks "$KPID"); t1=$(now)
	wait "$dp"
	qps=$(awk '/Queries per second/ {print $4}' "$out")
	local p50=- p99=-
	if [ "$kind" = lat ]; then
		read -r p50 p99 < <(awk '/^> [A-Z]+ /{print $NF * 1e6}' "$out" | sort -g |
			awk '{v[NR] = $1} END {printf "%.0f %.0f\n", v[int(NR * 0.5 + 0.9)], v[int(NR * 0.99 + 0.9)]}')
	fi
	hz=$(getconf CLK_TCK)
	awk -v n="$name" -v k="$kind" -v q="$qps" -v a="$a" -v b="$b" -v ka="$ka" -v kb="$kb" \
		-v t0="$t0" -v t1="$t1" -v hz="$hz" -v p50="$p50" -v p99="$p99" \
		'BEGIN { us = (b - a) / hz * 1e6 / (q * (t1 - t0)); printf "%s %s %.0f %.2f %d %s %s\n", n, k, q, us, kb - ka, p50, p99 }' >>"$RES"
	log "$(tail -n 1 "$RES")"
}
for _ in $(seq 1 "$REPS"); do
	measure warden "$WPID" "$WPORT" max
	measure warden "$WPID" "$WPORT" lat
	measure unbound "$UPID" "$UPORT" max
	measure unbound "$UPID" "$UPORT" lat
done

echo "== Runs (name kind qps cpu-us/q upstream-ticks p50-us p99-us)"
cat "$RES"
echo
echo "== Medians over $REPS rounds"
awk '
	function median(k,   n, i, j, t, v) {
		n = split(vals[k], v, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
		return v[int((n + 1) / 2)]
	}
	{
		vals[$1 "," $2 ",qps"] = vals[$1 "," $2 ",qps"] " " $3
		vals[$1 "," $2 ",cpu"] = vals[$1 "," $2 ",cpu"] " " $4
		up[$1] += $5
		if ($2 == "lat") { vals[$1 ",p50"] = vals[$1 ",p50"] " " $6; vals[$1 ",p99"] = vals[$1 ",p99"] " " $7 }
	}
	END {
		printf "%-10s %10s %10s %14s %8s %8s %16s\n", "server", "qps(max)", "cpu-us/q", "cpu-us/q@rate", "p50-us", "p99-us", "upstream-ticks"
		split("warden unbound", order, " ")
		for (i = 1; i <= 2; i++) {
			s = order[i]
			m[s, 1] = median(s ",max,qps"); m[s, 2] = median(s ",max,cpu"); m[s, 3] = median(s ",lat,cpu")
			m[s, 4] = median(s ",p50"); m[s, 5] = median(s ",p99")
			printf "%-10s %10.0f %10.2f %14.2f %8.0f %8.0f %16d\n", s, m[s, 1], m[s, 2], m[s, 3], m[s, 4], m[s, 5], up[s]
		}
		printf "%-10s %10.2f %10.2f %14.2f %8.2f %8.2f\n", "W/U", m["warden", 1] / m["unbound", 1], m["warden", 2] / m["unbound", 2],
			m["warden", 3] / m["unbound", 3], m["warden", 4] / m["unbound", 4], m["warden", 5] / m["unbound", 5]
	}' "$RES"
echo "upstream-ticks: knotd CPU ticks during the measurements (0: every answer came from the cache)."
echo "settings: resolvers on CPU 0, knotd and dnsperf on CPU 1; dnsperf -c 1 -q 500 -S 1 -l $DURATION [-Q $RATE -v];" \
	"$(go version | awk '{print $3}'), $(unbound -V 2>&1 | head -n 1)"
