package pipeline

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"warden/internal/cookie"
	"warden/internal/query"
	"warden/internal/rrl"
	"warden/internal/wire"
)

// The last step of every response, once its bytes are known and before the listener sends them:
// response rate limiting (UDP only, and not for a client that presented a valid server cookie)
// and the server cookie in the OPT record (RFC 7873). Both read the response itself (its rcode,
// its SOA or delegation owner), so they apply alike to every stage and to answers given later
// (resolved ones), through a wrapper around the listener's Deferrer.

const (
	optionCookie = 10
	typeNS       = 2
	typeOPT      = 41
	optRRLen     = 11 // root owner, type, class, TTL, RDLENGTH
)

// rcodeBadCookie is RFC 7873 §8's BADCOOKIE, an extended rcode carried in the OPT record.
const rcodeBadCookie = 23

// cookieOnly answers a query for a server cookie alone (RFC 7873 §5.4): QUERY, no question, a
// COOKIE option. The answer is empty, with the rcode the RFC gives: NOERROR for a client cookie
// alone or with a valid server cookie, BADCOOKIE for an invalid one; finish adds the fresh
// server cookie as to any response. False when req is not such a query (cookies off, no cookie
// or a malformed one): it then gets the FORMERR a query without a question gets.
func (p *Pipeline) cookieOnly(snap *Snapshot, req *query.Request, out []byte) ([]byte, bool) {
	if snap.Cookies == nil || req.CookieLen == 0 || req.QuestionEnd != 0 || req.Opcode != 0 || req.HasTSIG {
		return nil, false
	}
	now := req.Received
	if now.IsZero() {
		now = time.Now()
	}
	var rcode uint16
	if sc := req.ServerCookie(); sc != nil {
		if valid, _ := snap.Cookies.Check(req.ClientCookie(), sc, req.Client.Addr(), uint32(now.Unix())); !valid {
			rcode = rcodeBadCookie
		}
	}
	return p.local(out, req, rcode, wire.NoEDE), true
}

// guardState is what the last step needs of a query, taken from it when it is answered or
// deferred (the listener reuses the Request afterwards).
type guardState struct {
	client   netip.Addr
	datagram bool
	signed   bool // a TSIG follows the OPT record: the response may not change
	// A client cookie to answer (cookies on and one was sent), the server cookie to send back
	// when the client's is valid and young, and whether it was valid.
	hasCookie, reuse, valid bool
	client8                 [query.ClientCookieLen]byte
	server                  [cookie.Len]byte
	limit                   int // the size limit, the server cookie included
}

func (p *Pipeline) guardStateOf(snap *Snapshot, req *query.Request, now time.Time) guardState {
	st := guardState{
		client:   req.Client.Addr(),
		datagram: req.Transport.Datagram(),
		signed:   req.HasTSIG,
		limit:    p.limits.Limit(req),
	}
	if snap.Cookies != nil && req.CookieLen > 0 {
		st.hasCookie = true
		copy(st.client8[:], req.ClientCookie())
		if sc := req.ServerCookie(); sc != nil {
			st.valid, st.reuse = snap.Cookies.Check(st.client8[:], sc, st.client, uint32(now.Unix()))
			if st.reuse {
				copy(st.server[:], sc)
			}
		}
	}
	return st
}

// guarded is ServeDNS when cookies or rate limiting are on.
func (p *Pipeline) guarded(snap *Snapshot, req *query.Request, out []byte) []byte {
	var g *laterGuard
	if req.Later != nil {
		g = laterGuards.Get().(*laterGuard)
		g.p, g.snap, g.inner = p, snap, req.Later
		req.Later = g
	}
	res := p.stages(snap, req, out)
	if g != nil {
		req.Later = g.inner
		*g = laterGuard{}
		laterGuards.Put(g)
	}
	if len(res) == 0 || snap.RateLimit == nil && req.CookieLen == 0 {
		return res // nothing to limit, no cookie to answer: the common query of a load generator
	}
	now := req.Received // read once per batch by the UDP worker
	if now.IsZero() {
		now = time.Now()
	}
	st := p.guardStateOf(snap, req, now)
	return finish(snap, &st, res, now)
}

