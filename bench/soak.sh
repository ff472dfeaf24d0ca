#!/usr/bin/env bash
# Soak: Warden at 80 % of its measured capacity for a long time while its zone reloads, a secondary
# transfers the zone after every change and the response policy changes (issue 14).
#
# What runs, all on loopback (127.0.5.x, ports from SOAK_PORT_BASE up):
#   - Warden on CPU 0 serves soak.test. from a file, with authority, and sends NOTIFY to knotd on
#     every new serial; it forwards cached.test. to knotd (so those answers come from its cache
#     once warm); an RPZ zone is its response policy.
#   - knotd on CPU 1 is the primary of cached.test. and a secondary of soak.test. (NOTIFY, then
#     IXFR, or AXFR when Warden has no journal entry for the step).
#   - dnsperf on CPU 1: half the questions for soak.test. (authoritative answers), half for
#     cached.test. (cache hits), a few for names the policy blocks.
# First dnsperf runs as fast as it can for SOAK_CAPACITY_SECONDS to measure the capacity (answered
# queries per second); then at SOAK_LOAD_PCT % of it for SOAK_DURATION, while every
# SOAK_INTERVAL seconds:
#   1. soak.test.'s file is rewritten with the next serial and one record changed, and Warden is
#      told to reload, by `warden ctl reload` and by SIGHUP in turn;
#   2. knotd must then hold that serial (it was NOTIFYed and transferred); the script waits up to
#      SOAK_XFR_WAIT seconds and counts the transfer as completed or not;
#   3. the RPZ file is rewritten with a new serial and a changed rule, and the policy reloaded, by
#      `warden policy reload` and by the configuration reload in turn; every fourth round the
#      policy is rolled back with `warden policy rollback` instead (a policy change too).
# Every 60 s (and at the start and end of the load) Warden's VmRSS is sampled.
#
# Output: one table: capacity, the rate used, dnsperf's queries sent / answered / lost (lost must
# be 0; the script exits 1 otherwise), RSS each minute, RSS growth from SOAK_SETTLE seconds into
# the load to its end, reloads done, transfers completed (and their longest wait), policy changes.
#
# Usage (from the repository root, as root: it raises net.core.rmem_* for the run): bench/soak.sh
# Environment (defaults in brackets):
#   SOAK_DURATION [10m]            length of the load at SOAK_LOAD_PCT: N, Ns or Nm
#   SOAK_CAPACITY_SECONDS [20]     length of the capacity measurement
#   SOAK_LOAD_PCT [80]             share of the capacity to run at
#   SOAK_INTERVAL [5]              seconds between rounds of changes
#   SOAK_XFR_WAIT [10]             seconds a round waits for knotd to hold the new serial
#   SOAK_SETTLE [120]              seconds into the load from which RSS growth is counted (at most
#                                  half of SOAK_DURATION)
#   SOAK_OUTSTANDING [500]         dnsperf -q (queries in flight)
#   SOAK_PORT_BASE [15710]         first port tried; busy ports are skipped
#   SOAK_KEEP [0]                  1: keep the temporary directory
#   WARDEN_BIN [unset]             use this warden binary instead of building ./cmd/warden
set -euo pipefail

