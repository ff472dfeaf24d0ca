package validator

import (
	"crypto"
	"encoding/base64"
	"errors"
	"io"

	"codeberg.org/miekg/dns"
	"github.com/cloudflare/circl/sign/ed448"
)

// The DNS library builds the signed data of an RRSIG (RFC 4034 §3.1.8.1: the canonical form,
// order and wildcard owner of each record) but verifies only the algorithms of Go's standard
// library. For Ed448 (RFC 8080) the data is taken from the library's signing routine, which hands
// it whole to the crypto.Signer for Ed25519, so that every algorithm is checked over the same
// bytes; circl then checks the signature over them.

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

// signedData returns the bytes sig was made over. The library's signer recomputes the label
// count and original TTL from the first record, so the records are given the signature's TTL
// and, for a wildcard expansion, the wildcard owner it was signed under: then it writes exactly
// the fields sig carries, but for the algorithm octet, set back afterwards.
func signedData(sig *dns.RRSIG, rrset []dns.RR) ([]byte, error) {
	owner := rrset[0].Header().Name
	if labels := int(sig.Labels); labels < countLabels(owner) {
		owner = wildcardOf(owner, labels)
	}
	for _, rr := range rrset {
		rr.Header().Name = owner
		rr.Header().TTL = sig.OrigTTL
	}
	probe := sig.Clone().(*dns.RRSIG)
	probe.Algorithm = dns.ED25519
	var capture dataCapture
	if err := probe.Sign(&capture, rrset, &dns.SignOption{}); err != nil {
		return nil, err
	}
	if probe.Labels != sig.Labels || probe.OrigTTL != sig.OrigTTL || len(capture.data) < 3 {
		return nil, errors.New("the signed data could not be rebuilt")
	}
	capture.data[2] = sig.Algorithm // the octet after the type covered (RFC 4034 §3.1)
	return capture.data, nil
}

// dataCapture is a crypto.Signer that keeps the message it is asked to sign and signs nothing.
type dataCapture struct{ data []byte }

func (c *dataCapture) Public() crypto.PublicKey { return nil }

func (c *dataCapture) Sign(_ io.Reader, message []byte, _ crypto.SignerOpts) ([]byte, error) {
	c.data = append(c.data[:0], message...)
	return nil, nil
}
