package dnstap

import (
	"sync"

	"warden/internal/query"
	"warden/internal/server"
	"warden/internal/upstream"
)

var _ server.Observer = (*Writer)(nil)

// Recorder returns the producer for answers sent over t: a ring of its own for an exclusive
// caller (a UDP worker), else a ring shared behind a lock. nil when neither AUTH_ nor CLIENT_
// messages are wanted, so that listeners then skip dnstap entirely.
func (w *Writer) Recorder(t query.Transport, exclusive bool) server.Recorder {
	if !w.wants(roleAuth) && !w.wants(roleClient) {
		return nil
	}
	r := &recorder{w: w, ring: w.newRing()}
	if !exclusive {
		r.mu = new(sync.Mutex)
	}
	return r
}

// recorder encodes the listeners' records into its ring.
type recorder struct {
	w    *Writer
	ring *ring
	// mu is nil for an exclusive recorder, whose one caller needs no lock.
	mu *sync.Mutex
	// plan is put's scratch, kept here rather than on the stack: it is larger than the rest.
	plan plan
}

var _ server.Recorder = (*recorder)(nil)

// Record queues recs; what does not fit is dropped and counted. It takes no lock for an
// exclusive recorder and allocates nothing.
func (r *recorder) Record(recs []query.Record) {
	if r.mu != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
	}
	// One entry for the batch, its fields set for each record, rather than a value built (and
	// zeroed whole) per record.
	var e entry
	for i := range recs {
		rec := &recs[i]
		ro := roleAuth
		// RD=1 asks for recursion: the client treats Warden as its resolver (CLIENT_), else as an
		// authoritative server (AUTH_), as BIND tells them apart.
		if len(rec.Query) > 2 && rec.Query[2]&(query.FlagRD>>8) != 0 {
			ro = roleClient
		}
		if !r.w.wants(ro) {
			continue
		}
		e.role, e.transport, e.initiator = ro, rec.Transport, rec.Client
		e.queried, e.responded = rec.Received, rec.Sent
		e.query, e.response, e.hasResponse = rec.Query, rec.Response, rec.Response != nil
		r.put(&e)
	}
	r.w.pokeFor(r.ring)
}

// put encodes e's frames into the ring, or counts it dropped.
func (r *recorder) put(e *entry) {
	// No DNS message is longer; a longer one is a caller's bug, not worth a frame.
	if len(e.query) > 0xFFFF || len(e.response) > 0xFFFF {
		r.ring.drop()
		return
	}
	e.normalize()
	f := &r.w.frames
	p := &r.plan
	f.plan(e, p)
	if p.size == 0 {
		return
	}
	b, head := r.ring.reserve(p.size)
	if b == nil {
		return
	}
	if f.put(b, e, p) == 0 {
		r.ring.drop()
		return
	}
	r.ring.publish(head)
}

// ResolverTap returns the Tap of the iterative resolver's exchanges (RESOLVER_ messages), nil
// when they are not wanted.
func (w *Writer) ResolverTap() upstream.Tap { return w.tap(roleResolver) }

// ForwarderTap returns the Tap of the forwarders' exchanges (FORWARDER_ messages), nil when they
// are not wanted.
func (w *Writer) ForwarderTap() upstream.Tap { return w.tap(roleForwarder) }

// tap returns role's Tap, made on first use: a server that builds its resolver again on a
// reload keeps the one ring per role.
func (w *Writer) tap(ro role) upstream.Tap {
	if !w.wants(ro) {
		return nil
	}
	w.tapOnce[ro].Do(func() {
		w.taps[ro] = &tap{role: ro, rec: recorder{w: w, ring: w.newRing(), mu: new(sync.Mutex)}}
	})
	return w.taps[ro]
}

// tap queues the exchanges of many resolutions at once, behind its recorder's lock.
type tap struct {
	role role
	rec  recorder
}

var _ upstream.Tap = (*tap)(nil)

func (t *tap) Exchanged(x *upstream.Exchange) {
	e := entry{role: t.role, transport: x.Transport, initiator: x.Local, responder: x.Server,
		queried: x.Sent, responded: x.Received,
		query: x.Query, response: x.Reply, zone: x.Zone, hasResponse: x.Reply != nil}
	t.rec.mu.Lock()
	t.rec.put(&e)
	t.rec.mu.Unlock()
	t.rec.w.pokeFor(t.rec.ring)
}
