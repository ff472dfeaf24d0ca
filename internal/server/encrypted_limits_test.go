package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	"github.com/quic-go/quic-go"

	"warden/internal/dnstest"
	"warden/internal/query"
)

// TestDoTPipeliningOutOfOrder sends many queries on one DoT connection without waiting; the slow
// ones (odd IDs) must not hold up the fast ones, which come back first.
func TestDoTPipeliningOutOfOrder(t *testing.T) {
	cert := dnstest.SelfSigned(t)
	h := &echoHandler{delay: func(id uint16) time.Duration {
		if id%2 == 1 {
			return 300 * time.Millisecond
		}
		return 0
	}}
	l := encListener(t, "tls://127.0.0.1:0", ListenerConfig{}, cert, h)
	conn, err := tls.Dial("tcp", l.Addr().String(), clientTLS(cert, alpnDoT))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 20
	var batch []byte
	for id := uint16(1); id <= n; id++ {
		q := newQuery(t, id, "www.example.test.")
		batch = append(append(batch, byte(len(q)>>8), byte(len(q))), q...)
	}
	if _, err := conn.Write(batch); err != nil {
		t.Fatal(err)
	}
	var order []uint16
	for range n {
		m := unpack(t, readFramed(t, conn))
		order = append(order, m.ID)
	}
	seen := map[uint16]bool{}
	for i, id := range order {
		seen[id] = true
		if i < n/2 && id%2 == 1 {
			t.Fatalf("slow answer %d came among the first half: order %v", id, order)
		}
	}
	if len(seen) != n {
		t.Fatalf("answers %v: want each of 1..%d once", order, n)
	}
	if _, tr := h.last(); tr != query.DoT {
		t.Fatalf("handler saw transport %v, want dot", tr)
	}
}

// TestCertReloadByRename replaces key and certificate by rename, one after the other, as
// certificate managers do: new handshakes get the new certificate once both are in place (the old
// one meanwhile), and a connection opened before keeps working.
func TestCertReloadByRename(t *testing.T) {
	oldCert, newCert := dnstest.SelfSigned(t), dnstest.SelfSigned(t)
	dir := t.TempDir()
	certPath, keyPath := certFiles(t, dir, oldCert)
	l := encListener(t, "tls://127.0.0.1:0", ListenerConfig{TLSCert: certPath, TLSKey: keyPath, certCheck: 20 * time.Millisecond}, oldCert, testPipeline(t, ""))
	addr := l.Addr().String()

	served := func() []byte {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpnDoT}})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Raw
	}
	kept, err := tls.Dial("tcp", addr, clientTLS(oldCert, alpnDoT))
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	q := packQuery(t, "www.example.test.", dns.TypeA, false)
	want := dotExchange(t, kept, q)

	replace := func(path string, data []byte) {
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	replace(keyPath, newCert.KeyPEM)
	time.Sleep(60 * time.Millisecond) // past the check interval: the mismatched pair is seen
	if !bytes.Equal(served(), oldCert.Cert.Certificate[0]) {
		t.Fatal("with only the key replaced, the old certificate is no longer served")
	}
	replace(certPath, newCert.CertPEM)
	if !waitFor(3*time.Second, func() bool { return bytes.Equal(served(), newCert.Cert.Certificate[0]) }) {
		t.Fatal("the new certificate is not served after both files were replaced")
	}
	if got := dotExchange(t, kept, q); !bytes.Equal(got, want) {
		t.Fatal("the connection opened before the reload answers differently")
	}
	if _, err := tls.Dial("tcp", addr, clientTLS(newCert, alpnDoT)); err != nil {
		t.Fatalf("a client trusting only the new certificate: %v", err)
	}
}

// TestDoTSlowloris opens many TCP connections that never say hello. The server holds at most the
// per-client cap of them, drops each within the handshake timeout, serves another client
// meanwhile, and its goroutines come back down.
func TestDoTSlowloris(t *testing.T) {
	cert := dnstest.SelfSigned(t)
	l := encListener(t, "tls://127.0.0.1:0", ListenerConfig{
		TLSHandshakeTimeout: 300 * time.Millisecond, TLSMaxConns: 20, TLSMaxConnsPerClient: 5,
	}, cert, &echoHandler{})
	addr := l.Addr().String()
	before := runtime.NumGoroutine()

	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			_ = c.Close()
		}
	}()
	for range 50 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// Another client (127.0.0.2 is loopback too) is served while 127.0.0.1 is at its cap.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 2 * time.Second}
	other, err := tls.DialWithDialer(d, "tcp", addr, clientTLS(cert, alpnDoT))
	if err != nil {
		t.Fatalf("another client cannot connect: %v", err)
	}
	q := newQuery(t, 7, "www.example.test.")
	checkAnswer(t, q, dotExchange(t, other, q))
	_ = other.Close()

	// Every idle connection is closed by the server: at once beyond the cap, at the handshake
	// timeout within it.
	deadline := time.Now().Add(3 * time.Second)
	for i, c := range idle {
		_ = c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("idle connection %d still open after 3s (err %v)", i, err)
		}
	}
	if !waitFor(2*time.Second, func() bool { return runtime.NumGoroutine() <= before+2 }) {
		t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
	}
}

