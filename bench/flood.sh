#!/usr/bin/env bash
# Random-subdomain flood against Warden as a resolver (issue 14: bounded under attack).
#
# `warden lab` serves its DNS hierarchy on 127.0.x.y port 53 (CPU 1). Warden resolves from the lab's
# root hints on 127.0.0.1 (CPU 0) with a deliberately small cache (FLOOD_CACHE_BYTES), so that the
# cache's bound is reached within the run. The cache is warmed with the lab's names (the fixed mix of
# bench/resolver.sh), then two loads run at once for FLOOD_SECONDS, both on CPU 1:
#   - the flood: dnsperf as fast as it can with unique names c<hex>.wild.org. A (the lab's wildcard
#     zone, served by NSD on 127.0.3.3), none of which the resolver has seen;
#   - the legitimate client: dnsperf at FLOOD_LEGIT_QPS asking the warmed names over and over, every
#     answer's rcode and latency printed (-v).
# Every FLOOD_SAMPLE seconds the script reads Warden's VmRSS and counts Warden's UDP sockets to the
# attacked zone's server (`ss -Hun dst 127.0.3.3`). Warden sends every upstream query from a fresh
# connected socket and closes it when the answer (or the time-out) comes, so that count is the number
# of its queries in flight to wild.org.'s server at that instant: a sampled proxy, which can miss
# short peaks between samples, not a count kept by the server.
#
# Output: one table. RSS after start-up, after the warm-up, peak (VmHWM) and at the end, against
# cache_bytes (overhead = peak RSS - cache_bytes); the legitimate client's answers, failures and
# latency percentiles during the flood; the flood's answered qps and rcode shares; the largest
# sampled in-flight count to the attacked zone against max_zone_queries.
#
# Usage (from the repository root, as root: port 53 and net.core.rmem_*): bench/flood.sh
# Environment (defaults in brackets):
#   FLOOD_SECONDS [120]            length of the flood (and of the legitimate client's run)
#   FLOOD_CACHE_BYTES [8388608]    Warden's resolver.cache_bytes (8 MiB)
#   FLOOD_MAX_ZONE_QUERIES [200]   Warden's resolver.max_zone_queries (its default)
#   FLOOD_MAX_CONCURRENT [1000]    Warden's resolver.max_concurrent (its default)
#   FLOOD_NAMES [8000000]          unique names in the flood's query file (dnsperf starts over at
#                                  the top when it runs out, and then asks names it asked before)
#   FLOOD_CLIENTS [4]              dnsperf -c of the flood
#   FLOOD_OUTSTANDING [2000]       dnsperf -q of the flood (queries in flight, over all clients)
#   FLOOD_LEGIT_QPS [200]          rate of the legitimate client (dnsperf -Q)
#   FLOOD_SAMPLE [0.2]             seconds between samples of RSS and in-flight sockets
#   FLOOD_PORT_BASE [15610]        first port tried for Warden; busy ports are skipped
#   FLOOD_KEEP [0]                 1: keep the temporary directory (config, logs, dnsperf output)
#   WARDEN_BIN [unset]             use this warden binary instead of building ./cmd/warden
#   FLOOD_PPROF [unset]            ADDR:PORT (e.g. 127.0.5.9:6060): build warden with -tags pprof,
#                                  serve the profiler there, and keep in the temporary directory a
#                                  CPU profile (cpu.pprof), a trace (trace.out), the heap profile and
#                                  the runtime's memory statistics (heap.txt) taken mid-flood
set -euo pipefail

SECONDS_RUN=${FLOOD_SECONDS:-120}
CACHE_BYTES=${FLOOD_CACHE_BYTES:-8388608}
MAX_ZONE_QUERIES=${FLOOD_MAX_ZONE_QUERIES:-200}
MAX_CONCURRENT=${FLOOD_MAX_CONCURRENT:-1000}
NAMES=${FLOOD_NAMES:-8000000}
CLIENTS=${FLOOD_CLIENTS:-4}
OUTSTANDING=${FLOOD_OUTSTANDING:-2000}
LEGIT_QPS=${FLOOD_LEGIT_QPS:-200}
SAMPLE=${FLOOD_SAMPLE:-0.2}
PORT_BASE=${FLOOD_PORT_BASE:-15610}
KEEP=${FLOOD_KEEP:-0}
WARDEN_BIN=${WARDEN_BIN:-}
PPROF=${FLOOD_PPROF:-}
ADDR=127.0.0.1
# The attacked zone and its only server (internal/lab/hierarchy.go: NSD serves wild.org.).
ZONE=wild.org.
ZONE_SERVER=127.0.3.3

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

