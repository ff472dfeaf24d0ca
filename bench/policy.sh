#!/usr/bin/env bash
# Response policy cost: Warden forwarding bench.test. to knotd, answering from a warm cache, with
# no policy, with a 1,000,000-name RPZ zone, and with the same names as a hosts-format blocklist;
# then load time and memory of that RPZ zone in Warden, Unbound and BIND, and of the blocklist in
# Warden.
#
# Part 1, throughput (method as bench/resolver.sh): three Warden processes (none, rpz, list) on
# CPU 0, knotd and dnsperf on CPU 1, net.core.rmem_* raised for the run and restored. Each is
# warmed with every name of both query files, then measured with dnsperf -c 1 -q 500 -l DURATION
# on two query files: "base" (the 10,000-name zone's names, none listed: every query misses the
# policy) and "hit" (the same with 10% of the queries replaced by listed names). Runs are
# interleaved (none rpz list, base then hit, REPS times); server CPU per answered query from
# /proc/PID/stat over seconds 2..DURATION-2. Printed: medians, and each policy's ratio to no
# policy on the same file (qps: higher is better, target ≥ 0.9; CPU-µs/query: lower is better).
#
# Part 2, load (method as bench/memload.sh): each server is started pinned to CPU 0 and asked,
# every ~20 ms, for the name of the policy's last rule until the policy answers it (NXDOMAIN);
# load time is from start to that answer, memory is VmRSS then, and VmHWM. The same without a
# policy (asking h1.bench.test., forwarded to knotd) gives each server's baseline, and
# (RSS - baseline) / names the memory per name. Unbound runs with module-config "respip validator
# iterator", an rpz: clause reading the zone file and local-zone "test." nodefault (else it answers
# every name under test., bench.test. included, NXDOMAIN by itself); BIND with response-policy
# { zone "rpz.bench."; } qname-wait-recurse no and the zone as a primary zone.
#
# Usage (from the repository root): bench/policy.sh
# Environment: PBENCH_REPS [3], PBENCH_DURATION [10], PBENCH_NAMES [1000000],
#   PBENCH_ZONE_NAMES [10000], PBENCH_LOAD_REPS [3], PBENCH_LOAD_TIMEOUT [300],
#   PBENCH_LOAD_SERVERS ["warden unbound bind"], WARDEN_BIN [build ./cmd/warden]
set -euo pipefail

REPS=${PBENCH_REPS:-3}
DURATION=${PBENCH_DURATION:-10}
NAMES=${PBENCH_NAMES:-1000000}
ZONE_NAMES=${PBENCH_ZONE_NAMES:-10000}
LOAD_REPS=${PBENCH_LOAD_REPS:-3}
LOAD_TIMEOUT=${PBENCH_LOAD_TIMEOUT:-300}
LOAD_SERVERS=${PBENCH_LOAD_SERVERS:-warden unbound bind}
ADDR=127.0.0.1
ORIGIN=bench.test.
RPZ=rpz.bench.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

log() { printf '[policy.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in dig taskset knotd unbound named dnsperf go awk ss; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done

TMP=$(mktemp -d -p "${TMPDIR:-/tmp}")  # removed by cleanup
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
KPORT=$(next_port 15470)
PORT_NONE=$(next_port $((KPORT + 1)))
PORT_RPZ=$(next_port $((PORT_NONE + 1)))
PORT_LIST=$(next_port $((PORT_RPZ + 1)))
PORT_LOAD=$(next_port $((PORT_LIST + 1)))

log "generating the $ZONE_NAMES-record zone, the query files and the $NAMES-name policy"
go run ./bench/genzone -n "$ZONE_NAMES" -zone "$TMP/zone" -queries "$TMP/base" -nq 100000 -nx 0 2>/dev/null
LAST=$(go run ./bench/genrpz -n "$NAMES" -origin "$RPZ" -rpz "$TMP/rpz.zone" -hosts "$TMP/hosts.txt" \
	-queries "$TMP/base" -hit-queries "$TMP/hit" -hit 0.10)
cat "$TMP/base" "$TMP/hit" | sort -u >"$TMP/warm"
log "last rule: $LAST; zone $(du -m "$TMP/rpz.zone" | cut -f1) MiB, hosts $(du -m "$TMP/hosts.txt" | cut -f1) MiB"

write_knot_conf "$TMP/knot" "$ADDR" "$KPORT" "$ORIGIN" "$TMP/zone"
taskset -c 1 knotd -c "$TMP/knot/knot.conf" >"$TMP/knot.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")