// finish limits the rate of msg and adds the server cookie; nil means no response.
func finish(snap *Snapshot, st *guardState, msg []byte, now time.Time) []byte {
	if snap.RateLimit != nil && st.datagram && !st.valid {
		var names [2][query.MaxNameLen]byte
		if k, ok := rateKey(msg, st.client, &names); ok {
			switch snap.RateLimit.Check(&k, now) {
			case rrl.Drop:
				return nil
			case rrl.Slip:
				msg = truncate(msg)
			}
		}
	}
	if st.hasCookie && !st.signed {
		msg = addCookie(snap.Cookies, st, msg, now)
	}
	return msg
}

// addCookie appends the COOKIE option, the client's cookie and the server's, to the OPT record
// that ends msg. Renderers kept room for it (wire.Limits.MaxSize); a response without an OPT
// record at its end (none was asked for) is left alone.
func addCookie(keys *cookie.Keyring, st *guardState, msg []byte, now time.Time) []byte {
	opt, ok := lastOPT(msg)
	if !ok || len(msg)+query.CookieReserve > st.limit {
		return msg
	}
	if !st.reuse {
		keys.Make(&st.server, st.client8[:], st.client, uint32(now.Unix()))
	}
	rdlen := binary.BigEndian.Uint16(msg[opt+9:])
	binary.BigEndian.PutUint16(msg[opt+9:], rdlen+query.CookieReserve)
	msg = append(msg, 0, optionCookie, 0, query.ClientCookieLen+cookie.Len)
	msg = append(msg, st.client8[:]...)
	return append(msg, st.server[:]...)
}

// truncate turns msg into the empty TC=1 response a slipped answer is: header and question,
// rcode and AA kept, the OPT record kept, every other record gone.
func truncate(msg []byte) []byte {
	qend, ok := questionEnd(msg)
	if !ok {
		return nil
	}
	var ar uint16
	if opt, ok := lastOPT(msg); ok {
		n := copy(msg[qend:], msg[opt:])
		msg = msg[:qend+n]
		ar = 1
	} else {
		msg = msg[:qend]
	}
	msg[2] |= query.FlagTC >> 8
	binary.BigEndian.PutUint16(msg[6:], 0)
	binary.BigEndian.PutUint16(msg[8:], 0)
	binary.BigEndian.PutUint16(msg[10:], ar)
	return msg
}

// rateKey reads the key of response msg to client: the kind of answer and the name it is
// counted under, as BIND keys it (see rrl.Class), its names written in names. False for bytes
// that are not a response.
func rateKey(msg []byte, client netip.Addr, names *[2][query.MaxNameLen]byte) (rrl.Key, bool) {
	k := rrl.Key{Client: client}
	if len(msg) < query.HeaderLen {
		return k, false
	}
	rcode := msg[3] & 0xF
	an := int(binary.BigEndian.Uint16(msg[6:]))
	ns := int(binary.BigEndian.Uint16(msg[8:]))
	if rcode != 0 && rcode != 3 || binary.BigEndian.Uint16(msg[4:]) != 1 {
		k.Class = rrl.Error
		return k, true
	}
	n, off, ok := readName(msg, query.HeaderLen, &names[0])
	if !ok || off+4 > len(msg) {
		return k, false
	}
	k.QType = binary.BigEndian.Uint16(msg[off:])
	k.Name = names[0][:n]
	off += 4
	if rcode == 0 && an > 0 {
		k.Class = rrl.Answer
		return k, true
	}
	// A negative answer or a referral: the owner of the SOA or NS records in the authority
	// section, after any CNAMEs in the answer.
	for i := 0; i < an; i++ {
		if off, ok = skipRecord(msg, off); !ok {
			return k, false
		}
	}
	owner := &names[1]
	var soa, deleg []byte
	for i := 0; i < ns; i++ {
		n, end, ok := readName(msg, off, owner)
		if !ok || end+10 > len(msg) {
			return k, false
		}
		switch binary.BigEndian.Uint16(msg[end:]) {
		case typeSOA:
			soa = owner[:n]
		case typeNS:
			deleg = owner[:n]
		}
		if soa != nil || deleg != nil {
			break
		}
		if off, ok = skipRecord(msg, off); !ok {
			return k, false
		}
	}
	switch {
	case rcode == 3:
		k.Class, k.QType, k.Name = rrl.NXDomain, 0, soa
	case soa == nil && deleg != nil && msg[2]&(query.FlagAA>>8) == 0:
		k.Class, k.QType, k.Name = rrl.Referral, 0, deleg
	default:
		k.Class = rrl.NoData
	}
	return k, true
}

