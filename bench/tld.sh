#!/usr/bin/env bash
# A TLD-shaped zone: load time and memory of Warden, Knot DNS and NSD, and the CPU each spends on a
# referral or DS answer from it, next to the same figure for the 10,000-record bench.test. zone
# served by the same process in the same run.
#
# Each server serves two zones: tld. (go run ./bench/genzone -tld: TLD_DELEGATIONS delegations with
# NS, 30 % with DS, 10 % with glue) and bench.test. (10,000 records). For each server and
# repetition (interleaved: A B C A B C ...): start it pinned to SERVER_CPU, poll the last
# delegation of tld. until it is answered (load time: the zone served whole), read its memory
# (PSS summed over the process and its children: NSD serves from forked ones), again after
# TLD_SETTLE s, and the peak (the largest VmHWM of one of them); then, for the tld. queries and
# then the bench.test. ones, dnsperf (pinned to CLIENT_CPU) sends each query once (answers that
# a server builds on first use are built) and then runs at the highest rate it can for
# TLD_DURATION s; the server's CPU (utime+stime of all its threads and children) over that run
# divided by the queries answered is CPU-µs per answer. Medians over the repetitions.
#
# Usage (from the repository root, as root: net.core.rmem_* is raised for the run and restored):
#   bench/tld.sh
# Environment (defaults in brackets):
#   TLD_DELEGATIONS [1000000]  delegations in tld.
#   TLD_REPS [3]               repetitions
#   TLD_SETTLE [2]             seconds between the first answer and the second RSS reading
#   TLD_TIMEOUT [900]          seconds to wait for a server to load
#   TLD_SERVERS ["warden knot nsd"]
#   TLD_QPS_SERVERS [same as TLD_SERVERS]  servers also run under dnsperf ("" for none)
#   TLD_DURATION [10]          seconds of each dnsperf run
#   TLD_QUERIES [200000]       lines in each query file
#   TLD_ADDR [127.0.0.1]       loopback address of the servers
#   TLD_PORT_BASE [15520]      first port tried; busy ports are skipped
#   TLD_RMEM [4194304]         net.core.rmem_default/rmem_max during the dnsperf runs
#   SERVER_CPU [0], CLIENT_CPU [1]
#   WARDEN_BIN [unset]         use this warden binary instead of building ./cmd/warden
set -euo pipefail

N=${TLD_DELEGATIONS:-1000000}
REPS=${TLD_REPS:-3}
SETTLE=${TLD_SETTLE:-2}
TIMEOUT=${TLD_TIMEOUT:-900}
SERVERS=${TLD_SERVERS:-warden knot nsd}
QPS_SERVERS=${TLD_QPS_SERVERS-$SERVERS}
DURATION=${TLD_DURATION:-10}
NQ=${TLD_QUERIES:-200000}
ADDR=${TLD_ADDR:-127.0.0.1}
PORT_BASE=${TLD_PORT_BASE:-15520}
RMEM=${TLD_RMEM:-4194304}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

log() { printf '[tld.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in dig taskset knotd nsd dnsperf go awk ss sysctl; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done

TMP=$(mktemp -d)
SERVER_PID=
ORIG_RMEM_DEFAULT=$(sysctl -n net.core.rmem_default)
ORIG_RMEM_MAX=$(sysctl -n net.core.rmem_max)
SYSCTL_CHANGED=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if [ "$SYSCTL_CHANGED" = 1 ]; then
		sysctl -qw net.core.rmem_default="$ORIG_RMEM_DEFAULT" || true
		sysctl -qw net.core.rmem_max="$ORIG_RMEM_MAX" || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(next_port "$PORT_BASE")

TLD_ZONE=$TMP/tld.zone
TLD_QUERIES=$TMP/tld-queries.txt
BENCH_ZONE=$TMP/bench.test.zone
BENCH_QUERIES=$TMP/bench-queries.txt
log "generating tld. with $N delegations and bench.test. with 10,000 records"
go run ./bench/genzone -tld -n "$N" -zone "$TLD_ZONE" -queries "$TLD_QUERIES" -nq "$NQ" 2>&1 | sed 's/^/[tld.sh] /' >&2
go run ./bench/genzone -n 10000 -zone "$BENCH_ZONE" -queries "$BENCH_QUERIES" -nq "$NQ" 2>&1 | sed 's/^/[tld.sh] /' >&2
ZONE_MIB=$(du -m "$TLD_ZONE" | awk '{print $1}')
RECORDS=$(wc -l <"$TLD_ZONE")
LAST="d$((N - 1)).tld."
# The last record of bench.test.: a server that answers it has read that zone whole.
read -r BENCH_LAST BENCH_LAST_TYPE < <(tail -n 1 "$BENCH_ZONE" | awk '{print $1, $4}')

mkdir -p "$TMP/knot" "$TMP/nsd"
write_knot_conf "$TMP/knot" "$ADDR" "$PORT" tld. "$TLD_ZONE" bench.test. "$BENCH_ZONE"
cat >"$TMP/nsd/nsd.conf" <<EOF
server:
    ip-address: $ADDR@$PORT
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$TMP/nsd"
    zonelistfile: "$TMP/nsd/zone.list"
    xfrdfile: "$TMP/nsd/xfrd.state"
    xfrdir: "$TMP/nsd"
    pidfile: "$TMP/nsd/nsd.pid"
    rrl-ratelimit: 0
    minimal-responses: yes
    verbosity: 0
remote-control:
    control-enable: no
zone:
    name: tld.
    zonefile: "$TLD_ZONE"
zone:
    name: bench.test.
    zonefile: "$BENCH_ZONE"
EOF

ACTIVE=()
for s in $SERVERS; do
	case $s in
	warden)
		if warden_binary tld.sh; then
			ACTIVE+=(warden)
		fi
		;;
	knot | nsd) ACTIVE+=("$s") ;;
	*) die "unknown server '$s' in TLD_SERVERS (warden, knot, nsd)" ;;
	esac