if [ -n "${WARDEN_BIN:-}" ]; then
	cp "$WARDEN_BIN" "$TMP/warden"
else
	go build -o "$TMP/warden" ./cmd/warden
fi

# warden_args VARIANT PORT: the command line of Warden with no policy, the RPZ zone or the list.
warden_args() {
	local -a a=(serve --listen "$ADDR:$2" --forward "$ORIGIN=$ADDR:$KPORT")
	case $1 in
	rpz) a+=(--rpz "$RPZ=$TMP/rpz.zone") ;;
	list) a+=(--blocklist "big=$TMP/hosts.txt") ;;
	esac
	printf '%s\n' "${a[@]}"
}

# answer PORT NAME: "RCODE" of an A query for NAME, empty without an answer.
answer() {
	dig +tries=1 +time=1 -p "$1" @"$ADDR" "$2" A 2>/dev/null | awk '/->>HEADER<<-/ {sub(",", "", $6); print $6; exit}'
}

wait_answer() { # PORT NAME RCODE TIMEOUT
	local t0
	t0=$(now)
	until [ "$(answer "$1" "$2")" = "$3" ]; do
		awk -v a="$t0" -v b="$(now)" -v m="$4" 'BEGIN {exit !(b - a > m)}' && return 1
		sleep 0.05
	done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# ---- Part 1: throughput -------------------------------------------------------------------------
declare -A WPID WPORT=([none]=$PORT_NONE [rpz]=$PORT_RPZ [list]=$PORT_LIST)
for v in none rpz list; do
	mapfile -t args < <(warden_args "$v" "${WPORT[$v]}")
	taskset -c 0 "$TMP/warden" "${args[@]}" >"$TMP/warden-$v.log" 2>&1 &
	WPID[$v]=$!
	PIDS+=("$!")
done
wait_answer "$KPORT" h1.bench.test. NOERROR 30 || die "knotd does not answer"
taskset -a -p -c 1 "$KPID" >/dev/null
for v in none rpz list; do
	wait_answer "${WPORT[$v]}" h1.bench.test. NOERROR "$LOAD_TIMEOUT" || die "warden ($v) does not answer; $(tail -n 5 "$TMP/warden-$v.log")"
done
for v in rpz list; do
	[ "$(answer "${WPORT[$v]}" "$LAST")" = NXDOMAIN ] || die "warden ($v) does not apply the policy to $LAST"
done
[ "$(answer "$PORT_NONE" "$LAST")" != NXDOMAIN ] || die "warden without a policy answers $LAST NXDOMAIN"

log "warming the caches with every name of both query files"
for v in none rpz list; do
	taskset -c 1 dnsperf -s "$ADDR" -p "${WPORT[$v]}" -d "$TMP/warm" -c 1 -q 50 -n 1 >/dev/null 2>&1
done

RES=$TMP/results
: >"$RES"
# measure VARIANT FILE: one dnsperf max run; appends "variant file qps cpu-us/q upstream-ticks".
measure() {
	local v=$1 file=$2 out=$TMP/out pid=${WPID[$1]} a b ka kb qps t0 t1
	taskset -c 1 dnsperf -s "$ADDR" -p "${WPORT[$v]}" -d "$TMP/$file" -c 1 -q 500 -S 1 -l "$DURATION" >"$out" 2>&1 &
	local dp=$!
	sleep 2
	a=$(cpu_ticks "$pid"); ka=$(cpu_ticks "$KPID"); t0=$(now)
	sleep $((DURATION - 4))
	b=$(cpu_ticks "$pid"); kb=$(cpu_ticks "$KPID"); t1=$(now)
	wait "$dp"
	qps=$(awk '/Queries per second/ {print $4}' "$out")
	awk -v v="$v" -v f="$file" -v q="$qps" -v a="$a" -v b="$b" -v ka="$ka" -v kb="$kb" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%s %s %.0f %.2f %d\n", v, f, q, (b - a) / hz * 1e6 / (q * (t1 - t0)), kb - ka }' >>"$RES"
	log "$(tail -n 1 "$RES")"
}
for _ in $(seq 1 "$REPS"); do
	for file in base hit; do
		for v in none rpz list; do measure "$v" "$file"; done
	done
done
for v in none rpz list; do kill "${WPID[$v]}"; wait "${WPID[$v]}" 2>/dev/null || true; done

# ---- Part 2: load time and memory ---------------------------------------------------------------

cat >"$TMP/unbound-common.conf" <<-EOF
	server:
	    interface: $ADDR@$PORT_LOAD
	    port: $PORT_LOAD
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
	    local-zone: "test." nodefault
	    msg-cache-size: 64m
	    rrset-cache-size: 128m
	forward-zone:
	    name: "$ORIGIN"
	    forward-addr: $ADDR@$KPORT
	remote-control:
	    control-enable: no
EOF
sed 's/^server:$/server:\n    module-config: "iterator"/' "$TMP/unbound-common.conf" >"$TMP/unbound-none.conf"
{
	sed 's/^server:$/server:\n    module-config: "respip validator iterator"/' "$TMP/unbound-common.conf"
	printf 'rpz:\n    name: "%s"\n    zonefile: "%s"\n    rpz-log: no\n' "$RPZ" "$TMP/rpz.zone"
} >"$TMP/unbound-rpz.conf"

mkdir -p "$TMP/named"
named_conf() { # VARIANT
	local policy="" zone=""
	if [ "$1" = rpz ]; then
		policy="response-policy { zone \"$RPZ\"; } qname-wait-recurse no;"
		zone="zone \"$RPZ\" { type primary; file \"$TMP/rpz.zone\"; };"
	fi
	cat <<-EOF
		options {
		    directory "$TMP/named";
		    pid-file "$TMP/named/named.pid";
		    session-keyfile "$TMP/named/session.key";
		    listen-on port $PORT_LOAD { $ADDR; };
		    listen-on-v6 { none; };
		    recursion yes;
		    allow-recursion { 127.0.0.0/8; };
		    dnssec-validation no;
		    $policy
		};
		controls { };
		zone "$ORIGIN" { type forward; forward only; forwarders { $ADDR port $KPORT; }; };
		$zone
	EOF
}
named_conf none >"$TMP/named-none.conf"
named_conf rpz >"$TMP/named-rpz.conf"

LOADRES=$TMP/load
: >"$LOADRES"
# load_once SERVER VARIANT: start, time the answer that shows the policy (or, without one, the
# forward) is in force, read the memory, stop.
load_once() {
	local s=$1 v=$2 t0 t1 pid probe=$LAST want=NXDOMAIN rss hwm
	if [ "$v" = none ]; then probe=h1.bench.test. want=NOERROR; fi
	t0=$(now)
	case $s in
	warden)
		mapfile -t args < <(warden_args "$v" "$PORT_LOAD")
		taskset -c 0 "$TMP/warden" "${args[@]}" >"$TMP/load.log" 2>&1 &
		;;
	unbound) taskset -c 0 unbound -d -c "$TMP/unbound-$v.conf" >"$TMP/load.log" 2>&1 & ;;
	bind) taskset -c 0 named -g -4 -n 1 -c "$TMP/named-$v.conf" >"$TMP/load.log" 2>&1 & ;;
	esac
	pid=$!
	PIDS+=("$pid")
	until [ "$(answer "$PORT_LOAD" "$probe")" = "$want" ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$s ($v) exited; last lines of its log:"
			tail -n 10 "$TMP/load.log" >&2
			return 1
		fi
		if awk -v a="$t0" -v b="$(now)" -v m="$LOAD_TIMEOUT" 'BEGIN {exit !(b - a > m)}'; then
			tail -n 10 "$TMP/load.log" >&2
			die "$s ($v) did not answer $probe with $want in $LOAD_TIMEOUT s"
		fi
		sleep 0.02
	done
	t1=$(now)
	rss=$(status_kib "$pid" VmRSS)
	hwm=$(status_kib "$pid" VmHWM)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	while port_busy "$PORT_LOAD"; do sleep 0.1; done
	awk -v s="$s" -v v="$v" -v t0="$t0" -v t1="$t1" -v r="$rss" -v h="$hwm" \
		'BEGIN { printf "%s %s %.2f %.1f %.1f\n", s, v, t1 - t0, r / 1024, h / 1024 }' >>"$LOADRES"
	log "$(tail -n 1 "$LOADRES")"
}
for _ in $(seq 1 "$LOAD_REPS"); do
	for s in $LOAD_SERVERS; do
		load_once "$s" none
		load_once "$s" rpz
		if [ "$s" = warden ]; then load_once warden list; fi
	done
