package pipeline

import (
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// validatingIP is where TestUnboundValidatesSigned runs Warden and the resolver.
const validatingIP = "127.0.1.23"

// TestUnboundValidatesSigned asks a validating Unbound, which trusts the test zone's key and asks
// only Warden for its names, for every kind of answer the signed zone gives: Unbound must find
// each one secure (AD=1), with NSEC and with NSEC3.
func TestUnboundValidatesSigned(t *testing.T) {
	cases := []struct {
		name  string
		qtype uint16
		rcode uint16
		note  string
	}{
		{"www", dns.TypeA, dns.RcodeSuccess, "A"},
		{"multi", dns.TypeA, dns.RcodeSuccess, "several records"},
		{"mail", dns.TypeAAAA, dns.RcodeSuccess, "AAAA"},
		{"txt", dns.TypeTXT, dns.RcodeSuccess, "TXT"},
		{"mx", dns.TypeMX, dns.RcodeSuccess, "MX with additional records"},
		{"_sip._udp", dns.TypeSRV, dns.RcodeSuccess, "SRV"},
		{"", dns.TypeSOA, dns.RcodeSuccess, "apex SOA"},
		{"", dns.TypeNS, dns.RcodeSuccess, "apex NS"},
		{"", dns.TypeDNSKEY, dns.RcodeSuccess, "DNSKEY"},
		{"secure", dns.TypeDS, dns.RcodeSuccess, "DS at a delegation"},
		{"nothere", dns.TypeA, dns.RcodeNameError, "NXDOMAIN"},
		{"deep.nx", dns.TypeTXT, dns.RcodeNameError, "NXDOMAIN two labels down"},
		{"v6only", dns.TypeA, dns.RcodeSuccess, "NODATA"},
		{"ent", dns.TypeA, dns.RcodeSuccess, "NODATA at an empty non-terminal"},
		{"sub", dns.TypeDS, dns.RcodeSuccess, "no DS at an unsigned delegation"},
		{"foo.wild", dns.TypeA, dns.RcodeSuccess, "wildcard"},
		{"a.b.wild", dns.TypeTXT, dns.RcodeSuccess, "wildcard two labels down"},
		{"foo.w6", dns.TypeA, dns.RcodeSuccess, "wildcard NODATA"},
		{"c1", dns.TypeA, dns.RcodeSuccess, "CNAME chain"},
		{"foo.wc", dns.TypeA, dns.RcodeSuccess, "wildcard CNAME"},
		{"tonx", dns.TypeA, dns.RcodeNameError, "CNAME to a name that does not exist"},
		{"www.dnin", dns.TypeA, dns.RcodeSuccess, "DNAME"},
	}
	for _, d := range []dnstest.Denial{dnstest.DenialNSEC, dnstest.DenialNSEC3} {
		t.Run(d.String(), func(t *testing.T) {
			zones, signed := signedZones(t, d)
			warden := startWardenOn(t, validatingIP, zones)
			unbound := dnstest.StartValidatingUnbound(t, validatingIP, signed.Origin, signed.KSKFile, warden)
			for i, c := range cases {
				name := signed.Origin
				if c.name != "" {
					name = c.name + "." + name
				}
				q := dnstest.Query{Name: name, Type: c.qtype, RD: true, EDNS: true, DO: true, ID: uint16(100 + i)}
				m, err := dnstest.Exchange(unbound, q)
				if err != nil {
					t.Errorf("%s (%s): %v", q, c.note, err)
					continue
				}
				if m.Rcode != c.rcode || !m.AuthenticatedData {
					t.Errorf("%s (%s): rcode %s AD=%t, want %s AD=true\n%s", q, c.note, dns.RcodeToString[m.Rcode],
						m.AuthenticatedData, dns.RcodeToString[c.rcode], strings.TrimSpace(dnstest.Format(m)))
				}
			}
		})
	}
}