log() { printf '[flood.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in dig taskset dnsperf go awk sort ss sysctl; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (Warden on CPU 0, the lab and the load on CPU 1)"
[ "$SECONDS_RUN" -ge 10 ] || die "FLOOD_SECONDS must be at least 10"

# ---------------------------------------------------------------------------------------------------
# Cleanup: kill everything we started, restore the socket-buffer sysctls, remove the temp dir.
TMP=$(mktemp -d /tmp/warden-flood.XXXXXX)
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
sysctl -qw net.core.rmem_default=4194304 net.core.rmem_max=4194304

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
inflight() { ss -Hun dst "$ZONE_SERVER" 2>/dev/null | wc -l; }
# cpu_ticks PID: user + system clock ticks the process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# recvq ADDR PORT: bytes waiting in the receive queues of the UDP sockets bound to ADDR:PORT (Warden's
# listeners; the kernel counts each datagram's buffer, about 1 KiB for a small query, not its payload).
recvq() { ss -Hunl src "$1:$2" 2>/dev/null | awk '{s += $2} END {print s + 0}'; }

# ---------------------------------------------------------------------------------------------------
if [ -n "$PPROF" ]; then
	log "building warden with the profiler"
	go build -tags pprof -o "$TMP/warden" ./cmd/warden
	WARDEN_BIN=$TMP/warden
	KEEP=1
elif [ -z "$WARDEN_BIN" ]; then
	log "building warden"
	go build -o "$TMP/warden" ./cmd/warden
	WARDEN_BIN=$TMP/warden
fi

# The legitimate names: the lab's fixed mix (LAB_MIX, bench/lib.sh), as bench/resolver.sh resolves
# it. Two of them are in the attacked zone itself (www.wild.org., x.deep.wild.org.).
printf '%s\n' "$LAB_MIX" >"$TMP/legit"
NLEGIT=$(wc -l <"$TMP/legit")

# The flood: NAMES unique names under the wildcard, a random label tag per run so that no two runs
# (and no name of the warm-up) share a name.
log "writing $NAMES flood names"
awk -v n="$NAMES" -v seed="$RANDOM$RANDOM" 'BEGIN {
	srand(seed); tag = int(rand() * 65536)
	for (i = 0; i < n; i++) printf "c%04x%07x.'"$ZONE"' A\n", tag, i
}' >"$TMP/flood"

# ---------------------------------------------------------------------------------------------------
# The lab (as in bench/resolver.sh's cold part).
for ((i = 0; i < 30; i++)); do
	port_busy 53 || break
	[ "$i" -gt 0 ] || log "port 53 is in use; waiting up to 60 s for it to be free"
	sleep 2
done
port_busy 53 && die "port 53 is in use ($(ss -Hlnut | awk '$5 ~ /:53$/ {print $1, $5}' | sort -u | tr '\n' ' '))"
taskset -c 1 "$WARDEN_BIN" lab >"$TMP/lab.out" 2>"$TMP/lab.err" &
LAB_PID=$!
PIDS+=("$LAB_PID")
for ((i = 0; i < 100; i++)); do
	grep -qs '^; Servers:' "$TMP/lab.out" && break
	kill -0 "$LAB_PID" 2>/dev/null || die "warden lab did not start: $(tail -n 1 "$TMP/lab.err")"
	sleep 0.1
done
awk '!/^;/ && NF' "$TMP/lab.out" >"$TMP/lab.hints"
dig +short +time=1 +tries=2 @127.0.1.1 . NS | grep -q root || die "the lab's root (127.0.1.1 port 53) does not answer"
# The lab's servers run in one process; its NSD and Knot children go to CPU 1 too.
taskset -a -p -c 1 "$LAB_PID" >/dev/null
for p in $(pgrep -P "$LAB_PID" || true); do taskset -a -p -c 1 "$p" >/dev/null || true; done

# ---------------------------------------------------------------------------------------------------
# Warden as a resolver with a small cache.
PORT=$(next_port "$PORT_BASE")
cat >"$TMP/warden.yaml" <<-EOF
	listen:
	  - $ADDR:$PORT
	zones: []
	control:
	  socket: ""
	log:
	  level: warn
	resolver:
	  root_hints: $TMP/lab.hints
	  cache_bytes: $CACHE_BYTES
	  max_zone_queries: $MAX_ZONE_QUERIES
	  max_concurrent: $MAX_CONCURRENT
