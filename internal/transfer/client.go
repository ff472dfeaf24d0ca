// Package transfer speaks the zone-transfer protocol: it asks a primary for its SOA (and a parent
// for a zone's DS, the one other question the zone manager asks another server), pulls a zone
// with AXFR (RFC 5936) or IXFR (RFC 1995), sends NOTIFY (RFC 1996), and packs outgoing transfers,
// every message TSIG-signed (RFC 8945) when a key is configured. It does no scheduling and keeps no
// zones: the zone manager decides when to transfer and what to do with the result. An incoming
// transfer is checked completely before it is returned, so a half-received or foreign zone can
// never replace a good one.
package transfer

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/tsig"
	"warden/internal/wire"
	"warden/internal/zone"
)

// Peer is a server to transfer from or notify.
type Peer struct {
	Addr netip.AddrPort
	Key  *tsig.Key // nil: messages are not signed
	// Timeout bounds the whole exchange; 0 means 30 s for transfers and 5 s for SOA and NOTIFY.
	Timeout time.Duration
}

// Limits bound what one incoming transfer may bring.
type Limits struct {
	MaxRecords int   // 0 means 10,000,000
	MaxBytes   int64 // message bytes received; 0 means no limit beyond MaxRecords
}

const defaultMaxRecords = 10_000_000

// Result is a checked, complete incoming transfer.
type Result struct {
	SOA *dns.SOA // the primary's SOA after the transfer
	// Full is the whole zone, SOA first and no closing SOA, when the reply was AXFR or an IXFR
	// answered AXFR-style.
	Full []dns.RR
	// Diffs are the changes, oldest first, when the reply to IXFR was incremental.
	Diffs []zone.Diff
	// UpToDate says IXFR was answered with only the SOA, its serial not newer than ours.
	UpToDate bool
	Messages int
	Bytes    int64
}

// QuerySOA asks p for the SOA of origin over UDP, and again over TCP when the answer is truncated.
// The answer must come from an authoritative server and match the question.
func QuerySOA(ctx context.Context, p Peer, origin string) (*dns.SOA, error) {
	origin = fqdnLower(origin)
	ctx, cancel := withTimeout(ctx, p.Timeout, 5*time.Second)
	defer cancel()
	q, err := newQuery(origin, dns.TypeSOA, nil, p.Key, dns.OpcodeQuery)
	if err != nil {
		return nil, err
	}
	resp, err := exchangeUDP(ctx, p.Addr, q)
	if err != nil {
		return nil, fmt.Errorf("SOA %s from %s: %w", origin, p.Addr, err)
	}
	m, err := q.checkResponse(resp)
	if err == nil && m.Truncated {
		if resp, err = exchangeTCP(ctx, p.Addr, q.wire); err == nil {
			m, err = q.checkResponse(resp)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("SOA %s from %s: %w", origin, p.Addr, err)
	}
	if !m.Authoritative {
		return nil, fmt.Errorf("SOA %s from %s: answer is not authoritative (AA not set)", origin, p.Addr)
	}
	for _, rr := range m.Answer {
		if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, origin) && soa.Hdr.Class == dns.ClassINET {
			return soa, nil
		}
	}
	return nil, fmt.Errorf("SOA %s from %s: no SOA record for %s in the answer", origin, p.Addr, origin)
}

// AXFR transfers the whole zone origin from p over TCP.
func AXFR(ctx context.Context, p Peer, origin string, limits Limits) (*Result, error) {
	return transfer(ctx, p, fqdnLower(origin), dns.TypeAXFR, nil, limits)
}

// IXFR asks p over TCP for the changes since have (RFC 1995). The reply may be incremental
// (Result.Diffs), the whole zone (Result.Full) or, when we are current, only the SOA
// (Result.UpToDate).
func IXFR(ctx context.Context, p Peer, origin string, have *dns.SOA, limits Limits) (*Result, error) {
	if have == nil {
		return nil, errors.New("IXFR needs the SOA of the version we have")
	}
	return transfer(ctx, p, fqdnLower(origin), dns.TypeIXFR, have, limits)
}

