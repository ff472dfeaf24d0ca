#!/usr/bin/env bash
# Authoritative-server benchmark: Warden against Knot DNS and NSD on loopback.
#
# All servers serve the same generated zone bench.test. (10,000 records) on 127.0.0.1, each on its own
# port, pinned to CPU 0; dnsperf is pinned to CPU 1. The servers are measured in turn, interleaved
# (A B C A B C A B C), and the table shows the median of the repetitions for every metric plus the
# ratios Warden/Knot and Warden/NSD. See bench/README.md for what each number means.
#
# Usage (from the repository root): bench/auth.sh
#
# Signed variant (BENCH_SIGNED=nsec or nsec3): the zone is signed with dnssec-signzone (ECDSA P-256,
# a KSK and a ZSK; NSEC3 without extra iterations or salt) and every query has DO=1 (dnsperf -D).
# Warden and Knot serve the signed zone, and Warden also the unsigned one ("warden-unsigned-*",
# asked the same DO=1 queries), so one run shows the cost of signatures in Warden's answers and
# Warden against Knot on the same signed zone.
# Environment (defaults in brackets):
#   BENCH_REPS [3]            repetitions of the A B C round
#   BENCH_DURATION [10]       seconds of each max-throughput dnsperf run
#   BENCH_LAT_DURATION [6]    seconds of each fixed-rate (latency) dnsperf run
#   BENCH_LAT_QPS [20000]     query rate of the latency run
#   BENCH_OUTSTANDING [500]   dnsperf -q (queries in flight) of the max-throughput run
#   BENCH_CLIENTS [1]         dnsperf -c (sockets)
#   BENCH_SKIP [2]            seconds cut from each end of a run for the CPU window (1 for latency runs)
#   BENCH_RECORDS [10000]     records in the zone
#   BENCH_QUERIES [100000]    lines in the query file
#   BENCH_RMEM [4194304]      net.core.rmem_default/rmem_max during the run (bytes)
#   BENCH_PORT_BASE [15310]   first port tried; busy ports are skipped
#   BENCH_SERVERS ["warden knot nsd"]  servers to run (any subset, in this order)
#   WARDEN_GOMAXPROCS ["1 2"] GOMAXPROCS values for Warden; each one runs as its own server
#   WARDEN_METRICS ["on"]     "on": metrics counted and served (--http); "off": no endpoint shows
#                             them, so none are counted. "off on" runs both, as servers of their own,
#                             interleaved with the others: the cost of metrics in one run
#   WARDEN_QUERY_LOG ["off"]  "on": every answer written to a query log (--query-log, in the
#                             temporary directory); "off on" runs both, as servers of their own,
#                             interleaved with the others: the cost of the log in one run
#   WARDEN_DNSTAP ["off"]     "on": dnstap of every answer to a real collector (fstrm_capture on the
#                             dnsperf CPU, writing a file in the temporary directory, checked at the
#                             end for frames); "off on" as for the others
#   WARDEN_OBSERVERS [unset]  "compare": instead of the three above, two Warden servers per GOMAXPROCS,
#                             everything off ("-all-off") and metrics, query log and dnstap all on
#                             ("-all-on"), interleaved; the report adds their ratios, of the medians
#                             and of each round's pair
#   BENCH_CACHE [0]           1: cache hits instead of authoritative answers. knotd (on the dnsperf
#                             CPU) serves the zone, Warden forwards bench.test. to it, and every
#                             name of the query file is asked once before the rounds; knotd's CPU
#                             and the Warden answers it saw are reported. Warden only.
#   BENCH_PPROF [unset]       an address (127.0.x.y): Warden built with -tags pprof, its profiler on
#                             this address; after the rounds, one more max run per Warden server
#                             (not counted) with a CPU profile of its middle, kept in BENCH_PPROF_DIR
#   BENCH_PPROF_DIR [.]       where the profiles go (NAME.cpu.pprof) and the binary (warden.pprof)
#   BENCH_SERVER_CPU [0]      CPUs the servers run on (a taskset list: "0-1" gives a server both)
#   BENCH_GEN_CPU [1]         CPUs dnsperf runs on; "0-1" with BENCH_SERVER_CPU=0-1 lets server and
#                             dnsperf share both CPUs, for WARDEN_GOMAXPROCS="1 2" on a 2-core machine
#                             (each run's log line then says how much CPU dnsperf itself took)
#   BENCH_ADDR [127.0.0.1]    the loopback address every server listens on
#   WARDEN_BIN [unset]        use this warden binary instead of building ./cmd/warden
#   BENCH_KEEP [0]            1: keep the temporary directory (logs, raw dnsperf output)
#   BENCH_QUIET_PCT [15]      before each run, wait until other processes use less than this % of a CPU
#   BENCH_QUIET_WAIT [3]      ... but at most this many seconds (three times that before a repeat)
#   BENCH_MAX_OTHER [20]      a run during which other processes used more than this % of a CPU (both CPUs
#                             together) is run again after the rounds, and the less disturbed one is kept
#   BENCH_RETRIES [6]         at most this many such repeats
#   BENCH_SIGNED [unset]      nsec or nsec3: the signed variant above
#   BENCH_ADDR [127.0.0.1]    loopback address the servers listen on
set -euo pipefail

log() { printf '[auth.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

REPS=${BENCH_REPS:-3}
DURATION=${BENCH_DURATION:-10}
LAT_DURATION=${BENCH_LAT_DURATION:-6}
LAT_QPS=${BENCH_LAT_QPS:-20000}
OUTSTANDING=${BENCH_OUTSTANDING:-500}
CLIENTS=${BENCH_CLIENTS:-1}
SKIP=${BENCH_SKIP:-2}
RECORDS=${BENCH_RECORDS:-10000}
NQUERIES=${BENCH_QUERIES:-100000}
RMEM=${BENCH_RMEM:-4194304}
PORT_BASE=${BENCH_PORT_BASE:-15310}
SIGNED=${BENCH_SIGNED:-}
case $SIGNED in
'' | nsec | nsec3) ;;
*) echo "[auth.sh] error: BENCH_SIGNED must be nsec or nsec3" >&2; exit 1 ;;
esac
if [ -n "$SIGNED" ]; then
	SERVERS=${BENCH_SERVERS:-warden knot}
	WARDEN_GOMAXPROCS=${WARDEN_GOMAXPROCS:-1}