// readName copies the name at off in msg, lower case and uncompressed, into dst; it returns its
// length and the offset past the name where it stands.
func readName(msg []byte, off int, dst *[query.MaxNameLen]byte) (n, next int, ok bool) {
	name, next, err := wire.ReadName(msg, off, dst[:0], true)
	if err != nil {
		return 0, 0, false
	}
	wire.Lower(name[:0], name) // in place
	return len(name), next, true
}

// skipRecord returns the offset past the record at off.
func skipRecord(msg []byte, off int) (int, bool) {
	off, ok := skipName(msg, off)
	if !ok || off+10 > len(msg) {
		return 0, false
	}
	end := off + 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
	return end, end <= len(msg)
}

func questionEnd(msg []byte) (int, bool) {
	if len(msg) < query.HeaderLen {
		return 0, false
	}
	if binary.BigEndian.Uint16(msg[4:]) == 0 {
		return query.HeaderLen, true
	}
	off, ok := skipName(msg, query.HeaderLen)
	return off + 4, ok && off+4 <= len(msg)
}

// lastOPT returns the offset of the OPT record when it is the last record of msg. The shapes
// internal/wire writes (bare, or with one Extended DNS Error) are recognised at once; anything
// else is walked.
func lastOPT(msg []byte) (int, bool) {
	if isOPT(msg, len(msg)-optRRLen, 0) {
		return len(msg) - optRRLen, true
	}
	if isOPT(msg, len(msg)-optRRLen-6, 6) {
		return len(msg) - optRRLen - 6, true
	}
	off, ok := questionEnd(msg)
	if !ok {
		return 0, false
	}
	records := int(binary.BigEndian.Uint16(msg[6:])) + int(binary.BigEndian.Uint16(msg[8:])) + int(binary.BigEndian.Uint16(msg[10:]))
	last := -1
	for range records {
		start := off
		if off, ok = skipRecord(msg, off); !ok {
			return 0, false
		}
		last = start
	}
	if last < 0 || off != len(msg) {
		return 0, false
	}
	n := len(msg) - last - optRRLen
	return last, n >= 0 && isOPT(msg, last, n)
}

// isOPT says whether an OPT record with rdlen bytes of options starts at off, a root owner.
func isOPT(msg []byte, off, rdlen int) bool {
	return off >= query.HeaderLen && off+optRRLen+rdlen == len(msg) && msg[off] == 0 &&
		binary.BigEndian.Uint16(msg[off+1:]) == typeOPT && int(binary.BigEndian.Uint16(msg[off+9:])) == rdlen
}

// laterGuard stands in for the listener's Deferrer while the stages run, so that an answer given
// later goes through finish too. Pooled: most queries are answered at once and never call Defer.
type laterGuard struct {
	p     *Pipeline
	snap  *Snapshot
	inner query.Deferrer
}

var laterGuards = sync.Pool{New: func() any { return new(laterGuard) }}

func (g *laterGuard) Defer(req *query.Request) query.Replier {
	r := &guardedReplier{snap: g.snap, inner: g.inner.Defer(req)}
	r.st = g.p.guardStateOf(g.snap, req, time.Now())
	return r
}

type guardedReplier struct {
	snap  *Snapshot
	st    guardState
	inner query.Replier
}

func (r *guardedReplier) Reply(req *query.Request, msg []byte) {
	if msg = finish(r.snap, &r.st, msg, time.Now()); len(msg) > 0 {
		r.inner.Reply(req, msg)
	}
}

func skipName(msg []byte, off int) (int, bool) {
	next, err := wire.SkipName(msg, off)
	return next, err == nil
}
