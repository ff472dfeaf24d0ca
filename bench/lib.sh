# shellcheck shell=bash
# Shell helpers shared by the benchmark scripts; sourced, not run.

# port_busy PORT: true if something listens on PORT (UDP or TCP) on any address.
port_busy() { ss -Hlnut | awk -v p="$1" '{n=split($5, a, ":"); if (a[n] == p) f=1} END {exit !f}'; }

# next_port PORT: the first port at or above PORT that nothing listens on.
next_port() { local p=$1; while port_busy "$p"; do p=$((p + 1)); done; echo "$p"; }

now() { date +%s.%N; }

# write_knot_conf DIR ADDR PORT ORIGIN ZONEFILE: a knotd configuration serving one zone from
# ZONEFILE with one UDP worker, everything kept inside DIR, and nothing written back to the zone.
write_knot_conf() {
	local dir=$1 addr=$2 port=$3 origin=$4 zone=$5
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
		  - domain: $origin
		    file: "$zone"
	EOF
}
