#!/usr/bin/env bash
# Signing a 1,000,000-record zone: Warden against Knot DNS, side by side in one run.
#
# Whole zone: Warden's `warden zone sign` (load the file, sign, write the signed file) against
# knotd with automatic signing (start, load the file, sign, serve: timed until an SOA answer
# carries an RRSIG). Both make a KSK and a ZSK on the spot, with the same algorithm and denial,
# and may use the same number of threads. Wall time, CPU time (user + system, every thread) and
# peak RSS (VmHWM / ru_maxrss).
#
# Re-signing after a 10-record change (5 addresses changed, 5 names added, serial up): Warden's
# incremental re-signing (`warden zone sign --next`, the step a server runs on a reload, UPDATE or
# IXFR) against knotd's: the changed file replaces the loaded one, `knotc zone-reload`, timed
# until the new serial is served (zonefile-load: difference-no-serial, so Knot applies the
# difference and signs only it).
#
# Usage (from the repository root): bench/sign.sh
# Environment (defaults in brackets):
#   SIGN_RECORDS [1000000]       records in the zone (go run ./bench/genzone)
#   SIGN_DENIAL [nsec]           nsec or nsec3 (RFC 9276: no salt, no extra iterations, both servers)
#   SIGN_ALGORITHM [ecdsap256sha256]  ecdsap256sha256, ed25519 or rsasha256
#   SIGN_THREADS [nproc]         Warden's GOMAXPROCS and Knot's signing-threads
#   SIGN_REPS [1]                repetitions, interleaved (warden knot warden knot ...)
#   SIGN_SERVERS ["warden knot"]
#   SIGN_ADDR [127.0.0.1]        where knotd listens
#   SIGN_PORT_BASE [15610]       first port tried; busy ports are skipped
#   SIGN_TIMEOUT [1800]          seconds to wait for a signing to finish
#   SIGN_VERIFY [0]              1: dnssec-verify Warden's signed output (minutes for 1M records)
#   WARDEN_BIN [unset]           use this warden binary instead of building ./cmd/warden
set -euo pipefail

RECORDS=${SIGN_RECORDS:-1000000}
DENIAL=${SIGN_DENIAL:-nsec}
ALGORITHM=${SIGN_ALGORITHM:-ecdsap256sha256}
THREADS=${SIGN_THREADS:-$(nproc)}
REPS=${SIGN_REPS:-1}
SERVERS=${SIGN_SERVERS:-warden knot}
ADDR=${SIGN_ADDR:-127.0.0.1}
PORT_BASE=${SIGN_PORT_BASE:-15610}
TIMEOUT=${SIGN_TIMEOUT:-1800}
VERIFY=${SIGN_VERIFY:-0}
ORIGIN=bench.test.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

log() { printf '[sign.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case $DENIAL in nsec | nsec3) ;; *) die "SIGN_DENIAL=$DENIAL: want nsec or nsec3" ;; esac
for tool in dig knotd knotc go awk ss; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done

TMP=$(mktemp -d)
KNOT_PID=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$KNOT_PID" ]; then
		kill "$KNOT_PID" 2>/dev/null || true
		wait "$KNOT_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(next_port "$PORT_BASE")

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

past() { awk -v a="$1" -v b="$(now)" -v m="$TIMEOUT" 'BEGIN {exit !(b - a > m)}'; }

ZONE=$TMP/bench.test.zone
NEXT=$TMP/bench.test.next
log "generating the $RECORDS-record zone"
go run ./bench/genzone -n "$RECORDS" -zone "$ZONE" 2>&1 | sed 's/^/[sign.sh] /' >&2
# The next version: serial + 1, the first 5 host addresses changed, 5 names added.
awk 'NR == 1 && $4 == "SOA" { $7 = $7 + 1 }
	$4 == "A" && $1 ~ /^h[0-9]+\./ && changed < 5 { $5 = "192.0.2." (++changed) }
	{ print }
	END { for (i = 1; i <= 5; i++) printf "added%d.bench.test. 3600 IN A 198.51.100.%d\n", i, i }' "$ZONE" >"$NEXT"
ZONE_MIB=$(du -m "$ZONE" | awk '{print $1}')

ACTIVE=()
for s in $SERVERS; do
	case $s in
	warden)
		if warden_binary sign.sh; then
			ACTIVE+=(warden)
		fi
		;;
	knot) ACTIVE+=(knot) ;;
	*) die "unknown server '$s' in SIGN_SERVERS (warden, knot)" ;;
	esac
done
[ "${#ACTIVE[@]}" -gt 0 ] || die "nothing to measure"

RES=$TMP/results.txt
: >"$RES"