else
	SERVERS=${BENCH_SERVERS:-warden knot nsd}
	WARDEN_GOMAXPROCS=${WARDEN_GOMAXPROCS:-1 2}
fi
WARDEN_METRICS=${WARDEN_METRICS:-on}
WARDEN_QUERY_LOG=${WARDEN_QUERY_LOG:-off}
WARDEN_DNSTAP=${WARDEN_DNSTAP:-off}
OBSERVERS=${WARDEN_OBSERVERS:-}
case $OBSERVERS in '' | compare) ;; *) die "WARDEN_OBSERVERS must be compare or unset" ;; esac
CACHE=${BENCH_CACHE:-0}
case $CACHE in 0 | 1) ;; *) die "BENCH_CACHE must be 0 or 1" ;; esac
if [ "$CACHE" = 1 ]; then
	[ -z "$SIGNED" ] || die "BENCH_CACHE=1 and BENCH_SIGNED do not go together"
	SERVERS=warden
fi
PPROF_ADDR=${BENCH_PPROF:-}
PPROF_DIR=${BENCH_PPROF_DIR:-.}
WARDEN_TAGS=
[ -z "$PPROF_ADDR" ] || WARDEN_TAGS=-tags=pprof
KEEP=${BENCH_KEEP:-0}
WARDEN_BIN=${WARDEN_BIN:-}
QUIET_PCT=${BENCH_QUIET_PCT:-15}
QUIET_WAIT=${BENCH_QUIET_WAIT:-3}
MAX_OTHER=${BENCH_MAX_OTHER:-20}
RETRIES=${BENCH_RETRIES:-6}

SERVER_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
ADDR=${BENCH_ADDR:-127.0.0.1}
ORIGIN=bench.test.
CLK_TCK=$(getconf CLK_TCK)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"


for tool in dnsperf dig taskset go awk sort pgrep ss sysctl getconf; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done
case " $WARDEN_DNSTAP $OBSERVERS " in *" on "* | *" compare "*)
	command -v fstrm_capture >/dev/null || die "fstrm_capture not found in PATH (package fstrm-bin)"
	command -v dnstap-read >/dev/null || die "dnstap-read not found in PATH (package bind9-utils)"
	;;
esac
[ "$CACHE" = 0 ] || command -v knotd >/dev/null || die "knotd not found in PATH (the upstream of BENCH_CACHE=1)"
[ -z "$PPROF_ADDR" ] || command -v curl >/dev/null || die "curl not found in PATH (BENCH_PPROF)"
if [ -n "$SIGNED" ]; then
	for tool in dnssec-keygen dnssec-signzone; do
		command -v "$tool" >/dev/null || die "$tool not found in PATH (package bind9-utils)"
	done
fi
case " $SERVERS " in *" knot "*) command -v knotd >/dev/null || die "knotd not found in PATH" ;; esac
case " $SERVERS " in *" nsd "*) command -v nsd >/dev/null || die "nsd not found in PATH" ;; esac
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (server on CPU $SERVER_CPU, dnsperf on CPU $GEN_CPU)"
if [ "$SKIP" -lt 1 ] || [ "$DURATION" -le $((2 * SKIP)) ]; then
	die "BENCH_SKIP must be at least 1 and BENCH_DURATION more than twice BENCH_SKIP"
fi
[ "$LAT_DURATION" -gt 2 ] || die "BENCH_LAT_DURATION must be at least 3"

# ---------------------------------------------------------------------------------------------------
# Cleanup: kill every server we started, restore the socket-buffer sysctls, remove the temp dir.
TMP=$(mktemp -d /tmp/warden-bench.XXXXXX)
PIDS=()
DNSPERF_PID=
ORIG_RMEM_DEFAULT=$(sysctl -n net.core.rmem_default)
ORIG_RMEM_MAX=$(sysctl -n net.core.rmem_max)
SYSCTL_CHANGED=0

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in $DNSPERF_PID "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "$SYSCTL_CHANGED" = 1 ]; then
		sysctl -qw net.core.rmem_default="$ORIG_RMEM_DEFAULT" || true
		sysctl -qw net.core.rmem_max="$ORIG_RMEM_MAX" || true
		log "restored net.core.rmem_default=$ORIG_RMEM_DEFAULT rmem_max=$ORIG_RMEM_MAX"
	fi
	if [ "$KEEP" = 1 ]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------
# Helpers.


NEXT_PORT=$PORT_BASE
PORT=
# alloc_port: sets PORT to the next free port at or above the last one handed out.
alloc_port() {
	while port_busy "$NEXT_PORT"; do
		NEXT_PORT=$((NEXT_PORT + 1))
	done
	PORT=$NEXT_PORT
	NEXT_PORT=$((NEXT_PORT + 1))
}

# tree_pids PID: PID and all its descendants (NSD serves from forked children).
tree_pids() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1" || true); do
		tree_pids "$c"
	done
}

# snapshot SERVER_PID DNSPERF_PIDS (either may be empty; DNSPERF_PIDS may be several: dnsperf and the
# other processes of the measurement that run on its CPU, a dnstap collector or an upstream): one reading, taken by a single process so that
# the numbers belong together: "UPTIME SERVER_TICKS DNSPERF_TICKS BUSY_TICKS". Process ticks are
# utime+stime of all threads of the process and its descendants (NSD serves from forked children); the
# kernel scales them to the scheduler's exact run time. BUSY_TICKS is the non-idle time of all CPUs
# (user, nice, system, irq, softirq, steal in /proc/stat): sampled per tick, so only a rough figure.
# All in units of 1/CLK_TCK s.
snapshot() {
	awk -v srv="$([ -z "$1" ] || tree_pids "$1" | tr '\n' ' ')" -v gen="$2" '
		function ticks(pid,   line, f) {
			line = ""
			if ((getline line < ("/proc/" pid "/stat")) <= 0) return 0
			close("/proc/" pid "/stat")
			sub(/^.*\) /, "", line); split(line, f, " ")
			return f[12] + f[13]
		}
		BEGIN {
			getline up < "/proc/uptime"; split(up, u, " ")
			while ((getline line < "/proc/stat") > 0) {
				split(line, f, " ")
				if (f[1] == "cpu") busy = f[2] + f[3] + f[4] + f[7] + f[8] + f[9]
			}
			n = split(srv, p, " ")
			for (i = 1; i <= n; i++) c += ticks(p[i])
			m = split(gen, g, " ")
			for (i = 1; i <= m; i++) o += ticks(g[i])
			printf "%s %d %d %d\n", u[1], c, o, busy
		}'
}

