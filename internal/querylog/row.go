package querylog

import (
	"net/netip"
	"strconv"
	"time"

	"codeberg.org/miekg/dns"
)

// Row is one answered query as the log stores it: a row of the Parquet files as the search reads
// them, and the object `warden log --json` and /api/querylog show. The writer does not use it:
// segwriter.go writes the same schema from columns, and its tags are how parquet-go reads the
// files back. Strings that repeat (types, codes, sources, clients) are dictionary-encoded, so
// they cost a few bits a row on disk; names are stored plainly, since zstd packs them as well as
// a dictionary of mostly distinct names and costs the writer less. Upstream is the forwarder as
// configured, or the authoritative server that gave a resolution's final reply; empty for every
// other source.
type Row struct {
	Time       time.Time `parquet:"time,timestamp(microsecond)" json:"time"`
	Client     string    `parquet:"client,dict" json:"client"`
	Name       string    `parquet:"name" json:"name"`
	QType      string    `parquet:"qtype,dict" json:"qtype"`
	Rcode      string    `parquet:"rcode,dict" json:"rcode"`
	Source     string    `parquet:"source,dict" json:"source"`
	PolicySet  string    `parquet:"policy_set,dict" json:"policy_set,omitempty"`
	PolicyRule string    `parquet:"policy_rule,dict" json:"policy_rule,omitempty"`
	Upstream   string    `parquet:"upstream,dict" json:"upstream,omitempty"`
	LatencyUS  int64     `parquet:"latency_us" json:"latency_us"`
	Transport  string    `parquet:"transport,dict" json:"transport"`
}

// rowOf turns an entry into a row; now stands in for an entry's time when the listener did not
// take one.
func rowOf(e *entry, now time.Time) Row {
	return rowWith(e, now, clientText(e.client), nameText(e.qname[:e.qnameLen]))
}

func clientText(c netip.AddrPort) string {
	if !c.IsValid() {
		return ""
	}
	return c.Addr().Unmap().String()
}

func rowWith(e *entry, now time.Time, client, name string) Row {
	t := now
	if e.sentUnixNano != 0 {
		t = time.Unix(0, e.sentUnixNano)
	}
	return Row{
		Time:       t.UTC().Truncate(time.Microsecond),
		Client:     client,
		Name:       name,
		QType:      typeText(e.qtype),
		Rcode:      rcodeText(e.rcode),
		Source:     e.source.String(),
		PolicySet:  e.policySet,
		PolicyRule: e.policyRule,
		Upstream:   e.upstream,
		LatencyUS:  e.latencyNanos / 1000,
		Transport:  e.transport.String(),
	}
}

// typeTexts and rcodeTexts hold the names of the types and rcodes below their bounds, read
// for every row: an index where dns.TypeToString and dns.RcodeToString cost a hash lookup each.
var (
	typeTexts  = textsOf(256, typeName)
	rcodeTexts = textsOf(32, rcodeName)
)

func textsOf(n int, name func(uint16) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name(uint16(i))
	}
	return out
}

func typeText(t uint16) string {
	if int(t) < len(typeTexts) {
		return typeTexts[t]
	}
	return typeName(t)
}

func rcodeText(rc uint16) string {
	if int(rc) < len(rcodeTexts) {
		return rcodeTexts[rc]
	}
	return rcodeName(rc)
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

func rcodeName(rc uint16) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(int(rc))
}

// nameText is the presentation form of a wire name, in lower case with the final dot, as the
// log stores and searches names: bytes that are not letters, digits, '-' or '_' are written as
// \DDD (RFC 4343 §2.1) and '.' inside a label as "\.", so that every name has one spelling. A
// name that is not well formed (a query the server refused to parse) is cut where it breaks.
func nameText(wire []byte) string {
	return string(appendNameText(make([]byte, 0, len(wire)+1), wire))
}

// appendNameText appends nameText's text of wire to out.
func appendNameText(out, wire []byte) []byte {
	if len(wire) == 0 || wire[0] == 0 {
		return append(out, '.')
	}
	start := len(out)
	for i := 0; i < len(wire); {
		n := int(wire[i])
		if n == 0 || n > 63 || i+1+n > len(wire) {
			break
		}
		for _, c := range wire[i+1 : i+1+n] {
			switch {
			case c >= 'A' && c <= 'Z':
				out = append(out, c+'a'-'A')
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '*':
				out = append(out, c)
			case c == '.' || c == '\\':
				out = append(out, '\\', c)
			default:
				out = append(out, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
			}
		}
		out = append(out, '.')
		i += 1 + n
	}
	if len(out) == start {
		return append(out, '.')
	}
	return out
}
