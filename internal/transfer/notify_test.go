package transfer

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/tsig"
)

func TestNotifyKnot(t *testing.T) {
	const origin = "example.test."
	z := loadZone(t, origin, genZone(origin, 5, 10))
	key := mustKey(t, "xfr256:hmac-sha256:"+secret256)
	ring, _ := tsig.NewKeyring(*key)
	p := startPrimary(t, z, ring)
	host, port, _ := net.SplitHostPort(p.addr)
	k := dnstest.StartKnotConfig(t, dnstest.KnotConfig{Ready: origin, Sections: fmt.Sprintf(`key:
  - id: xfr256
    algorithm: hmac-sha256
    secret: %s
remote:
  - id: primary
    address: %s@%s
    key: xfr256
acl:
  - id: notify
    key: xfr256
    action: notify
template:
  - id: default
    storage: "@DIR@"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: %s
    file: "@DIR@/secondary.zone"
    master: primary
    acl: notify
`, secret256, host, port, origin)})
	ctx := context.Background()
	if err := Notify(ctx, peerOf(t, k.Addr, key), origin, z.SOA); err != nil {
		t.Fatalf("NOTIFY with the key: %v", err)
	}
	for name, peer := range map[string]Peer{
		"wrong secret": peerOf(t, k.Addr, mustKey(t, "xfr256:hmac-sha256:d3Jvbmcgc2VjcmV0")),
		"unknown key":  peerOf(t, k.Addr, mustKey(t, "stranger:hmac-sha256:"+secret256)),
		"no key":       peerOf(t, k.Addr, nil),
	} {
		err := Notify(ctx, peer, origin, z.SOA)
		t.Logf("%s: %v", name, err)
		if err == nil || !(strings.Contains(err.Error(), "NOTAUTH") || strings.Contains(err.Error(), "REFUSED")) {
			t.Errorf("NOTIFY with %s: %v, want NOTAUTH or REFUSED", name, err)
		}
	}
}

func TestNotifyNoAnswer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	p := peerOf(t, pc.LocalAddr().String(), nil)
	p.Timeout = 1500 * time.Millisecond
	soa := &dns.SOA{Hdr: dns.Header{Name: "example.test.", Class: dns.ClassINET}}
	got := make(chan int, 1)
	go func() {
		buf := make([]byte, 512)
		n := 0
		for {
			_ = pc.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, _, err := pc.ReadFrom(buf); err != nil {
				got <- n
				return
			}
			n++
		}
	}()
	start := time.Now()
	err = Notify(context.Background(), p, "example.test.", soa)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("NOTIFY to a silent peer: %v after %v", err, time.Since(start))
	}
	pc.Close()
	if n := <-got; n != 2 {
		t.Fatalf("%d tries within 1.5 s, want 2 (at 0 s and 1 s)", n)
	}
}
