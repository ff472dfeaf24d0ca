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
