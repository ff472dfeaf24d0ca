#!/usr/bin/env bash
# Zone transfer speed: Warden against Knot DNS with a 1,000,000-record zone bench.test.
#
# Part 1, primaries: Warden and Knot both serve the zone (pinned to CPU 0); bench/axfrget (Warden's
# transfer client, the same for both, on CPU 1) pulls the whole zone by AXFR from each in turn,
# interleaved (W K W K W K). Per transfer: wall seconds, the primary's CPU seconds (utime+stime of
# all its threads from /proc/PID/stat), message bytes and messages.
# Part 2, secondaries: Knot is the primary (CPU 1); a fresh Warden or Knot secondary (CPU 0) starts,
# transfers the zone and serves it (time from start to the first SOA answer with the serial). Then
# the primary adds 10 records in one transaction (knotc zone-begin/zone-set/zone-commit), which
# NOTIFYs the secondary, and the time until the secondary serves the new serial is taken (IXFR).
#
# Usage (from the repository root): bench/transfer.sh
# Environment (defaults in brackets):
#   XFR_RECORDS [1000000]     records in the zone
#   XFR_REPS [3]              rounds of each part (interleaved)
#   XFR_AXFR_REPS [XFR_REPS]  rounds of part 1; 0 skips the AXFR measurements (the primaries still start)
#   XFR_SECONDARY [1]         0 skips part 2
#   XFR_ADDR [127.0.0.1]      loopback address every server listens on
#   XFR_PORT_BASE [15530]     first port tried; busy ports are skipped
#   XFR_QUIET_PCT [15]        before each transfer, wait until other processes use less than this % of a CPU
#   XFR_QUIET_WAIT [3]        ... but at most this many seconds
#   XFR_KEEP [0]              1 keeps the temp directory (configurations, logs)
#   WARDEN_BIN [unset]        use this warden binary instead of building ./cmd/warden
set -euo pipefail

RECORDS=${XFR_RECORDS:-1000000}
REPS=${XFR_REPS:-3}
AXFR_REPS=${XFR_AXFR_REPS:-$REPS}
SECONDARY=${XFR_SECONDARY:-1}
PORT_BASE=${XFR_PORT_BASE:-15530}
QUIET_PCT=${XFR_QUIET_PCT:-15}
QUIET_WAIT=${XFR_QUIET_WAIT:-3}
KEEP=${XFR_KEEP:-0}

ADDR=${XFR_ADDR:-127.0.0.1}
ORIGIN=bench.test.
CLK_TCK=$(getconf CLK_TCK)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

