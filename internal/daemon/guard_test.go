package daemon

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/cookie"
	"warden/internal/dnstest"
)

// askCookie sends a query for a server cookie alone (RFC 7873 §5.4) from the loopback address
// from to addr, with the COOKIE option opt, and returns the response's rcode and cookie option.
func askCookie(t *testing.T, from, addr string, opt []byte) (rcode int, got []byte) {
	t.Helper()
	w := dnstest.NewWire(0x5151, 0)
	w.OPT(1232, 0, 0, false, append([]byte{0, 10, 0, byte(len(opt))}, opt...))
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from+":0")), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(w.Bytes()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := buf[:n]
	// The response is the header and one OPT record: root owner, type, class, TTL, RDLENGTH.
	if n < 12+11 || binary.BigEndian.Uint16(msg[10:]) != 1 {
		t.Fatalf("response %x is not a header and an OPT record", msg)
	}
	opt11 := msg[12:]
	rcode = int(msg[3]&0xF) | int(opt11[5])<<4
	rdata := opt11[11:]
	for len(rdata) >= 4 {
		l := int(binary.BigEndian.Uint16(rdata[2:]))
		if binary.BigEndian.Uint16(rdata) == 10 {
			got = append([]byte(nil), rdata[4:4+l]...)
		}
		rdata = rdata[4+l:]
	}
	return rcode, got
}

// A rotation of the cookie secret on a running server, by reload alone: the old secret's
// cookies stay valid while it is listed in previous_secrets and stop being valid when it is
// dropped; a new secret written into the same file takes over at the next reload.
func TestCookieSecretRotation(t *testing.T) {
	const secretA, secretB, secretC = "00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100", "0123456789abcdef0123456789abcdef"
	dir := t.TempDir()
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.3.20:%d", port)
	const from = "127.0.3.21"
	socket := filepath.Join(dir, "control.sock")
	cfgFile := filepath.Join(dir, "warden.yaml")
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := fmt.Sprintf("listen: [%q]\ncontrol:\n  socket: %s\ncookies:\n  secret: current.key\n", addr, socket)
	write("current.key", secretA+"\n")
	write("warden.yaml", base)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Log: logTo(&dnstest.SyncBuffer{}), Reread: func() (*config.Config, error) { return config.Load(cfgFile) }})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}()
	ctl := control.NewClient(socket)
	reload := func() {
		t.Helper()
		if err := ctl.Do(http.MethodPost, "/reload", nil); err != nil {
			t.Fatalf("reload: %v", err)
		}
	}
	client := []byte("rotation")
	deadline := time.Now().Add(10 * time.Second)
	for !ready(addr) || ctl.Do(http.MethodGet, "/status", nil) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the server or its control socket never answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	made := func(secretHex string, c []byte) bool {
		s, _ := cookie.ParseSecret(secretHex)
		v, _ := s.Check(client, c[8:], netip.MustParseAddr(from), uint32(time.Now().Unix()))
		return len(c) == 24 && v
	}
	rc, underA := askCookie(t, from, addr, client)
	if rc != 0 || !made(secretA, underA) {
		t.Fatalf("first cookie: rcode %d, %x not made with secret A", rc, underA)
	}

	// Rotation: B makes cookies, A's are still accepted and answered with one under B.
	write("current.key", secretB+"\n")
	write("old.key", secretA+"\n")
	write("warden.yaml", base+"  previous_secrets: [old.key]\n")
	reload()
	rc, got := askCookie(t, from, addr, underA)
	if rc != 0 || !made(secretB, got) {
		t.Fatalf("A's cookie after the rotation: rcode %d, cookie %x; want NOERROR and one under B", rc, got)
	}
	underB := got

	// A dropped: its cookie is BADCOOKIE, B's still good.
	write("warden.yaml", base)
	reload()
	if rc, _ := askCookie(t, from, addr, underA); rc != 23 {
		t.Fatalf("A's cookie once A is dropped: rcode %d, want BADCOOKIE (23)", rc)
	}
	if rc, _ := askCookie(t, from, addr, underB); rc != 0 {
		t.Fatalf("B's cookie: rcode %d", rc)
	}

	// The file alone changes: the reload reads it again.
	write("current.key", secretC+"\n")
	reload()
	rc, got = askCookie(t, from, addr, underB)
	if rc != 23 || !made(secretC, got) {
		t.Fatalf("B's cookie after the file changed to C: rcode %d, cookie %x; want BADCOOKIE and one under C", rc, got)
	}

	// A configuration that names an unreadable secret is refused; C stays in force.
	write("warden.yaml", base+"  previous_secrets: [missing.key]\n")
	if err := ctl.Do(http.MethodPost, "/reload", nil); err == nil {
		t.Fatal("a reload naming a missing secret file was accepted")
	}
	if rc, got := askCookie(t, from, addr, client); rc != 0 || !made(secretC, got) {
		t.Fatalf("after a refused reload: rcode %d, cookie %x; want one under C", rc, got)
	}
}

