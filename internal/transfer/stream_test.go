package transfer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/tsig"
	"warden/internal/zone"
)

// primary is a minimal transfer server for tests: it answers SOA over UDP and TCP, and AXFR (and
// IXFR, AXFR-style) over TCP, from one zone through a Writer, signing when the request was signed.
type primary struct {
	z    *zone.Zone
	ring *tsig.Keyring
	addr string
	wg   sync.WaitGroup
}

func startPrimary(t *testing.T, z *zone.Zone, ring *tsig.Keyring) *primary {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		ln.Close()
		t.Skipf("UDP port of %s taken: %v", ln.Addr(), err)
	}
	p := &primary{z: z, ring: ring, addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close(); pc.Close(); p.wg.Wait() })
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serveTCP(t, c) }()
		}
	}()
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_ = p.answer(buf[:n], 512, func(msg []byte) error { _, err := pc.WriteTo(msg, from); return err })
		}
	}()
	return p
}

func (p *primary) serveTCP(t *testing.T, c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	for {
		msg, err := readFrame(c)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Logf("primary: read: %v", err)
			}
			return
		}
		if err := p.answer(msg, 0, func(out []byte) error { return writeFrame(c, out) }); err != nil {
			t.Logf("primary: %v", err)
			return
		}
	}
}

func (p *primary) answer(msg []byte, size int, send func([]byte) error) error {
	v, err := tsig.Verify(msg, p.ring, nil, false, time.Now())
	if err != nil {
		return err
	}
	if len(msg) < 12 || binary.BigEndian.Uint16(msg[4:]) != 1 {
		return errors.New("no question")
	}
	end, err := skipQName(msg, 12)
	if err != nil {
		return err
	}
	req := &Request{
		ID:         binary.BigEndian.Uint16(msg),
		Question:   Question{Name: msg[12:end], Type: binary.BigEndian.Uint16(msg[end:]), Class: binary.BigEndian.Uint16(msg[end+2:])},
		MaxMessage: size,
	}
	if v.Signed {
		req.Key, req.RequestMAC = &v.Key, v.MAC
	}
	w := NewWriter(req, send)
	switch req.Question.Type {
	case dns.TypeSOA:
		if err := w.Add(p.z.SOA); err != nil {
			return err
		}
		return w.Close()
	case dns.TypeAXFR, dns.TypeIXFR:
		return WriteAXFR(w, p.z.All())
	}
	return fmt.Errorf("question type %d", req.Question.Type)
}

func skipQName(msg []byte, off int) (int, error) {
	for off < len(msg) && msg[off] != 0 {
		off += int(msg[off]) + 1
	}
	if off+5 > len(msg) {
		return 0, errors.New("short question")
	}
	return off + 1, nil
}

