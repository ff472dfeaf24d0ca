package query

import (
	"net/netip"
	"time"
)

// Record is what became of one answered query, as the listener that sent the answer saw it. It
// is the one account of a query that metrics count and that a query log or dnstap would read:
// the listener fills it once the answer is on its way and hands it to its Recorder.
type Record struct {
	// Received is when the listener read the query (for a batch of datagrams, when it read the
	// batch); Sent is when the listener handed the answer to the kernel.
	Received, Sent time.Time
	Client         netip.AddrPort
	Transport      Transport
	QType          uint16
	// Rcode is the answer's response code, extended by the OPT record's bits where the query
	// asked for an EDNS version this server does not speak (BADVERS, RFC 6891 §6.1.3).
	Rcode   uint16
	Outcome Outcome
	// QName, Query and Response alias the listener's buffers: they are valid during the call to
	// Record only, and a reader that keeps them copies them. QName is as the client wrote it.
	QName, Query, Response []byte
}

// RcodeBadVers is the extended rcode of an answer to an unknown EDNS version.
const RcodeBadVers = 16

// RecordOf fills rec for the answer res to req, leaving the times to the listener. It neither
// allocates nor keeps a reference beyond the aliases Record documents.
func RecordOf(rec *Record, req *Request, res []byte) {
	rec.Client = req.Client
	rec.Transport = req.Transport
	rec.QType = req.QType
	rec.Outcome = req.Outcome
	rec.QName = req.QName
	rec.Query = req.Wire
	rec.Response = res
	rec.Rcode = 0
	if len(res) >= HeaderLen {
		rec.Rcode = uint16(res[3] & 0xF)
	}
	// Admission answers every query of a version other than 0 with BADVERS, whose low bits in
	// the header are 0: reading the upper bits from the answer's OPT record would cost a walk
	// over the whole answer on every query.
	if req.HasEDNS && req.EDNSVersion != 0 && rec.Rcode == 0 {
		rec.Rcode = RcodeBadVers
	}
}
