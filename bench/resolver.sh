#!/usr/bin/env bash
# Resolver benchmark: Warden against Unbound, PowerDNS Recursor and Knot Resolver on loopback.
#
# Part 1, cache hits: every resolver forwards bench.test. to the same knotd and, after a warm-up that
# puts every name of the query file in its cache, answers the same queries with dnsperf (a max run
# and a fixed-rate run for latency percentiles). Knot's CPU time is read before and after each
# measurement to show that the upstream stayed idle (every answer came from the cache). Resident
# memory is read after start-up and after the warm-up, for the bytes each cached RRset costs.
#
# Part 2, cold cache (RBENCH_COLD=0 skips it): `warden lab` serves a DNS hierarchy on 127.0.x.y
# port 53. Each resolver, started fresh with the lab's root hints, resolves a fixed mix of the lab's
# names once and then RBENCH_COLD_NAMES names of its wildcard zone (c<i>.wild.org.) that no resolver
# has seen, one query at a time (bench/seqquery, as dnsperf -c 1 -q 1 -v would if it did not stall):
# latency and server CPU of a cache miss.
#
# Method as bench/auth.sh: resolvers pinned to CPU 0, knotd, the lab and dnsperf to CPU 1,
# net.core.rmem_* raised for the run and restored, servers interleaved (W U P K W U P K ...), server
# CPU per answered query from /proc. See bench/README.md for what every column means.
#
# No resolver may talk to anything outside 127.0.0.0/8: all of them send from 127.0.0.1 (the kernel
# does not route such packets off the machine), the forwarding ones get a root on a loopback address
# where nothing listens, and pdns_recursor's dont-query lists every address outside 127.0.0.0/8.
#
# Usage (from the repository root): bench/resolver.sh
# Environment (defaults in brackets):
#   RBENCH_SERVERS ["warden unbound pdns kresd"]  resolvers to run (any subset, in this order); a
#                             peer whose binary is missing is skipped
#   RBENCH_REPS [3]           rounds of the cache-hit part
#   RBENCH_DURATION [10]      seconds of each dnsperf run of the cache-hit part
#   RBENCH_RATE [20000]       query rate of the latency run
#   RBENCH_NAMES [10000]      records (one RRset each) in the zone; the warm-up caches all of them
#   RBENCH_SETTLE [70]        idle seconds after the warm-up before memory is read again
#   RBENCH_HITS [1]           0: skip the cache-hit part (and knotd); with RBENCH_COLD=1 only the
#                             cold-cache part runs
#   RBENCH_COLD [1]           0: skip the cold-cache part
#   RBENCH_VALIDATE [0]       1: the cache-hit part with DNSSEC validation on: bench.test. is signed
#                             with dnssec-signzone (ECDSA P-256, NSEC), Warden gets --trust-anchor
#                             and Unbound trust-anchor-file with its KSK and the validator module;
#                             pdns and kresd are left out (their validating set-up is not written)
#   RBENCH_COLD_NAMES [2000]  c<i>.wild.org. names of each cold run, after the fixed mix
#   RBENCH_COLD_REPS [3]      cold rounds, each with fresh instances of every resolver
#   RBENCH_PORT_BASE [15450]  first port tried; busy ports are skipped
#   RBENCH_QUIET_WAIT [5]     before each run, wait up to this many seconds for other
#                             processes to use less than 15% of a CPU
#   RBENCH_KEEP [0]           1: keep the temporary directory (configs, logs, dnsperf output)
#   WARDEN_BIN [unset]        use this warden binary instead of building ./cmd/warden
set -euo pipefail

SERVERS=${RBENCH_SERVERS:-warden unbound pdns kresd}
REPS=${RBENCH_REPS:-3}
DURATION=${RBENCH_DURATION:-10}
RATE=${RBENCH_RATE:-20000}
NAMES=${RBENCH_NAMES:-10000}
SETTLE=${RBENCH_SETTLE:-70}
HITS=${RBENCH_HITS:-1}
COLD=${RBENCH_COLD:-1}
VALIDATE=${RBENCH_VALIDATE:-0}
COLD_NAMES=${RBENCH_COLD_NAMES:-2000}
COLD_REPS=${RBENCH_COLD_REPS:-3}
PORT_BASE=${RBENCH_PORT_BASE:-15450}
KEEP=${RBENCH_KEEP:-0}
WARDEN_BIN=${WARDEN_BIN:-}
ADDR=127.0.0.1
ORIGIN=bench.test.
# A loopback address nothing listens on: the root the forwarding resolvers get, so that none of them
# tries the real root servers (priming, trust-anchor checks) during the cache-hit part.
NOROOT=127.255.255.254
# Every address outside 127.0.0.0/8, as pdns_recursor's dont-query: it may query knotd and the lab
# (its default list forbids loopback, and an empty one would allow everything).
NOT_LOOPBACK="0.0.0.0/2, 64.0.0.0/3, 96.0.0.0/4, 112.0.0.0/5, 120.0.0.0/6, 124.0.0.0/7, 126.0.0.0/8, 128.0.0.0/1, ::/0"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