func loadZone(t testing.TB, origin, text string) *zone.Zone {
	t.Helper()
	z, _, err := zone.Load(origin, "test", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestWriterRoundTrip(t *testing.T) {
	const origin = "example.test."
	z := loadZone(t, origin, genZone(origin, 7, 5000))
	key := mustKey(t, "xfr256:hmac-sha256:"+secret256)
	ring, _ := tsig.NewKeyring(*key)
	p := startPrimary(t, z, ring)
	ctx := context.Background()
	for _, k := range []*tsig.Key{key, nil} {
		res, err := AXFR(ctx, peerOf(t, p.addr, k), origin, Limits{})
		if err != nil {
			t.Fatalf("AXFR (key %v): %v", k != nil, err)
		}
		if !slices.Equal(texts(res.Full), texts(slices.Collect(z.All()))) || res.Messages < 5 {
			t.Fatalf("AXFR read back differs (%d records, %d messages)", len(res.Full), res.Messages)
		}
		soa, err := QuerySOA(ctx, peerOf(t, p.addr, k), origin)
		if err != nil || soa.Serial != 7 {
			t.Fatalf("QuerySOA: %v, %v", soa, err)
		}
	}
}

func TestWriterKdig(t *testing.T) {
	kdig, err := exec.LookPath("kdig")
	if err != nil {
		t.Skip("kdig is not installed (knot-dnsutils)")
	}
	const origin = "example.test."
	z := loadZone(t, origin, genZone(origin, 3, 3000))
	key := mustKey(t, "xfr256:hmac-sha256:"+secret256)
	ring, _ := tsig.NewKeyring(*key)
	p := startPrimary(t, z, ring)
	host, port, _ := net.SplitHostPort(p.addr)
	for _, tc := range []struct {
		secret string
		ok     bool
	}{{secret256, true}, {"d3Jvbmcgc2VjcmV0", false}} {
		out, err := exec.Command(kdig, "-y", "hmac-sha256:xfr256:"+tc.secret, "@"+host, "-p", port, "+time=5", "+retry=0", "AXFR", origin).CombinedOutput()
		text := string(out)
		answers := 0
		for line := range strings.Lines(text) {
			if line != "\n" && !strings.HasPrefix(line, ";") {
				answers++
			}
		}
		if tc.ok {
			// Each message's TSIG is printed as a record too.
			if err != nil || strings.Contains(text, "WARNING") || strings.Contains(text, "failed") || answers < z.Records+2 {
				t.Fatalf("kdig AXFR: %v, %d lines:\n%s", err, answers, tail(text))
			}
		} else if answers > 0 && !strings.Contains(text, "failed") && !strings.Contains(text, "WARNING") && err == nil {
			t.Fatalf("kdig with a wrong secret got an answer:\n%s", tail(text))
		}
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}

func TestWriterKnotSecondary(t *testing.T) {
	const origin = "example.test."
	z := loadZone(t, origin, genZone(origin, 5, 2000))
	key := mustKey(t, "xfr256:hmac-sha256:"+secret256)
	ring, _ := tsig.NewKeyring(*key)
	p := startPrimary(t, z, ring)
	host, port, _ := net.SplitHostPort(p.addr)
	k := dnstest.StartKnotConfig(t, dnstest.KnotConfig{Ready: "ready.test.", Files: map[string]string{
		"ready.zone": "ready.test. 60 IN SOA ns hm 1 60 60 60 60\nready.test. 60 IN NS ns.ready.test.\nns.ready.test. 60 IN A 192.0.2.1\n",
	}, Sections: fmt.Sprintf(`key:
  - id: xfr256
    algorithm: hmac-sha256
    secret: %s
remote:
  - id: primary
    address: %s@%s
    key: xfr256
acl:
  - id: out
    address: 127.0.0.0/8
    action: transfer
template:
  - id: default
    storage: "@DIR@"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: ready.test.
    file: "@DIR@/ready.zone"
  - domain: %s
    file: "@DIR@/secondary.zone"
    master: primary
    acl: out
`, secret256, host, port, origin)})
	k.WaitSerial(t, origin, 5)
	res, err := AXFR(context.Background(), peerOf(t, k.Addr, nil), origin, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(texts(res.Full), texts(slices.Collect(z.All()))) {
		t.Fatal("knotd's copy of the zone differs from what the Writer sent")
	}
}

func TestWriterLimits(t *testing.T) {
	q, _ := dns.New("example.test. 60 IN TXT \"" + strings.Repeat("x", 250) + "\" \"" + strings.Repeat("y", 250) + "\"")
	var sent [][]byte
	w := NewWriter(&Request{ID: 1, Question: Question{Name: []byte("\x07example\x04test\x00"), Type: dns.TypeAXFR, Class: dns.ClassINET}, MaxMessage: 600},
		func(msg []byte) error { sent = append(sent, bytes.Clone(msg)); return nil })
	for range 5 {
		if err := w.Add(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil || len(sent) != 5 {
		t.Fatalf("Close: %v, %d messages", err, len(sent))
	}
	for _, m := range sent {
		if len(m) > 600 {
			t.Fatalf("message of %d bytes", len(m))
		}
	}
	big, _ := dns.New("example.test. 60 IN TXT \"" + strings.Repeat("x", 250) + "\" \"" + strings.Repeat("y", 250) + "\" \"" + strings.Repeat("z", 250) + "\"")
	w = NewWriter(&Request{ID: 1, Question: Question{Name: []byte("\x07example\x04test\x00"), Type: dns.TypeAXFR, Class: dns.ClassINET}, MaxMessage: 600},
		func([]byte) error { return nil })
	if err := w.Add(big); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("oversized record: %v", err)
	}
	if err := NewWriter(&Request{Question: Question{Name: []byte("\x07example")}}, nil).Add(q); err == nil {
		t.Fatal("malformed question name accepted")
	}
}

func BenchmarkWriteAXFR(b *testing.B) {
	const origin = "example.test."
	z := loadZone(b, origin, genZone(origin, 1, 1_000_000))
	// The records are collected first: walking the zone's node map is the zone's cost, and on a
	// million nodes it dominates (cache misses), hiding what the Writer itself costs.
	records := slices.Collect(z.All())
	key := mustKey(b, "xfr256:hmac-sha256:"+secret256)
	for _, k := range []*tsig.Key{nil, key} {
		name := "unsigned"
		if k != nil {
			name = "tsig"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var bytes int64
			cpu0 := cpuTime()
			for b.Loop() {
				bytes = 0
				w := NewWriter(&Request{ID: 1, Question: Question{Name: []byte(z.Key), Type: dns.TypeAXFR, Class: dns.ClassINET}, Key: k, RequestMAC: []byte("mac")},
					func(msg []byte) error { bytes += int64(len(msg)); return nil })
				if err := WriteAXFR(w, slices.Values(records)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(z.Records+1)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(bytes), "bytes/xfr")
			// CPU time, beside the wall time of ns/op: on a shared machine the two differ.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
