package dnstap

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"warden/internal/query"
)

// referencePayload encodes one half of e with protowire's general functions, field by field as
// dnstap.proto has them: what the framer's byte-level encoding must reproduce.
func referencePayload(identity, version []byte, e *entry, response bool) []byte {
	var m []byte
	typ := queryType[e.role]
	if response {
		typ = responseType[e.role]
	}
	varint := func(f protowire.Number, v uint64) {
		m = protowire.AppendVarint(protowire.AppendTag(m, f, protowire.VarintType), v)
	}
	byts := func(f protowire.Number, v []byte) {
		m = protowire.AppendBytes(protowire.AppendTag(m, f, protowire.BytesType), v)
	}
	addr := func(f protowire.Number, a netip.Addr) {
		if a.Is4() {
			a4 := a.As4()
			byts(f, a4[:])
			return
		}
		a16 := a.As16()
		byts(f, a16[:])
	}
	when := func(sec, nsec protowire.Number, t time.Time) {
		if t.IsZero() {
			return
		}
		varint(sec, uint64(t.Unix()))
		m = protowire.AppendFixed32(protowire.AppendTag(m, nsec, protowire.Fixed32Type), uint32(t.Nanosecond()))
	}
	varint(msgType, uint64(typ))
	if a := e.initiator.Addr(); a.IsValid() {
		varint(msgSocketFamily, map[bool]uint64{true: familyINET, false: familyV6}[a.Is4()])
	} else if a := e.responder.Addr(); a.IsValid() {
		varint(msgSocketFamily, map[bool]uint64{true: familyINET, false: familyV6}[a.Is4()])
	}
	varint(msgSocketProtocol, uint64(socketProtocol(e.transport)))
	if e.initiator.IsValid() {
		addr(msgQueryAddress, e.initiator.Addr())
	}
	if e.responder.IsValid() {
		addr(msgResponseAddress, e.responder.Addr())
	}
	if e.initiator.IsValid() {
		varint(msgQueryPort, uint64(e.initiator.Port()))
	}
	if e.responder.IsValid() {
		varint(msgResponsePort, uint64(e.responder.Port()))
	}
	when(msgQueryTimeSec, msgQueryTimeNsec, e.queried)
	if !response {
		byts(msgQueryMessage, e.query)
	}
	if len(e.zone) > 0 {
		byts(msgQueryZone, e.zone)
	}
	if response {
		when(msgResponseTimeSec, msgResponseTimeNsec, e.responded)
		byts(msgResponseMessage, e.response)
	}
	var p []byte
	if identity != nil {
		p = protowire.AppendBytes(protowire.AppendTag(p, fieldIdentity, protowire.BytesType), identity)
	}
	if version != nil {
		p = protowire.AppendBytes(protowire.AppendTag(p, fieldVersion, protowire.BytesType), version)
	}
	p = protowire.AppendBytes(protowire.AppendTag(p, fieldMessage, protowire.BytesType), m)
	return protowire.AppendVarint(protowire.AppendTag(p, fieldType, protowire.VarintType), typeMessage)
}

// TestFramerMatchesReference encodes thousands of varied entries (every role, both families,
// addresses or none, times or none, zones, messages of every length class, identities long
// enough for two-byte lengths) and checks each frame byte for byte against protowire's
// encoding, and its size against what plan said.
func TestFramerMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	blob := make([]byte, 70000)
	for i := range blob {
		blob[i] = byte(rng.IntN(256))
	}
	addrs := []netip.AddrPort{{}, netip.MustParseAddrPort("192.0.2.1:53"), netip.MustParseAddrPort("[2001:db8::1]:65535"),
		netip.MustParseAddrPort("[::ffff:198.51.100.7]:127"), netip.MustParseAddrPort("10.0.0.1:128")}
	times := []time.Time{{}, time.Unix(1_765_000_000, 999_999_999), time.Unix(5, 0), time.Unix(1<<40, 1)}
	lengths := []int{0, 1, 12, 127, 128, 300, 16383, 16384, 65535}
	idents := [][]byte{nil, []byte("warden"), blob[:200]}
	for i := range 4000 {
		var want [2][numRoles]bool
		for r := range numRoles {
			want[0][r], want[1][r] = rng.IntN(4) != 0, rng.IntN(4) != 0
		}
		identity, version := idents[rng.IntN(len(idents))], idents[rng.IntN(len(idents))]
		f := newFramer(identity, version, want)
		e := entry{role: role(rng.IntN(int(numRoles))), transport: query.Transport(rng.IntN(6)),
			initiator: addrs[rng.IntN(len(addrs))], responder: addrs[rng.IntN(len(addrs))],
			queried: times[rng.IntN(len(times))], responded: times[rng.IntN(len(times))],
			query: blob[:lengths[rng.IntN(len(lengths))]], hasResponse: rng.IntN(3) != 0}
		if e.hasResponse {
			e.response = blob[1 : 1+lengths[rng.IntN(len(lengths))]]
		}
		if rng.IntN(2) == 0 {
			e.zone = blob[2 : 2+[]int{1, 13, 255, 256}[rng.IntN(4)]]
		}
		e.normalize()
		var p plan
		f.plan(&e, &p)
		b := make([]byte, p.size)
		frames := f.put(b, &e, &p)
		var refs [][]byte
		qh, rh := f.halves(&e)
		if qh {
			refs = append(refs, referencePayload(identity, version, &e, false))
		}
		if rh {
			refs = append(refs, referencePayload(identity, version, &e, true))
		}
		if frames != len(refs) || framesIn(b) != len(refs) {
			t.Fatalf("entry %d %+v: put wrote %d frames, framesIn reads %d, want %d", i, e, frames, framesIn(b), len(refs))
		}
		rest := b
		for h, ref := range refs {
			n := int(binary.BigEndian.Uint32(rest))
			if n != len(ref) || !bytes.Equal(rest[4:4+n], ref) {
				t.Fatalf("entry %d half %d: frame of %d bytes differs from the reference of %d:\n%x\n%x", i, h, n, len(ref), rest[4:4+n], ref)
			}
			rest = rest[4+n:]
		}
		if len(rest) != 0 {
			t.Fatalf("entry %d: %d bytes left after the frames", i, len(rest))
		}
	}
}

// TestFramerRefusesWrongSize: put into room of another size writes nothing that could be
// published.
func TestFramerRefusesWrongSize(t *testing.T) {
	var want [2][numRoles]bool
	want[0][roleAuth], want[1][roleAuth] = true, true
	f := newFramer([]byte("id"), nil, want)
	e := entry{role: roleAuth, initiator: netip.MustParseAddrPort("192.0.2.1:53"), query: []byte("q"), response: []byte("r"), hasResponse: true}
	var p plan
	f.plan(&e, &p)
	n := p.size
	for _, room := range []int{n - 1, n + 1} {
		if got := f.put(make([]byte, room), &e, &p); got != 0 {
			t.Errorf("put into %d bytes (size %d) wrote %d frames", room, n, got)
		}
	}
}
