package validator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"

	"codeberg.org/miekg/dns"
	"github.com/cloudflare/circl/sign/ed448"

	"warden/internal/signer"
)

// Signatures are checked over the signed data Warden's signer builds (RFC 4034 §3.1.8.1), not by
// the DNS library's RRSIG.Verify: the library assembles that data in a 4 KiB buffer and fails
// every RRset longer than that as a bad signature, which a validator would call bogus.

var (
	errNotZoneKey     = errors.New("the DNSKEY is not a zone key of the signer")
	errKeyMismatch    = errors.New("the DNSKEY's tag or algorithm is not the signature's")
	errPublicKey      = errors.New("the DNSKEY's public key is malformed")
	errSignatureSize  = errors.New("the signature has the wrong length for its algorithm")
	errBadSignature   = errors.New("the signature does not match")
	errAlgorithmUnset = errors.New("the signature's algorithm is not supported")
)

// verifySignature checks sig over rrset with key. rrset's records are copies it may change.
func verifySignature(sig *dns.RRSIG, key *dns.DNSKEY, rrset []dns.RR) error {
	// RFC 4034 §2.1.1, §2.1.2, §3.1.7; RFC 4035 §5.3.1.
	if key.Flags&dns.FlagZONE == 0 || key.Protocol != 3 || key.Hdr.Class != sig.Hdr.Class ||
		!strings.EqualFold(key.Hdr.Name, sig.SignerName) {
		return errNotZoneKey
	}
	if key.Algorithm != sig.Algorithm || key.KeyTag() != sig.KeyTag {
		return errKeyMismatch
	}
	pub, err := base64.StdEncoding.DecodeString(key.PublicKey)
	if err != nil {
		return errPublicKey
	}
	raw, err := base64.StdEncoding.DecodeString(sig.Signature)
	if err != nil {
		return errSignatureSize
	}
	data, err := signedData(sig, rrset)
	if err != nil {
		return err
	}
	switch sig.Algorithm {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1:
		return verifyRSA(pub, raw, crypto.SHA1, digest(sha1.New(), data))
	case dns.RSASHA256:
		return verifyRSA(pub, raw, crypto.SHA256, digest(sha256.New(), data))
	case dns.RSASHA512:
		return verifyRSA(pub, raw, crypto.SHA512, digest(sha512.New(), data))
	case dns.ECDSAP256SHA256:
		return verifyECDSA(elliptic.P256(), pub, raw, digest(sha256.New(), data))
	case dns.ECDSAP384SHA384:
		return verifyECDSA(elliptic.P384(), pub, raw, digest(sha512.New384(), data))
	case dns.ED25519:
		if len(pub) != ed25519.PublicKeySize {
			return errPublicKey
		}
		if len(raw) != ed25519.SignatureSize {
			return errSignatureSize
		}
		if !ed25519.Verify(ed25519.PublicKey(pub), data, raw) {
			return errBadSignature
		}
		return nil
	case dns.ED448:
		if len(pub) != ed448.PublicKeySize {
			return errPublicKey
		}
		if len(raw) != ed448.SignatureSize {
			return errSignatureSize
		}
		if !ed448.Verify(ed448.PublicKey(pub), data, raw, "") {
			return errBadSignature
		}
		return nil
	}
	return errAlgorithmUnset
}

func digest(h interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}, data []byte) []byte {
	h.Write(data)
	return h.Sum(nil)
}

// verifyRSA checks an RSA signature with a key in RFC 3110's form: the exponent's length in one
// octet (or, when that is 0, in the next two), the exponent, then the modulus.
func verifyRSA(pub, sig []byte, h crypto.Hash, sum []byte) error {
	if len(pub) < 1 {
		return errPublicKey
	}
	n, rest := int(pub[0]), pub[1:]
	if n == 0 {
		if len(rest) < 2 {
			return errPublicKey
		}
		n, rest = int(rest[0])<<8|int(rest[1]), rest[2:]
	}
	// Go's RSA takes exponents up to 2^31-1; larger ones are not in use.
	if n == 0 || n > 4 || len(rest) <= n {
		return errPublicKey
	}
	e := new(big.Int).SetBytes(rest[:n])
	if !e.IsInt64() || e.Int64() > 1<<31-1 {
		return errPublicKey
	}
	key := &rsa.PublicKey{N: new(big.Int).SetBytes(rest[n:]), E: int(e.Int64())}
	if err := rsa.VerifyPKCS1v15(key, h, sum, sig); err != nil {
		return errBadSignature
	}
	return nil
}

// verifyECDSA checks an ECDSA signature r || s with a key X || Y (RFC 6605 §4).
func verifyECDSA(curve elliptic.Curve, pub, sig, sum []byte) error {
	size := (curve.Params().BitSize + 7) / 8
	if len(pub) != 2*size {
		return errPublicKey
	}
	if len(sig) != 2*size {
		return errSignatureSize
	}
	key, err := ecdsa.ParseUncompressedPublicKey(curve, append([]byte{4}, pub...))
	if err != nil {
		return errPublicKey
	}
	r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
	if !ecdsa.Verify(key, sum, r, s) {
		return errBadSignature
	}
	return nil
}

// signedData returns the bytes sig was made over. The records are given the signature's
// original TTL and, for a wildcard expansion, the wildcard owner it was signed under.
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
