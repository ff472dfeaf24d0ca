package zones

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/query"
	"warden/internal/transfer"
	"warden/internal/tsig"
	"warden/internal/update"
	"warden/internal/zone"
)

// Response codes of zone operations.
const (
	rcodeFormErr  = 1
	rcodeServFail = 2
	rcodeNotImp   = 4
	rcodeRefused  = 5
	rcodeNotAuth  = 9
)

// op is one zone operation being answered: the request unpacked and its TSIG checked.
type op struct {
	req    *query.Request
	msg    *dns.Msg
	signed tsig.Verified // Signed false when the request carried no TSIG
	now    time.Time
}

// ServeZoneOp answers AXFR and IXFR (RFC 5936, RFC 1995), NOTIFY (RFC 1996) and UPDATE
// (RFC 2136). A request signed with an unknown key or a bad MAC gets NOTAUTH with the TSIG error
// (RFC 8945 §5.2); one the zone's lists do not allow gets NOTAUTH, as Knot answers; a zone not
// served here gets NOTAUTH too.
func (m *Manager) ServeZoneOp(req *query.Request, out []byte) []byte {
	if req.Opcode == query.OpcodeUpdate && req.Later != nil {
		// An update waits for the manager, which a reload may hold for seconds: not on a UDP
		// listener's thread, which answers everyone else's queries.
		return m.deferUpdate(req, out)
	}
	o := &op{req: req, now: m.now(), msg: &dns.Msg{Data: req.Wire}}
	if err := o.msg.Unpack(); err != nil || len(o.msg.Question) != 1 {
		return o.reply(rcodeFormErr, nil)
	}
	v, err := tsig.Verify(req.Wire, m.keyring(), nil, false, o.now)
	if err != nil {
		m.log.Info("zone operation with a bad signature refused", "client", req.Client.String(), "zone", o.origin(), "err", err)
		return o.tsigError(v, err)
	}
	o.signed = v
	z := m.zone(o.origin())
	if z == nil || (z.policy && req.Opcode != query.OpcodeNotify) {
		return o.reply(rcodeNotAuth, nil) // a policy zone is not served, only refreshed
	}
	switch {
	case req.Opcode == query.OpcodeNotify:
		return m.notified(o, z)
	case req.Opcode == query.OpcodeUpdate:
		return m.update(o, z)
	case req.QType == dns.TypeAXFR || req.QType == dns.TypeIXFR:
		return m.transferOut(o, z)
	}
	return o.reply(rcodeNotImp, nil)
}

func (m *Manager) keyring() *tsig.Keyring { return m.keys.Load() }

// deferUpdate answers a UDP update from its own goroutine, within maxUpdates.
func (m *Manager) deferUpdate(req *query.Request, out []byte) []byte {
	select {
	case m.updates <- struct{}{}:
	default:
		o := &op{req: req, now: m.now(), msg: &dns.Msg{Data: req.Wire}}
		if o.msg.Unpack() != nil || len(o.msg.Question) != 1 {
			o.msg = nil
		}
		return o.reply(rcodeServFail, nil)
	}
	replier := req.Later.Defer(req)
	// The request's bytes belong to the listener; the goroutine answers from a copy.
	later := &query.Request{Wire: append([]byte(nil), req.Wire...), Client: req.Client, Transport: req.Transport}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() { <-m.updates }()
		later.Parse()
		replier.Reply(later, m.ServeZoneOp(later, nil))
	}()
	return nil
}

func (o *op) origin() string { return canonical(o.msg.Question[0].Header().Name) }

// permitted says whether the zone's list and key admit the request: the address must be in nets
// (or, when nets is empty, any address will do provided the zone has a key), and when the zone has
// a key the request must be signed with it.
func (o *op) permitted(s *settings, nets []netip.Prefix) bool {
	if s.key != nil {
		if !o.signed.Signed || o.signed.Key.Name != s.key.Name {
			return false
		}
		if len(nets) == 0 {
			return true
		}
	}
	return config.Allowed(nets, o.req.Client.Addr())
}

// reply packs the response to o with rcode and the given answer records, signed when the request
// was.
func (o *op) reply(rcode uint16, answer []dns.RR) []byte {
	r := o.header(rcode)
	r.Answer = answer
	return o.pack(r)
}

func (o *op) header(rcode uint16) *dns.Msg {
	r := &dns.Msg{}
	r.ID = o.req.ID
	r.Response = true
	r.Opcode = o.req.Opcode
	r.Rcode = rcode
	r.RecursionDesired = o.req.Flags&query.FlagRD != 0
	if o.msg != nil && len(o.msg.Question) == 1 {
		r.Question = []dns.RR{o.msg.Question[0]}
		r.Authoritative = rcode == 0
	}
	return r
}

