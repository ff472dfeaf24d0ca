package tsig

import (
	"errors"
	"fmt"
	"hash"
	"time"
)

// StreamVerifier checks the messages of one multi-message response (AXFR, IXFR) in order. The
// first and last messages must be signed; between signed ones up to MaxUnsigned messages may come
// without a TSIG, and the next signed message's MAC covers them (RFC 8945 §5.3.1). After an error
// every later call fails with the same error.
type StreamVerifier struct {
	key      Key
	prior    []byte
	h        hash.Hash // digest so far since the last signed message
	messages int
	unsigned int // messages without a TSIG since the last signed one
	err      error
}

// NewStreamVerifier starts verifying the response to a request whose MAC was requestMAC.
func NewStreamVerifier(k Key, requestMAC []byte) *StreamVerifier {
	v := &StreamVerifier{key: k, prior: requestMAC}
	if err := k.check(); err != nil {
		v.err = err
	}
	return v
}

// Next verifies the next message and returns it without its TSIG (with its original ID).
func (v *StreamVerifier) Next(msg []byte, now time.Time) ([]byte, error) {
	if v.err != nil {
		return nil, v.err
	}
	out, err := v.next(msg, now)
	if err != nil {
		v.err = fmt.Errorf("message %d: %w", v.messages+1, err)
		return nil, v.err
	}
	v.messages++
	return out, nil
}

func (v *StreamVerifier) next(msg []byte, now time.Time) ([]byte, error) {
	at, rec, err := findTSIG(msg)
	if errors.Is(err, errNoTSIG) {
		if v.messages == 0 {
			return nil, notAuth(BadSig, "first message of the response is not signed")
		}
		if v.unsigned++; v.unsigned > MaxUnsigned {
			return nil, notAuth(BadSig, "more than %d messages in a row without a TSIG", MaxUnsigned)
		}
		v.h.Write(msg)
		return msg, nil
	}
	if err != nil {
		return nil, formErr("%v", err)
	}
	if rec.KeyName != fqdn(v.key.Name) || rec.Algorithm != fqdn(v.key.Algorithm) {
		if rec.Error != 0 && len(rec.MAC) == 0 {
			return nil, notAuth(rec.Error, "peer reported %s for key %q", ErrorName(rec.Error), rec.KeyName)
		}
		return nil, notAuth(BadKey, "signed with key %q (%s), want %q (%s)", rec.KeyName, rec.Algorithm, v.key.Name, v.key.Algorithm)
	}
	first := v.messages == 0
	if first {
		v.h = v.key.mac()
		writePrior(v.h, v.prior)
	}
	stripped := strip(msg, at, rec.OrigID)
	v.h.Write(stripped)
	writeVariables(v.h, rec, !first)
	if err := checkMAC(v.h, rec); err != nil {
		return nil, err
	}
	if err := checkTime(rec, now); err != nil {
		return nil, err
	}
	v.prior = rec.MAC
	v.h = v.key.mac()
	writePrior(v.h, v.prior)
	v.unsigned = 0
	return stripped, nil
}

// Done says whether the stream ended properly: at least one message, the last one signed.
func (v *StreamVerifier) Done() error {
	switch {
	case v.err != nil:
		return v.err
	case v.messages == 0:
		return errors.New("tsig: no message in the response")
	case v.unsigned > 0:
		return notAuth(BadSig, "last message of the response is not signed")
	}
	return nil
}

// StreamSigner signs the messages of one multi-message response (AXFR, IXFR) in order, each MAC
// covering the one before it and the first the request's (RFC 8945 §5.3.1), as Sign with the
// previous MAC would. The key's hash, the MAC and the variables' bytes are made once for the
// whole response and each message is signed where it lies: a million-record transfer made 25 MB
// of copies through Sign.
type StreamSigner struct {
	key      Key // name and algorithm fully qualified and lower case
	h        hash.Hash
	prior    []byte
	mac      []byte
	scratch  []byte
	messages int
}

// NewStreamSigner starts signing the response to a request whose MAC was requestMAC.
func NewStreamSigner(k Key, requestMAC []byte) (*StreamSigner, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	k.Name, k.Algorithm = fqdn(k.Name), fqdn(k.Algorithm)
	s := &StreamSigner{key: k, h: k.mac()}
	if requestMAC != nil {
		s.prior = append(make([]byte, 0, 64), requestMAC...)
	}
	return s, nil
}

// Sign appends the TSIG record to msg, growing it only when its capacity is short, and returns
// the signed message.
func (s *StreamSigner) Sign(msg []byte, now time.Time) ([]byte, error) {
	if len(msg) < headerLen {
		return nil, fmt.Errorf("tsig: sign: message of %d bytes is shorter than a header", len(msg))
	}
	rec := Record{
		KeyName:    s.key.Name,
		Algorithm:  s.key.Algorithm,
		TimeSigned: unixTime(now),
		Fudge:      Fudge,
		OrigID:     uint16(msg[0])<<8 | uint16(msg[1]),
	}
	s.h.Reset()
	if s.prior != nil {
		// As writePrior, through the reused buffer: its length array would escape to the heap.
		s.scratch = append(append(s.scratch[:0], byte(len(s.prior)>>8), byte(len(s.prior))), s.prior...)
		s.h.Write(s.scratch)
	}
	s.h.Write(msg)
	s.scratch = appendVariables(s.scratch[:0], rec, s.messages > 0)
	s.h.Write(s.scratch)
	s.mac = s.h.Sum(s.mac[:0])
	rec.MAC = s.mac
	out, err := appendRecord(msg, rec)
	if err != nil {
		return nil, fmt.Errorf("tsig: sign: %w", err)
	}
	s.prior = append(s.prior[:0], s.mac...)
	s.messages++
	return out, nil
}
