package dnstap

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"warden/internal/dnstest"
	"warden/internal/query"
	"warden/internal/upstream"
)

// message builds a query (or, with qr, its empty NOERROR answer) for name/A with the RD bit rd.
func message(t *testing.T, id uint16, name string, rd, qr bool) []byte {
	t.Helper()
	var flags uint16
	if rd {
		flags |= query.FlagRD
	}
	if qr {
		flags |= 1 << 15
	}
	w := dnstest.NewWire(id, flags)
	if err := w.Question(name, 1, 1); err != nil {
		t.Fatal(err)
	}
	return w.Bytes()
}

// TestCollectorReadsEveryRole writes one exchange of each role through fstrm_capture and reads
// the file back with dnstap-read: types, protocols, addresses, ports and the questions in the
// wire messages must be what was recorded.
func TestCollectorReadsEveryRole(t *testing.T) {
	dir := t.TempDir()
	col := dnstest.StartCollector(t, dir, "roles")
	w := Open(Config{Network: "unix", Addr: col.Socket, Identity: []byte("warden-test"), Version: []byte("v-test")})
	now := time.Now()
	client := netip.MustParseAddrPort("127.0.9.7:40001")
	udp := w.Recorder(query.UDP, true)
	udp.Record([]query.Record{
		{Received: now, Sent: now.Add(time.Millisecond), Client: client, Transport: query.UDP,
			Query: message(t, 1, "auth.example.", false, false), Response: message(t, 1, "auth.example.", false, true)},
		{Received: now, Sent: now.Add(time.Millisecond), Client: client, Transport: query.UDP,
			Query: message(t, 2, "client.example.", true, false), Response: message(t, 2, "client.example.", true, true)},
	})
	tcp := w.Recorder(query.DoT, false)
	tcp.Record([]query.Record{{Received: now, Sent: now, Client: netip.MustParseAddrPort("[::1]:40002"), Transport: query.DoT,
		Query: message(t, 3, "tls.example.", true, false), Response: message(t, 3, "tls.example.", true, true)}})
	local, server := netip.MustParseAddrPort("127.0.9.1:50000"), netip.MustParseAddrPort("127.0.9.2:53")
	w.ResolverTap().Exchanged(&upstream.Exchange{Transport: query.UDP, Local: local, Server: server,
		Query: message(t, 4, "iter.example.", false, false), Reply: message(t, 4, "iter.example.", false, true), Sent: now, Received: now,
		Zone: wireName(t, "example.")})
	w.ForwarderTap().Exchanged(&upstream.Exchange{Transport: query.TCP, Local: local, Server: server,
		Query: message(t, 5, "fwd.example.", true, false), Sent: now, Zone: wireName(t, "fwd.example.")}) // no reply: a timeout
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	col.Stop(t)
	msgs := dnstest.ReadDnstap(t, col.File)
	type want struct{ typ, proto, family, qaddr, raddr, name, zone string }
	wants := []want{
		{"AUTH_QUERY", "UDP", "INET", "127.0.9.7", "", "auth.example.", ""},
		{"AUTH_RESPONSE", "UDP", "INET", "127.0.9.7", "", "auth.example.", ""},
		{"CLIENT_QUERY", "UDP", "INET", "127.0.9.7", "", "client.example.", ""},
		{"CLIENT_RESPONSE", "UDP", "INET", "127.0.9.7", "", "client.example.", ""},
		// BIND 9.18's dnstap-read tells TCP from the rest only; the protocol field itself is
		// checked in the file below.
		{"CLIENT_QUERY", "UDP", "INET6", "::1", "", "tls.example.", ""},
		{"CLIENT_RESPONSE", "UDP", "INET6", "::1", "", "tls.example.", ""},
		{"RESOLVER_QUERY", "UDP", "INET", "127.0.9.1", "127.0.9.2", "iter.example.", "example."},
		{"RESOLVER_RESPONSE", "UDP", "INET", "127.0.9.1", "127.0.9.2", "iter.example.", "example."},
		{"FORWARDER_QUERY", "TCP", "INET", "127.0.9.1", "127.0.9.2", "fwd.example.", "fwd.example."},
	}
	if len(msgs) != len(wants) {
		t.Fatalf("dnstap-read shows %d messages, want %d: %+v", len(msgs), len(wants), msgs)
	}
	for i, wt := range wants {
		m := msgs[i]
		f := m.Fields
		if f["type"] != wt.typ || f["socket_protocol"] != wt.proto || f["socket_family"] != wt.family ||
			f["query_address"] != wt.qaddr || (wt.raddr != "" && f["response_address"] != wt.raddr) {
			t.Errorf("message %d: %v, want %+v", i, f, wt)
		}
		if f["query_zone"] != wt.zone {
			t.Errorf("message %d (%s): query_zone %q, want %q", i, wt.typ, f["query_zone"], wt.zone)
		}
		if m.Identity != "warden-test" || m.Version != "v-test" {
			t.Errorf("message %d: identity %q version %q", i, m.Identity, m.Version)
		}
		text := m.Query
		if strings.HasSuffix(wt.typ, "_RESPONSE") {
			text = m.Response
		}
		if !strings.Contains(text, ";"+wt.name+"\t") {
			t.Errorf("message %d (%s): the wire message does not ask %s:\n%s", i, wt.typ, wt.name, text)
		}
	}
	protocols := socketProtocols(t, col.File)
	if want := []uint64{1, 1, 1, 1, 3, 3, 1, 1, 2}; !slices.Equal(protocols, want) {
		t.Errorf("socket_protocol fields %v, want %v", protocols, want)
	}
	if s := w.Stats(); s.Sent != uint64(len(wants)) || s.Dropped != 0 || s.Queued != 5 {
		t.Errorf("stats %+v, want %d sent, 5 queued, none dropped", s, len(wants))
	}
}

func wireName(t *testing.T, name string) []byte {
	t.Helper()
	b, err := upstream.WireName(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// socketProtocols reads a Frame Streams file as fstrm_capture writes it (START, data frames,
// STOP) and returns each Dnstap message's socket_protocol, decoded with protowire.
func socketProtocols(t *testing.T, file string) []uint64 {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	if c, err := readControl(r); err != nil || c.typ != controlStart || !c.accepts(ContentType) {
		t.Fatalf("%s: first frame %+v, %v; want START with %s", file, c, err, ContentType)
	}
	var out []uint64
	for range 10000 {
		var n [4]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			t.Fatalf("%s: %v before STOP", file, err)
		}
		if binary.BigEndian.Uint32(n[:]) == 0 {
			return out // the STOP control frame
		}
		frame := make([]byte, binary.BigEndian.Uint32(n[:]))
		if _, err := io.ReadFull(r, frame); err != nil {
			t.Fatal(err)
		}
		msg := field(t, frame, fieldMessage)
		v, _ := protowire.ConsumeVarint(field(t, msg, msgSocketProtocol))
		out = append(out, v)
	}
	t.Fatalf("%s: no STOP within 10000 frames", file)
	return nil
}

// field returns the raw value of the first field num in the protobuf message b.
func field(t *testing.T, b []byte, num protowire.Number) []byte {
	t.Helper()
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(l))
		}
		b = b[l:]
		vl := protowire.ConsumeFieldValue(n, typ, b)
		if vl < 0 {
			t.Fatalf("bad field %d: %v", n, protowire.ParseError(vl))
		}
		if n == num {
			if typ == protowire.BytesType {
				v, _ := protowire.ConsumeBytes(b)
				return v
			}
			return b[:vl]
		}
		b = b[vl:]
	}
	t.Fatalf("field %d missing", num)
	return nil
}