func transfer(ctx context.Context, p Peer, origin string, qtype uint16, have *dns.SOA, limits Limits) (*Result, error) {
	name := fmt.Sprintf("%s %s from %s", dns.TypeToString[qtype], origin, p.Addr)
	ctx, cancel := withTimeout(ctx, p.Timeout, 30*time.Second)
	defer cancel()
	q, err := newQuery(origin, qtype, have, p.Key, dns.OpcodeQuery)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	conn, err := dialTCP(ctx, p.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer conn.Close()
	if err := writeFrame(conn, q.wire); err != nil {
		return nil, fmt.Errorf("%s: send query: %w", name, err)
	}
	r := newReader(origin, q.id, qtype, have, limits)
	var sv *tsig.StreamVerifier
	if p.Key != nil {
		sv = tsig.NewStreamVerifier(*p.Key, q.mac)
	}
	for !r.done {
		msg, err := readFrame(conn)
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("connection closed")
			}
			return nil, fmt.Errorf("%s: after %d messages and %d records: %w", name, r.messages, r.records, err)
		}
		if sv != nil {
			stripped, err := sv.Next(msg, time.Now())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, rcodeFirst(msg, err))
			}
			msg = stripped
		}
		if err := r.feed(msg); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if sv != nil {
		if err := sv.Done(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	res, err := r.result()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

// rcodeFirst puts a failed response's rcode before its TSIG error: a server that refuses a
// transfer says so in the rcode, and that is the more useful half of the message.
func rcodeFirst(msg []byte, err error) error {
	if len(msg) >= 4 {
		if rc := uint16(msg[3] & 0x0F); rc != dns.RcodeSuccess {
			return fmt.Errorf("server answered %s: %w", rcodeName(rc), err)
		}
	}
	return err
}

func rcodeName(rc uint16) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

func fqdnLower(s string) string {
	s = strings.ToLower(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func withTimeout(ctx context.Context, d, def time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = def
	}
	return context.WithTimeout(ctx, d)
}

// query is one request as sent, with what its answer must echo.
type query struct {
	id     uint16
	origin string
	qtype  uint16
	opcode uint8
	key    *tsig.Key
	wire   []byte
	mac    []byte // the request's MAC, prior for the response's
}

func newQuery(origin string, qtype uint16, soa *dns.SOA, key *tsig.Key, opcode uint8) (*query, error) {
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	q := &query{id: binary.BigEndian.Uint16(idb[:]), origin: origin, qtype: qtype, opcode: opcode, key: key}
	m := dns.NewMsg(origin, qtype)
	if m == nil {
		return nil, fmt.Errorf("query type %d is not known", qtype)
	}
	m.ID, m.RecursionDesired, m.Opcode = q.id, false, opcode
	if soa != nil {
		c := soa.Clone().(*dns.SOA)
		c.Hdr.Name, c.Hdr.Class = origin, dns.ClassINET
		if opcode == dns.OpcodeNotify {
			m.Authoritative = true
			m.Answer = []dns.RR{c}
		} else {
			m.Ns = []dns.RR{c}
		}
	}
	if err := m.Pack(); err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	q.wire = m.Data
	if key != nil {
		signed, mac, err := tsig.Sign(q.wire, *key, nil, false, time.Now())
		if err != nil {
			return nil, err
		}
		q.wire, q.mac = signed, mac
	}
	return q, nil
}

// checkResponse verifies the TSIG of a single-message response and that it answers q: ID,
// question, opcode, rcode NOERROR.
func (q *query) checkResponse(resp []byte) (*dns.Msg, error) {
	if q.key != nil {
		ring, err := tsig.NewKeyring(*q.key)
		if err != nil {
			return nil, err
		}
		v, err := tsig.Verify(resp, ring, q.mac, false, time.Now())
		if err != nil {
			return nil, rcodeFirst(resp, err)
		}
		if !v.Signed {
			return nil, rcodeFirst(resp, errors.New("response is not signed"))
		}
		resp = v.Stripped
	}
	m, err := wire.Unpack(resp)
	if err != nil {
		return nil, fmt.Errorf("malformed response: %w", err)
	}
	if err := q.checkHeader(m, true); err != nil {
		return nil, err
	}
	return m, nil
}

// checkHeader checks that m answers q; needQuestion says the question must be present (later
// messages of a transfer may leave it out, RFC 5936 §2.2).
func (q *query) checkHeader(m *dns.Msg, needQuestion bool) error {
	switch {
	case m.ID != q.id:
		return fmt.Errorf("response ID %d, want %d", m.ID, q.id)
	case !m.Response:
		return errors.New("message is not a response (QR not set)")
	case m.Opcode != q.opcode:
		return fmt.Errorf("response opcode %s, want %s", dns.OpcodeToString[m.Opcode], dns.OpcodeToString[q.opcode])
	case m.Rcode != dns.RcodeSuccess:
		return fmt.Errorf("server answered %s", rcodeName(m.Rcode))
	case len(m.Question) > 1:
		return fmt.Errorf("response has %d questions", len(m.Question))
	case len(m.Question) == 0 && needQuestion:
		return errors.New("response has no question")
	}
	if len(m.Question) == 1 {
		qr := m.Question[0]
		if !strings.EqualFold(qr.Header().Name, q.origin) || dns.RRToType(qr) != q.qtype || qr.Header().Class != dns.ClassINET {
			return fmt.Errorf("response is for %s %s %s, not the question asked", qr.Header().Name,
				dns.ClassToString[qr.Header().Class], dns.TypeToString[dns.RRToType(qr)])
		}
	}
	return nil
}

func dialTCP(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A cancelled context unblocks a pending read at once rather than at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return &stoppingConn{Conn: conn, stop: stop}, nil
}

type stoppingConn struct {
	net.Conn
	stop func() bool
}

func (c *stoppingConn) Close() error { c.stop(); return c.Conn.Close() }

func writeFrame(w io.Writer, msg []byte) error {
	if len(msg) > 0xFFFF {
		return fmt.Errorf("message of %d bytes is too long for TCP", len(msg))
	}
	out := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(out, uint16(len(msg)))
	copy(out[2:], msg)
	_, err := w.Write(out)
	return err
}

// readFrame reads one length-prefixed message into its own buffer: records unpacked from it
// outlive the read.
func readFrame(r io.Reader) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}

func exchangeTCP(ctx context.Context, addr netip.AddrPort, wire []byte) ([]byte, error) {
	conn, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := writeFrame(conn, wire); err != nil {
		return nil, err
	}
	return readFrame(conn)
}

// exchangeUDP sends q and waits for a datagram with its ID; others (late answers to earlier
// queries, forgeries) are skipped until the context ends.
func exchangeUDP(ctx context.Context, addr netip.AddrPort, q *query) ([]byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr.String())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(q.wire); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if n >= 12 && binary.BigEndian.Uint16(buf) == q.id && buf[2]&0x80 != 0 {
			return buf[:n:n], nil
		}
	}
}