duration_s() {
	case $1 in
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
DURATION=$(duration_s "${SOAK_DURATION:-10m}")
CAP_SECONDS=${SOAK_CAPACITY_SECONDS:-20}
LOAD_PCT=${SOAK_LOAD_PCT:-80}
INTERVAL=${SOAK_INTERVAL:-5}
XFR_WAIT=${SOAK_XFR_WAIT:-10}
SETTLE=${SOAK_SETTLE:-120}
OUTSTANDING=${SOAK_OUTSTANDING:-500}
PORT_BASE=${SOAK_PORT_BASE:-15710}
KEEP=${SOAK_KEEP:-0}
WARDEN_BIN=${WARDEN_BIN:-}
WADDR=127.0.5.10
KADDR=127.0.5.11
ZONE=soak.test.
FWD=cached.test.
RPZ=rpz.soak.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

log() { printf '[soak.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in dig taskset dnsperf knotd knotc go awk ss sysctl; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done
for v in DURATION CAP_SECONDS LOAD_PCT INTERVAL XFR_WAIT SETTLE OUTSTANDING; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v}: want a whole number (SOAK_DURATION also takes Ns or Nm)"
done
[ "$DURATION" -ge 30 ] || die "SOAK_DURATION must be at least 30 s"
[ "$LOAD_PCT" -ge 1 ] && [ "$LOAD_PCT" -le 100 ] || die "SOAK_LOAD_PCT=$LOAD_PCT: want 1..100"
[ "$SETTLE" -le $((DURATION / 2)) ] || SETTLE=$((DURATION / 2))
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (Warden on CPU 0, knotd and dnsperf on CPU 1)"

TMP=$(mktemp -d /tmp/warden-soak.XXXXXX)
PIDS=()
ORIG_RMEM_DEFAULT=$(sysctl -n net.core.rmem_default)
ORIG_RMEM_MAX=$(sysctl -n net.core.rmem_max)
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	sysctl -qw net.core.rmem_default="$ORIG_RMEM_DEFAULT" net.core.rmem_max="$ORIG_RMEM_MAX" || true
	if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# 500 queries in flight overflow the default receive buffer; a dropped query is a lost one.
sysctl -qw net.core.rmem_default=4194304 net.core.rmem_max=4194304

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
serial_at() { dig +short +time=1 +tries=1 @"$1" -p "$2" "$3" SOA 2>/dev/null | awk '{print $3}'; }

if [ -z "$WARDEN_BIN" ]; then
	log "building warden"
	go build -o "$TMP/warden" ./cmd/warden
	WARDEN_BIN=$TMP/warden
fi

# ---------------------------------------------------------------------------------------------------
# The data. soak.test. version N: serial N, v TXT "N" (the record that changes), h0..h999.
write_zone() {
	local n=$1 f=$TMP/soak.zone
	{
		printf '$ORIGIN %s\n$TTL 300\n@ SOA ns1 hostmaster %d 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n' "$ZONE" "$n"
		printf 'v TXT "%d"\n' "$n"
		awk 'BEGIN {for (i = 0; i < 1000; i++) printf "h%d A 198.51.100.%d\n", i, i % 250}'
	} >"$f.new"
	mv "$f.new" "$f"
}
# The policy, version N: blocked.cached.test. always, and one of b0..b9 in turn.
write_rpz() {
	local n=$1 f=$TMP/rpz.zone
	{
		printf '$ORIGIN %s\n$TTL 60\n@ SOA localhost. hostmaster %d 3600 600 86400 60\n@ NS localhost.\n' "$RPZ" "$n"
		# RPZ owners are the blocked names under the policy zone's origin (relative here).
		printf 'blocked.%s CNAME .\n' "${FWD%.}"
		printf 'b%d.%s CNAME .\n' $((n % 10)) "${FWD%.}"
	} >"$f.new"
	mv "$f.new" "$f"
}
write_zone 1
write_rpz 1
{
	printf '$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.2\n' "$FWD"
	awk 'BEGIN {for (i = 0; i < 1000; i++) printf "k%d A 203.0.113.%d\n", i, i % 250}'
} >"$TMP/cached.zone"
# The questions: 1,000 authoritative, 1,000 forwarded (cached after the warm-up), 20 blocked.
awk -v z="$ZONE" -v f="$FWD" 'BEGIN {
	for (i = 0; i < 1000; i++) {printf "h%d.%s A\n", i, z; printf "k%d.%s A\n", i, f}
	for (i = 0; i < 10; i++) {printf "blocked.%s A\n", f; printf "b%d.%s A\n", i, f}
}' >"$TMP/queries"