log() { printf '[resolver.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in dig taskset knotd dnsperf go awk sort ss sysctl getconf; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (resolvers on CPU 0, knotd and dnsperf on CPU 1)"
[ "$DURATION" -ge 5 ] || die "RBENCH_DURATION must be at least 5"

declare -A BIN=([warden]=warden [unbound]=unbound [pdns]=pdns_recursor [kresd]=kresd)
declare -A ABBR=([warden]=W [unbound]=U [pdns]=P [kresd]=K)
ACTIVE=()
for s in $SERVERS; do
	[ -n "${BIN[$s]:-}" ] || die "unknown server '$s' in RBENCH_SERVERS (warden unbound pdns kresd)"
	if [ "$VALIDATE" = 1 ] && [ "$s" != warden ] && [ "$s" != unbound ]; then
		echo "skipped: $s (RBENCH_VALIDATE=1 runs warden and unbound only)"
		continue
	fi
	if [ "$s" != warden ] && ! command -v "${BIN[$s]}" >/dev/null; then
		echo "skipped: ${BIN[$s]} not installed"
		continue
	fi
	ACTIVE+=("$s")
done
[ "${#ACTIVE[@]}" -gt 0 ] || die "no resolver to run"

# ---------------------------------------------------------------------------------------------------
# Cleanup: kill everything we started, restore the socket-buffer sysctls, remove the temp dir.
TMP=$(mktemp -d /tmp/warden-rbench.XXXXXX)
PIDS=()
DNSPERF_PID=
ORIG_RMEM_DEFAULT=$(sysctl -n net.core.rmem_default)
ORIG_RMEM_MAX=$(sysctl -n net.core.rmem_max)
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in $DNSPERF_PID "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	sysctl -qw net.core.rmem_default="$ORIG_RMEM_DEFAULT" net.core.rmem_max="$ORIG_RMEM_MAX" || true
	if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
sysctl -qw net.core.rmem_default=4194304 net.core.rmem_max=4194304

# stop PID: ends one process we started (SIGKILL if it is still there after 5 s).
stop() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for i in "${!PIDS[@]}"; do
		if [ "${PIDS[$i]}" = "$pid" ]; then unset 'PIDS[i]'; fi
	done
}

NEXT_PORT=$PORT_BASE
PORT=
# alloc_port: sets PORT to a free port above the ones handed out so far.
alloc_port() { PORT=$(next_port "$NEXT_PORT"); NEXT_PORT=$((PORT + 1)); }

# knot_queries: queries knotd has answered so far ("-" without knotc).
knot_queries() {
	knotc -c "$TMP/knot/knot.conf" stats mod-stats.request-protocol 2>/dev/null |
		awk -F' = ' '{s += $2; n++} END {if (n) printf "%.0f\n", s; else print "-"}'
}
cpu_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
# cpu_ns PID: run time of all live threads of PID in ns (schedstat: exact, where stat has 10 ms ticks).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------------------------------------------
# Resolvers. start_server NAME MODE [TAG] starts NAME pinned to CPU 0 on a fresh port, MODE "hit"
# (forward bench.test. to knotd) or "cold" (full recursion from the lab's root hints); sets SPID,
# SPORT and SDIR (its config and log).
SPID= SPORT= SDIR=
NOROOT_HINTS=$TMP/noroot.hints
printf '.\t3600000\tIN\tNS\tnoroot.invalid.\nnoroot.invalid.\t3600000\tIN\tA\t%s\n' "$NOROOT" >"$NOROOT_HINTS"
LAB_HINTS=$TMP/lab.hints

write_unbound() {
	local dir=$1 port=$2 mode=$3 hints=$NOROOT_HINTS modules=$UNBOUND_MODULES
	[ "$mode" = hit ] || hints=$LAB_HINTS modules=iterator
	cat >"$dir/unbound.conf" <<-EOF
		server:
		    interface: $ADDR@$port
		    port: $port
		    do-daemonize: no
		    username: ""
		    chroot: ""
		    directory: "$dir"
		    pidfile: "$dir/unbound.pid"
		    use-syslog: no
		    logfile: ""
		    num-threads: 1
		    do-ip6: no
		    so-reuseport: no
		    outgoing-interface: 127.0.0.1
		    do-not-query-localhost: no
		    access-control: 127.0.0.0/8 allow
		    module-config: "$modules"
		    msg-cache-size: 64m
		    rrset-cache-size: 128m
		    prefetch: no
		    serve-expired: no
		    # Unbound answers everything under test. (RFC 6761) itself with NXDOMAIN unless told not to.
		    local-zone: "test." nodefault
		    root-hints: "$hints"
		remote-control:
		    control-enable: no
	EOF
	if [ "$mode" = hit ] && [ "$VALIDATE" = 1 ]; then
		printf 'server:\n    trust-anchor-file: "%s"\n' "$ANCHOR" >>"$dir/unbound.conf"
	fi
	if [ "$mode" = hit ]; then
		printf 'forward-zone:\n    name: "%s"\n    forward-addr: %s@%s\n' "$ORIGIN" "$ADDR" "$KPORT" >>"$dir/unbound.conf"
	fi
}