done

# ---- Results ------------------------------------------------------------------------------------
MEDIAN='function median(s,   n, i, j, t, v) {
	n = split(s, v, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
	return v[int((n + 1) / 2)]
}'
echo "== Throughput runs (variant queries qps cpu-us/q upstream-ticks)"
cat "$RES"
echo
echo "== Throughput, medians over $REPS rounds ($NAMES-name policy; hit: 10% of queries listed)"
awk "$MEDIAN"'
	{ q[$1 "," $2] = q[$1 "," $2] " " $3; c[$1 "," $2] = c[$1 "," $2] " " $4; up += $5 }
	END {
		printf "%-8s %-6s %10s %10s %12s %12s\n", "policy", "query", "qps(max)", "cpu-us/q", "qps/none", "cpu/none"
		split("base hit", files, " "); split("none rpz list", vs, " ")
		for (f = 1; f <= 2; f++) for (i = 1; i <= 3; i++) {
			k = vs[i] "," files[f]; n = "none," files[f]
			printf "%-8s %-6s %10.0f %10.2f %12.3f %12.3f\n", vs[i], files[f], median(q[k]), median(c[k]),
				median(q[k]) / median(q[n]), median(c[k]) / median(c[n])
		}
		printf "upstream-ticks (knotd CPU during all runs): %d\n", up
	}' "$RES"