# ---------------------------------------------------------------------------------------------------
# knotd: primary of cached.test., secondary of soak.test. (Warden is its primary).
WPORT=$(next_port "$PORT_BASE")
KPORT=$(next_port $((WPORT + 1)))
mkdir -p "$TMP/knot" "$TMP/storage"
cat >"$TMP/knot/knot.conf" <<-EOF
	server:
	    rundir: "$TMP/knot"
	    listen: $KADDR@$KPORT
	    udp-workers: 1
	    tcp-workers: 1
	    background-workers: 1
	log:
	  - target: stderr
	    any: warning
	database:
	    storage: "$TMP/knot"
	remote:
	  - id: warden
	    address: $WADDR@$WPORT
	acl:
	  - id: local
	    address: 127.0.0.0/8
	    action: [notify, transfer]
	template:
	  - id: default
	    storage: "$TMP/knot"
	    zonefile-sync: -1
	    journal-content: changes
	    semantic-checks: off
	zone:
	  - domain: $FWD
	    file: "$TMP/cached.zone"
	    journal-content: none
	  - domain: $ZONE
	    master: warden
	    acl: [local]
EOF

# Warden: the zone with NOTIFY to knotd, forwarding to knotd, the RPZ policy.
cat >"$TMP/warden.yaml" <<-EOF
	listen:
	  - $WADDR:$WPORT
	zones:
	  - origin: $ZONE
	    file: $TMP/soak.zone
	    notify: [$KADDR:$KPORT]
	    allow_transfer: [127.0.0.0/8]
	storage: $TMP/storage
	control:
	  socket: $TMP/control.sock
	log:
	  level: warn
	reload:
	  watch_interval: 0s
	resolver:
	  allow: [127.0.0.0/8]
	  forward:
	    - zone: $FWD
	      upstreams: [$KADDR:$KPORT]
	policy:
	  rpz:
	    - origin: $RPZ
	      file: $TMP/rpz.zone
	  safety:
	    max_change: 100
EOF
"$WARDEN_BIN" check --config "$TMP/warden.yaml" >"$TMP/check.out" 2>&1 || die "warden check: $(tail -n 3 "$TMP/check.out")"

taskset -c 0 "$WARDEN_BIN" serve --config "$TMP/warden.yaml" >"$TMP/warden.log" 2>&1 &
WPID=$!
PIDS+=("$WPID")
for ((i = 0; i < 100; i++)); do
	kill -0 "$WPID" 2>/dev/null || die "warden exited during start-up: $(tail -n 3 "$TMP/warden.log")"
	[ "$(serial_at "$WADDR" "$WPORT" "$ZONE")" = 1 ] && break
	sleep 0.1
done
[ "$i" -lt 100 ] || die "warden did not serve $ZONE within 10 s: $(tail -n 3 "$TMP/warden.log")"
taskset -a -p -c 0 "$WPID" >/dev/null

taskset -c 1 knotd -c "$TMP/knot/knot.conf" >"$TMP/knot.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")
for ((i = 0; i < 100; i++)); do
	kill -0 "$KPID" 2>/dev/null || die "knotd exited during start-up: $(tail -n 3 "$TMP/knot.log")"
	[ "$(serial_at "$KADDR" "$KPORT" "$ZONE")" = 1 ] && break
	sleep 0.1
done
[ "$i" -lt 100 ] || die "knotd did not transfer $ZONE from warden within 10 s: $(tail -n 3 "$TMP/knot.log")"
# knotd pins its UDP workers to CPUs itself: move every thread to CPU 1.
taskset -a -p -c 1 "$KPID" >/dev/null

WCTL=("$WARDEN_BIN" ctl --control "$TMP/control.sock")
WPOL=("$WARDEN_BIN" policy --control "$TMP/control.sock")
"${WCTL[@]}" status >/dev/null 2>&1 || die "warden's control socket does not answer"

# Warm-up: every question once, so the forwarded names are in Warden's cache.
log "warm-up"
taskset -c 1 dnsperf -s "$WADDR" -p "$WPORT" -d "$TMP/queries" -n 1 -c 1 -q 100 >"$TMP/warm.out" 2>&1 ||
	die "warm-up dnsperf failed: $(tail -n 3 "$TMP/warm.out")"

dnsperf_field() { awk -v l="$2:" '$0 ~ "^ *" l {sub(".*" l " *", ""); print $1 + 0; exit}' "$1"; }