done
[ "${#ACTIVE[@]}" -gt 0 ] || die "no server to measure"

if [ -n "$QPS_SERVERS" ] && [ "$RMEM" -gt "$ORIG_RMEM_DEFAULT" ]; then
	SYSCTL_CHANGED=1
	sysctl -qw net.core.rmem_max="$((RMEM > ORIG_RMEM_MAX ? RMEM : ORIG_RMEM_MAX))"
	sysctl -qw net.core.rmem_default="$RMEM"
fi

# answered NAME TYPE: true when the server answers with NOERROR and records in the answer or (a
# referral) the authority section.
answered() {
	dig +norec +tries=1 +time=1 -p "$PORT" "@$ADDR" "$1" "$2" 2>/dev/null |
		awk '/status: NOERROR/ {ok = 1} /ANSWER: [1-9]|AUTHORITY: [1-9]/ {some = 1} END {exit !(ok && some)}'
}

# tree_pids PID: PID and its descendants (NSD serves from forked children).
tree_pids() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1" || true); do
		tree_pids "$c"
	done
}

# tree_cpu PID: utime+stime of the process tree, in seconds.
tree_cpu() {
	local p sum=0
	for p in $(tree_pids "$1"); do
		sum=$(awk -v a="$sum" -v b="$(cpu_s "$p" 2>/dev/null || echo 0)" 'BEGIN {printf "%.2f", a + b}')
	done
	echo "$sum"
}

# tree_mem PID: "PSS-KiB HWM-KiB" of the process tree: the proportional set sizes summed (forked
# children share the zone with their parent; RSS would count it once per process) and the
# largest peak RSS of one process.
tree_mem() {
	local p pss=0 hwm=0 x
	for p in $(tree_pids "$1"); do
		x=$(awk '$1 == "Pss:" {print $2; exit}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
		pss=$((pss + ${x:-0}))
		x=$(status_kib "$p" VmHWM 2>/dev/null || echo 0)
		[ "${x:-0}" -gt "$hwm" ] && hwm=$x
	done
	echo "$pss $hwm"
}

# cpu_per_answer QUERYFILE: each query once (so that every answer a server builds on first use
# exists), then dnsperf at full rate for DURATION s; prints "CPU-µs-per-answer qps".
cpu_per_answer() {
	local out=$TMP/dnsperf.out c0 c1 done
	taskset -c "$CLIENT_CPU" dnsperf -s "$ADDR" -p "$PORT" -d "$1" -n 1 -q 500 -c 1 >"$out.warm" 2>&1 || true
	c0=$(tree_cpu "$SERVER_PID")
	taskset -c "$CLIENT_CPU" dnsperf -s "$ADDR" -p "$PORT" -d "$1" -l "$DURATION" -q 500 -c 1 >"$out" 2>&1 || true
	c1=$(tree_cpu "$SERVER_PID")
	done=$(awk '/Queries completed:/ {print $3; exit}' "$out")
	awk -v a="$c0" -v b="$c1" -v n="${done:-0}" -v d="$DURATION" \
		'BEGIN {if (n > 0) printf "%.2f %.0f", (b - a) * 1e6 / n, n / d; else print "nan 0"}'
}

# loaded: both zones answered to their last name, so the server has read both whole.
loaded() { answered "$LAST" NS && answered "$BENCH_LAST" "$BENCH_LAST_TYPE"; }

RES=$TMP/results.txt
: >"$RES"

run_once() {
	local name=$1 rep=$2 t0 t1 load cpu rss0 rss1 hwm tld_cpu bench_cpu
	rm -rf "$TMP/knot/timers" "$TMP/knot/journal" "$TMP/knot/"*.pid "$TMP/nsd/"*.state "$TMP/nsd/zone.list" "$TMP/nsd/nsd.pid"
	t0=$(now)
	case $name in
	warden)
		taskset -c "$SERVER_CPU" "$TMP/warden" serve --listen "$ADDR:$PORT" \
			--zone "tld.=$TLD_ZONE" --zone "bench.test.=$BENCH_ZONE" >"$TMP/warden.log" 2>&1 &
		;;
	knot) taskset -c "$SERVER_CPU" knotd -c "$TMP/knot/knot.conf" >"$TMP/knot.log" 2>&1 & ;;
	nsd) taskset -c "$SERVER_CPU" nsd -d -c "$TMP/nsd/nsd.conf" >"$TMP/nsd.log" 2>&1 & ;;
	esac
	SERVER_PID=$!
	if ! await_load "$name" "$SERVER_PID" "$t0" "$TIMEOUT" "$SERVER_CPU" tld.sh "$TMP/$name.log" loaded; then
		kill -0 "$SERVER_PID" 2>/dev/null || SERVER_PID=
		return 1
	fi
	t1=$(now)
	cpu=$(tree_cpu "$SERVER_PID")
	read -r rss0 _ < <(tree_mem "$SERVER_PID")
	sleep "$SETTLE"
	read -r rss1 hwm < <(tree_mem "$SERVER_PID")
	load=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
	tld_cpu="nan 0"
	bench_cpu="nan 0"
	case " $QPS_SERVERS " in
	*" $name "*)
		taskset -a -p -c "$SERVER_CPU" "$SERVER_PID" >/dev/null 2>&1 || true
		tld_cpu=$(cpu_per_answer "$TLD_QUERIES")
		bench_cpu=$(cpu_per_answer "$BENCH_QUERIES")
		;;
	esac
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	echo "$name $rep $load $cpu $rss0 $rss1 $hwm $tld_cpu $bench_cpu" >>"$RES"
	log "$(printf '%-7s rep %d  load %6s s (CPU %6s s)  RSS %8d KiB (after %s s: %8d KiB)  peak %8d KiB  tld. %s  bench.test. %s (CPU-us/answer qps)' \
		"$name" "$rep" "$load" "$cpu" "$rss0" "$SETTLE" "$rss1" "$hwm" "$tld_cpu" "$bench_cpu")"
}

