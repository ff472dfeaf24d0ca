package metrics

import "warden/internal/query"

// The label values of warden_queries_total. Each label has a fixed, small set of values, so that
// a worker's counters are a plain array indexed by them and no query can add a series.

// rcodeNames are the response codes counted by name (RFC 1035, RFC 2136, RFC 6891); every other
// one is "other".
var rcodeNames = [...]string{
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "BADVERS", "other",
}

const (
	numRcodes   = len(rcodeNames)
	rcodeBadVer = numRcodes - 2
	rcodeOther  = numRcodes - 1
)

func rcodeIndex(rc uint16) int {
	switch {
	case rc <= 10:
		return int(rc)
	case rc == query.RcodeBadVers:
		return rcodeBadVer
	}
	return rcodeOther
}

// qtypes are the query types counted by name: the ones common in real traffic and the ones an
// operator watches (transfers, ANY); the rest are "other".
var qtypes = [...]struct {
	code uint16
	name string
}{
	{1, "A"}, {2, "NS"}, {5, "CNAME"}, {6, "SOA"}, {12, "PTR"}, {15, "MX"}, {16, "TXT"},
	{28, "AAAA"}, {33, "SRV"}, {35, "NAPTR"}, {43, "DS"}, {46, "RRSIG"}, {48, "DNSKEY"},
	{64, "SVCB"}, {65, "HTTPS"}, {251, "IXFR"}, {252, "AXFR"}, {255, "ANY"}, {257, "CAA"},
}

const (
	numQTypes  = len(qtypes) + 1
	qtypeOther = numQTypes - 1
)

// qtypeIndexes maps a type below 256 to its index; a table keeps the lookup to one load.
var qtypeIndexes = func() (t [256]uint8) {
	for i := range t {
		t[i] = uint8(qtypeOther)
	}
	for i, q := range qtypes {
		if q.code < 256 {
			t[q.code] = uint8(i)
		}
	}
	return t
}()

const qtypeCAA = len(qtypes) - 1

func qtypeIndex(t uint16) int {
	if t < 256 {
		return int(qtypeIndexes[t])
	}
	if t == 257 {
		return qtypeCAA
	}
	return qtypeOther
}

func qtypeName(i int) string {
	if i == qtypeOther {
		return "other"
	}
	return qtypes[i].name
}

// sourceNames are the stages that answer, as the issue names them; query.SourceNone (an answer
// no stage claimed) counts as local, since only the server itself makes those.
var sourceNames = [...]string{"local", "authority", "cache", "resolver", "forward", "policy"}

const numSources = len(sourceNames)

func sourceIndex(s query.Source) int {
	switch s {
	case query.SourceAuthority:
		return 1
	case query.SourceCache:
		return 2
	case query.SourceResolver:
		return 3
	case query.SourceForward:
		return 4
	case query.SourcePolicy:
		return 5
	}
	return 0
}

// durationBounds are the upper bounds of warden_query_duration_seconds's buckets in nanoseconds:
// fine below a millisecond, where cached and authoritative answers fall, coarse above, where
// resolutions do.
var durationBounds = [...]int64{
	25e3, 50e3, 100e3, 250e3, 500e3,
	1e6, 2.5e6, 5e6, 10e6, 25e6, 50e6, 100e6, 250e6, 500e6,
	1e9, 2.5e9, 5e9,
}

const numDurationBuckets = len(durationBounds) + 1 // the last is +Inf

func durationIndex(ns int64) int {
	for i, b := range durationBounds {
		if ns <= b {
			return i
		}
	}
	return numDurationBuckets - 1
}