write_pdns() {
	local dir=$1 port=$2 mode=$3
	cat >"$dir/recursor.conf" <<-EOF
		local-address=$ADDR
		local-port=$port
		threads=1
		pdns-distributes-queries=no
		socket-dir=$dir
		daemon=no
		disable-syslog=yes
		allow-from=127.0.0.0/8
		dont-query=$NOT_LOOPBACK
		query-local-address=127.0.0.1
		security-poll-suffix=
		dnssec=off
		max-cache-entries=1000000
		max-packetcache-entries=1000000
		refresh-on-ttl-perc=0
		serve-stale-extensions=0
	EOF
	if [ "$mode" = hit ]; then
		printf 'hint-file=%s\nforward-zones=%s=%s:%s\n' "$NOROOT_HINTS" "$ORIGIN" "$ADDR" "$KPORT" >>"$dir/recursor.conf"
	else
		printf 'hint-file=%s\n' "$LAB_HINTS" >>"$dir/recursor.conf"
	fi
}

write_kresd() {
	local dir=$1 port=$2 mode=$3
	cat >"$dir/kresd.conf" <<-EOF
		net.ipv6 = false
		net.listen('$ADDR', $port, { kind = 'dns' })
		net.outgoing_v4('127.0.0.1')
		-- No DNSSEC and no contact with the real root: drop the root trust anchor and the modules
		-- that query the root on their own.
		for _, m in ipairs({ 'ta_update', 'ta_signal_query', 'ta_sentinel', 'priming', 'detect_time_skew', 'detect_time_jump' }) do
		    pcall(modules.unload, m)
		end
		trust_anchors.remove('.')
		modules.load('hints > iterate')
		cache.open(256 * MB, 'lmdb://$dir/cache')
	EOF
	if [ "$mode" = hit ]; then
		cat >>"$dir/kresd.conf" <<-EOF
			hints.root({ ['noroot.invalid.'] = '$NOROOT' })
			-- FORWARD, not STUB: kresd 5.6 asks upstream again for a STUB answer after about 6 s.
			policy.add(policy.suffix(policy.FORWARD({ '$ADDR@$KPORT' }), { todname('$ORIGIN') }))
		EOF
	else
		# kresd ignores name-server addresses in 127.0.0.0/8 unless ALLOW_LOCAL is set.
		cat >>"$dir/kresd.conf" <<-EOF
			hints.root_file('$LAB_HINTS')
			policy.add(policy.all(policy.FLAGS({ 'ALLOW_LOCAL' })))
		EOF
	fi
}

start_server() {
	local name=$1 mode=$2 dir=$TMP/$2-$1${3:-}
	mkdir -p "$dir"
	alloc_port
	SPORT=$PORT SDIR=$dir
	case $name in
	warden)
		if [ "$mode" = hit ]; then
			taskset -c 0 "$WARDEN_BIN" serve --listen "$ADDR:$SPORT" --forward "$ORIGIN=$ADDR:$KPORT" "${WARDEN_ANCHOR[@]}" >"$dir/log" 2>&1 &
		else
			taskset -c 0 "$WARDEN_BIN" serve --listen "$ADDR:$SPORT" --root-hints "$LAB_HINTS" >"$dir/log" 2>&1 &
		fi
		;;
	unbound)
		write_unbound "$dir" "$SPORT" "$mode"
		taskset -c 0 unbound -d -c "$dir/unbound.conf" >"$dir/log" 2>&1 &
		;;
	pdns)
		write_pdns "$dir" "$SPORT" "$mode"
		taskset -c 0 pdns_recursor --config-dir="$dir" >"$dir/log" 2>&1 &
		;;
	kresd)
		write_kresd "$dir" "$SPORT" "$mode"
		taskset -c 0 kresd -n -c "$dir/kresd.conf" "$dir" >"$dir/log" 2>&1 &
		;;
	esac
	SPID=$!
	PIDS+=("$SPID")
}

