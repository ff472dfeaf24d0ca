# shellcheck shell=bash
# Shell helpers shared by the benchmark scripts; sourced, not run.

# port_busy PORT: true if something listens on PORT (UDP or TCP) on any address.
port_busy() { ss -Hlnut | awk -v p="$1" '{n=split($5, a, ":"); if (a[n] == p) f=1} END {exit !f}'; }

# next_port PORT: the first port at or above PORT that nothing listens on.
next_port() { local p=$1; while port_busy "$p"; do p=$((p + 1)); done; echo "$p"; }

now() { date +%s.%N; }

# write_knot_conf DIR ADDR PORT ORIGIN ZONEFILE [ORIGIN ZONEFILE ...]: a knotd configuration
# serving each zone from its file with one UDP worker, everything kept inside DIR, and nothing
# written back to the zones.
write_knot_conf() {
	local dir=$1 addr=$2 port=$3
	shift 3
	mkdir -p "$dir"
	cat >"$dir/knot.conf" <<-EOF
		server:
		    rundir: "$dir"
		    listen: $addr@$port
		    udp-workers: 1
		    tcp-workers: 1
		    background-workers: 1
		log:
		  - target: stderr
		    any: warning
		database:
		    storage: "$dir"
		template:
		  - id: default
		    storage: "$dir"
		    zonefile-sync: -1
		    journal-content: none
		zone:
	EOF
	while [ $# -ge 2 ]; do
		printf '  - domain: %s\n    file: "%s"\n' "$1" "$2" >>"$dir/knot.conf"
		shift 2
	done
}

# await_load NAME PID T0 TIMEOUT CPUS TAG LOGFILE CMD...: run CMD until it succeeds (the server
# has loaded) while PID lives and TIMEOUT seconds from T0 have not passed, pinning every thread
# of PID back to CPUS between tries, since knotd pins its workers itself. Fails when the server
# exited (reaped, the last lines of LOGFILE printed) or timed out (left running for the caller).
await_load() {
	local name=$1 pid=$2 t0=$3 timeout=$4 cpus=$5 tag=$6 logfile=$7
	shift 7
	until "$@"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			printf '[%s] %s exited before answering; last lines of its log:\n' "$tag" "$name" >&2
			tail -n 10 "$logfile" | sed "s/^/[$tag]   /" >&2
			wait "$pid" 2>/dev/null || true
			return 1
		fi
		if awk -v a="$t0" -v b="$(now)" -v m="$timeout" 'BEGIN {exit !(b - a > m)}'; then
			printf '[%s] %s was not loaded within %s s\n' "$tag" "$name" "$timeout" >&2
			return 1
		fi
		taskset -a -p -c "$cpus" "$pid" >/dev/null 2>&1 || true
		sleep 0.02
	done
}

# LAB_MIX is a fixed mix of questions over `warden lab`: every well-behaved zone of
# internal/lab/hierarchy.go once, with its CNAME and DNAME chains, a lame server listed first, a
# server that truncates (TCP), glue-less and poisoned delegations and one NXDOMAIN; one "NAME TYPE"
# a line, as dnsperf reads them. resolver.sh resolves it cold; flood.sh asks it as the legitimate
# client. Left out: flaky.example. (a silent server) and slow.example. (a fixed 400 ms).
LAB_MIX="www.lab. A
www.shop.example. A
www.shop.example. AAAA
shop.example. MX
mail.shop.example. A
txt.shop.example. TXT
alias.shop.example. A
cdn.shop.example. A
www.legacy.shop.example. A
nx.shop.example. A
www.hosting.org. A
app.hosting.org. A
blog.example. A
post.blog.example. TXT
www.wild.org. A
x.deep.wild.org. TXT
www.moved.example. A
www.big.example. A
www.evil.example. A
www.bank.example. A"

# cpu_s PID: utime+stime of all threads of PID so far, in seconds.
cpu_s() {
	local s
	s=$(cat "/proc/$1/stat")
	s=${s##*) }
	awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / hz}' <<<"$s"
}

# status_kib PID FIELD: a field of /proc/PID/status in KiB.
status_kib() { awk -v f="$2:" '$1 == f {print $2; exit}' "/proc/$1/status"; }

# warden_binary TAG: puts a warden binary at $TMP/warden, WARDEN_BIN's when set, else built from
# ./cmd/warden; on a failed build prints the start of its log (lines marked [TAG]) and returns 1.
warden_binary() {
	local tag=$1
	if [ -n "${WARDEN_BIN:-}" ]; then
		printf '[%s] using prebuilt warden %s\n' "$tag" "$WARDEN_BIN" >&2
		cp "$WARDEN_BIN" "$TMP/warden"
		return
	fi
	printf '[%s] building warden: go build -o %s/warden ./cmd/warden\n' "$tag" "$TMP" >&2
	if ! go build -o "$TMP/warden" ./cmd/warden >"$TMP/warden-build.log" 2>&1; then
		printf '[%s] SKIPPING warden: build failed:\n' "$tag" >&2
		head -n 15 "$TMP/warden-build.log" | sed "s/^/[$tag]   /" >&2
		return 1
	fi
}
