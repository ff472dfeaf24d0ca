// Package validator decides whether DNS data is authentic under DNSSEC (RFC 4033-4035, 5155,
// 6840): signatures over RRsets, the DS-to-DNSKEY links of a chain of trust, and the NSEC and
// NSEC3 proofs of denial. It does no I/O: the resolver fetches DNSKEY and DS records through a
// Fetcher and hands replies over; the chain walk (chain.go) and the checks of a reply
// (response.go) only compute, so every case is tested with records signed in the test.
package validator

import "fmt"

// State is the security status of data, as RFC 4035 §4.3 names them.
type State uint8

const (
	// Indeterminate: no trust anchor covers the name, so nothing can be said.
	Indeterminate State = iota
	// Secure: an unbroken chain of signatures leads from a trust anchor to the data.
	Secure
	// Insecure: a signed proof says the chain ends above the data (an unsigned delegation, only
	// unsupported algorithms or digests, NSEC3 with too many iterations, opt-out).
	Insecure
	// Bogus: the chain should reach the data and does not.
	Bogus
)

var stateNames = [...]string{"indeterminate", "secure", "insecure", "bogus"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state%d", uint8(s))
}

// Extended DNS Error codes (RFC 8914 §4) that a validation result carries.
const (
	EDEUnsupportedAlgorithm = 1
	EDEUnsupportedDigest    = 2
	EDEBogus                = 6
	EDESignatureExpired     = 7
	EDESignatureNotYetValid = 8
	EDEDNSKEYMissing        = 9
	EDERRSIGsMissing        = 10
	EDENSECMissing          = 12
)

// Result is the outcome of one check. EDE is the RFC 8914 code that explains a Bogus result
// (and, for an Insecure one caused by an unsupported algorithm or digest, codes 1 or 2); 0 when
// there is nothing to explain. Why says the same for a log line.
type Result struct {
	State State
	EDE   uint16
	Why   string
}

func (r Result) String() string {
	if r.Why == "" {
		return r.State.String()
	}
	return r.State.String() + ": " + r.Why
}

var secure = Result{State: Secure}

func bogus(ede uint16, format string, args ...any) Result {
	return Result{State: Bogus, EDE: ede, Why: fmt.Sprintf(format, args...)}
}

func insecure(ede uint16, format string, args ...any) Result {
	return Result{State: Insecure, EDE: ede, Why: fmt.Sprintf(format, args...)}
}

// worse returns the weaker of two results for data that needs both: bogus over insecure over
// secure. Indeterminate counts as insecure.
func worse(a, b Result) Result {
	rank := func(s State) int {
		switch s {
		case Secure:
			return 0
		case Insecure, Indeterminate:
			return 1
		}
		return 2
	}
	if rank(b.State) > rank(a.State) {
		return b
	}
	return a
}