# wait_quiet: waits up to QUIET_WAIT seconds until the machine runs less than QUIET_PCT % of one CPU
# outside our servers and dnsperf (other users' builds and tests skew every number; see README).
wait_quiet() {
	local waited=0 a b pct
	while :; do
		a=$(snapshot "" "")
		sleep 1
		b=$(snapshot "" "")
		pct=$(awk -v a="$a" -v b="$b" -v hz="$CLK_TCK" \
			'BEGIN { split(a, x, " "); split(b, y, " "); printf "%d", (y[4] - x[4]) / hz / (y[1] - x[1]) * 100 }')
		if [ "$pct" -lt "$QUIET_PCT" ]; then
			return 0
		fi
		waited=$((waited + 1))
		if [ "$waited" -ge "$QUIET_WAIT" ]; then
			log "machine busy: other processes use ${pct}% of a CPU; measuring anyway"
			return 0
		fi
	done
}


# pin_tree PID CPU: pin every thread of PID and of its descendants to CPU.
pin_tree() {
	local p
	for p in $(tree_pids "$1"); do
		taskset -a -p -c "$2" "$p" >/dev/null
	done
}

# answered_in_window FILE T0 T1 INTERVAL: queries completed between T0 and T1, from dnsperf's -S lines
# ("EPOCH: QPS", each covering the INTERVAL seconds before EPOCH), scaled to the whole window.
answered_in_window() {
	awk -v t0="$2" -v t1="$3" -v iv="$4" '
		/^[0-9]+\.[0-9]+: [0-9.]+$/ {
			ts = $1 + 0; q = $2 + 0
			a = (prev == "") ? ts - iv : prev
			lo = (a > t0) ? a : t0; hi = (ts < t1) ? ts : t1
			if (hi > lo) { n += q * (hi - lo); cov += hi - lo }
			prev = ts
		}
		END { if (cov > 0) printf "%.0f\n", n * (t1 - t0) / cov; else print 0 }' "$1"
}

# dnsperf_field FILE LABEL: the first number after "LABEL:" in dnsperf's summary.
dnsperf_field() { awk -v l="$2:" '$0 ~ "^ *" l {sub(".*" l " *", ""); print $1 + 0; exit}' "$1"; }

# percentiles FILE: p50 and p99 in microseconds of the per-query latencies of a dnsperf -v run.
percentiles() {
	awk '/^> [A-Z]+ /{print $NF * 1e6}' "$1" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "nan nan"; exit }
			i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
			printf "%.0f %.0f\n", v[i50], v[i99]
		}'
}

# ---------------------------------------------------------------------------------------------------
# Zone and query file.
ZONE=$TMP/bench.test.zone
QUERIES=$TMP/queries.txt
log "generating $RECORDS-record zone and $NQUERIES queries"
go run ./bench/genzone -n "$RECORDS" -zone "$ZONE" -queries "$QUERIES" -nq "$NQUERIES" 2>&1 | sed 's/^/[auth.sh] /' >&2

# SERVED is the zone file the servers answer from: the signed one in the signed variant.
SERVED=$ZONE
DNSPERF_DO=()
if [ -n "$SIGNED" ]; then
	SERVED=$TMP/bench.test.signed
	mkdir -p "$TMP/keys"
	ksk=$(dnssec-keygen -q -K "$TMP/keys" -a ECDSAP256SHA256 -f KSK "$ORIGIN")
	zsk=$(dnssec-keygen -q -K "$TMP/keys" -a ECDSAP256SHA256 "$ORIGIN")
	cat "$ZONE" "$TMP/keys/$ksk.key" "$TMP/keys/$zsk.key" >"$TMP/bench.test.keyed"
	signargs=()
	[ "$SIGNED" = nsec3 ] && signargs=(-3 - -H 0)
	log "signing the zone ($SIGNED): dnssec-signzone ${signargs[*]} -o $ORIGIN"
	dnssec-signzone -q -K "$TMP/keys" -d "$TMP" "${signargs[@]}" -o "$ORIGIN" -f "$SERVED" "$TMP/bench.test.keyed" "$ksk" "$zsk" >&2
	DNSPERF_DO=(-D)
fi

# ---------------------------------------------------------------------------------------------------
# Servers. Each start_* function starts one server pinned to SERVER_CPU and records NAME PID PORT.
NAMES=()
declare -A PID_OF PORT_OF DESC_OF HTTP_OF COLLECTOR_OF PPROF_OF

# register NAME PID PORT DESCRIPTION; the server logs to $TMP/NAME.log.
register() {
	NAMES+=("$1")
	PID_OF[$1]=$2
	PORT_OF[$1]=$3
	DESC_OF[$1]=$4
	PIDS+=("$2")
}

# warden_observers METRICS QLOG DNSTAP NAME: sets EXTRA to the flags that turn each observer on
# ("on") or leave it off ("off"); a dnstap collector (fstrm_capture on GEN_CPU, outside the measured
# server, as a collector on another machine would be) is started for NAME when DNSTAP is on.
warden_observers() {
	local metrics=$1 qlog=$2 dnstap=$3 name=$4 sock
	# Without a control socket (two servers cannot share one), metrics are counted only when the
	# HTTP listener can show them.
	EXTRA=(--control none)
	case $metrics in
	on)
		alloc_port
		EXTRA+=(--http "$ADDR:$PORT")
		HTTP_OF[$name]=$ADDR:$PORT
		;;
	off) ;;
	*) die "WARDEN_METRICS: '$metrics' is neither on nor off" ;;
	esac
	case $qlog in
	on) EXTRA+=(--query-log "$TMP/qlog-$name") ;;
	off) ;;
	*) die "WARDEN_QUERY_LOG: '$qlog' is neither on nor off" ;;
	esac
	case $dnstap in
	on)
		sock=$TMP/dnstap-$name.sock
		taskset -c "$GEN_CPU" fstrm_capture -t protobuf:dnstap.Dnstap -u "$sock" \
			-w "$TMP/dnstap-$name.fstrm" >"$TMP/fstrm-$name.log" 2>&1 &
		COLLECTOR_OF[$name]=$!
		PIDS+=("$!")
		wait_socket "$sock" || die "fstrm_capture for $name did not listen on $sock"
		EXTRA+=(--dnstap "unix:$sock")
		;;
	off) ;;
	*) die "WARDEN_DNSTAP: '$dnstap' is neither on nor off" ;;
	esac
}