run_warden() {
	local rep=$1 dir=$TMP/warden-$rep
	mkdir -p "$dir"
	# Whole zone: load, sign, write; the peak RSS is this run's.
	if ! GOMAXPROCS=$THREADS "$TMP/warden" zone sign --zone "$ORIGIN=$ZONE" --key-dir "$dir/keys" \
		--algorithm "$ALGORITHM" --denial "$DENIAL" --out "$dir/signed.zone" 2>"$dir/sign.log"; then
		log "warden zone sign failed:"
		sed 's/^/[sign.sh]   /' "$dir/sign.log" >&2
		return 1
	fi
	sed 's/^/[sign.sh] warden: /' "$dir/sign.log" >&2
	local wall cpu rss
	wall=$(awk '$1 == "load" || $1 == "sign" { w += $2 } END { printf "%.2f", w }' "$dir/sign.log")
	cpu=$(awk '$1 == "load" || $1 == "sign" { c += $4 } END { printf "%.2f", c }' "$dir/sign.log")
	rss=$(awk '$1 == "total" { print $(NF-1) * 1024; exit }' "$dir/sign.log")
	if [ "$VERIFY" = 1 ]; then
		log "dnssec-verify of Warden's signed zone"
		dnssec-verify -q -o "$ORIGIN" "$dir/signed.zone" >&2 || die "dnssec-verify refuses Warden's signed zone"
	fi
	# Re-signing: the same keys, the next version signed from the first.
	if ! GOMAXPROCS=$THREADS "$TMP/warden" zone sign --zone "$ORIGIN=$ZONE" --key-dir "$dir/keys" \
		--algorithm "$ALGORITHM" --denial "$DENIAL" --next "$NEXT" --out "$dir/next.zone" 2>"$dir/resign.log"; then
		log "warden zone sign --next failed:"
		sed 's/^/[sign.sh]   /' "$dir/resign.log" >&2
		return 1
	fi
	grep -E '^(load next|re-sign)' "$dir/resign.log" | sed 's/^/[sign.sh] warden: /' >&2
	# Knot's reload reads the changed file too: its load counts with the re-signing.
	local rwall rcpu
	rwall=$(awk '$1 == "re-sign" { w += $2 } $1 == "load" && $2 == "next" { w += $3 } END { printf "%.3f", w }' "$dir/resign.log")
	rcpu=$(awk '$1 == "re-sign" { c += $4 } $1 == "load" && $2 == "next" { c += $5 } END { printf "%.3f", c }' "$dir/resign.log")
	echo "warden $rep ${wall%s} ${cpu%s} $rss ${rwall} ${rcpu}" >>"$RES"
	rm -rf "$dir"
}

write_knot() {
	local dir=$1 nsec3=off
	[ "$DENIAL" = nsec3 ] && nsec3=on
	mkdir -p "$dir"
	cat >"$dir/knot.conf" <<-EOF
		server:
		    rundir: "$dir"
		    listen: $ADDR@$PORT
		    udp-workers: 1
		    tcp-workers: 1
		    background-workers: $THREADS
		log:
		  - target: stderr
		    any: info
		database:
		    storage: "$dir"
		    journal-db-max-size: 16G
		policy:
		  - id: bench
		    algorithm: $ALGORITHM
		    nsec3: $nsec3
		    nsec3-iterations: 0
		    nsec3-salt-length: 0
		    signing-threads: $THREADS
		    cds-cdnskey-publish: always
		template:
		  - id: default
		    storage: "$dir"
		    zonefile-sync: -1
		    zonefile-load: difference-no-serial
		    journal-content: all
		    journal-max-usage: 8G
		zone:
		  - domain: $ORIGIN
		    file: "$dir/zone"
		    dnssec-signing: on
		    dnssec-policy: bench
	EOF
}

soa() { dig +tries=1 +time=1 +dnssec -p "$PORT" "@$ADDR" "$ORIGIN" SOA 2>/dev/null; }