func (o *op) pack(r *dns.Msg) []byte {
	if err := r.Pack(); err != nil {
		return nil
	}
	if !o.signed.Signed {
		return r.Data
	}
	signed, _, err := tsig.Sign(r.Data, o.signed.Key, o.signed.MAC, false, o.now)
	if err != nil {
		return nil
	}
	return signed
}

// tsigError answers a request whose TSIG failed (RFC 8945 §5.3.2, §5.4): NOTAUTH, or FORMERR for a
// TSIG record that does not parse, with a TSIG record carrying the error when there was one to answer.
func (o *op) tsigError(v tsig.Verified, err error) []byte {
	rcode, code := uint16(rcodeNotAuth), uint16(tsig.BadSig)
	var te *tsig.Error
	if errors.As(err, &te) {
		rcode, code = te.Rcode, te.TSIGError
	}
	r := o.header(rcode)
	if err := r.Pack(); err != nil {
		return nil
	}
	if !v.Signed || code == 0 {
		return r.Data
	}
	resp, serr := tsig.SignError(r.Data, v, code, o.now)
	if serr != nil {
		return r.Data
	}
	return resp
}

// notified handles a NOTIFY: from one of a secondary zone's primaries (signed with the zone's key
// when it has one) it starts a refresh and is acknowledged; from anyone else it is refused.
func (m *Manager) notified(o *op, z *Zone) []byte {
	if s := z.conf(); z.sec == nil || !o.permitted(s, primaryNets(s.Primaries)) {
		m.log.Info("NOTIFY refused", "zone", z.Origin(), "client", o.req.Client.String())
		return o.reply(rcodeNotAuth, nil)
	}
	select {
	case z.sec.wake <- refreshRequest{}:
	default: // a refresh is already asked for
	}
	m.log.Debug("NOTIFY received", "zone", z.Origin(), "client", o.req.Client.String())
	return o.reply(0, nil)
}

// primaryNets are the primaries' addresses as host prefixes: NOTIFY is accepted from them.
func primaryNets(ps []netip.AddrPort) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		a := p.Addr().Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}

// transferOut answers AXFR and IXFR for a zone whose lists allow the client.
func (m *Manager) transferOut(o *op, z *Zone) []byte {
	cur := z.cur.Load()
	if cur == nil || z.expired.Load() {
		return o.reply(rcodeServFail, nil)
	}
	if s := z.conf(); !o.permitted(s, s.AllowTransfer) {
		m.log.Info("transfer refused", "zone", z.Origin(), "client", o.req.Client.String(), "signed", o.signed.Signed)
		return o.reply(rcodeNotAuth, nil)
	}
	var diffs []zone.Diff
	incremental := false
	if o.req.QType == dns.TypeIXFR {
		have, ok := ixfrSerial(o.msg)
		if !ok {
			return o.reply(rcodeFormErr, nil)
		}
		if !serialNewer(cur.Serial(), have) {
			// Up to date (or newer than us): the SOA alone says so (RFC 1995 §2).
			return o.reply(0, []dns.RR{cur.SOA})
		}
		if o.req.Stream == nil {
			// Over UDP the answer would rarely fit: the SOA alone tells the client to ask
			// again over TCP (RFC 1995 §2).
			return o.reply(0, []dns.RR{cur.SOA})
		}
		if z.journal != nil {
			diffs, incremental = z.journal.Since(have)
			if incremental && (len(diffs) == 0 || diffs[len(diffs)-1].To.Serial != cur.Serial()) {
				incremental = false // the journal lags the zone in force
			}
		}
	}
	if o.req.Stream == nil {
		return o.reply(rcodeNotImp, nil) // AXFR is a TCP exchange (RFC 5936 §4.2)
	}
	treq := &transfer.Request{
		ID:         o.req.ID,
		Question:   transfer.Question{Name: o.req.QName, Type: o.req.QType, Class: o.req.QClass},
		Key:        o.keyOrNil(),
		RequestMAC: o.signed.MAC,
	}
	var w *transfer.Writer
	if o.req.Frames != nil {
		w = transfer.NewFramedWriter(treq, o.req.Frames)
	} else {
		w = transfer.NewWriter(treq, o.req.Stream)
	}
	var err error // WriteIXFR and WriteAXFR send the last message themselves
	if incremental {
		err = transfer.WriteIXFR(w, cur.SOA, diffs)
	} else {
		err = transfer.WriteAXFR(w, cur.All())
	}
	kind, counted := "AXFR", TransferAXFROut
	if incremental {
		kind, counted = "IXFR", TransferIXFROut
	}
	m.transfers.count(z.Origin(), counted, err)
	if err != nil {
		m.log.Info("transfer out ended early", "zone", z.Origin(), "client", o.req.Client.String(), "kind", kind, "err", err)
		return nil
	}
	m.log.Info("transfer out", "zone", z.Origin(), "client", o.req.Client.String(), "kind", kind, "serial", cur.Serial())
	return nil
}