# ---------------------------------------------------------------------------------------------------
# Capacity.
log "capacity: dnsperf for $CAP_SECONDS s as fast as it can"
taskset -c 1 dnsperf -s "$WADDR" -p "$WPORT" -d "$TMP/queries" -c 4 -q "$OUTSTANDING" -l "$CAP_SECONDS" \
	>"$TMP/capacity.out" 2>&1 || die "capacity dnsperf failed: $(tail -n 3 "$TMP/capacity.out")"
CAPACITY=$(dnsperf_field "$TMP/capacity.out" "Queries per second" | awk '{printf "%d", $1}')
[ "$CAPACITY" -gt 0 ] || die "no capacity measured"
RATE=$((CAPACITY * LOAD_PCT / 100))
log "capacity $CAPACITY qps; the soak runs at $RATE qps for $DURATION s"

# ---------------------------------------------------------------------------------------------------
# The soak: dnsperf at RATE, the rounds of changes, and the RSS sampler.
taskset -c 1 dnsperf -s "$WADDR" -p "$WPORT" -d "$TMP/queries" -c 4 -q "$OUTSTANDING" -Q "$RATE" -l "$DURATION" \
	>"$TMP/soak.out" 2>&1 &
PERF_PID=$!
PIDS+=("$PERF_PID")
t0=$(date +%s)
elapsed() { echo $(($(date +%s) - t0)); }

(
	next=0
	while kill -0 "$PERF_PID" 2>/dev/null && kill -0 "$WPID" 2>/dev/null; do
		e=$(elapsed)
		if [ "$e" -ge "$next" ]; then
			printf '%d %d\n' "$e" "$(rss_kb "$WPID")"
			next=$((next + 60))
		fi
		[ "$e" -lt "$SETTLE" ] || [ -s "$TMP/rss.settle" ] || printf '%d %d\n' "$e" "$(rss_kb "$WPID")" >"$TMP/rss.settle"
		sleep 1
	done
) >"$TMP/rss" &
PIDS+=("$!")

serial=1
policy_serial=1
reloads=0
xfr_ok=0
xfr_late=0
xfr_wait_max=0
policy_changes=0
policy_failed=0
round=0
while kill -0 "$PERF_PID" 2>/dev/null; do
	sleep "$INTERVAL"
	kill -0 "$PERF_PID" 2>/dev/null || break
	kill -0 "$WPID" 2>/dev/null || die "warden died during the soak: $(tail -n 5 "$TMP/warden.log")"
	round=$((round + 1))
	# 1. The zone: a new serial, reloaded by the control socket or SIGHUP in turn.
	serial=$((serial + 1))
	write_zone "$serial"
	if ((round % 2)); then
		"${WCTL[@]}" reload >>"$TMP/ctl.out" 2>&1 || log "round $round: warden ctl reload failed: $(tail -n 1 "$TMP/ctl.out")"
	else
		kill -HUP "$WPID"
	fi
	reloads=$((reloads + 1))
	# 2. The secondary must follow: NOTIFY, then IXFR (or AXFR).
	ts=$(now)
	got=""
	for ((i = 0; i < XFR_WAIT * 10; i++)); do
		got=$(serial_at "$KADDR" "$KPORT" "$ZONE")
		[ "$got" = "$serial" ] && break
		sleep 0.1
	done
	if [ "$got" = "$serial" ]; then
		xfr_ok=$((xfr_ok + 1))
		xfr_wait_max=$(awk -v a="$ts" -v b="$(now)" -v m="$xfr_wait_max" 'BEGIN {d = b - a; printf "%.2f", (d > m ? d : m)}')
	else
		xfr_late=$((xfr_late + 1))
		log "round $round: knotd has serial '${got:-none}' of $ZONE, not $serial, after $XFR_WAIT s"
	fi
	# 3. The policy: a changed RPZ zone, or a rollback every fourth round.
	if ((round % 4 == 0)); then
		if "${WPOL[@]}" rollback >>"$TMP/policy.out" 2>&1; then
			policy_changes=$((policy_changes + 1))
		else
			policy_failed=$((policy_failed + 1))
		fi
		continue
	fi
	policy_serial=$((policy_serial + 1))
	write_rpz "$policy_serial"
	if ((round % 2)); then
		if "${WPOL[@]}" reload >>"$TMP/policy.out" 2>&1; then
			policy_changes=$((policy_changes + 1))
		else
			policy_failed=$((policy_failed + 1))
		fi
	else
		# The next round's configuration reload picks the new policy up; count it then.
		policy_changes=$((policy_changes + 1))
	fi