// reader follows the answer records of a transfer across messages, checking each message and
// record, until the closing SOA. It does no I/O, so a fuzzer can feed it anything.
type reader struct {
	q        query
	have     *dns.SOA // IXFR: the version we hold
	limits   Limits
	first    *dns.SOA // the opening SOA: the version being transferred
	rrs      []dns.RR // every answer record after the opening SOA
	done     bool
	upToDate bool
	messages int
	records  int
	bytes    int64
	// incremental says the reply is RFC 1995's diff sequence; soas counts the SOAs in it, so the
	// closing one (the new serial where a diff's old SOA would stand) can be told apart.
	incremental bool
	soas        int
}

func newReader(origin string, id, qtype uint16, have *dns.SOA, limits Limits) *reader {
	if limits.MaxRecords <= 0 {
		limits.MaxRecords = defaultMaxRecords
	}
	return &reader{q: query{id: id, origin: origin, qtype: qtype, opcode: dns.OpcodeQuery}, have: have, limits: limits}
}

// feed takes the next message (its TSIG already checked and removed).
func (r *reader) feed(msg []byte) error {
	if r.done {
		return errors.New("message after the closing SOA")
	}
	r.messages++
	r.bytes += int64(len(msg))
	if r.limits.MaxBytes > 0 && r.bytes > r.limits.MaxBytes {
		return fmt.Errorf("message %d: transfer exceeds the limit of %d bytes", r.messages, r.limits.MaxBytes)
	}
	m, err := wire.Unpack(msg)
	if err != nil {
		return fmt.Errorf("message %d: malformed: %w", r.messages, err)
	}
	if err := r.q.checkHeader(m, r.messages == 1); err != nil {
		return fmt.Errorf("message %d: %w", r.messages, err)
	}
	if m.Truncated {
		return fmt.Errorf("message %d: truncated (TC set) on TCP", r.messages)
	}
	if len(m.Answer) == 0 {
		return fmt.Errorf("message %d: no answer records", r.messages)
	}
	for i, rr := range m.Answer {
		if err := r.add(rr); err != nil {
			return fmt.Errorf("message %d, record %d (%s): %w", r.messages, i+1, rr, err)
		}
		if r.done && i != len(m.Answer)-1 {
			return fmt.Errorf("message %d: %d records after the closing SOA", r.messages, len(m.Answer)-1-i)
		}
	}
	// RFC 1995 §2: an IXFR answered with one message holding only the SOA says we are current.
	if r.q.qtype == dns.TypeIXFR && r.messages == 1 && len(m.Answer) == 1 && !r.done {
		r.done, r.upToDate = true, true
	}
	return nil
}