// TestDoHSlowClients: a client that trickles its headers is cut off at the handshake timeout, one
// client cannot hold more connections than its cap, and requests and bodies beyond the bounds are
// refused with the right status.
func TestDoHSlowClients(t *testing.T) {
	cert := dnstest.SelfSigned(t)
	l := encListener(t, "https://127.0.0.1:0/dns-query", ListenerConfig{
		TLSHandshakeTimeout: 300 * time.Millisecond, TLSMaxConns: 20, TLSMaxConnsPerClient: 3,
	}, cert, testPipeline(t, ""))
	addr := l.Addr().String()
	before := runtime.NumGoroutine()

	start := time.Now()
	c, err := tls.Dial("tcp", addr, clientTLS(cert, "http/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /dns-query?dns=AAAB HTTP/1.1\r\nHost: x\r\n")
	for range 20 { // one header byte every 100 ms, never finishing
		if _, err := io.WriteString(c, "X"); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
		if time.Since(start) > 2*time.Second {
			break
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = io.ReadAll(c)
	if el := time.Since(start); el > 2500*time.Millisecond {
		t.Fatalf("a trickled header held its connection for %v", el)
	}

	// From an address of its own, so that the closing of these connections (which the server
	// notices a moment later) does not count against the requests below.
	var held []net.Conn
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 4)}, Timeout: 2 * time.Second}
	for range 10 {
		hc, err := tls.DialWithDialer(d, "tcp", addr, clientTLS(cert, "http/1.1"))
		if err == nil {
			held = append(held, hc)
		}
	}
	if len(held) > 3 {
		t.Fatalf("one client holds %d connections; the cap is 3", len(held))
	}
	for _, hc := range held {
		_ = hc.Close()
	}

	client := dohClient(cert, true)
	url := "https://" + addr
	q := packQuery(t, "www.example.test.", dns.TypeA, false)
	status := func(resp *http.Response, err error) int {
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	put, _ := http.NewRequest(http.MethodPut, url+"/dns-query", bytes.NewReader(q))
	cases := []struct {
		name string
		got  int
		want int
	}{
		{"other path", status(client.Get(url + "/other?dns=" + base64.RawURLEncoding.EncodeToString(q))), http.StatusNotFound},
		{"PUT", status(client.Do(put)), http.StatusMethodNotAllowed},
		{"POST of another type", status(client.Post(url+"/dns-query", "text/plain", bytes.NewReader(q))), http.StatusUnsupportedMediaType},
		{"POST over 65535 bytes", status(client.Post(url+"/dns-query", dohMediaType, bytes.NewReader(make([]byte, 70000)))), http.StatusRequestEntityTooLarge},
		{"GET without dns", status(client.Get(url + "/dns-query")), http.StatusBadRequest},
		{"GET not base64url", status(client.Get(url + "/dns-query?dns=!!!")), http.StatusBadRequest},
		// Over HTTP/1.1: an HTTP/2 client refuses by itself to send headers over the server's limit.
		{"GET with a huge URL", status(dohClient(cert, false).Get(url + "/dns-query?dns=" + strings.Repeat("A", 30000))), http.StatusRequestHeaderFieldsTooLarge},
		{"answer", status(client.Get(url + "/dns-query?dns=" + base64.RawURLEncoding.EncodeToString(q))), http.StatusOK},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, c.got, c.want)
		}
	}
	resp := dohGet(t, client, url+"/dns-query", q)
	resp.Body.Close()
	// www has TTL 60, the NS and glue 300: the answer may be cached for the smallest.
	if cc := resp.Header.Get("Cache-Control"); cc != "max-age=60" {
		t.Errorf("Cache-Control %q, want max-age=60", cc)
	}
	resp = dohPost(t, client, url+"/dns-query", packQuery(t, "www.example.org.", dns.TypeA, false))
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("REFUSED answer: Cache-Control %q, want no-store", cc)
	}
	client.CloseIdleConnections()
	if !waitFor(3*time.Second, func() bool { return runtime.NumGoroutine() <= before+4 }) {
		t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
	}
}

