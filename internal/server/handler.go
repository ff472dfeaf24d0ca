package server

import "warden/internal/query"

// Handler answers one query. The listener fills req.Wire, req.Client, req.Transport and
// req.Received (read once per message, or once per batch of datagrams); the handler writes the
// response into out (len 0; its capacity covers every usual answer: 64 KiB on UDP, 4 KiB on TCP)
// and returns it, or returns a slice of its own when the answer needs more room. A nil result means
// the query gets no response at all. The handler must not keep req or out after it returns:
// listeners reuse both for the next query.
type Handler interface {
	ServeDNS(req *query.Request, out []byte) []byte
}

// Observer gives each listener the Recorder its answers go to. It is asked once per worker or
// listener when the listener opens, never per query.
type Observer interface {
	// Recorder returns the Recorder of answers sent over t. exclusive promises that only one
	// goroutine will ever call it (a UDP worker), so that it may count without atomic
	// read-modify-writes; otherwise any number of goroutines may call it at once.
	Recorder(t query.Transport, exclusive bool) Recorder
}

// Recorder takes the records of answers just sent. It must not block and should not allocate: a
// UDP worker calls it once per batch, the other listeners once per answer. The records, and the
// bytes they alias, are the listener's again once Record returns.
type Recorder interface {
	Record(recs []query.Record)
}

// recorderFor asks o, which may be nil (nothing is recorded), for a Recorder.
func recorderFor(o Observer, t query.Transport, exclusive bool) Recorder {
	if o == nil {
		return nil
	}
	return o.Recorder(t, exclusive)
}

// Observers hands every record to each of its observers in turn: metrics, the query log and
// dnstap each see every answer, and the listeners still call one Recorder per batch.
type Observers []Observer

var _ Observer = Observers(nil)

// Recorder returns one Recorder that calls each observer's, or the only one's when there is one.
func (os Observers) Recorder(t query.Transport, exclusive bool) Recorder {
	var rs fanOut
	for _, o := range os {
		if r := o.Recorder(t, exclusive); r != nil {
			rs = append(rs, r)
		}
	}
	switch len(rs) {
	case 0:
		return nil
	case 1:
		return rs[0]
	}
	return rs
}

type fanOut []Recorder

func (rs fanOut) Record(recs []query.Record) {
	for _, r := range rs {
		r.Record(recs)
	}
}