EOF
WARDEN_PPROF=$PPROF taskset -c 0 "$WARDEN_BIN" serve --config "$TMP/warden.yaml" >"$TMP/warden.log" 2>&1 &
WPID=$!
PIDS+=("$WPID")
for ((i = 0; i < 100; i++)); do
	kill -0 "$WPID" 2>/dev/null || die "warden exited during start-up: $(tail -n 3 "$TMP/warden.log")"
	dig +short +time=1 +tries=1 @"$ADDR" -p "$PORT" . NS 2>/dev/null | grep -qxF a.root.lab. && break
	sleep 0.1
done
[ "$i" -lt 100 ] || die "warden did not answer . NS within 10 s: $(tail -n 3 "$TMP/warden.log")"
taskset -a -p -c 0 "$WPID" >/dev/null
RSS_START=$(rss_kb "$WPID")

# Warm-up: every legitimate name twice (the second time from the cache), each must get an answer.
while read -r name type; do
	for k in 1 2; do
		rc=$(dig +time=2 +tries=1 @"$ADDR" -p "$PORT" "$name" "$type" 2>/dev/null | awk '/status:/ {sub(",", "", $6); print $6}')
	done
	case $rc in NOERROR | NXDOMAIN) ;; *) die "warm-up: $name $type gave '${rc:-no answer}'" ;; esac
done <"$TMP/legit"
sleep 1
RSS_WARM=$(rss_kb "$WPID")
log "warden on $ADDR:$PORT, cache_bytes $CACHE_BYTES, RSS $RSS_START KiB at start, $RSS_WARM KiB after the warm-up"

# ---------------------------------------------------------------------------------------------------
# The run: the flood, the legitimate client and the sampler at once.
log "flood: $SECONDS_RUN s of unique names under $ZONE, legitimate client at $LEGIT_QPS qps"
taskset -c 1 dnsperf -s "$ADDR" -p "$PORT" -d "$TMP/flood" -c "$CLIENTS" -q "$OUTSTANDING" -l "$SECONDS_RUN" -S 1 \
	>"$TMP/flood.out" 2>&1 &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
taskset -c 1 dnsperf -s "$ADDR" -p "$PORT" -d "$TMP/legit" -c 1 -q 20 -Q "$LEGIT_QPS" -l "$SECONDS_RUN" -v \
	>"$TMP/legit.out" 2>&1 &
LEGIT_PID=$!
PIDS+=("$LEGIT_PID")
# Mid-flood profiles, when asked for: a CPU profile and a trace of a few seconds each, then the heap.
if [ -n "$PPROF" ]; then
	(
		sleep $((SECONDS_RUN / 3))
		curl -s -o "$TMP/cpu.pprof" "http://$PPROF/debug/pprof/profile?seconds=5"
		curl -s -o "$TMP/trace.out" "http://$PPROF/debug/pprof/trace?seconds=2"
		curl -s -o "$TMP/heap.pprof" "http://$PPROF/debug/pprof/heap"
		curl -s -o "$TMP/heap.txt" "http://$PPROF/debug/pprof/heap?debug=1"
		curl -s -o "$TMP/goroutines.txt" "http://$PPROF/debug/pprof/goroutine?debug=1"
	) &
	PIDS+=("$!")
fi
# Sampler: elapsed seconds, VmRSS KiB, sockets to the zone's server, Warden's CPU ticks, bytes in its
# listening sockets' receive queues; bounded by count and by the flood's end.
t0=$(now)
nsamples=$(awk -v s="$SECONDS_RUN" -v d="$SAMPLE" 'BEGIN {printf "%d", (s + 10) / d}')
for ((i = 0; i < nsamples; i++)); do
	kill -0 "$FLOOD_PID" 2>/dev/null || break
	kill -0 "$WPID" 2>/dev/null || break
	printf '%s %s %s %s %s\n' "$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}')" "$(rss_kb "$WPID")" "$(inflight)" \
		"$(cpu_ticks "$WPID")" "$(recvq "$ADDR" "$PORT")" >>"$TMP/samples"
	sleep "$SAMPLE"
done
wait "$FLOOD_PID" || log "flood dnsperf exited with $?"
wait "$LEGIT_PID" || log "legitimate dnsperf exited with $?"
kill -0 "$WPID" 2>/dev/null || die "warden died during the flood: $(tail -n 5 "$TMP/warden.log")"
sleep 2
RSS_END=$(rss_kb "$WPID")
RSS_HWM=$(hwm_kb "$WPID")

