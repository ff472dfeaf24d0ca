package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	"github.com/quic-go/quic-go"

	"warden/internal/authority"
	"warden/internal/dnstest"
	"warden/internal/pipeline"
	"warden/internal/wire"
	"warden/internal/zone"
)

const encZone = `$ORIGIN example.test.
$TTL 300
@ SOA ns1 hostmaster 1 7200 900 1209600 120
@ NS ns1
ns1 A 192.0.2.1
www 60 A 192.0.2.80
www AAAA 2001:db8::80
`

// testPipeline serves encZone (and extra records) through the real query pipeline.
func testPipeline(t testing.TB, extra string) *pipeline.Pipeline {
	t.Helper()
	z, _, err := zone.Load("example.test.", "test.zone", []byte(encZone+extra))
	if err != nil {
		t.Fatal(err)
	}
	set, err := authority.New([]*zone.Zone{z})
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.NewPipeline(wire.Limits{UDPPayload: 1232}, &pipeline.Snapshot{Authority: set})
}

// certFiles writes cert's PEM files into dir and returns their paths.
func certFiles(t testing.TB, dir string, cert dnstest.TestCert) (certPath, keyPath string) {
	t.Helper()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, cert.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, cert.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// encListener starts an encrypted listener on addr ("tls://127.0.0.1:0", ...) with cert.
func encListener(t testing.TB, addr string, cfg ListenerConfig, cert dnstest.TestCert, h Handler) *Listener {
	t.Helper()
	cfg.Addr = addr
	if cfg.TLSCert == "" {
		cfg.TLSCert, cfg.TLSKey = certFiles(t, t.TempDir(), cert)
	}
	return startListener(t, cfg, h)
}

func clientTLS(cert dnstest.TestCert, protos ...string) *tls.Config {
	return &tls.Config{RootCAs: cert.Pool, ServerName: dnstest.TestCertName, NextProtos: protos}
}

// dotExchange sends q on a DoT connection and reads one answer.
func dotExchange(t testing.TB, conn net.Conn, q []byte) []byte {
	t.Helper()
	writeFramed(t, conn, q)
	return readFramed(t, conn)
}

func writeFramed(t testing.TB, conn io.Writer, q []byte) {
	t.Helper()
	if _, err := conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func readFramed(t testing.TB, conn io.Reader) []byte {
	t.Helper()
	if c, ok := conn.(net.Conn); ok {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	}
	var n [2]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		t.Fatalf("read length: %v", err)
	}
	msg := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(conn, msg); err != nil {
		t.Fatalf("read message: %v", err)
	}
	return msg
}

func udpAsk(t testing.TB, addr string, q []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(q); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("udp read: %v", err)
	}
	return buf[:n]
}

func dohClient(cert dnstest.TestCert, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: clientTLS(cert), ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func dohGet(t testing.TB, c *http.Client, url string, q []byte) *http.Response {
	t.Helper()
	resp, err := c.Get(url + "?dns=" + base64.RawURLEncoding.EncodeToString(q))
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	return resp
}

func dohPost(t testing.TB, c *http.Client, url string, q []byte) *http.Response {
	t.Helper()
	resp, err := c.Post(url, dohMediaType, bytes.NewReader(q))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	return resp
}

func body(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func doqDial(t testing.TB, addr string, cert dnstest.TestCert) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, addr, clientTLS(cert, alpnDoQ), &quic.Config{})
	if err != nil {
		t.Fatalf("doq dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.CloseWithError(0, "") })
	return conn
}

// doqExchange sends q on a new stream of conn and reads the answer up to the stream's end.
func doqExchange(t testing.TB, conn *quic.Conn, q []byte) ([]byte, error) {
	t.Helper()
	st, err := conn.OpenStream()
	if err != nil {
		return nil, err
	}
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := st.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
		return nil, err
	}
	_ = st.Close() // FIN: the query is complete (RFC 9250 §4.2)
	all, err := io.ReadAll(st)
	if err != nil {
		return nil, err
	}
	if len(all) < 2 || int(binary.BigEndian.Uint16(all)) != len(all)-2 {
		t.Fatalf("doq answer of %d bytes is not one framed message", len(all))
	}
	return all[2:], nil
}

// packQuery packs a query with ID 0, as DoQ requires and DoH recommends (for caching).
func packQuery(t testing.TB, name string, qtype uint16, edns bool) []byte {
	t.Helper()
	m := dns.NewMsg(name, qtype)
	m.ID = 0
	if edns {
		m.UDPSize = 1232
	}
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), m.Data...)
}