// TestDoQ: the query's ID must be 0 (else the connection is closed with DOQ_PROTOCOL_ERROR),
// several queries run on one connection at once, and the per-client cap holds.
func TestDoQ(t *testing.T) {
	cert := dnstest.SelfSigned(t)
	h := &echoHandler{delay: func(uint16) time.Duration { return 100 * time.Millisecond }}
	l := encListener(t, "quic://127.0.0.1:0", ListenerConfig{TLSMaxConnsPerClient: 2, TLSMaxConns: 10}, cert, h)
	addr := l.Addr().String()
	conn := doqDial(t, addr, cert)
	q := newQuery(t, 0, "www.example.test.")
	var wg sync.WaitGroup
	start := time.Now()
	for range 10 {
		wg.Go(func() {
			if got, err := doqExchange(t, conn, q); err != nil || len(got) != len(q) {
				t.Errorf("doq: %v (%d bytes)", err, len(got))
			}
		})
	}
	wg.Wait()
	if el := time.Since(start); el > 900*time.Millisecond {
		t.Errorf("10 queries of 100 ms on one connection took %v: not answered concurrently", el)
	}
	if _, tr := h.last(); tr != query.DoQ {
		t.Fatalf("handler saw %v, want doq", tr)
	}

	// A second connection fits the cap of 2, a third does not.
	doqDial(t, addr, cert)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := quic.DialAddr(ctx, addr, clientTLS(cert, alpnDoQ), &quic.Config{}); err == nil {
		_ = c.CloseWithError(0, "")
		t.Fatal("a third connection from one client was accepted; the cap is 2")
	}

	_, err := doqExchange(t, conn, newQuery(t, 99, "www.example.test."))
	var appErr *quic.ApplicationError
	if !errors.As(err, &appErr) || appErr.ErrorCode != doqProtocolError {
		t.Fatalf("query with ID 99: %v, want the connection closed with DOQ_PROTOCOL_ERROR", err)
	}
}

func TestListenEncryptedErrors(t *testing.T) {
	cert := dnstest.SelfSigned(t)
	dir := t.TempDir()
	certPath, keyPath := certFiles(t, dir, cert)
	other := dnstest.SelfSigned(t)
	otherKey := filepath.Join(dir, "other.key")
	if err := os.WriteFile(otherKey, other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		addr, cert, key string
		want            string
	}{
		{"tls://127.0.0.1:0", missing, keyPath, "listen tls://127.0.0.1:0: tls certificate: open " + missing + ": no such file or directory"},
		{"https://127.0.0.1:0", certPath, missing, "tls key: open " + missing},
		{"quic://127.0.0.1:0", dir, keyPath, "tls certificate: read " + dir + ": is a directory"},
		{"tls://127.0.0.1:0", certPath, otherKey, "tls certificate " + certPath + " with key " + otherKey + ": tls: private key does not match public key"},
		{"tls://127.0.0.1:0", "", "", "a certificate and key are needed"},
		{"ftp://127.0.0.1:0", certPath, keyPath, `unknown scheme "ftp"`},
		{"tls://localhost:853", certPath, keyPath, `host "localhost" is not an IP address`},
	}
	for _, tt := range tests {
		_, err := Listen(ListenerConfig{Addr: tt.addr, TLSCert: tt.cert, TLSKey: tt.key}, &echoHandler{}, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s cert %q key %q: %v, want %q", tt.addr, tt.cert, tt.key, err, tt.want)
		}
	}
}

