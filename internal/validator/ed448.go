package validator

import (
	"encoding/base64"
	"errors"

	"codeberg.org/miekg/dns"
	"github.com/cloudflare/circl/sign/ed448"

	"warden/internal/signer"
)

// The DNS library verifies only the algorithms of Go's standard library. For Ed448 (RFC 8080)
// the signed data (RFC 4034 §3.1.8.1) comes from the encoder Warden's signer uses, and circl
// checks the signature over it.

var (
	errEd448Key       = errors.New("the Ed448 public key is not 57 octets")
	errEd448Signature = errors.New("the Ed448 signature is not 114 octets")
	errEd448Mismatch  = errors.New("the Ed448 signature does not match")
)

// verifyEd448 checks sig over rrset with key; rrset's records are already copies it may change,
// their owners in lower case, as verifyCopy makes them.
func verifyEd448(sig *dns.RRSIG, key *dns.DNSKEY, rrset []dns.RR) error {
	if key.Flags&dns.FlagZONE == 0 || key.Protocol != 3 || key.Hdr.Class != sig.Hdr.Class {
		return dns.ErrKey // RFC 4034 §2.1.1, §2.1.2: not a zone key
	}
	pub, err := base64.StdEncoding.DecodeString(key.PublicKey)
	if err != nil || len(pub) != ed448.PublicKeySize {
		return errEd448Key
	}
	raw, err := base64.StdEncoding.DecodeString(sig.Signature)
	if err != nil || len(raw) != ed448.SignatureSize {
		return errEd448Signature
	}
	data, err := signedData(sig, rrset)
	if err != nil {
		return err
	}
	if !ed448.Verify(ed448.PublicKey(pub), data, raw, "") {
		return errEd448Mismatch
	}
	return nil
}

// signedData returns the bytes sig was made over, built by the signer's own RFC 4034 encoder
// (which, unlike the library's signing routine, has no limit on the RRset's length). The records
// are given the signature's original TTL and, for a wildcard expansion, the wildcard owner it
// was signed under.
func signedData(sig *dns.RRSIG, rrset []dns.RR) ([]byte, error) {
	owner := rrset[0].Header().Name
	if labels := int(sig.Labels); labels < countLabels(owner) {
		owner = wildcardOf(owner, labels)
	}
	for _, rr := range rrset {
		rr.Header().Name = owner
		rr.Header().TTL = sig.OrigTTL
	}
	return signer.SignedData(sig, rrset)
}