# wait_answer NAME PID PORT QNAME QTYPE WANT: waits up to 10 s until the server answers QNAME QTYPE with
# WANT among the records (dig +short); then pins all its threads to CPU 0. False if it died or never
# answered so; the caller skips it.
wait_answer() {
	local name=$1 pid=$2 port=$3 i
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited during start-up"
			return 1
		fi
		if dig +short +time=1 +tries=1 @"$ADDR" -p "$port" "$4" "$5" 2>/dev/null | grep -qxF -- "$6"; then
			taskset -a -p -c 0 "$pid" >/dev/null
			return 0
		fi
		sleep 0.1
	done
	log "$name did not answer $4 $5 with $6 within 10 s"
	return 1
}

# skip_server NAME DIR PID: logs why and stops it.
skip_server() {
	log "SKIPPING $1; last lines of its log ($2/log):"
	tail -n 8 "$2/log" 2>/dev/null | sed 's/^/[resolver.sh]   /' >&2 || true
	stop "$3"
}

# percentiles: p50 and p99 of the numbers on stdin.
percentiles() {
	sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) { print "nan nan"; exit }
		printf "%.0f %.0f\n", v[int(NR * 0.5 + 0.999999)], v[int(NR * 0.99 + 0.999999)] }'
}

# median_table FILE ORDER SPEC: per-server medians of whitespace-separated result lines (server name
# in field 1), then Warden against every peer. SPEC is "header:field:format ..." for the metrics;
# fields may be empty ("-") in some lines, which are not counted.
median_table() {
	awk -v order="$2" -v spec="$3" -v abbr="W=warden U=unbound P=pdns K=kresd" '
		function median(k,   n, i, j, t, v) {
			n = split(vals[k], v, " ")
			if (n == 0) return "nan"
			for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] + 0 > t + 0; j--) v[j + 1] = v[j]; v[j + 1] = t }
			return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		}
		BEGIN {
			nm = split(spec, sp, " ")
			for (k = 1; k <= nm; k++) { split(sp[k], f, ":"); hdr[k] = f[1]; fld[k] = f[2]; fmt[k] = f[3] }
			ns = split(order, names, " ")
			na = split(abbr, ab, " ")
			for (i = 1; i <= na; i++) { split(ab[i], f, "="); letter[f[2]] = f[1] }
		}
		{ for (k = 1; k <= nm; k++) if ($fld[k] != "-" && $fld[k] != "nan") vals[$1, k] = vals[$1, k] " " $fld[k] }
		END {
			line = sprintf("%-10s", "server")
			for (k = 1; k <= nm; k++) line = line sprintf(" %14s", hdr[k])
			print line
			for (i = 1; i <= ns; i++) {
				s = names[i]; line = sprintf("%-10s", s)
				for (k = 1; k <= nm; k++) {
					m[s, k] = median(s SUBSEP k)
					line = line sprintf(" %14s", m[s, k] == "nan" ? "-" : sprintf(fmt[k], m[s, k]))
				}
				print line
			}
			for (i = 1; i <= ns; i++) {
				if (names[i] != "warden") continue
				for (j = 1; j <= ns; j++) {
					if (names[j] == "warden") continue
					line = sprintf("%-10s", "W/" letter[names[j]])
					for (k = 1; k <= nm; k++) {
						a = m["warden", k]; b = m[names[j], k]
						line = line sprintf(" %14s", (a != "nan" && b != "nan" && b + 0 > 0) ? sprintf("%.2f", a / b) : "-")
					}
					print line
				}
			}
		}' "$1"
}

# ---------------------------------------------------------------------------------------------------
# Part 1: cache hits.
log "generating a $NAMES-record zone and the query file"
go run ./bench/genzone -n "$NAMES" -zone "$TMP/zone" -queries "$TMP/all" -nq 100000 -nx 0 2>/dev/null
UNBOUND_MODULES=iterator
WARDEN_ANCHOR=()
ANCHOR=$TMP/anchor
if [ "$VALIDATE" = 1 ]; then
	for tool in dnssec-keygen dnssec-signzone; do
		command -v "$tool" >/dev/null || die "$tool not found in PATH (package bind9-utils)"
	done
	log "signing $ORIGIN for the validating run"
	mkdir -p "$TMP/keys"
	ksk=$(dnssec-keygen -q -K "$TMP/keys" -a ECDSAP256SHA256 -f KSK "$ORIGIN")
	zsk=$(dnssec-keygen -q -K "$TMP/keys" -a ECDSAP256SHA256 "$ORIGIN")
	cat "$TMP/keys/$ksk.key" "$TMP/keys/$zsk.key" >>"$TMP/zone"
	dnssec-signzone -q -P -K "$TMP/keys" -o "$ORIGIN" -f "$TMP/zone.signed" "$TMP/zone" "$ksk" "$zsk" >/dev/null
	mv "$TMP/zone.signed" "$TMP/zone"
	grep -v '^;' "$TMP/keys/$ksk.key" >"$ANCHOR"
	UNBOUND_MODULES="validator iterator"
	WARDEN_ANCHOR=(--trust-anchor "$ANCHOR")