// TestRealClients asks kdig over DoT and DoH, and curl over DoH (GET and POST, HTTP/2 and
// HTTP/1.1), and checks their answers against UDP's. Skipped when the tools are not installed.
func TestRealClients(t *testing.T) {
	kdig, kerr := exec.LookPath("kdig")
	curl, cerr := exec.LookPath("curl")
	if kerr != nil && cerr != nil {
		t.Skip("neither kdig nor curl is installed")
	}
	cert := dnstest.SelfSigned(t)
	dir := t.TempDir()
	certPath, keyPath := certFiles(t, dir, cert)
	p := testPipeline(t, "")
	cfg := ListenerConfig{TLSCert: certPath, TLSKey: keyPath, UDPWorkers: 1}
	plain := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, p)
	dot := encListener(t, "tls://127.0.0.1:0", cfg, cert, p)
	doh := encListener(t, "https://127.0.0.1:0/dns-query", cfg, cert, p)
	run := func(name string, args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return out
	}
	if kerr == nil {
		host, port, _ := net.SplitHostPort(dot.Addr().String())
		_, hport, _ := net.SplitHostPort(doh.Addr().String())
		for _, mode := range [][]string{{"-p", port, "+tls"}, {"-p", hport, "+https=/dns-query"}, {"-p", hport, "+https=/dns-query", "+https-get"}} {
			args := append([]string{"@" + host, "+tls-ca=" + certPath, "+tls-hostname=" + dnstest.TestCertName, "+short"}, mode...)
			out := run(kdig, append(args, "www.example.test", "A")...)
			if strings.TrimSpace(string(out)) != "192.0.2.80" {
				t.Errorf("kdig %v: %q, want 192.0.2.80", mode, out)
			}
		}
	}
	if cerr == nil {
		for _, name := range []string{"www.example.test.", "nx.example.test."} {
			q := packQuery(t, name, dns.TypeA, false)
			want := udpAsk(t, plain.UDPAddr().String(), q)
			url := "https://" + dnstest.TestCertName + ":" + portOf(doh.Addr()) + "/dns-query"
			resolve := dnstest.TestCertName + ":" + portOf(doh.Addr()) + ":127.0.0.1"
			qfile := filepath.Join(dir, "q.bin")
			if err := os.WriteFile(qfile, q, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, version := range []string{"--http2", "--http1.1"} {
				common := []string{"-sS", "--fail", "--max-time", "5", "--cacert", certPath, "--resolve", resolve, version,
					"-H", "accept: application/dns-message", "-o", "-"}
				get := run(curl, append(common, url+"?dns="+base64.RawURLEncoding.EncodeToString(q))...)
				post := run(curl, append(common, "-H", "content-type: application/dns-message", "--data-binary", "@"+qfile, url)...)
				for method, got := range map[string][]byte{"GET": get, "POST": post} {
					if !bytes.Equal(got, want) {
						t.Errorf("curl %s %s %s: %x, UDP %x", version, method, name, got, want)
					}
				}
			}
			v := run(curl, "-sS", "--max-time", "5", "--cacert", certPath, "--resolve", resolve, "--http2", "-o", "/dev/null",
				"-w", "%{http_version}", url+"?dns="+base64.RawURLEncoding.EncodeToString(q))
			if string(v) != "2" {
				t.Errorf("curl --http2 spoke HTTP/%s", v)
			}
		}
	}
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}

// FuzzDoHQuery: no request, GET or POST, makes the parser panic, and what it accepts is a message
// of at least a header and at most 65535 bytes; a GET's message is what its parameter encodes.
func FuzzDoHQuery(f *testing.F) {
	q := []byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1}
	f.Add("GET", "dns="+base64.RawURLEncoding.EncodeToString(q), "", []byte(nil))
	f.Add("GET", "ct=x&dns="+base64.URLEncoding.EncodeToString(q)+"&x=%41", "", []byte(nil))
	f.Add("GET", "dns=%4", "", []byte(nil))
	f.Add("POST", "", dohMediaType, q)
	f.Add("POST", "", "Application/DNS-Message; charset=x", q[:5])
	f.Add("PUT", "", "", q)
	f.Fuzz(func(t *testing.T, method, rawQuery, contentType string, body []byte) {
		msg, status, err := dohQuery(method, rawQuery, contentType, bytes.NewReader(body))
		if err != nil {
			if status < 400 || status > 499 || msg != nil {
				t.Fatalf("error %v with status %d and %d bytes", err, status, len(msg))
			}
			return
		}
		if len(msg) < query.HeaderLen || len(msg) > dohMaxMessage {
			t.Fatalf("accepted a message of %d bytes", len(msg))
		}
		if method == http.MethodPost && !bytes.Equal(msg, body) {
			t.Fatal("POST message differs from the body")
		}
		if method == http.MethodGet {
			v, _ := queryParam(rawQuery, "dns")
			if enc := base64.RawURLEncoding.EncodeToString(msg); enc != strings.TrimRight(v, "=") {
				// Non-canonical base64 (stray low bits) decodes too; it must still decode to msg.
				if dec, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "=")); err != nil || !bytes.Equal(dec, msg) {
					t.Fatalf("GET %q gave %x", rawQuery, msg)
				}
			}
		}
	})
}