# wait_socket PATH: true once PATH exists (at most 10 s).
wait_socket() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# warden_configs: the observer settings of the Warden servers, one "NAME-SUFFIX METRICS QLOG DNSTAP"
# line each. WARDEN_OBSERVERS=compare gives two, everything off and everything on; otherwise every
# combination of WARDEN_METRICS, WARDEN_QUERY_LOG and WARDEN_DNSTAP, named after the settings that
# take more than one value.
warden_configs() {
	local metrics qlog dnstap suffix
	if [ "$OBSERVERS" = compare ]; then
		echo "-all-off off off off"
		echo "-all-on on on on"
		return
	fi
	for metrics in $WARDEN_METRICS; do
		for qlog in $WARDEN_QUERY_LOG; do
			for dnstap in $WARDEN_DNSTAP; do
				suffix=
				[ "$WARDEN_METRICS" = on ] || suffix+=-metrics-$metrics
				[ "$WARDEN_QUERY_LOG" = off ] || suffix+=-qlog-$qlog
				[ "$WARDEN_DNSTAP" = off ] || suffix+=-dnstap-$dnstap
				# "-" stands for no suffix: read would take an empty first word for the next.
				echo "${suffix:--} $metrics $qlog $dnstap"
			done
		done
	done
}

start_warden() {
	local gmp port pid
	if [ -n "$WARDEN_BIN" ]; then
		log "using prebuilt warden $WARDEN_BIN"
	else
		log "building warden: go build $WARDEN_TAGS -o $TMP/warden ./cmd/warden"
		# shellcheck disable=SC2086 # WARDEN_TAGS is empty or one -tags word
		if ! go build $WARDEN_TAGS -o "$TMP/warden" ./cmd/warden >"$TMP/warden-build.log" 2>&1; then
			log "SKIPPING warden: build failed:"
			head -n 15 "$TMP/warden-build.log" | sed 's/^/[auth.sh]   /' >&2
			return 0
		fi
		WARDEN_BIN=$TMP/warden
	fi
	local suffix metrics qlog dnstap name answer=(--zone "$ORIGIN=$SERVED") what="--zone $ORIGIN=ZONE" env
	if [ "$CACHE" = 1 ]; then
		answer=(--forward "$ORIGIN=$ADDR:$KNOT_UPSTREAM_PORT")
		what="--forward $ORIGIN=knotd"
	fi
	for gmp in $WARDEN_GOMAXPROCS; do
		while read -r suffix metrics qlog dnstap; do
			[ "$suffix" != - ] || suffix=
			alloc_port
			port=$PORT
			name=warden-gmp$gmp$suffix
			warden_observers "$metrics" "$qlog" "$dnstap" "$name"
			env=(GOMAXPROCS="$gmp")
			if [ -n "$PPROF_ADDR" ]; then
				alloc_port
				env+=(WARDEN_PPROF="$PPROF_ADDR:$PORT")
				PPROF_OF[$name]=$PPROF_ADDR:$PORT
			fi
			env "${env[@]}" taskset -c "$SERVER_CPU" "$WARDEN_BIN" serve --listen "$ADDR:$port" \
				"${answer[@]}" "${EXTRA[@]}" >"$TMP/$name.log" 2>&1 &
			pid=$!
			register "$name" "$pid" "$port" \
				"GOMAXPROCS=$gmp warden serve --listen $ADDR:$port $what${SIGNED:+ (signed, $SIGNED)} ${EXTRA[*]}"
			[ -n "$SIGNED" ] || continue
			# The same server on the zone unsigned: the cost of signatures, same run.
			alloc_port
			port=$PORT
			warden_observers "$metrics" "$qlog" "$dnstap" "warden-unsigned-${name#warden-}"
			GOMAXPROCS=$gmp taskset -c "$SERVER_CPU" "$WARDEN_BIN" serve --listen "$ADDR:$port" \
				--zone "$ORIGIN=$ZONE" "${EXTRA[@]}" >"$TMP/warden-unsigned-${name#warden-}.log" 2>&1 &
			pid=$!
			register "warden-unsigned-${name#warden-}" "$pid" "$port" \
				"GOMAXPROCS=$gmp warden serve --listen $ADDR:$port --zone $ORIGIN=ZONE (the zone unsigned) ${EXTRA[*]}"
		done < <(warden_configs)
	done
}

start_knot() {
	local port pid dir=$TMP/knot
	alloc_port
	port=$PORT
	write_knot_conf "$dir" "$ADDR" "$port" "$ORIGIN" "$SERVED"
	taskset -c "$SERVER_CPU" knotd -c "$dir/knot.conf" >"$TMP/knot.log" 2>&1 &
	pid=$!
	register knot "$pid" "$port" "knotd -c knot.conf (udp-workers 1, zonefile-sync -1, journal-content none)"
}

start_nsd() {
	local port pid dir=$TMP/nsd
	alloc_port
	port=$PORT
	mkdir -p "$dir"
	cat >"$dir/nsd.conf" <<-EOF
		server:
		    ip-address: $ADDR@$port
		    server-count: 1
		    username: ""
		    chroot: ""
		    database: ""
		    zonesdir: "$dir"
		    zonelistfile: "$dir/zone.list"
		    xfrdfile: "$dir/xfrd.state"
		    xfrdir: "$dir"
		    pidfile: "$dir/nsd.pid"
		    rrl-ratelimit: 0
		    minimal-responses: yes
		    verbosity: 0
		remote-control:
		    control-enable: no
		zone:
		    name: $ORIGIN
		    zonefile: "$SERVED"
	EOF
	taskset -c "$SERVER_CPU" nsd -d -c "$dir/nsd.conf" >"$TMP/nsd.log" 2>&1 &
	pid=$!
	register nsd "$pid" "$port" "nsd -d -c nsd.conf (server-count 1, rrl-ratelimit 0, minimal-responses yes)"
}