// ready says whether addr answers a query over UDP.
func ready(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	w := dnstest.NewWire(1, 0)
	_ = w.Question("example.", 1, 1)
	if _, err := c.Write(w.Bytes()); err != nil {
		return false
	}
	_, err = c.Read(make([]byte, 512))
	return err == nil
}

// floodUDP sends n identical queries from the loopback address from to addr, as fast as it
// can, and counts the answers: whole, and empty with TC=1 (slipped).
func floodUDP(t *testing.T, from, addr string, n int) (answered, truncated int) {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from+":0")), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := dnstest.NewWire(0, 0)
	_ = w.Question("flood.example.", 1, 1)
	q := w.Bytes()
	for i := range n {
		binary.BigEndian.PutUint16(q, uint16(i))
		if _, err := c.Write(q); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 512)
	for {
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		m, err := c.Read(buf)
		if err != nil {
			return answered, truncated
		}
		if m >= 12 && buf[2]&0x02 != 0 {
			truncated++
		} else {
			answered++
		}
	}
}

// `warden ctl status` (GET /status) shows what rate limiting did: the responses dropped and
// slipped agree with what the flooding client saw, the counts go on across a reload that
// changes the configuration, and log-only mode counts what it would have limited.
func TestRateLimitStatus(t *testing.T) {
	dir := t.TempDir()
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.3.40:%d", port)
	socket := filepath.Join(dir, "control.sock")
	cfgFile := filepath.Join(dir, "warden.yaml")
	base := fmt.Sprintf("listen: [%q]\ncontrol:\n  socket: %s\nrrl:\n  rate: 5\n  slip: 2\n", addr, socket)
	if err := os.WriteFile(cfgFile, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Log: logTo(&dnstest.SyncBuffer{}), Reread: func() (*config.Config, error) { return config.Load(cfgFile) }})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}()
	ctl := control.NewClient(socket)
	var st control.Status
	for deadline := time.Now().Add(10 * time.Second); ctl.Do(http.MethodGet, "/status", &st) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the control socket never answered")
		}
	}
	if r := st.RateLimit; r == nil || r.Rate != 5 || r.Slip != 2 || r.LogOnly || r.Dropped+r.Slipped+r.WouldLimit != 0 || r.Capacity == 0 {
		t.Fatalf("before any query: %+v", st.RateLimit)
	}

	const n = 60
	answered, truncated := floodUDP(t, "127.0.3.41", addr, n)
	if err := ctl.Do(http.MethodGet, "/status", &st); err != nil {
		t.Fatal(err)
	}
	r := st.RateLimit
	if answered < 5 || answered > 8 || r.Slipped != uint64(truncated) || r.Dropped != uint64(n-answered-truncated) || r.Entries < 1 {
		t.Fatalf("client saw %d answered and %d truncated of %d; status %+v", answered, truncated, n, r)
	}
	first := *r

	// Log only, by reload: every query answered, the excess counted, the earlier counts kept.
	if err := os.WriteFile(cfgFile, []byte(base+"  log_only: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Do(http.MethodPost, "/reload", nil); err != nil {
		t.Fatal(err)
	}
	answered, truncated = floodUDP(t, "127.0.3.42", addr, n)
	if err := ctl.Do(http.MethodGet, "/status", &st); err != nil {
		t.Fatal(err)
	}
	r = st.RateLimit
	if answered != n || truncated != 0 || !r.LogOnly || r.Dropped != first.Dropped || r.Slipped != first.Slipped ||
		r.WouldLimit < n-8 || r.WouldLimit > n-5 {
		t.Fatalf("log only: client saw %d answered, %d truncated of %d; status %+v (before the reload %+v)", answered, truncated, n, r, first)
	}

	// Off: the status says so.
	if err := os.WriteFile(cfgFile, []byte(strings.Replace(base, "rate: 5", "rate: 0", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Do(http.MethodPost, "/reload", nil); err != nil {
		t.Fatal(err)
	}
	st = control.Status{}
	if err := ctl.Do(http.MethodGet, "/status", &st); err != nil || st.RateLimit != nil {
		t.Fatalf("rate limiting off: %+v %v", st.RateLimit, err)
	}
}