func (o *op) keyOrNil() *tsig.Key {
	if !o.signed.Signed {
		return nil
	}
	k := o.signed.Key
	return &k
}

// ixfrSerial is the client's serial: the SOA in the authority section of an IXFR request.
func ixfrSerial(m *dns.Msg) (uint32, bool) {
	if len(m.Ns) != 1 {
		return 0, false
	}
	soa, ok := m.Ns[0].(*dns.SOA)
	if !ok {
		return 0, false
	}
	return soa.Serial, true
}

// update applies a dynamic update to a primary zone whose update list allows the client. The
// change is journaled, served at once, written back to the zone file, and sent on to the
// secondaries by NOTIFY (they fetch it by IXFR).
func (m *Manager) update(o *op, z *Zone) []byte {
	if z.sec != nil || z.conf().IsProducedCatalog() {
		return o.reply(rcodeNotAuth, nil) // updates go to the primary (RFC 2136 §6 allows refusing)
	}
	if s := z.conf(); len(s.AllowUpdate) == 0 || !o.permitted(s, s.AllowUpdate) {
		m.log.Info("UPDATE refused", "zone", z.Origin(), "client", o.req.Client.String(), "signed", o.signed.Signed)
		return o.reply(rcodeNotAuth, nil) // as Knot answers an update its ACL denies
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.zone(z.Origin()) != z {
		return o.reply(rcodeServFail, nil)
	}
	cur := z.data()
	if cur == nil {
		return o.reply(rcodeServFail, nil)
	}
	res := update.Apply(cur, o.msg)
	if res.Rcode != 0 || res.Diff == nil {
		if res.Rcode != 0 {
			m.log.Info("UPDATE failed", "zone", z.Origin(), "client", o.req.Client.String(), "rcode", dns.RcodeToString[res.Rcode], "reason", res.Reason)
		}
		return o.reply(res.Rcode, nil)
	}
	next, err := cur.Apply(*res.Diff)
	if err != nil {
		m.log.Info("UPDATE would break the zone; nothing changed", "zone", z.Origin(), "client", o.req.Client.String(), "err", err)
		return o.reply(rcodeRefused, nil)
	}
	if z.journal == nil {
		m.openJournal(z)
	}
	m.commit(z, next, []zone.Diff{*res.Diff}, "dynamic update from "+o.req.Client.Addr().String())
	m.saveFile(z, next)
	return o.reply(0, nil)
}

// RefreshTimeout bounds how long a control request waits for a refresh it asked for.
const RefreshTimeout = 2 * time.Minute

// Refresh asks a secondary to check its primaries now (and transfer when they have a newer
// serial), and waits for the outcome.
func (m *Manager) Refresh(origin string) error { return m.refreshWait(origin, false) }

// Retransfer asks a secondary for a whole new copy by AXFR now, whatever the serials.
func (m *Manager) Retransfer(origin string) error { return m.refreshWait(origin, true) }

func (m *Manager) refreshWait(origin string, full bool) error {
	ctx, cancel := context.WithTimeout(m.ctx, RefreshTimeout)
	defer cancel()
	return m.refreshNow(ctx, origin, full)
}

func (m *Manager) refreshNow(ctx context.Context, origin string, full bool) error {
	z := m.zone(canonical(origin))
	if z == nil {
		return errNoZone(origin)
	}
	if z.sec == nil {
		return errNotSecondary(origin)
	}
	done := make(chan error, 1)
	select {
	case z.sec.wake <- refreshRequest{full: full, done: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeSigned answers a QUERY signed with TSIG (a secondary's SOA check, as Knot and BIND send
// them): the signature is checked, answer gives the response to the request without its TSIG, and
// the response is signed with the request's key (RFC 8945 §5.3).
func (m *Manager) ServeSigned(req *query.Request, out []byte, answer func(*query.Request, []byte) []byte) []byte {
	now := m.now()
	v, err := tsig.Verify(req.Wire, m.keyring(), nil, false, now)
	if err != nil {
		o := &op{req: req, now: now, msg: &dns.Msg{Data: req.Wire}}
		if o.msg.Unpack() != nil || len(o.msg.Question) != 1 {
			o.msg = nil
		}
		m.log.Info("signed query with a bad signature refused", "client", req.Client.String(), "err", err)
		return o.tsigError(v, err)
	}
	inner := &query.Request{Wire: v.Stripped, Client: req.Client, Transport: req.Transport}
	if inner.Parse() != query.Accept {
		return nil
	}
	resp := answer(inner, out)
	if len(resp) == 0 {
		return nil
	}
	signed, _, err := tsig.Sign(resp, v.Key, v.MAC, false, now)
	if err != nil {
		return nil
	}
	return signed
}