echo
echo "== Load runs (server policy load-s RSS-MiB peak-MiB)"
cat "$LOADRES"
echo
echo "== Load time and memory, medians over $LOAD_REPS runs ($NAMES names)"
awk -v names="$NAMES" "$MEDIAN"'
	{ k = $1 "," $2; t[k] = t[k] " " $3; r[k] = r[k] " " $4; h[k] = h[k] " " $5; if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
	END {
		printf "%-8s %-6s %8s %9s %9s %14s\n", "server", "policy", "load-s", "RSS-MiB", "peak-MiB", "bytes/name"
		for (i = 1; i <= n; i++) {
			k = order[i]; split(k, p, ","); base = p[1] ",none"
			per = (p[2] == "none") ? "-" : sprintf("%.0f", (median(r[k]) - median(r[base])) * 1048576 / names)
			printf "%-8s %-6s %8.2f %9.1f %9.1f %14s\n", p[1], p[2], median(t[k]), median(r[k]), median(h[k]), per
		}
	}' "$LOADRES"
echo "load-s: start to the first answer that shows the policy in force (NXDOMAIN for $LAST), or for none the first forwarded answer."
echo "settings: servers on CPU 0, knotd and dnsperf on CPU 1; dnsperf -c 1 -q 500 -S 1 -l $DURATION; $(go version | awk '{print $3}')," \
	"$(unbound -V 2>&1 | head -n 1), $(named -v), $(knotd -V 2>&1 | head -n 1), $(date -u +%Y-%m-%dT%H:%MZ)"
