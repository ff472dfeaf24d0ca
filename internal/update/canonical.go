package update

import (
	"strings"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// sameRdata says whether a and b (same owner and class) hold the same RDATA, comparing the domain
// names in the RDATA of the RFC 1035-era types without regard to case, as their canonical form
// does (RFC 4034 §6.2, as amended by RFC 6840 §5.1) and as Knot and BIND compare them. dns.Equal
// alone compares those names byte for byte.
func sameRdata(a, b dns.RR) bool {
	if rrType(a) != rrType(b) {
		return false
	}
	// zone.SameRdata, not dns.Equal: the library's comparison of two TXT records with different
	// numbers of strings reads past the shorter one, and an update could carry such a pair.
	return zone.SameRdata(lowerNames(a), lowerNames(b))
}

// lowerNames returns rr with the names in its RDATA lower-cased where canonical form does so: a
// copy for those types, rr itself for the others.
func lowerNames(rr dns.RR) dns.RR {
	if !namesFold[rrType(rr)] {
		return rr
	}
	c := rr.Clone()
	switch x := c.(type) {
	case *dns.NS:
		x.Ns = strings.ToLower(x.Ns)
	case *dns.MD:
		x.Md = strings.ToLower(x.Md)
	case *dns.MF:
		x.Mf = strings.ToLower(x.Mf)
	case *dns.CNAME:
		x.Target = strings.ToLower(x.Target)
	case *dns.SOA:
		x.Ns, x.Mbox = strings.ToLower(x.Ns), strings.ToLower(x.Mbox)
	case *dns.MB:
		x.Mb = strings.ToLower(x.Mb)
	case *dns.MG:
		x.Mg = strings.ToLower(x.Mg)
	case *dns.MR:
		x.Mr = strings.ToLower(x.Mr)
	case *dns.PTR:
		x.Ptr = strings.ToLower(x.Ptr)
	case *dns.MINFO:
		x.Rmail, x.Email = strings.ToLower(x.Rmail), strings.ToLower(x.Email)
	case *dns.MX:
		x.Mx = strings.ToLower(x.Mx)
	case *dns.RP:
		x.Mbox, x.Txt = strings.ToLower(x.Mbox), strings.ToLower(x.Txt)
	case *dns.AFSDB:
		x.Hostname = strings.ToLower(x.Hostname)
	case *dns.RT:
		x.Host = strings.ToLower(x.Host)
	case *dns.PX:
		x.Map822, x.Mapx400 = strings.ToLower(x.Map822), strings.ToLower(x.Mapx400)
	case *dns.NAPTR:
		x.Replacement = strings.ToLower(x.Replacement)
	case *dns.KX:
		x.Exchanger = strings.ToLower(x.Exchanger)
	case *dns.SRV:
		x.Target = strings.ToLower(x.Target)
	case *dns.DNAME:
		x.Target = strings.ToLower(x.Target)
	case *dns.RRSIG:
		x.SignerName = strings.ToLower(x.SignerName)
	}
	return c
}

// namesFold holds the types of RFC 4034 §6.2, less those RFC 6840 §5.1 took out, that miekg/dns
// models (NXT, A6 and SIG it does not, or not apart from RRSIG).
var namesFold = map[uint16]bool{
	dns.TypeNS: true, dns.TypeMD: true, dns.TypeMF: true, dns.TypeCNAME: true, dns.TypeSOA: true,
	dns.TypeMB: true, dns.TypeMG: true, dns.TypeMR: true, dns.TypePTR: true, dns.TypeMINFO: true,
	dns.TypeMX: true, dns.TypeRP: true, dns.TypeAFSDB: true, dns.TypeRT: true, dns.TypePX: true,
	dns.TypeNAPTR: true, dns.TypeKX: true, dns.TypeSRV: true, dns.TypeDNAME: true, dns.TypeRRSIG: true,
}