fi
# Every name once for the warm-up (one line per RRset), the shuffled file for the runs.
sort -u "$TMP/all" >"$TMP/warm"
RRSETS=$(wc -l <"$TMP/warm")

if [ -n "$WARDEN_BIN" ]; then
	log "using prebuilt warden $WARDEN_BIN"
else
	go build -o "$TMP/warden" ./cmd/warden
	WARDEN_BIN=$TMP/warden
fi
# The cold part's client: one query at a time, each answer's latency (see bench/seqquery).
go build -o "$TMP/seqquery" ./bench/seqquery

# busy_ticks: non-idle ticks of all CPUs together (user nice system irq softirq steal of /proc/stat).
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# wait_quiet: waits up to RBENCH_QUIET_WAIT s until the machine is nearly idle (less than 15% of a CPU
# busy over one second); the machine may be shared, and others' builds and tests spoil latencies.
wait_quiet() {
	local i a b
	for ((i = 0; i < ${RBENCH_QUIET_WAIT:-5}; i++)); do
		a=$(busy_ticks); sleep 1; b=$(busy_ticks)
		[ $((b - a)) -ge $(($(getconf CLK_TCK) * 15 / 100)) ] || return 0
	done
	log "machine busy (other processes); measuring anyway"
}

# Part 1: cache hits (RBENCH_HITS=0 skips it).
if [ "$HITS" = 1 ]; then
	alloc_port
	KPORT=$PORT
	write_knot_conf "$TMP/knot" "$ADDR" "$KPORT" "$ORIGIN" "$TMP/zone"
	# Query counters, so that upstream traffic is counted as well as seen in knotd's CPU time.
	sed -i 's/^  - id: default$/&\n    global-module: mod-stats/' "$TMP/knot/knot.conf"
	taskset -c 1 knotd -c "$TMP/knot/knot.conf" >"$TMP/knot.log" 2>&1 &
	KPID=$!
	PIDS+=("$KPID")
	for ((i = 0; i < 100; i++)); do
		dig +short +time=1 +tries=1 @"$ADDR" -p "$KPORT" h1.$ORIGIN A 2>/dev/null | grep -qxF 198.18.0.1 && break
		kill -0 "$KPID" 2>/dev/null || die "knotd exited: $(tail -n 3 "$TMP/knot.log")"
		sleep 0.1
	done
	# knotd pins its threads itself; keep all of them on CPU 1 with dnsperf, away from the resolvers.
	taskset -a -p -c 1 "$KPID" >/dev/null

	declare -A HPID HPORT HDIR RSS0 RSS1
	for s in "${ACTIVE[@]}"; do
		start_server "$s" hit
		HPID[$s]=$SPID HPORT[$s]=$SPORT HDIR[$s]=$SDIR
	done
	READY=()
	for s in "${ACTIVE[@]}"; do
		if wait_answer "$s" "${HPID[$s]}" "${HPORT[$s]}" "h1.$ORIGIN" A 198.18.0.1; then
			RSS0[$s]=$(rss_kb "${HPID[$s]}")
			READY+=("$s")
			log "$s ready on $ADDR:${HPORT[$s]} (pid ${HPID[$s]})"
		else
			skip_server "$s" "${HDIR[$s]}" "${HPID[$s]}"
		fi
	done
	[ "${#READY[@]}" -gt 0 ] || die "no resolver is ready"

	log "warming the caches with all $RRSETS RRsets"
	MEM=$TMP/memory
	: >"$MEM"
	WQ0=$(knot_queries)
	for s in "${READY[@]}"; do
		taskset -c 1 dnsperf -s "$ADDR" -p "${HPORT[$s]}" -d "$TMP/warm" -c 1 -q 50 -n 1 >"$TMP/warm.$s" 2>&1
		RSS1[$s]=$(rss_kb "${HPID[$s]}")
		done_q=$(awk '/Queries completed/ {print $3}' "$TMP/warm.$s")
		[ "$done_q" = "$RRSETS" ] || log "warning: $s answered $done_q of the $RRSETS warm-up queries"
	done
	# Memory is read again after an idle pause, the same for every resolver: a garbage-collected
	# runtime gives memory freed after a burst back on its own schedule, so the reading right after the
	# warm-up shows the burst's peak rather than what the cache holds.
	log "waiting ${SETTLE}s idle, then reading memory again"
	sleep "$SETTLE"
	for s in "${READY[@]}"; do
		echo "$s ${RSS0[$s]} $(rss_kb "${HPID[$s]}") $RRSETS ${RSS1[$s]}" >>"$MEM"
	done
	log "knotd answered $(awk -v a="$WQ0" -v b="$(knot_queries)" 'BEGIN {print (a == "-" || b == "-") ? "?" : b - a}') queries during the warm-ups"

	RES=$TMP/results
	: >"$RES"
	# measure NAME REP KIND: one dnsperf run ("max" or fixed-rate "lat"); appends
	# "name rep kind qps cpu-us/q upstream-ticks p50 p99 other% upstream-queries" to RES. other% is the CPU time (both CPUs)
	# that neither the resolver, knotd nor dnsperf used in the window, in % of one CPU: other load.
	measure() {
		local name=$1 rep=$2 kind=$3 pid=${HPID[$1]} port=${HPORT[$1]} out=$TMP/out a b ka kb da db ba bb qa qb qps t0 t1 hz
		local -a args=(-s "$ADDR" -p "$port" -d "$TMP/all" -c 1 -q 500 -S 1 -l "$DURATION")
		if [ "$kind" = lat ]; then args+=(-Q "$RATE" -v); fi
		wait_quiet
		taskset -c 1 dnsperf "${args[@]}" >"$out" 2>&1 &
		DNSPERF_PID=$!
		sleep 2
		# knotc is answered by knotd itself: its calls stay outside the window of knotd's ticks.
		qa=$(knot_queries)
		a=$(cpu_ticks "$pid"); ka=$(cpu_ticks "$KPID"); da=$(cpu_ticks "$DNSPERF_PID" 2>/dev/null || echo -); ba=$(busy_ticks); t0=$(now)
		sleep $((DURATION - 4))
		b=$(cpu_ticks "$pid"); kb=$(cpu_ticks "$KPID"); db=$(cpu_ticks "$DNSPERF_PID" 2>/dev/null || echo -); bb=$(busy_ticks); t1=$(now)
		qb=$(knot_queries)
		wait "$DNSPERF_PID"
		DNSPERF_PID=
		qps=$(awk '/Queries per second/ {print $4}' "$out")
		local p50=- p99=-
		if [ "$kind" = lat ]; then
			read -r p50 p99 < <(awk '/^> [A-Z]+ / {print $NF * 1e6}' "$out" | percentiles)
		fi
		hz=$(getconf CLK_TCK)
		awk -v n="$name" -v r="$rep" -v k="$kind" -v q="$qps" -v a="$a" -v b="$b" -v ka="$ka" -v kb="$kb" \
			-v da="$da" -v db="$db" -v ba="$ba" -v bb="$bb" -v qa="$qa" -v qb="$qb" -v t0="$t0" -v t1="$t1" -v hz="$hz" -v p50="$p50" -v p99="$p99" \
			'BEGIN {
				us = (b - a) / hz * 1e6 / (q * (t1 - t0))
				o = ((bb - ba) - (b - a) - (kb - ka) - (db - da)) / hz / (t1 - t0) * 100
				# "-": dnsperf had ended before the second reading (a very busy machine)
				printf "%s %s %s %.0f %.2f %.0f %s %s %s %s\n", n, r, k, q, us, kb - ka, p50, p99, (da == "-" || db == "-") ? "-" : sprintf("%.0f", (o > 0 ? o : 0)),
					(qa == "-" || qb == "-") ? "-" : sprintf("%.0f", qb - qa)
			}' >>"$RES"
		log "$(tail -n 1 "$RES")"
	}
	log "measuring ${READY[*]}: $REPS rounds, about $((REPS * ${#READY[@]} * 2 * DURATION)) s"
	for ((rep = 1; rep <= REPS; rep++)); do
		for s in "${READY[@]}"; do
			measure "$s" "$rep" max
			measure "$s" "$rep" lat
		done
	done
	for s in "${READY[@]}"; do stop "${HPID[$s]}"; done
	stop "$KPID"

	# Table input: one line per round, its max and latency runs joined, with the bytes per RRset and the
	# upstream ticks of all the server's runs (so that their "median" is the total).
	HIT=$TMP/hit
	awk 'FNR == 1 { pass++ }
		pass == 1 { mem[$1] = ($3 - $2) * 1024 / $4; next }
		pass == 2 { up[$1] += $6; if ($10 != "-") uq[$1] += $10; else uq[$1] = "-"; next }
		$3 == "max" { key = $1 " " $2; qps[key] = $4; cpu[key] = $5 }
		$3 == "lat" { key = $1 " " $2; print $1, qps[key], cpu[key], $5, $7, $8, mem[$1], up[$1], uq[$1] }' "$MEM" "$RES" "$RES" >"$HIT"

	echo "== Cache-hit runs (name round kind qps cpu-us/q upstream-ticks p50-us p99-us other% upstream-queries)"
	cat "$RES"
	echo
	echo "== Cache hits: medians over $REPS rounds"
	median_table "$HIT" "${READY[*]}" \
		"qps(max):2:%.0f cpu-us/q:3:%.2f cpu-us/q@rate:4:%.2f p50-us:5:%.0f p99-us:6:%.0f B/RRset:7:%.0f upstream-ticks:8:%.0f upstream-q:9:%.0f"
	echo "memory (VmRSS after the first answer -> right after caching $RRSETS RRsets -> ${SETTLE}s later):" \
		"$(awk '{printf "%s%s %.1f -> %.1f -> %.1f MiB", sep, $1, $2 / 1024, $5 / 1024, $3 / 1024; sep = "; "}' "$MEM")"
	awk '{t[$1] += $6; q[$1] += $10} END {for (s in t) if (t[s] > 0 || q[s] > 0)
		printf "WARNING: knotd used %d CPU ticks and answered %d queries during the measurements of %s: %s\n", t[s], q[s], s,
			(q[s] > 0 ? "not every answer came from the cache" : "no queries, so that was its own work")}' "$RES"
	echo "upstream-ticks, upstream-q: knotd CPU ticks and queries answered during all $((2 * REPS)) measurements of the server, summed" \
		"(0: every answer came from the cache)."
	echo "B/RRset: (VmRSS ${SETTLE}s after the warm-up - VmRSS after start-up) / $RRSETS RRsets, one measurement (not a median)."
	echo "other% (runs): CPU (both CPUs) used by other processes during the run, in % of one CPU; p99 suffers first."
