package tsig

import (
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"
)

// Response codes and TSIG error codes (RFC 8945 §3, §5.2).
const (
	RcodeFormErr = 1
	RcodeNotAuth = 9

	BadSig   = 16
	BadKey   = 17
	BadTime  = 18
	BadTrunc = 22
)

// Fudge is the clock skew allowed between signer and verifier, in seconds (RFC 8945 §10).
const Fudge = 300

// MaxUnsigned is how many messages in a row of a multi-message response may go without a TSIG
// (RFC 8945 §5.3.1).
const MaxUnsigned = 99

// Error is a failed verification: the response code a server answers with, and the TSIG error
// that goes in its TSIG record.
type Error struct {
	Rcode     uint16
	TSIGError uint16
	Msg       string
}

func (e *Error) Error() string {
	if e.TSIGError != 0 {
		return fmt.Sprintf("tsig: %s (%s/%s)", e.Msg, rcodeName(e.Rcode), ErrorName(e.TSIGError))
	}
	return fmt.Sprintf("tsig: %s (%s)", e.Msg, rcodeName(e.Rcode))
}

func rcodeName(rc uint16) string {
	switch rc {
	case RcodeFormErr:
		return "FORMERR"
	case RcodeNotAuth:
		return "NOTAUTH"
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// ErrorName names a TSIG error code.
func ErrorName(code uint16) string {
	switch code {
	case 0:
		return "NOERROR"
	case BadSig:
		return "BADSIG"
	case BadKey:
		return "BADKEY"
	case BadTime:
		return "BADTIME"
	case BadTrunc:
		return "BADTRUNC"
	}
	return fmt.Sprintf("TSIG error %d", code)
}

func formErr(format string, args ...any) *Error {
	return &Error{Rcode: RcodeFormErr, Msg: fmt.Sprintf(format, args...)}
}

func notAuth(code uint16, format string, args ...any) *Error {
	return &Error{Rcode: RcodeNotAuth, TSIGError: code, Msg: fmt.Sprintf(format, args...)}
}

// Verified is what Verify learned from a message.
type Verified struct {
	Signed bool   // the message carried a TSIG record
	Key    Key    // the key it was signed with; zero when the key is unknown
	Record Record // the TSIG record as received; zero when unsigned
	MAC    []byte // the MAC as received: the prior MAC for the answer to this message
	// Stripped is the message without its TSIG, ARCOUNT lowered and the original ID restored;
	// msg itself when unsigned.
	Stripped []byte
}

// Sign appends a TSIG record to the packed message msg and returns the signed message and its MAC.
// prior is nil for a request, the request's MAC for the first message of a response, and the
// previous message's MAC for later messages of a stream, which are signed with timersOnly
// (RFC 8945 §5.3.1).
func Sign(msg []byte, k Key, prior []byte, timersOnly bool, now time.Time) (signed, mac []byte, err error) {
	if len(msg) < headerLen {
		return nil, nil, fmt.Errorf("tsig: sign: message of %d bytes is shorter than a header", len(msg))
	}
	if err := k.check(); err != nil {
		return nil, nil, err
	}
	rec := Record{
		KeyName:    fqdn(k.Name),
		Algorithm:  fqdn(k.Algorithm),
		TimeSigned: unixTime(now),
		Fudge:      Fudge,
		OrigID:     binary.BigEndian.Uint16(msg),
	}
	return signRecord(msg, k, prior, rec, timersOnly)
}

func signRecord(msg []byte, k Key, prior []byte, rec Record, timersOnly bool) ([]byte, []byte, error) {
	h := k.mac()
	writePrior(h, prior)
	h.Write(msg)
	writeVariables(h, rec, timersOnly)
	rec.MAC = h.Sum(nil)
	out, err := appendTSIG(msg, rec)
	if err != nil {
		return nil, nil, fmt.Errorf("tsig: sign: %w", err)
	}
	return out, rec.MAC, nil
}

func unixTime(t time.Time) uint64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint64(s) & (1<<48 - 1)
}

func writePrior(h hash.Hash, prior []byte) {
	if prior == nil {
		return
	}
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(len(prior)))
	h.Write(l[:])
	h.Write(prior)
}

// writeVariables adds the TSIG variables of RFC 8945 §4.3.3, or only the timers (§4.3.1) for
// the later messages of a stream.
func writeVariables(h hash.Hash, rec Record, timersOnly bool) {
	h.Write(appendVariables(nil, rec, timersOnly))
}

// appendVariables appends the bytes writeVariables digests to b.
func appendVariables(b []byte, rec Record, timersOnly bool) []byte {
	if !timersOnly {
		b, _ = appendName(b, rec.KeyName)
		b = binary.BigEndian.AppendUint16(b, ClassANY)
		b = binary.BigEndian.AppendUint32(b, 0)
		b, _ = appendName(b, rec.Algorithm)
	}
	b = appendUint48(b, rec.TimeSigned)
	b = binary.BigEndian.AppendUint16(b, rec.Fudge)
	if !timersOnly {
		b = binary.BigEndian.AppendUint16(b, rec.Error)
		b = binary.BigEndian.AppendUint16(b, uint16(len(rec.Other)))
		b = append(b, rec.Other...)
	}
	return b
}