done
wait "$PERF_PID" || log "dnsperf exited with $?"
kill -0 "$WPID" 2>/dev/null || die "warden died during the soak: $(tail -n 5 "$TMP/warden.log")"
RSS_END=$(rss_kb "$WPID")
printf '%d %d\n' "$(elapsed)" "$RSS_END" >>"$TMP/rss"

# ---------------------------------------------------------------------------------------------------
# Results.
SENT=$(dnsperf_field "$TMP/soak.out" "Queries sent")
DONE=$(dnsperf_field "$TMP/soak.out" "Queries completed")
LOST=$(dnsperf_field "$TMP/soak.out" "Queries lost")
QPS=$(dnsperf_field "$TMP/soak.out" "Queries per second")
read -r SETTLE_AT RSS_SETTLE <"$TMP/rss.settle" || { SETTLE_AT=-; RSS_SETTLE=$RSS_END; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

echo "== Soak: $DURATION s at $LOAD_PCT % of capacity, reloads, transfers and policy changes every $INTERVAL s"
{
	echo "metric value"
	echo "capacity-qps(${CAP_SECONDS}s) $CAPACITY"
	echo "soak-rate-qps $RATE"
	echo "soak-qps-answered $QPS"
	echo "queries-sent $SENT"
	echo "queries-answered $DONE"
	echo "queries-lost $LOST"
	echo "rcodes $(grep -m 1 'Response codes:' "$TMP/soak.out" | sed 's/^ *Response codes: *//; s/ //g')"
	echo "rounds $round"
	echo "zone-reloads(ctl+SIGHUP) $reloads"
	echo "transfers-completed $xfr_ok/$reloads"
	echo "transfers-late $xfr_late"
	echo "transfer-wait-max-s $xfr_wait_max"
	echo "policy-changes(reload/rollback) $policy_changes"
	echo "policy-changes-refused $policy_failed"
	echo "warden-serial-end $(serial_at "$WADDR" "$WPORT" "$ZONE")"
	echo "knotd-serial-end $(serial_at "$KADDR" "$KPORT" "$ZONE")"
	echo "RSS-at-${SETTLE_AT}s-MiB $(mib "$RSS_SETTLE")"
	echo "RSS-end-MiB $(mib "$RSS_END")"
	echo "RSS-growth-after-${SETTLE_AT}s-MiB $(awk -v a="$RSS_SETTLE" -v b="$RSS_END" 'BEGIN {printf "%+.1f", (b - a) / 1024}')"
} | column -t
echo "RSS each minute (s MiB):"
awk '{printf "  %5d %6.1f\n", $1, $2 / 1024}' "$TMP/rss"
echo "settings: warden on CPU 0 (GOMAXPROCS 1), knotd and dnsperf on CPU 1;"
echo "  capacity: taskset -c 1 dnsperf -s $WADDR -p PORT -d queries -c 4 -q $OUTSTANDING -l $CAP_SECONDS"
echo "  soak:     taskset -c 1 dnsperf -s $WADDR -p PORT -d queries -c 4 -q $OUTSTANDING -Q $RATE -l $DURATION"
echo "  queries: 1000 names of $ZONE (authority), 1000 of $FWD (forwarded to knotd, cached), 20 of them policy names"
echo "  versions: $(dnsperf -h 2>&1 | awk '/^Version/{print "dnsperf " $2; exit}'), $(knotd -V 2>&1 | head -n 1), $(go version | awk '{print $3}')"
[ "$LOST" = 0 ] || die "$LOST queries lost"
[ "$xfr_late" = 0 ] || die "$xfr_late transfers did not complete within $XFR_WAIT s"