run_knot() {
	local rep=$1 dir=$TMP/knot-$rep t0 t1 t2 t3 cpu1 cpu2 cpu3 hwm serial
	write_knot "$dir"
	cp "$ZONE" "$dir/zone"
	t0=$(now)
	knotd -c "$dir/knot.conf" >"$dir/knot.log" 2>&1 &
	KNOT_PID=$!
	until soa | grep -q 'IN[[:space:]]*RRSIG[[:space:]]*SOA'; do
		if ! kill -0 "$KNOT_PID" 2>/dev/null || past "$t0" || grep -q "zone event 'load' failed" "$dir/knot.log"; then
			log "knotd did not serve the signed zone; last lines of its log:"
			tail -n 10 "$dir/knot.log" | sed 's/^/[sign.sh]   /' >&2
			return 1
		fi
		sleep 0.1
	done
	t1=$(now)
	cpu1=$(cpu_s "$KNOT_PID")
	hwm=$(status_kib "$KNOT_PID" VmHWM)
	serial=$(soa | awk '$4 == "SOA" { print $7; exit }')
	log "knot: signed and serving in $(elapsed "$t0" "$t1") s, CPU $cpu1 s, peak RSS $((hwm / 1024)) MiB, serial $serial"
	sleep 1 # the signing's last writes to the journal settle
	cpu2=$(cpu_s "$KNOT_PID")
	cp "$NEXT" "$dir/zone.new" && mv "$dir/zone.new" "$dir/zone"
	t2=$(now)
	knotc -c "$dir/knot.conf" zone-reload "$ORIGIN" >/dev/null
	until [ "$(soa | awk '$4 == "SOA" { print $7; exit }')" != "$serial" ]; do
		if ! kill -0 "$KNOT_PID" 2>/dev/null || past "$t2"; then
			log "knotd did not serve the changed zone; last lines of its log:"
			tail -n 10 "$dir/knot.log" | sed 's/^/[sign.sh]   /' >&2
			return 1
		fi
		sleep 0.02
	done
	t3=$(now)
	cpu3=$(cpu_s "$KNOT_PID")
	log "knot: re-signed after the change in $(elapsed "$t2" "$t3") s, CPU $(awk -v a="$cpu2" -v b="$cpu3" 'BEGIN {printf "%.2f", b - a}') s"
	grep -E 'DNSSEC|loaded|differ|update' "$dir/knot.log" | tail -n 4 | sed 's/^/[sign.sh] knot log: /' >&2
	echo "knot $rep $(elapsed "$t0" "$t1") $cpu1 $hwm $(elapsed "$t2" "$t3") $(awk -v a="$cpu2" -v b="$cpu3" 'BEGIN {printf "%.2f", b - a}')" >>"$RES"
	kill "$KNOT_PID"
	wait "$KNOT_PID" 2>/dev/null || true
	KNOT_PID=
	rm -rf "$dir"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for ((rep = 1; rep <= REPS; rep++)); do
	for name in "${ACTIVE[@]}"; do
		log "$name, repetition $rep"
		"run_$name" "$rep" || log "$name failed in repetition $rep"
	done
done

echo
echo "== Settings"
echo "zone:      $ORIGIN, $RECORDS records, $ZONE_MIB MiB (go run ./bench/genzone -n $RECORDS); $ALGORITHM, $DENIAL, KSK + ZSK"
echo "warden:    GOMAXPROCS=$THREADS warden zone sign --zone $ORIGIN=ZONE --key-dir DIR --algorithm $ALGORITHM --denial $DENIAL --out FILE"
echo "           sign = its load + sign steps (the file read, keys made, zone signed; the write not counted); re-sign = its"
echo "           load next + re-sign steps in a second run with --next (5 addresses changed, 5 names added)"
echo "knot:      knotd, dnssec-signing on, signing-threads $THREADS, background-workers $THREADS, zonefile-load"
echo "           difference-no-serial, journal-content all (the signed zone in the journal: a 1M-record zone needs"
echo "           journal-max-usage above the default 100M); sign = start until an SOA answer carries an RRSIG; re-sign ="
echo "           knotc zone-reload of the changed file until the new serial is served"
echo "cpu:       user + system time of every thread; peak RSS: ru_maxrss (warden), VmHWM (knotd)"
echo "machine:   $(nproc) CPUs, load average $LOAD_BEFORE before the run (other work shares the CPUs: compare CPU time)"
echo "versions:  $(knotd --version 2>&1 | head -n 1), $(go version | awk '{print $3}')"
echo
awk -v order="${ACTIVE[*]}" '
	function median(s,   n, i, j, t, a) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ w[$1] = w[$1] " " $3; c[$1] = c[$1] " " $4; r[$1] = r[$1] " " $5; rw[$1] = rw[$1] " " $6; rc[$1] = rc[$1] " " $7; n[$1]++ }
	END {
		m = split(order, names, " ")
		printf "%-8s %5s %10s %10s %12s %9s %12s %12s\n", "signer", "runs", "sign-s", "sign-cpu-s", "records/cpu-s", "peak-MiB", "re-sign-s", "re-sign-cpu-s"
		for (i = 1; i <= m; i++) {
			s = names[i]
			if (!(s in n)) continue
			W[s] = median(w[s]); C[s] = median(c[s]); R[s] = median(r[s]) / 1024; RW[s] = median(rw[s]); RC[s] = median(rc[s])
			printf "%-8s %5d %10.2f %10.2f %12.0f %9.0f %12.3f %12.3f\n", s, n[s], W[s], C[s], (C[s] > 0 ? '"$RECORDS"' / C[s] : 0), R[s], RW[s], RC[s]
		}
		if (("warden" in W) && ("knot" in W) && W["knot"] > 0 && C["knot"] > 0 && R["knot"] > 0)
			printf "%-8s %5s %10.2f %10.2f %12s %9.2f %12.2f %12s\n", "w/knot", "", W["warden"] / W["knot"], C["warden"] / C["knot"], "",
				R["warden"] / R["knot"], (RW["knot"] > 0 ? RW["warden"] / RW["knot"] : 0), (RC["knot"] > 0 ? sprintf("%.2f", RC["warden"] / RC["knot"]) : "-")
	}' "$RES"