func (r *reader) add(rr dns.RR) error {
	h := rr.Header()
	if h.Class != dns.ClassINET {
		return fmt.Errorf("class %s, want IN", dns.ClassToString[h.Class])
	}
	if !inZone(h.Name, r.q.origin) {
		return fmt.Errorf("owner is outside %s", r.q.origin)
	}
	if r.records++; r.records > r.limits.MaxRecords {
		return fmt.Errorf("transfer exceeds the limit of %d records", r.limits.MaxRecords)
	}
	soa, isSOA := rr.(*dns.SOA)
	if isSOA && !strings.EqualFold(h.Name, r.q.origin) {
		return errors.New("SOA below the apex")
	}
	if r.first == nil {
		if !isSOA {
			return errors.New("transfer does not start with the SOA")
		}
		r.first = soa
		return nil
	}
	if len(r.rrs) == 0 && r.q.qtype == dns.TypeIXFR && isSOA {
		r.incremental = true
	}
	r.rrs = append(r.rrs, rr)
	if !isSOA {
		return nil
	}
	r.soas++
	switch {
	case !r.incremental:
		r.done = true // AXFR or AXFR-style: the second SOA closes the zone
	case r.soas%2 == 1 && soa.Serial == r.first.Serial && r.soas > 1:
		r.done = true // where a diff's From SOA would come, the new version's SOA ends the reply
	}
	if r.done && soa.Serial != r.first.Serial {
		return fmt.Errorf("closing SOA has serial %d, the opening one %d", soa.Serial, r.first.Serial)
	}
	return nil
}

func inZone(name, origin string) bool {
	if origin == "." {
		return true
	}
	name = strings.ToLower(name)
	return name == origin || strings.HasSuffix(name, "."+origin)
}

// result checks the finished transfer and shapes it into a Result.
func (r *reader) result() (*Result, error) {
	if !r.done {
		return nil, fmt.Errorf("transfer ended before the closing SOA, after %d records", r.records)
	}
	res := &Result{SOA: r.first, Messages: r.messages, Bytes: r.bytes}
	switch {
	case r.upToDate:
		if r.have != nil && dns.CompareSerial(r.first.Serial, r.have.Serial) > 0 {
			return nil, fmt.Errorf("server answered only its SOA, serial %d, newer than ours (%d): it offers no incremental transfer", r.first.Serial, r.have.Serial)
		}
		res.UpToDate = true
	case r.incremental:
		diffs, err := r.diffs()
		if err != nil {
			return nil, err
		}
		res.Diffs = diffs
	default:
		res.Full = make([]dns.RR, 0, len(r.rrs))
		res.Full = append(res.Full, r.first)
		res.Full = append(res.Full, r.rrs[:len(r.rrs)-1]...)
	}
	return res, nil
}

// diffs splits an incremental reply, [SOA old, removed…, SOA next, added…]*, checking that the
// versions chain from ours to the new one.
func (r *reader) diffs() ([]zone.Diff, error) {
	var out []zone.Diff
	var d *zone.Diff
	adding := false
	for _, rr := range r.rrs[:len(r.rrs)-1] {
		soa, isSOA := rr.(*dns.SOA)
		switch {
		case isSOA && (d == nil || adding):
			if d != nil {
				out = append(out, *d)
			}
			if want := r.chainFrom(out); soa.Serial != want {
				return nil, fmt.Errorf("diff %d starts at serial %d, want %d", len(out)+1, soa.Serial, want)
			}
			d, adding = &zone.Diff{From: soa}, false
		case isSOA:
			d.To, adding = soa, true
		case adding:
			d.Added = append(d.Added, rr)
		default:
			d.Removed = append(d.Removed, rr)
		}
	}
	if d == nil || !adding {
		return nil, errors.New("incremental reply ends inside a diff")
	}
	out = append(out, *d)
	if last := out[len(out)-1].To.Serial; last != r.first.Serial {
		return nil, fmt.Errorf("diffs end at serial %d, the new version is %d", last, r.first.Serial)
	}
	return out, nil
}

func (r *reader) chainFrom(done []zone.Diff) uint32 {
	if len(done) > 0 {
		return done[len(done)-1].To.Serial
	}
	if r.have != nil {
		return r.have.Serial
	}
	return 0
}