// Verify checks the TSIG record that must be the last additional record of msg against the keys
// of ring. An unsigned message is no error: Verified.Signed says so, and the caller decides
// whether it needed a signature. On an error, the Verified returned still holds what was learned
// (the record, the key when known), which SignError needs to answer.
func Verify(msg []byte, ring *Keyring, prior []byte, timersOnly bool, now time.Time) (Verified, error) {
	at, rec, err := findTSIG(msg)
	if errors.Is(err, errNoTSIG) {
		return Verified{Stripped: msg}, nil
	}
	if err != nil {
		return Verified{}, formErr("%v", err)
	}
	v := Verified{Signed: true, Record: rec}
	k, ok := ring.Get(rec.KeyName)
	if !ok {
		return v, notAuth(BadKey, "unknown key %q", rec.KeyName)
	}
	if k.Algorithm != rec.Algorithm {
		return v, notAuth(BadKey, "key %q is %s, message says %s", rec.KeyName, k.Algorithm, rec.Algorithm)
	}
	v.Key = k
	h := k.mac()
	writePrior(h, prior)
	stripped := strip(msg, at, rec.OrigID)
	h.Write(stripped)
	writeVariables(h, rec, timersOnly)
	if err := checkMAC(h, rec); err != nil {
		return v, err
	}
	v.MAC, v.Stripped = rec.MAC, stripped
	if err := checkTime(rec, now); err != nil {
		return v, err
	}
	return v, nil
}

// checkMAC compares the received MAC with the digest in h, after the size checks of RFC 8945
// §5.2.2.1; a peer's error report (an empty MAC with a TSIG error) is returned as that error.
func checkMAC(h hash.Hash, rec Record) error {
	if rec.Error != 0 && len(rec.MAC) == 0 {
		return notAuth(rec.Error, "peer reported %s for key %q", ErrorName(rec.Error), rec.KeyName)
	}
	size := h.Size()
	switch n := len(rec.MAC); {
	case n > size:
		return formErr("MAC of %d bytes is longer than the %d of %s", n, size, rec.Algorithm)
	case n < max(10, size/2):
		return formErr("MAC of %d bytes is shorter than the %d allowed for %s", n, max(10, size/2), rec.Algorithm)
	}
	if !hmac.Equal(h.Sum(nil)[:len(rec.MAC)], rec.MAC) {
		return notAuth(BadSig, "MAC does not match key %q", rec.KeyName)
	}
	if rec.Error != 0 {
		return notAuth(rec.Error, "peer reported %s for key %q", ErrorName(rec.Error), rec.KeyName)
	}
	return nil
}

func checkTime(rec Record, now time.Time) error {
	t := int64(unixTime(now))
	if d := t - int64(rec.TimeSigned); d > int64(rec.Fudge) || -d > int64(rec.Fudge) {
		return notAuth(BadTime, "signed at %d, %d s from our clock %d (fudge %d s)", rec.TimeSigned, d, t, rec.Fudge)
	}
	return nil
}

// SignError adds the TSIG record to resp, the error response to a request that failed
// verification with tsigErr (RFC 8945 §5.3.2). BADKEY and BADSIG answers carry an empty MAC and
// are not signed: the server cannot, or must not, prove anything with that key. BADTIME and
// BADTRUNC answers are signed with the request's key and MAC; BADTIME echoes the request's time
// and carries the server's clock in Other Data, so the client can see the skew.
func SignError(resp []byte, req Verified, tsigErr uint16, now time.Time) ([]byte, error) {
	if !req.Signed {
		return nil, errors.New("tsig: error response to an unsigned request")
	}
	if len(resp) < headerLen {
		return nil, fmt.Errorf("tsig: error response of %d bytes is shorter than a header", len(resp))
	}
	rec := Record{
		KeyName:    req.Record.KeyName,
		Algorithm:  req.Record.Algorithm,
		TimeSigned: unixTime(now),
		Fudge:      Fudge,
		OrigID:     binary.BigEndian.Uint16(resp),
		Error:      tsigErr,
	}
	switch tsigErr {
	case BadTime, BadTrunc:
		if req.Key.Secret == nil {
			return nil, fmt.Errorf("tsig: %s answer needs the request's key", ErrorName(tsigErr))
		}
		if tsigErr == BadTime {
			rec.TimeSigned = req.Record.TimeSigned
			rec.Other = appendUint48(nil, unixTime(now))
		}
		out, _, err := signRecord(resp, req.Key, req.Record.MAC, rec, false)
		return out, err
	}
	out, err := appendTSIG(resp, rec)
	if err != nil {
		return nil, fmt.Errorf("tsig: %w", err)
	}
	return out, nil
}
