package dnstest

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/rdata"
)

// UpdateWire packs a dynamic update (RFC 2136) written as text, one record a line, each line
// starting with its section:
//
//	zone    example.test.                       ; zone section: name [type [class]], SOA IN by default
//	prereq  www.example.test. 0 ANY A           ; prerequisite section
//	update  www.example.test. 300 IN A 192.0.2.1
//
// A record line is owner, TTL, class (IN, ANY, NONE or CLASSn), type (a name, ANY or TYPEn) and
// RDATA in master-file form; without RDATA the record has RDLENGTH zero, as class ANY and NONE
// records carry. Records are written as given, so malformed updates (a TTL where none belongs,
// RDATA on a deletion) can be sent to a peer. A line "origin example.test." makes later names
// relative to it, as $ORIGIN does in a master file ("@" is the origin itself). Names are
// compressed as a client would. Empty lines and ';' comments are skipped.
func UpdateWire(id uint16, text string) ([]byte, error) {
	m := &dns.Msg{}
	m.ID = id
	m.Opcode = dns.OpcodeUpdate
	origin := "."
	sc := bufio.NewScanner(strings.NewReader(text))
	for lineNo := 1; sc.Scan(); lineNo++ {
		line, _, _ := strings.Cut(sc.Text(), ";")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var rr dns.RR
		var err error
		switch f[0] {
		case "origin":
			if len(f) != 2 || !strings.HasSuffix(f[1], ".") {
				err = fmt.Errorf("origin line: want one fully qualified name")
			}
			origin = f[len(f)-1]
		case "zone":
			rr, err = zoneEntry(f[1:])
			m.Question = append(m.Question, rr)
		case "prereq":
			rr, err = updateRecord(f[1:], origin)
			m.Answer = append(m.Answer, rr)
		case "update":
			rr, err = updateRecord(f[1:], origin)
			m.Ns = append(m.Ns, rr)
		default:
			err = fmt.Errorf("section %q is not zone, prereq or update", f[0])
		}
		if err != nil {
			return nil, fmt.Errorf("update line %d: %w", lineNo, err)
		}
	}
	if len(m.Question) == 0 {
		return nil, fmt.Errorf("update: no zone line")
	}
	if err := m.Pack(); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	return m.Data, nil
}

func zoneEntry(f []string) (dns.RR, error) {
	if len(f) < 1 || len(f) > 3 {
		return nil, fmt.Errorf("zone line: want name [type [class]], got %d fields", len(f))
	}
	qtype, qclass := dns.TypeSOA, uint16(dns.ClassINET)
	var err error
	if len(f) > 1 {
		if qtype, err = parseType(f[1]); err != nil {
			return nil, err
		}
	}
	if len(f) > 2 {
		if qclass, err = parseClass(f[2]); err != nil {
			return nil, err
		}
	}
	return emptyRR(f[0], qtype, qclass, 0), nil
}

func updateRecord(f []string, origin string) (dns.RR, error) {
	if len(f) < 4 {
		return nil, fmt.Errorf("record: want owner TTL class type [RDATA], got %d fields", len(f))
	}
	ttl, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("record %s: TTL %q: %w", f[0], f[1], err)
	}
	class, err := parseClass(f[2])
	if err != nil {
		return nil, err
	}
	typ, err := parseType(f[3])
	if err != nil {
		return nil, err
	}
	if len(f) == 4 {
		return emptyRR(absolute(f[0], origin), typ, class, uint32(ttl)), nil
	}
	line := fmt.Sprintf("%s %d IN %s %s", f[0], ttl, f[3], strings.Join(f[4:], " "))
	zp := dns.NewZoneParser(strings.NewReader(line), origin, "")
	rr, ok := zp.Next()
	if !ok {
		err := zp.Err()
		if err == nil {
			err = fmt.Errorf("no record")
		}
		return nil, fmt.Errorf("record %s: %w", strings.Join(f, " "), err)
	}
	rr.Header().Class = class
	return rr, nil
}

// absolute makes name fully qualified under origin, as a master file does.
func absolute(name, origin string) string {
	switch {
	case name == "@":
		return origin
	case strings.HasSuffix(name, "."):
		return name
	case origin == ".":
		return name + "."
	}
	return name + "." + origin
}

// emptyRR is a record of any type with no RDATA: the unknown-type form packs exactly that.
func emptyRR(name string, typ, class uint16, ttl uint32) dns.RR {
	return &dns.RFC3597{Hdr: dns.Header{Name: name, TTL: ttl, Class: class}, RFC3597: rdata.RFC3597{RRType: typ}}
}
func parseType(s string) (uint16, error) {
	u := strings.ToUpper(s)
	if t, ok := dns.StringToType[u]; ok {
		return t, nil
	}
	if n, ok := strings.CutPrefix(u, "TYPE"); ok {
		if t, err := strconv.ParseUint(n, 10, 16); err == nil {
			return uint16(t), nil
		}
	}
	return 0, fmt.Errorf("type %q is not known", s)
}

func parseClass(s string) (uint16, error) {
	u := strings.ToUpper(s)
	if c, ok := dns.StringToClass[u]; ok {
		return c, nil
	}
	if n, ok := strings.CutPrefix(u, "CLASS"); ok {
		if c, err := strconv.ParseUint(n, 10, 16); err == nil {
			return uint16(c), nil
		}
	}
	return 0, fmt.Errorf("class %q is not known", s)
}