# ---------------------------------------------------------------------------------------------------
# Results.
dnsperf_field() { awk -v l="$2:" '$0 ~ "^ *" l {sub(".*" l " *", ""); print $1 + 0; exit}' "$1"; }
# rcode_count FILE RCODE: responses with RCODE in dnsperf's "Response codes:" line.
rcode_count() { awk -v r="$2" '/Response codes:/ {for (i = 1; i < NF; i++) if ($i == r || $i == r ",") {gsub(/,/, "", $(i+1)); print $(i+1) + 0; exit}} END {}' "$1" | awk '{s += $1} END {print s + 0}'; }

F_SENT=$(dnsperf_field "$TMP/flood.out" "Queries sent")
F_DONE=$(dnsperf_field "$TMP/flood.out" "Queries completed")
F_LOST=$(dnsperf_field "$TMP/flood.out" "Queries lost")
F_QPS=$(dnsperf_field "$TMP/flood.out" "Queries per second")
F_NOERR=$(rcode_count "$TMP/flood.out" NOERROR)
F_SERVFAIL=$(rcode_count "$TMP/flood.out" SERVFAIL)
L_SENT=$(dnsperf_field "$TMP/legit.out" "Queries sent")
L_LOST=$(dnsperf_field "$TMP/legit.out" "Queries lost")
L_OK=$(awk '/^> (NOERROR|NXDOMAIN) / {n++} END {print n + 0}' "$TMP/legit.out")
L_BAD=$(awk '/^> [A-Z]+ / && $2 != "NOERROR" && $2 != "NXDOMAIN" {n++} END {print n + 0}' "$TMP/legit.out")
read -r L_P50 L_P99 L_MAX < <(awk '/^> [A-Z]+ /{print $NF * 1e6}' "$TMP/legit.out" | sort -g | awk '
	{v[NR] = $1} END {if (!NR) {print "- - -"; exit}
	i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
	printf "%.0f %.0f %.0f\n", v[i50], v[i99], v[NR]}')
read -r INF_MAX INF_AVG INF_N RSS_PEAK_SAMPLED INF_AT INF_OVER < <(awk -v b="$MAX_ZONE_QUERIES" '
	{if ($3 > m) m = $3; s += $3; if ($2 > r) r = $2; n++; if ($3 >= b) at++; if ($3 > b) over++}
	END {printf "%d %.1f %d %d %d %d\n", m, (n ? s / n : 0), n, r, at, over}' "$TMP/samples")
# The peak: VmHWM, or the largest sample if that is higher (the kernel folds threads' RSS counts
# into the process's lazily, so VmHWM can trail a VmRSS read a moment earlier).
RSS_PEAK=$RSS_HWM
[ "$RSS_PEAK_SAMPLED" -le "$RSS_PEAK" ] || RSS_PEAK=$RSS_PEAK_SAMPLED

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
# rss_model F: the memory docs/performance.md states for F upstream queries in flight, in MiB:
# RSS at start + 2 x (cache_bytes + 7 MiB + F x 12 KiB) + F x 8 KiB + 4 MiB. The 2 is the Go heap's
# room for garbage (GOGC=100); 7 MiB the working set a flood adds besides the cache (the workers'
# batch buffers, answer templates, delegation and server caches); 12 KiB what one resolution holds
# in the heap (the 4 KiB receive buffer of its upstream query, its 4 KiB reply buffer, its state);
# 8 KiB its goroutine's stack; 4 MiB the runtime's own metadata.
rss_model() { awk -v r="$RSS_START" -v c="$CACHE_BYTES" -v f="$1" 'BEGIN {printf "%.1f", r / 1024 + 2 * (c / 1048576 + 7 + f * 12 / 1024) + f * 8 / 1024 + 4}'; }
CACHE_MIB=$(awk -v b="$CACHE_BYTES" 'BEGIN {printf "%.1f", b / 1048576}')
pct() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", 100 * a / b; else print "-"}'; }

echo "== Flood: $SECONDS_RUN s of unique $ZONE names against Warden (cache_bytes $CACHE_MIB MiB, max_zone_queries $MAX_ZONE_QUERIES, max_concurrent $MAX_CONCURRENT)"
{
	echo "metric value"
	echo "RSS-start-MiB $(mib "$RSS_START")"
	echo "RSS-warm-MiB $(mib "$RSS_WARM")"
	echo "RSS-peak-MiB(VmHWM) $(mib "$RSS_HWM")"
	echo "RSS-peak-sampled-MiB $(mib "$RSS_PEAK_SAMPLED")"
	echo "RSS-end-MiB $(mib "$RSS_END")"
	echo "cache_bytes-MiB $CACHE_MIB"
	echo "overhead-MiB(peak-cache_bytes) $(awk -v h="$RSS_PEAK" -v c="$CACHE_BYTES" 'BEGIN {printf "%.1f", h / 1024 - c / 1048576}')"
	echo "RSS-model-MiB(F=max-in-flight) $(rss_model "$INF_MAX")"
	echo "RSS-bound-MiB(F=max_concurrent) $(rss_model "$MAX_CONCURRENT")"
	echo "RSS-peak-within-bound $(awk -v h="$RSS_PEAK" -v b="$(rss_model "$MAX_CONCURRENT")" 'BEGIN {print (h / 1024 <= b) ? "yes" : "NO"}')"
	echo "legit-sent $L_SENT"
	echo "legit-ok(NOERROR/NXDOMAIN) $L_OK ($(pct "$L_OK" "$L_SENT")%)"
	echo "legit-other-rcode $L_BAD"
	echo "legit-lost $L_LOST"
	echo "legit-p50-us $L_P50"
	echo "legit-p99-us $L_P99"
	echo "legit-max-us $L_MAX"
	echo "flood-sent $F_SENT"
	echo "flood-answered $F_DONE"
	echo "flood-lost $F_LOST"
	echo "flood-qps-answered $F_QPS"
	echo "flood-NOERROR-% $(pct "$F_NOERR" "$F_DONE")"
	echo "flood-SERVFAIL-% $(pct "$F_SERVFAIL" "$F_DONE")"
	echo "inflight-to-$ZONE_SERVER-max(sampled) $INF_MAX"
	echo "inflight-to-$ZONE_SERVER-avg $INF_AVG"
	echo "samples-at-max_zone_queries $INF_AT/$INF_N"
	echo "samples-above-max_zone_queries $INF_OVER/$INF_N"
	echo "max_zone_queries $MAX_ZONE_QUERIES"
} | column -t
echo "legitimate answers by name and rcode (count):"
awk '/^> [A-Z]+ / {c[$3 " " $4 " " $2]++} END {for (k in c) print "  " k, c[k]}' "$TMP/legit.out" | sort
echo "flood response codes: $(grep -m 1 'Response codes:' "$TMP/flood.out" | sed 's/^ *Response codes: *//')"
echo "samples: $INF_N, every ${SAMPLE}s; in-flight = Warden's UDP sockets to $ZONE_SERVER (ss), a sampled proxy"
echo "per 10 s: largest RSS (MiB) and in-flight, Warden's CPU (% of one core), its listening sockets' receive queue (KiB, average and largest):"
awk -v hz="$(getconf CLK_TCK)" '{w = int($1 / 10); if ($2 > r[w]) r[w] = $2; if ($3 > f[w]) f[w] = $3; if (w > W) W = w
	if (!(w in t0)) {t0[w] = $1; c0[w] = $4}; t1[w] = $1; c1[w] = $4; q[w] += $5; n[w]++; if ($5 > qm[w]) qm[w] = $5}
	END {for (w = 0; w <= W; w++) {cpu = (t1[w] > t0[w]) ? 100 * (c1[w] - c0[w]) / hz / (t1[w] - t0[w]) : 0
		printf "  %4d-%-4d s  RSS %6.1f  in-flight %4d  cpu %5.1f%%  recv-q %7.1f / %7.1f\n", w * 10, w * 10 + 10, r[w] / 1024, f[w], cpu, q[w] / n[w] / 1024, qm[w] / 1024}}' "$TMP/samples"
echo "settings: warden on CPU 0 (GOMAXPROCS from affinity: 1), lab and both dnsperf on CPU 1;"
echo "  flood: taskset -c 1 dnsperf -s $ADDR -p PORT -d flood.txt -c $CLIENTS -q $OUTSTANDING -l $SECONDS_RUN -S 1 ($NAMES unique names)"
echo "  legit: taskset -c 1 dnsperf -s $ADDR -p PORT -d legit.txt -c 1 -q 20 -Q $LEGIT_QPS -l $SECONDS_RUN -v ($NLEGIT names, warmed)"
echo "  versions: $(dnsperf -h 2>&1 | awk '/^Version/{print "dnsperf " $2; exit}'), $(nsd -v 2>&1 | head -n 1), $(go version | awk '{print $3}')"