log() { printf '[transfer.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in knotd knotc taskset go awk ss; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (servers on CPU 0, client on CPU 1)"

TMP=$(mktemp -d --suffix=.warden-transfer)
PIDS=()

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
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

# stop PID: ends one server this script started and forgets it.
stop() {
	local p keep=()
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

NEXT=$PORT_BASE
take_port() { NEXT=$(next_port "$NEXT"); echo "$NEXT"; NEXT=$((NEXT + 1)); }
P_KNOT=$(take_port)
NEXT=$((P_KNOT + 1))
P_WARDEN=$(take_port)
NEXT=$((P_WARDEN + 1))
P_WSEC=$(take_port)
NEXT=$((P_WSEC + 1))
P_KSEC=$(take_port)

# ticks PID: utime+stime of all threads of PID, in 1/CLK_TCK s (threads that ended included).
ticks() {
	local s
	s=$(cat "/proc/$1/stat")
	s=${s##*) }
	awk '{print $12 + $13}' <<<"$s"
}

# busy_ticks: non-idle time of all CPUs so far (/proc/stat), in 1/CLK_TCK s.
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# wait_quiet: waits up to QUIET_WAIT seconds until the machine runs less than QUIET_PCT % of one
# CPU (nothing of ours runs between transfers, so everything counted is someone else's).
wait_quiet() {
	local waited=0 a b pct
	while :; do
		a=$(busy_ticks)
		sleep 1
		b=$(busy_ticks)
		pct=$(((b - a) * 100 / CLK_TCK))
		[ "$pct" -lt "$QUIET_PCT" ] && return 0
		waited=$((waited + 1))
		if [ "$waited" -ge "$QUIET_WAIT" ]; then
			log "machine busy: other processes use ${pct}% of a CPU; measuring anyway"
			return 0
		fi
	done
}

# ---- build and data

if [ -n "${WARDEN_BIN:-}" ]; then
	cp "$WARDEN_BIN" "$TMP/warden"
else
	log "building warden, axfrget and soawait"
	go build -o "$TMP/warden" ./cmd/warden
fi
go build -o "$TMP/axfrget" ./bench/axfrget
go build -o "$TMP/soawait" ./bench/soawait

ZONE=$TMP/bench.test.zone
log "generating the $RECORDS-record zone"
go run ./bench/genzone -n "$RECORDS" -zone "$ZONE" 2>&1 | sed 's/^/[transfer.sh] /' >&2
ZONE_MIB=$(du -m "$ZONE" | awk '{print $1}')

# ---- configurations

mkdir -p "$TMP/knotp"
cat >"$TMP/knotp/knot.conf" <<EOF
server:
    rundir: "$TMP/knotp"
    listen: $ADDR@$P_KNOT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "$TMP/knotp"
remote:
  # via: NOTIFY from the address the secondaries know as their primary's, which on a loopback
  # address other than 127.0.0.1 the kernel would not pick
  - id: wsec
    address: $ADDR@$P_WSEC
    via: $ADDR
  - id: ksec
    address: $ADDR@$P_KSEC
    via: $ADDR
acl:
  - id: xfr
    address: 127.0.0.0/8
    action: transfer
template:
  - id: default
    storage: "$TMP/knotp"
    zonefile-sync: -1
    journal-content: changes
    semantic-checks: off
zone:
  - domain: $ORIGIN
    file: "$ZONE"
    acl: [xfr]
    notify: [wsec, ksec]
EOF

mkdir -p "$TMP/wardenp"
cat >"$TMP/wardenp/warden.yaml" <<EOF
listen: ["$ADDR:$P_WARDEN"]
storage: "$TMP/wardenp"
reload: {watch_interval: 0s}
control: {socket: ""}
log: {level: info}
zones:
  - origin: $ORIGIN
    file: "$ZONE"
    allow_transfer: [127.0.0.0/8]
EOF

# ---- part 1: primaries

# start_primary NAME: starts the primary NAME on CPU 0 and waits (bounded) until it serves the zone.
start_primary() {
	local name=$1 port pid
	case $name in
	warden)
		port=$P_WARDEN
		taskset -c 0 "$TMP/warden" serve --config "$TMP/wardenp/warden.yaml" >"$TMP/warden-primary.log" 2>&1 &
		;;
	knot)
		port=$P_KNOT
		taskset -c 0 knotd -c "$TMP/knotp/knot.conf" >"$TMP/knot-primary.log" 2>&1 &
		;;
	esac
	pid=$!
	PIDS+=("$pid")
	eval "PID_$name=$pid"
	# knotd pins its workers itself; pin them back once they exist.
	(sleep 1 && taskset -a -p -c 0 "$pid" >/dev/null 2>&1) || true
	"$TMP/soawait" -server "$ADDR:$port" -zone "$ORIGIN" -serial 1 -every 20ms -timeout 300s >/dev/null ||
		die "$name primary did not serve $ORIGIN; see $TMP/$name-primary.log (XFR_KEEP=1 keeps it)"
	taskset -a -p -c 0 "$pid" >/dev/null
	log "$name primary serves $ORIGIN on $ADDR:$port (pid $pid)"
}

PID_warden=
PID_knot=
start_primary warden
start_primary knot

RES=$TMP/axfr.txt
: >"$RES"
for ((rep = 1; rep <= AXFR_REPS; rep++)); do
	for name in warden knot; do
		pid_var=PID_$name
		pid=${!pid_var}
		port_var=P_${name^^}
		port=${!port_var}
		wait_quiet
		c0=$(ticks "$pid")
		line=$(taskset -c 1 "$TMP/axfrget" -server "$ADDR:$port" -zone "$ORIGIN") ||
			die "AXFR from $name failed"
		c1=$(ticks "$pid")
		read -r secs bytes msgs recs serial <<<"$line"
		cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')
		[ "$recs" = "$RECORDS" ] || die "$name sent $recs records, not $RECORDS"
		echo "$name $rep $secs $bytes $msgs $recs $cpu" >>"$RES"
		log "$(printf 'AXFR %-6s rep %d: %7.3f s, primary CPU %5s s, %d bytes in %d messages, %d records, serial %d' \
			"$name" "$rep" "$secs" "$cpu" "$bytes" "$msgs" "$recs" "$serial")"
	done
done

WARDEN_PRIMARY_RSS=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$PID_warden/status")
stop "$PID_warden"

# ---- part 2: secondaries of the Knot primary

SEC=$TMP/secondary.txt
: >"$SEC"
PRIMARY_SERIAL=1
if [ "$SECONDARY" = 1 ]; then
	taskset -a -p -c 1 "$PID_knot" >/dev/null

	# start_secondary NAME REP: starts a fresh secondary NAME on CPU 0; its pid goes to SEC_PID.
	start_secondary() {
		local name=$1 rep=$2 dir=$TMP/$1-sec-$2
		mkdir -p "$dir"
		case $name in
		warden)
			cat >"$dir/warden.yaml" <<-EOF
				listen: ["$ADDR:$P_WSEC"]
				storage: "$dir"
				reload: {watch_interval: 0s}
				control: {socket: ""}
				log: {level: info}
				zones:
				  - origin: $ORIGIN
				    primaries: ["$ADDR:$P_KNOT"]
			EOF
			taskset -c 0 "$TMP/warden" serve --config "$dir/warden.yaml" >"$dir/log" 2>&1 &
			;;
		knot)
			cat >"$dir/knot.conf" <<-EOF
				server:
				    rundir: "$dir"
				    listen: $ADDR@$P_KSEC
				    udp-workers: 1
				    tcp-workers: 1
				    background-workers: 1
				log:
				  - target: stderr
				    any: info
				database:
				    storage: "$dir"
				remote:
				  - id: primary
				    address: $ADDR@$P_KNOT
				acl:
				  - id: notify
				    address: 127.0.0.0/8
				    action: notify
				template:
				  - id: default
				    storage: "$dir"
				    zonefile-sync: -1
				    journal-content: changes
				    semantic-checks: off
				zone:
				  - domain: $ORIGIN
				    master: primary
				    acl: [notify]
			EOF
			taskset -c 0 knotd -c "$dir/knot.conf" >"$dir/log" 2>&1 &
			;;
		esac
		SEC_PID=$!
		PIDS+=("$SEC_PID")
	}

	# change_primary REP: adds 10 records to the primary's zone in one transaction; the commit
	# raises the serial and NOTIFYs the secondaries.
	change_primary() {
		local i
		knotc -c "$TMP/knotp/knot.conf" zone-begin "$ORIGIN" >/dev/null
		for ((i = 0; i < 10; i++)); do
			knotc -c "$TMP/knotp/knot.conf" zone-set "$ORIGIN" "ixfr-$1-$i" 3600 A "198.19.255.$i" >/dev/null
		done
		knotc -c "$TMP/knotp/knot.conf" zone-commit "$ORIGIN" >/dev/null
	}

	for ((rep = 1; rep <= REPS; rep++)); do
		for name in warden knot; do
			port=$([ "$name" = warden ] && echo "$P_WSEC" || echo "$P_KSEC")
			wait_quiet
			t0=$(now)
			start_secondary "$name" "$rep"
			pid=$SEC_PID
			(sleep 0.3 && taskset -a -p -c 0 "$pid" >/dev/null 2>&1) &
			served=$("$TMP/soawait" -server "$ADDR:$port" -zone "$ORIGIN" -serial "$PRIMARY_SERIAL" -every 5ms -timeout 300s) ||
				die "$name secondary did not serve serial $PRIMARY_SERIAL; log in $TMP/$name-sec-$rep/log"
			cpu_in=$(awk -v t="$(ticks "$pid")" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
			axfr_in=$(awk -v a="$t0" -v b="${served%% *}" 'BEGIN {printf "%.3f", b - a}')
			sleep 1 # the secondary writes its copy after it serves; let that pass before the change
			c0=$(ticks "$pid")
			"$TMP/soawait" -server "$ADDR:$port" -zone "$ORIGIN" -serial "$((PRIMARY_SERIAL + 1))" -every 1ms -timeout 60s >"$TMP/ixfr-wait" &
			waiter=$!
			t1=$(now)
			change_primary "$rep-$name"
			wait "$waiter" || die "$name secondary did not take the change; log in $TMP/$name-sec-$rep/log"
			PRIMARY_SERIAL=$((PRIMARY_SERIAL + 1))
			ixfr=$(awk -v a="$t1" -v b="$(cut -d' ' -f1 "$TMP/ixfr-wait")" 'BEGIN {printf "%.3f", b - a}')
			sleep 0.5
			cpu_ixfr=$(awk -v a="$c0" -v b="$(ticks "$pid")" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')
			# How the change came: Warden logs the version put in force, Knot each finished transfer.
			kind=AXFR
			grep -Eq 'why="IXFR \([0-9]+ changes\)|IXFR, incoming, .*finished' "$TMP/$name-sec-$rep/log" && kind=IXFR
			stop "$pid"
			echo "$name $rep $axfr_in $cpu_in $ixfr $cpu_ixfr $kind" >>"$SEC"
			log "$(printf 'secondary %-6s rep %d: AXFR in and served %7.3f s (CPU %5s s); 10-record change served after %6.3f s by %s (CPU %s s)' \
				"$name" "$rep" "$axfr_in" "$cpu_in" "$ixfr" "$kind" "$cpu_ixfr")"
		done
	done
fi

# ---- report

echo
echo "== Settings"
echo "zone:       $ORIGIN, $RECORDS records, $ZONE_MIB MiB (go run ./bench/genzone -n $RECORDS)"
echo "primaries:  taskset -c 0; warden serve --config (zone with allow_transfer 127.0.0.0/8);"
echo "            knotd (udp/tcp/background-workers 1, journal-content changes, zonefile-sync -1)"
echo "client:     taskset -c 1 bench/axfrget (internal/transfer.AXFR: reads, parses and checks every message)"
echo "cpu-s:      primary utime+stime (all threads, /proc/PID/stat) around each transfer"
echo "bytes:      DNS message bytes received, without the 2-byte TCP length prefixes"
echo "secondary:  primary knotd on CPU 1, a fresh secondary on CPU 0 each round; in-s from process start"
echo "            to the first SOA answer with the primary's serial (polled every 5 ms); ixfr-s from"
echo "            just before knotc zone-commit (10 added A records, NOTIFY) to the new serial served"
echo "            (polled every 1 ms); the Warden secondary writes its copy to disk after it serves"
echo "rounds:     $REPS, interleaved; medians below"
echo "versions:   $(knotd --version 2>&1 | head -n 1), $(go version | awk '{print $3}')"
echo "warden primary peak RSS: $((WARDEN_PRIMARY_RSS / 1024)) MiB"
echo

[ -s "$RES" ] && awk '
	function median(s,   n, i, j, t, a) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ s[$1] = s[$1] " " $3; b[$1] = $4; m[$1] = $5; r[$1] = $6; c[$1] = c[$1] " " $7 }
	END {
		print "AXFR of the whole zone from each primary:"
		print ""
		print "| primary | s/AXFR | MB/s | records/s | primary cpu-s/AXFR | bytes | messages |"
		print "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
		split("warden knot", names, " ")
		for (i = 1; i <= 2; i++) {
			n = names[i]
			S[n] = median(s[n]); C[n] = median(c[n])
			printf "| %s | %.2f | %.1f | %.0f | %.2f | %d | %d |\n", n, S[n], b[n] / S[n] / 1e6, r[n] / S[n], C[n], b[n], m[n]
		}
		if (S["knot"] > 0 && C["knot"] > 0)
			printf "| warden/knot | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", S["warden"] / S["knot"],
				(b["warden"] / S["warden"]) / (b["knot"] / S["knot"]), S["knot"] / S["warden"], C["warden"] / C["knot"],
				b["warden"] / b["knot"], m["warden"] / m["knot"]
	}' "$RES"

if [ -s "$SEC" ]; then
	echo
	awk '
		function median(s,   n, i, j, t, a) {
			n = split(s, a, " ")
			for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
			return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ a[$1] = a[$1] " " $3; c[$1] = c[$1] " " $4; x[$1] = x[$1] " " $5; xc[$1] = xc[$1] " " $6; k[$1] = (k[$1] == "" ? "" : k[$1] ",") $7 }
		END {
			print "Secondaries of the same Knot primary:"
			print ""
			print "| secondary | start to served (AXFR in), s | cpu-s | 10-record change served (IXFR), s | cpu-s | transfer kind |"
			print "| --- | ---: | ---: | ---: | ---: | --- |"
			split("warden knot", names, " ")
			for (i = 1; i <= 2; i++) {
				n = names[i]
				A[n] = median(a[n]); C[n] = median(c[n]); X[n] = median(x[n]); XC[n] = median(xc[n])
				printf "| %s | %.2f | %.2f | %.3f | %.2f | %s |\n", n, A[n], C[n], X[n], XC[n], k[n]
			}
			if (A["knot"] > 0 && X["knot"] > 0)
				printf "| warden/knot | %.2f | %.2f | %.2f | %s |  |\n", A["warden"] / A["knot"], (C["knot"] > 0 ? C["warden"] / C["knot"] : 0),
					X["warden"] / X["knot"], (XC["knot"] > 0 ? sprintf("%.2f", XC["warden"] / XC["knot"]) : "-")
		}' "$SEC"
fi