# wait_ready NAME: waits until NAME answers the SOA query; false if it died or timed out.
wait_ready() {
	local name=$1 pid=${PID_OF[$1]} port=${PORT_OF[$1]} i
	for ((i = 0; i < 300; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited during startup"
			return 1
		fi
		if dig +tries=1 +time=1 +short -p "$port" "@$ADDR" "$ORIGIN" SOA 2>/dev/null | grep -q hostmaster; then
			return 0
		fi
		sleep 0.2
	done
	log "$name did not answer the SOA query within 60 s"
	return 1
}

# verify NAME: checks a positive answer, an AAAA answer and NXDOMAIN.
verify() {
	local port=${PORT_OF[$1]} out
	out=$(dig +tries=1 +time=2 +short -p "$port" "@$ADDR" "h1.$ORIGIN" A)
	[ "$out" = 198.18.0.1 ] || { log "$1: h1.$ORIGIN A gave '$out', want 198.18.0.1"; return 1; }
	out=$(dig +tries=1 +time=2 +short -p "$port" "@$ADDR" "h4.$ORIGIN" AAAA)
	[ "$out" = 2001:db8::4 ] || { log "$1: h4.$ORIGIN AAAA gave '$out', want 2001:db8::4"; return 1; }
	out=$(dig +tries=1 +time=2 -p "$port" "@$ADDR" "nx1.$ORIGIN" A)
	grep -q 'status: NXDOMAIN' <<<"$out" || { log "$1: nx1.$ORIGIN A is not NXDOMAIN"; return 1; }
	# A forwarded answer is not authoritative.
	[ "$CACHE" = 1 ] || grep -q 'flags:[a-z ]* aa' <<<"$out" || { log "$1: NXDOMAIN answer lacks the AA flag"; return 1; }
}

log "raising net.core.rmem_default and rmem_max to $RMEM (were $ORIG_RMEM_DEFAULT, $ORIG_RMEM_MAX)"
SYSCTL_CHANGED=1
sysctl -qw net.core.rmem_max="$((RMEM > ORIG_RMEM_MAX ? RMEM : ORIG_RMEM_MAX))"
sysctl -qw net.core.rmem_default="$RMEM"

# The upstream of the cache-hit variant: knotd on the dnsperf CPU, outside the measured server. It
# answers the warm-up; during the rounds every answer should come from Warden's cache, which the
# report checks with knotd's CPU time.
KNOT_UPSTREAM_PID=
if [ "$CACHE" = 1 ]; then
	alloc_port
	KNOT_UPSTREAM_PORT=$PORT
	write_knot_conf "$TMP/knot-upstream" "$ADDR" "$KNOT_UPSTREAM_PORT" "$ORIGIN" "$SERVED"
	taskset -c "$GEN_CPU" knotd -c "$TMP/knot-upstream/knot.conf" >"$TMP/knot-upstream.log" 2>&1 </dev/null &
	KNOT_UPSTREAM_PID=$!
	PIDS+=("$KNOT_UPSTREAM_PID")
	for ((i = 0; i < 100; i++)); do
		dig +short +time=1 +tries=1 -p "$KNOT_UPSTREAM_PORT" "@$ADDR" "h1.$ORIGIN" A 2>/dev/null | grep -qxF 198.18.0.1 && break
		kill -0 "$KNOT_UPSTREAM_PID" 2>/dev/null || die "knotd (upstream) exited: $(tail -n 3 "$TMP/knot-upstream.log")"
		sleep 0.1
	done
	# knotd pins its threads itself; all of them stay on the dnsperf CPU.
	taskset -a -p -c "$GEN_CPU" "$KNOT_UPSTREAM_PID" >/dev/null
	log "knotd (upstream) ready on $ADDR:$KNOT_UPSTREAM_PORT"
fi

for s in $SERVERS; do
	case $s in
	warden) start_warden ;;
	knot) start_knot ;;
	nsd) start_nsd ;;
	*) die "unknown server '$s' in BENCH_SERVERS (warden, knot, nsd)" ;;
	esac
done

READY=()
for name in "${NAMES[@]}"; do
	if wait_ready "$name" && verify "$name"; then
		pin_tree "${PID_OF[$name]}" "$SERVER_CPU"
		READY+=("$name")
		log "$name ready on $ADDR:${PORT_OF[$name]} (pid ${PID_OF[$name]})"
	else
		log "SKIPPING $name; last lines of its log:"
		tail -n 10 "$TMP/$name.log" 2>/dev/null | sed 's/^/[auth.sh]   /' >&2 || true
		kill "${PID_OF[$name]}" 2>/dev/null || true
	fi
done
[ "${#READY[@]}" -gt 0 ] || die "no server is ready"

# warm NAME: asks NAME every question of the query file once, so that the rounds are cache hits.
WARM=$TMP/warm.txt
warm() {
	local done_q
	taskset -c "$GEN_CPU" dnsperf -s "$ADDR" -p "${PORT_OF[$1]}" -d "$WARM" -c 1 -q 50 -n 1 >"$TMP/warm.$1" 2>&1 </dev/null
	done_q=$(dnsperf_field "$TMP/warm.$1" "Queries completed")
	[ "$done_q" = "$(wc -l <"$WARM")" ] || log "warning: $1 answered $done_q of the $(wc -l <"$WARM") warm-up queries"
}
KNOT_UPSTREAM_S0=
if [ "$CACHE" = 1 ]; then
	sort -u "$QUERIES" >"$WARM"
	log "warming the caches with the $(wc -l <"$WARM") distinct questions of the query file"
	for name in "${READY[@]}"; do
		warm "$name"
	done
	KNOT_UPSTREAM_S0=$(cpu_s "$KNOT_UPSTREAM_PID")
fi

# ---------------------------------------------------------------------------------------------------
# Measurement.
RES=$TMP/results.txt
: >"$RES"