else
	echo "cache-hit part skipped (RBENCH_HITS=0)"
fi

# ---------------------------------------------------------------------------------------------------
# Part 2: cold cache over the lab's hierarchy.
# The fixed mix of the lab's questions (LAB_MIX, bench/lib.sh).
MIX=$LAB_MIX

# check_cold NAME REP PORT: after a cold run, the answers that take chains, a lame or truncating
# server must hold the right address (now from the cache); a warning line for each that does not.
check_cold() {
	local want q got
	while read -r q want; do
		got=$(dig +short +time=2 +tries=1 @"$ADDR" -p "$3" "$q" A 2>/dev/null | tr '\n' ' ')
		case " $got " in *" $want "*) ;; *) echo "WARNING: $1 (cold round $2): $q A gave '$got', want $want" ;; esac
	done <<-EOF
		c1.wild.org. 127.0.9.40
		www.shop.example. 127.0.9.11
		cdn.shop.example. 127.0.9.41
		www.legacy.shop.example. 127.0.9.20
		app.hosting.org. 127.0.9.11
		www.moved.example. 127.0.9.50
		www.big.example. 127.0.9.80
		www.bank.example. 127.0.9.90
	EOF
}

cold_phase() {
	local lab_pid s rep i a b la lb out n nmix p50 p99
	if [ "$COLD" = 0 ]; then
		echo "cold-cache part skipped (RBENCH_COLD=0)"
		return 0
	fi
	# Tests elsewhere on the machine may hold port 53 for a while (the lab's own tests do).
	for ((i = 0; i < 30; i++)); do
		port_busy 53 || break
		[ "$i" -gt 0 ] || log "port 53 is in use; waiting up to 60 s for it to be free"
		sleep 2
	done
	if port_busy 53; then
		echo "cold-cache part skipped: port 53 is in use ($(ss -Hlnut | awk '$5 ~ /:53$/ {print $1, $5}' | sort -u | tr '\n' ' '))"
		return 0
	fi
	taskset -c 1 "$WARDEN_BIN" lab >"$TMP/lab.out" 2>"$TMP/lab.err" &
	lab_pid=$!
	PIDS+=("$lab_pid")
	for ((i = 0; i < 100; i++)); do
		grep -qs '^; Servers:' "$TMP/lab.out" && break
		if ! kill -0 "$lab_pid" 2>/dev/null; then
			echo "cold-cache part skipped: warden lab did not start: $(tail -n 1 "$TMP/lab.err")"
			stop "$lab_pid"
			return 0
		fi
		sleep 0.1
	done
	awk '!/^;/ && NF' "$TMP/lab.out" >"$LAB_HINTS"
	if ! dig +short +time=1 +tries=2 @127.0.1.1 . NS | grep -q root; then
		echo "cold-cache part skipped: the lab's root (127.0.1.1 port 53) does not answer"
		stop "$lab_pid"
		return 0
	fi
	nmix=$(printf '%s\n' "$MIX" | wc -l)
	{
		printf '%s\n' "$MIX"
		for ((i = 1; i <= COLD_NAMES; i++)); do echo "c$i.wild.org. A"; done
	} >"$TMP/cold"
	n=$(wc -l <"$TMP/cold")
	COLDRES=$TMP/coldres
	: >"$COLDRES"
	log "cold cache: $COLD_REPS rounds of ${ACTIVE[*]}, fresh instances, $n queries one at a time"
	for ((rep = 1; rep <= COLD_REPS; rep++)); do
		for s in "${ACTIVE[@]}"; do
			start_server "$s" cold "-$rep"
			# The first question primes the root (all of them do that before they can resolve).
			if ! wait_answer "$s" "$SPID" "$SPORT" . NS a.root.lab.; then
				skip_server "$s" "$SDIR" "$SPID"
				continue
			fi
			out=$TMP/cold.$s.$rep
			wait_quiet
			a=$(cpu_ns "$SPID"); la=$(cpu_ns "$lab_pid")
			GOMAXPROCS=1 taskset -c 1 "$TMP/seqquery" -s "$ADDR" -p "$SPORT" -d "$TMP/cold" -t 2s >"$out" 2>"$out.err" &
			DNSPERF_PID=$!
			wait "$DNSPERF_PID" || log "seqquery failed: $(tail -n 1 "$out.err")"
			DNSPERF_PID=
			b=$(cpu_ns "$SPID"); lb=$(cpu_ns "$lab_pid")
			check_cold "$s" "$rep" "$SPORT"
			stop "$SPID"
			# name rep sent answered failed avg-us p50-us p99-us mix-avg-us cpu-us/q lab-cpu-us/q
			read -r p50 p99 < <(awk '/^> [A-Z]+ / {print $NF * 1e6}' "$out" | percentiles)
			awk -v s="$s" -v r="$rep" -v n="$n" -v m="$nmix" -v a="$a" -v b="$b" -v la="$la" -v lb="$lb" \
				-v p50="$p50" -v p99="$p99" '
				/^> [A-Z]+ / {
					k++; us = $NF * 1e6; sum += us; if (k <= m) msum += us
					if ($2 != "NOERROR" && $2 != "NXDOMAIN") bad++
				}
				END {
					printf "%s %d %d %d %d %.0f %s %s %.0f %.1f %.1f\n", s, r, n, k, bad + (n - k), (k ? sum / k : 0), p50, p99,
						(m ? msum / m : 0), (k ? (b - a) / 1000 / k : 0), (k ? (lb - la) / 1000 / k : 0)
				}' "$out" >>"$COLDRES"
			log "cold $(tail -n 1 "$COLDRES")"
		done
	done
	stop "$lab_pid"
	echo
	echo "== Cold-cache runs (name round queries answered failed avg-us p50-us p99-us mix-avg-us cpu-us/q lab-cpu-us/q)"
	cat "$COLDRES"
	echo
	echo "== Cold cache: medians over $COLD_REPS rounds, $n queries each ($nmix lab names, then $COLD_NAMES c<i>.wild.org. A)"
	median_table "$COLDRES" "${ACTIVE[*]}" \
		"failed:5:%.0f avg-us:6:%.0f p50-us:7:%.0f p99-us:8:%.0f mix-avg-us:9:%.0f cpu-us/q:10:%.1f lab-cpu-us/q:11:%.1f"
	echo "avg/p50/p99: latency of one query with nothing else in flight (bench/seqquery -t 2s), all $n queries;"
	echo "  mix-avg-us: average of the $nmix lab names alone (each resolver's first visit to most zones)."
	echo "failed: lost or answered with an rcode other than NOERROR/NXDOMAIN. cpu-us/q: resolver CPU (schedstat, all"
	echo "  threads) per query; lab-cpu-us/q: the lab's, a measure of the upstream queries each resolver sends."
	echo "QNAME minimisation: each resolver at its default, which is on in all four (Warden: relaxed, as Unbound;"
	echo "  unbound qname-minimisation: yes, not strict; pdns qname-minimization=yes; kresd: on)."
}
cold_phase

echo
echo "settings: resolvers on CPU 0 (one thread/process each), knotd, lab and dnsperf on CPU 1;" \
	"cache hits: dnsperf -c 1 -q 500 -S 1 -l $DURATION [-Q $RATE -v], $NAMES-record zone, 100,000 queries, 0% NXDOMAIN."
VERSIONS="warden $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') ($(go version | awk '{print $3}'))"
for s in "${ACTIVE[@]}"; do
	case $s in
	unbound) VERSIONS+=", unbound $(unbound -V 2>/dev/null | awk '/^Version/ {print $2; exit}')" ;;
	pdns) VERSIONS+=", pdns_recursor $(pdns_recursor --version 2>&1 | awk '/PowerDNS Recursor/ {for (i = 1; i < NF; i++) if ($i == "Recursor") {print $(i + 1); exit}}')" ;;
	kresd) VERSIONS+=", kresd $(kresd --version 2>/dev/null | awk '{print $NF; exit}')" ;;
	esac
done
echo "versions: $VERSIONS, knotd $(knotd --version 2>&1 | awk '{print $NF; exit}'), dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}')"