// TestEncryptedAnswersEqualUDP serves one pipeline over UDP, DoT, DoH (GET and POST, HTTP/2 and
// HTTP/1.1) and DoQ, and checks that every transport gives the same bytes for the same questions,
// and that a large answer, truncated over UDP, comes whole over the encrypted ones.
func TestEncryptedAnswersEqualUDP(t *testing.T) {
	var big strings.Builder
	for i := range 40 {
		big.WriteString("big TXT \"" + strings.Repeat("x", 40) + strconv.Itoa(i) + "\"\n")
	}
	p := testPipeline(t, big.String())
	cert := dnstest.SelfSigned(t)
	plain := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, p)
	dot := encListener(t, "tls://127.0.0.1:0", ListenerConfig{}, cert, p)
	doh := encListener(t, "https://127.0.0.1:0/dns-query", ListenerConfig{}, cert, p)
	doq := encListener(t, "quic://127.0.0.1:0", ListenerConfig{}, cert, p)
	if dot.String() == "" || !strings.HasPrefix(doh.String(), "doh 127.0.0.1:") {
		t.Fatalf("listener names %q %q", dot.String(), doh.String())
	}

	dotConn, err := tls.Dial("tcp", dot.Addr().String(), clientTLS(cert, alpnDoT))
	if err != nil {
		t.Fatalf("dot dial: %v", err)
	}
	defer dotConn.Close()
	url := "https://" + doh.Addr().String() + "/dns-query"
	h2, h1 := dohClient(cert, true), dohClient(cert, false)
	qc := doqDial(t, doq.Addr().String(), cert)

	questions := []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{"www.example.test.", dns.TypeA, false},
		{"WWW.Example.TEST.", dns.TypeAAAA, true},
		{"nx.example.test.", dns.TypeA, true},
		{"example.test.", dns.TypeSOA, false},
		{"www.example.org.", dns.TypeA, false}, // REFUSED
	}
	for _, q := range questions {
		raw := packQuery(t, q.name, q.qtype, q.edns)
		want := udpAsk(t, plain.UDPAddr().String(), raw)
		got := map[string][]byte{"dot": dotExchange(t, dotConn, raw)}
		for name, c := range map[string]*http.Client{"h2": h2, "h1": h1} {
			for method, send := range map[string]func(testing.TB, *http.Client, string, []byte) *http.Response{"GET": dohGet, "POST": dohPost} {
				resp := send(t, c, url, raw)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != dohMediaType {
					t.Fatalf("doh %s %s: status %d, type %q", name, method, resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				if want := map[string]int{"h2": 2, "h1": 1}[name]; resp.ProtoMajor != want {
					t.Fatalf("doh %s: spoke HTTP/%d", name, resp.ProtoMajor)
				}
				got["doh "+name+" "+method] = body(t, resp)
			}
		}
		if got["doq"], err = doqExchange(t, qc, raw); err != nil {
			t.Fatalf("doq: %v", err)
		}
		for tr, b := range got {
			if !bytes.Equal(b, want) {
				t.Errorf("%s %d over %s: %x, over UDP %x", q.name, q.qtype, tr, b, want)
			}
		}
	}

	raw := packQuery(t, "big.example.test.", dns.TypeTXT, false)
	if m := unpack(t, udpAsk(t, plain.UDPAddr().String(), raw)); !m.Truncated {
		t.Fatal("the large answer is not truncated over UDP; the test proves nothing")
	}
	full, err := doqExchange(t, qc, raw)
	if err != nil {
		t.Fatal(err)
	}
	for tr, b := range map[string][]byte{"dot": dotExchange(t, dotConn, raw), "doh": body(t, dohPost(t, h2, url, raw)), "doq": full} {
		if m := unpack(t, b); m.Truncated || len(m.Answer) != 40 {
			t.Errorf("%s: tc=%v, %d answers; want the whole answer", tr, m.Truncated, len(m.Answer))
		}
	}
}

func unpack(t testing.TB, b []byte) *dns.Msg {
	t.Helper()
	m := &dns.Msg{Data: append([]byte(nil), b...)}
	if err := m.Unpack(); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	return m
}