# measure NAME REP KIND: one dnsperf run. KIND is "max" (throughput) or "lat" (fixed rate, per-query
# latencies). Appends "NAME REP KIND qps cpu-us/q lost other% p50 p99" to RES; other% is the CPU time
# of both CPUs that neither the server nor dnsperf used during the window, in % of one CPU. A run with
# more than MAX_OTHER is noted in MAKEUP, to be run again after the rounds.
measure() {
	local name=$1 rep=$2 kind=$3 pid=${PID_OF[$1]} port=${PORT_OF[$1]}
	local out=$TMP/dnsperf.$name.$rep.$kind dur skip snap0 snap1 t0 t1 dp n qps lost cpu other pct
	local -a args=(-s "$ADDR" -p "$port" -d "$QUERIES" -c "$CLIENTS" -q "$OUTSTANDING" -S 1 "${DNSPERF_DO[@]}")
	if [ "$kind" = max ]; then
		dur=$DURATION skip=$SKIP
		args+=(-l "$dur")
	else
		dur=$LAT_DURATION skip=1
		args+=(-l "$dur" -Q "$LAT_QPS" -v)
	fi
	wait_quiet
	taskset -c "$GEN_CPU" dnsperf "${args[@]}" >"$out" 2>&1 &
	dp=$!
	DNSPERF_PID=$dp
	sleep "$skip"
	local helpers="$dp ${COLLECTOR_OF[$name]:-} $KNOT_UPSTREAM_PID"
	t0=$(now) snap0=$(snapshot "$pid" "$helpers")
	sleep $((dur - 2 * skip))
	t1=$(now) snap1=$(snapshot "$pid" "$helpers")
	if ! wait "$dp"; then
		DNSPERF_PID=
		log "dnsperf failed against $name:"
		tail -n 5 "$out" >&2
		return 1
	fi
	DNSPERF_PID=
	n=$(answered_in_window "$out" "$t0" "$t1" 1)
	qps=$(dnsperf_field "$out" "Queries per second")
	lost=$(dnsperf_field "$out" "Queries lost")
	# µs per query = server CPU in the window / queries answered in it.
	# gen: the CPU of dnsperf (and of the collector or upstream beside it) per answered query, and in % of one CPU: what the load
	# generator itself needs, the limit of a run where it shares the server's CPUs.
	local gen genpct
	read -r cpu other gen genpct < <(awk -v n="$n" -v hz="$CLK_TCK" -v a="$snap0" -v b="$snap1" 'BEGIN {
			split(a, x, " "); split(b, y, " ")
			w = (y[1] - x[1]) * hz / 100
			c = y[2] - x[2]; g = y[3] - x[3]; o = (y[4] - x[4] - c - g) / w
			# the ticks of a dnsperf that has exited cannot be read: "-" rather than a negative figure
			if (g < 0 || n <= 0) printf "%.2f %.0f - -\n", (n > 0 ? c / hz * 1e6 / n : 0), (o > 0 ? o : 0)
			else printf "%.2f %.0f %.2f %.0f\n", c / hz * 1e6 / n, (o > 0 ? o : 0), g / hz * 1e6 / n, g / w
		}')
	if [ "$kind" = lat ]; then
		pct=$(percentiles "$out")
	else
		pct="- -"
	fi
	log "$(printf '%-12s rep %d %-3s qps %8.0f  cpu %6s us/q  lost %-4s other %3s%%  p50/p99 %s us  dnsperf %s us/q, %s%% of a CPU' \
		"$name" "$rep" "$kind" "$qps" "$cpu" "$lost" "$other" "$pct" "$gen" "$genpct")"
	if [ "$other" -gt "$MAX_OTHER" ]; then
		MAKEUP+=("$name $rep $kind")
	fi
	echo "$name $rep $kind $qps $cpu $lost $other $pct" >>"$RES"
}