for ((rep = 1; rep <= REPS; rep++)); do
	for name in "${ACTIVE[@]}"; do
		run_once "$name" "$rep" || true
		sleep 0.5
	done
done

echo
echo "== Settings"
echo "zones:    tld., $N delegations, $RECORDS records, $ZONE_MIB MiB (go run ./bench/genzone -tld -n $N); bench.test., 10,000 records"
echo "servers:  taskset -c $SERVER_CPU; warden serve --listen $ADDR:PORT --zone tld.=... --zone bench.test.=..."
echo "          knotd (udp-workers 1, background-workers 1, zonefile-sync -1, journal-content none); nsd -d (server-count 1, rrl-ratelimit 0, minimal-responses yes)"
echo "load:     from process start until $LAST NS (the last delegation) and $BENCH_LAST $BENCH_LAST_TYPE (bench.test.'s last record) are answered"
echo "memory:   PSS of the process tree at that answer and $SETTLE s later, the largest VmHWM of one of its processes (peak) then; medians of $REPS runs"
echo "queries:  dnsperf -q 500 -c 1 -l $DURATION on CPU $CLIENT_CPU, after one pass of the file (-n 1); tld.: referrals (A, AAAA, NS, MX at or below a delegation) and 1 in 4 DS; bench.test.: genzone's mix"
echo "cpu/ans:  server utime+stime (all threads and children) over the timed dnsperf run / queries completed (µs)"
echo "versions: $(knotd --version 2>&1 | head -n 1), $(nsd -v 2>&1 | head -n 1), $(dnsperf -h 2>&1 | awk '/^Version/{print "dnsperf " $2; exit}'), $(go version | awk '{print $3}')"
echo "machine:  $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
awk -v order="${ACTIVE[*]}" '
	function median(s,   n, i, j, t, a) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ L[$1] = L[$1] " " $3; C[$1] = C[$1] " " $4; A[$1] = A[$1] " " $5; B[$1] = B[$1] " " $6; H[$1] = H[$1] " " $7
	  if ($8 != "nan") { T[$1] = T[$1] " " $8; TQ[$1] = TQ[$1] " " $9 }
	  if ($10 != "nan") { Z[$1] = Z[$1] " " $10; ZQ[$1] = ZQ[$1] " " $11 } }
	END {
		m = split(order, names, " ")
		printf "%-8s %8s %8s %9s %9s %9s %14s %14s %10s %12s\n", "server", "load-s", "cpu-s", "RSS-MiB", "settled", "peak-MiB", "tld-us/answer", "10k-us/answer", "tld/10k", "tld-qps"
		for (i = 1; i <= m; i++) {
			s = names[i]
			if (!(s in L)) continue
			t = (s in T) ? median(T[s]) : 0; z = (s in Z) ? median(Z[s]) : 0
			printf "%-8s %8.2f %8.2f %9.1f %9.1f %9.1f %14.2f %14.2f %10.2f %12.0f\n", s, median(L[s]), median(C[s]),
				median(A[s]) / 1024, median(B[s]) / 1024, median(H[s]) / 1024, t, z, (z > 0 ? t / z : 0), ((s in TQ) ? median(TQ[s]) : 0)
		}
	}' "$RES"