TOTAL=$(((DURATION + LAT_DURATION + 2) * REPS * ${#READY[@]}))
log "measuring ${READY[*]}: $REPS rounds, about $TOTAL s"
MAKEUP=()
for ((rep = 1; rep <= REPS; rep++)); do
	for name in "${READY[@]}"; do
		measure "$name" "$rep" max
		measure "$name" "$rep" lat
		sleep 0.5
	done
done

# Runs that other processes disturbed are run once more at the end, while the repeat budget lasts; the
# report keeps, for every server, round and kind, the run that was disturbed least. Waiting until the
# end rather than repeating at once gives a busy spell on the machine time to pass.
REPEATED=0
NDISTURBED=${#MAKEUP[@]}
for entry in "${MAKEUP[@]}"; do
	[ "$REPEATED" -lt "$RETRIES" ] || break
	read -r name rep kind <<<"$entry"
	REPEATED=$((REPEATED + 1))
	log "repeating the disturbed $kind run of $name, round $rep ($REPEATED of at most $RETRIES)"
	QUIET_WAIT=$((QUIET_WAIT * 3)) measure "$name" "$rep" "$kind"
done

# KEPT: the least disturbed run of every server, round and kind.
KEPT=$TMP/kept.txt
awk '{ k = $1 " " $2 " " $3; d = $7
       if (!(k in best) || d + 0 < bd[k]) { best[k] = $0; bd[k] = d + 0 } }
     END { for (k in best) print best[k] }' "$RES" | sort -k2,2n -k1,1 -k3,3 >"$KEPT"
DISTURBED=$(awk -v m="$MAX_OTHER" '$7 > m {n++} END {print n + 0}' "$KEPT")

# With BENCH_PPROF, one more max run of every Warden server with a CPU profile of its middle: not
# part of the results, since the profiler costs the server a little CPU.
if [ -n "$PPROF_ADDR" ]; then
	mkdir -p "$PPROF_DIR"
	cp "$WARDEN_BIN" "$PPROF_DIR/warden.pprof"
	for name in "${READY[@]}"; do
		[ -n "${PPROF_OF[$name]:-}" ] || continue
		( sleep "$SKIP"; curl -s -o "$PPROF_DIR/$name.cpu.pprof" \
			"http://${PPROF_OF[$name]}/debug/pprof/profile?seconds=$((DURATION - 2 * SKIP))" ) &
		prof=$!
		RES=$TMP/profiled.txt measure "$name" 0 max
		wait "$prof" || log "no profile of $name"
		log "CPU profile of $name: $PPROF_DIR/$name.cpu.pprof (go tool pprof $PPROF_DIR/warden.pprof $PPROF_DIR/$name.cpu.pprof)"
	done
fi

# What the observers did: their counters from /metrics, then, once every server is stopped (a clean
# stop writes out what the dnstap queue holds), the frames each collector received, read back with
# dnstap-read from the start of its file.
OBSERVED=
for name in "${READY[@]}"; do
	[ -n "${HTTP_OF[$name]:-}" ] || continue
	OBSERVED+=$(curl -s "http://${HTTP_OF[$name]}/metrics" | awk -v n="$name" '
		$1 == "warden_query_log_rows_total" { r = $2 } $1 == "warden_query_log_dropped_total" { rd = $2 }
		$1 == "warden_dnstap_sent_total" { s = $2 } $1 == "warden_dnstap_dropped_total" { sd = $2 }
		$1 ~ /^warden_queries_total/ { q += $2 }
		function num(v) { return v == "" ? "-" : sprintf("%.0f", v) }
		END { printf "%-22s answers counted %.0f; query log rows %s, dropped %s; dnstap frames sent %s, dropped %s\n",
			n ":", q, num(r), num(rd), num(s), num(sd) }')$'\n'
done
for name in "${READY[@]}"; do
	kill "${PID_OF[$name]}" 2>/dev/null || true
	wait "${PID_OF[$name]}" 2>/dev/null || true
done
for name in "${READY[@]}"; do
	[ -n "${COLLECTOR_OF[$name]:-}" ] || continue
	ccpu=$(cpu_s "${COLLECTOR_OF[$name]}" 2>/dev/null || echo 0)
	kill "${COLLECTOR_OF[$name]}" 2>/dev/null || true
	wait "${COLLECTOR_OF[$name]}" 2>/dev/null || true
	file=$TMP/dnstap-$name.fstrm
	size=$(stat -c %s "$file" 2>/dev/null || echo 0)
	# dnstap-read stops with an error where the cut ends a frame; the messages before it count.
	head -c 1048576 "$file" >"$file.head"
	msgs=$(dnstap-read "$file.head" 2>/dev/null | grep -c . || true)
	OBSERVED+="$(printf '%-22s collector file %d bytes; %d messages read back from its first MiB; fstrm_capture used %s CPU-s on CPU %s' \
		"$name:" "$size" "$msgs" "$ccpu" "$GEN_CPU")"$'\n'
	[ "$msgs" -gt 0 ] || log "WARNING: the dnstap collector of $name received no readable frame"
done
if [ "$CACHE" = 1 ]; then
	OBSERVED+="knotd (upstream):      $(awk -v a="$KNOT_UPSTREAM_S0" -v b="$(cpu_s "$KNOT_UPSTREAM_PID")" 'BEGIN {printf "%.2f", b - a}') CPU-s during the rounds (0 when every answer came from the cache)"$'\n'
fi

# ---------------------------------------------------------------------------------------------------
# Report.
SETTINGS=$(
	cat <<-EOF
		zone:        $ORIGIN, $RECORDS records (go run ./bench/genzone -n $RECORDS); $NQUERIES queries, 90% existing RRsets, 10% NXDOMAIN
		signed:      ${SIGNED:-no}${SIGNED:+ (dnssec-signzone, ECDSAP256SHA256 KSK+ZSK; every query with DO=1: dnsperf -D)}
		pinning:     servers on CPU $SERVER_CPU (taskset -c $SERVER_CPU, threads re-pinned with taskset -a -p), dnsperf on CPU $GEN_CPU
		sysctl:      net.core.rmem_default=$RMEM net.core.rmem_max=$(sysctl -n net.core.rmem_max) (restored afterwards)
		max run:     taskset -c $GEN_CPU dnsperf -s $ADDR -p PORT -d queries.txt -c $CLIENTS -q $OUTSTANDING -S 1 -l $DURATION
		latency run: taskset -c $GEN_CPU dnsperf -s $ADDR -p PORT -d queries.txt -c $CLIENTS -q $OUTSTANDING -S 1 -l $LAT_DURATION -Q $LAT_QPS -v
		CPU window:  seconds $SKIP..$((DURATION - SKIP)) of the max run, 1..$((LAT_DURATION - 1)) of the latency run; µs = server utime+stime / queries answered in the window
		rounds:      $REPS, interleaved ${READY[*]}; medians shown; $NDISTURBED runs disturbed (other > $MAX_OTHER%), $REPEATED repeated, $DISTURBED of the kept runs disturbed
		versions:    $(dnsperf -h 2>&1 | awk '/^Version/{print "dnsperf " $2; exit}'), $(knotd --version 2>&1 | head -n 1), $(nsd -v 2>&1 | head -n 1), $(go version | awk '{print $3}')
	EOF
)
for name in "${READY[@]}"; do
	SETTINGS+=$'\n'"$(printf '%-12s %s' "$name:" "${DESC_OF[$name]}")"
done

echo
echo "== Settings"
echo "$SETTINGS"
echo
echo "== Runs (name round kind qps cpu-us/q lost other% p50-us p99-us; * = superseded by a repeat)"
awk 'NR == FNR { kept[$0] = 1; next } { print $0, (($0 in kept) ? "" : "*") }' "$KEPT" "$RES" |
	column -t 2>/dev/null || cat "$RES"
echo
echo "== Medians over $REPS rounds"
awk -v order="${READY[*]}" '
	function median(key,   n, i, j, t, a) {
		n = split(vals[key], a, " ")
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		if (n == 0) return "nan"
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function add(key, v) { vals[key] = (key in vals) ? vals[key] " " v : v }
	$3 == "max" { add($1 SUBSEP "qps", $4); add($1 SUBSEP "cpu", $5); add($1 SUBSEP "lostmax", $6) }
	$3 == "lat" { add($1 SUBSEP "cpulat", $5); add($1 SUBSEP "p50", $8); add($1 SUBSEP "p99", $9); add($1 SUBSEP "lostlat", $6) }
	END {
		m = split(order, names, " ")
		split("qps cpu cpulat p50 p99", metrics, " ")
		hdr = sprintf("%-14s %10s %12s %12s %9s %9s", "server", "qps(max)", "cpu-us/q", "cpu-us/q@lat", "p50-us", "p99-us")
		print hdr sprintf(" %9s", "lost")
		for (i = 1; i <= m; i++) {
			s = names[i]
			for (k = 1; k <= 5; k++) med[s, metrics[k]] = median(s SUBSEP metrics[k])
			printf "%-14s %10.0f %12.2f %12.2f %9.0f %9.0f %9s\n", s, med[s, "qps"], med[s, "cpu"], med[s, "cpulat"], med[s, "p50"], med[s, "p99"], median(s SUBSEP "lostmax") "/" median(s SUBSEP "lostlat")
		}
		nr = 0
		for (i = 1; i <= m; i++) {
			if (names[i] !~ /^warden/) continue
			for (j = 1; j <= m; j++) {
				if (names[j] ~ /^warden/) continue
				if (!nr++) { print ""; print "Ratios (Warden / peer; qps: higher is better, the others: lower is better)"; print hdr }
				line = sprintf("%-14s", names[i] "/" names[j])
				for (k = 1; k <= 5; k++) {
					a = med[names[i], metrics[k]]; b = med[names[j], metrics[k]]
					w = (k == 1) ? 10 : (k <= 3) ? 12 : 9
					line = line sprintf(" %" w "s", (b + 0 > 0) ? sprintf("%.2f", a / b) : "n/a")
				}
				print line
			}
		}
		for (i = 1; i <= m; i++) for (j = 1; j <= m; j++) {
			if (names[i] !~ /^warden-gmp/ || names[j] != "warden-unsigned-" substr(names[i], 8)) continue
			print ""; print "Signed / unsigned zone, both asked with DO=1 (lower is better but for qps)"
			line = sprintf("%-14s", "signed/unsigned")
			for (k = 1; k <= 5; k++) {
				a = med[names[i], metrics[k]]; b = med[names[j], metrics[k]]
				w = (k == 1) ? 10 : (k <= 3) ? 12 : 9
				line = line sprintf(" %" w "s", (b + 0 > 0) ? sprintf("%.2f", a / b) : "n/a")
			}
			print line
		}
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) {
			if (names[i] ~ /^warden/ || names[j] ~ /^warden/) continue
			print ""; print "Peers: " names[i] "/" names[j]
			line = sprintf("%-14s", names[i] "/" names[j])
			for (k = 1; k <= 5; k++) {
				a = med[names[i], metrics[k]]; b = med[names[j], metrics[k]]
				w = (k == 1) ? 10 : (k <= 3) ? 12 : 9
				line = line sprintf(" %" w "s", (b + 0 > 0) ? sprintf("%.2f", a / b) : "n/a")
			}
			print line
		}
	}' "$KEPT"

# Observers on against off: every pair of Warden servers named ...-on and ...-off (WARDEN_OBSERVERS=
# compare gives -all-on and -all-off). Besides the ratio of the medians, the median of the ratios of
# each round's pair, which were measured next to each other.
awk -v order="${READY[*]}" '
	function median(s,   n, i, j, t, a) {
		n = split(s, a, " ")
		if (n == 0) return "nan"
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	$3 == "max" { qps[$1, $2] = $4; cpu[$1, $2] = $5; runs[$1] = runs[$1] " " $2 }
	$3 == "lat" { cpulat[$1, $2] = $5 }
	END {
		m = split(order, names, " ")
		for (i = 1; i <= m; i++) present[names[i]] = 1
		for (i = 1; i <= m; i++) {
			on = names[i]
			if (on !~ /-on$/) continue
			off = substr(on, 1, length(on) - 3) "-off"
			if (!(off in present)) continue
			if (!hdr++) {
				print ""
				print "Observers on / off (the bound: qps at least 0.9, CPU per query at most 1.1)"
				printf "%-30s %10s %10s %12s %10s %10s %12s\n", "pair", "qps", "cpu-us/q", "cpu-us/q@lat", "qps*", "cpu-us/q*", "cpu-us/q@lat*"
			}
			a = b = c = A = B = C = ""
			n = split(runs[on], rs, " ")
			for (k = 1; k <= n; k++) {
				r = rs[k]
				if (!((off, r) in qps)) continue
				if (qps[off, r] > 0) a = a " " qps[on, r] / qps[off, r]
				if (cpu[off, r] > 0) b = b " " cpu[on, r] / cpu[off, r]
				if (cpulat[off, r] > 0) c = c " " cpulat[on, r] / cpulat[off, r]
				A = A " " qps[on, r]; B = B " " cpu[on, r]; C = C " " cpulat[on, r]
				Ao = Ao " " qps[off, r]; Bo = Bo " " cpu[off, r]; Co = Co " " cpulat[off, r]
			}
			printf "%-30s %10.2f %10.2f %12.2f %10.2f %10.2f %12.2f\n", on "/" off,
				median(A) / median(Ao), median(B) / median(Bo), median(C) / median(Co), median(a), median(b), median(c)
			# A server that used less than its whole core in the max run was not the limit:
			# dnsperf (and what shares its CPU) was.
			use = use sprintf("  %s %.0f%%, %s %.0f%%", on, median(A) * median(B) / 1e4, off, median(Ao) * median(Bo) / 1e4)
			Ao = Bo = Co = ""
		}
		if (hdr) {
			print "(ratios of the medians; * the median of the rounds\047 own ratios)"
			print "Server CPU in the max runs (median qps x CPU per query, % of its one core):" use
		}
	}' "$KEPT"
if [ -n "$OBSERVED" ]; then
	echo
	echo "== Observers"
	printf '%s' "$OBSERVED"
fi
echo
echo "qps(max): dnsperf queries/s with $OUTSTANDING in flight (capped by dnsperf's own CPU for fast servers)."
echo "cpu-us/q: server CPU (utime+stime, all threads) per answered query in the max run; @lat: same in the $LAT_QPS qps run."
echo "p50/p99: per-query latency percentiles of the $LAT_QPS qps run. lost: dnsperf lost queries (max/lat); the max run"
echo "  ends with up to $OUTSTANDING queries in flight, which dnsperf counts as lost."
echo "other% (runs): CPU time (both CPUs) used by neither the server nor dnsperf, in % of one CPU; above $MAX_OTHER% a run"
echo "  counts as disturbed."
