package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/upstream"
)

// unboundLocalData is what Unbound, as the trusted resolver, serves from its own configuration;
// it agrees with realZone except where the cases below need it not to.
const unboundLocalData = `
	local-zone: "test." static
	local-data: "www.open.test. 60 IN A 192.0.2.1"
	local-data: "www.blocked.test. 60 IN A 192.0.2.2"
	local-data: "www.moved.test. 60 IN A 203.0.113.4"
	local-data: "www.cdn.test. 60 IN A 192.0.2.201"
`

// TestTrustedUnbound compares answers with Unbound reached over DoT and over DoH: the trusted
// channel a user gives as tls://IP:PORT#name or https://IP:PORT/dns-query#name.
func TestTrustedUnbound(t *testing.T) {
	bin := dnstest.UnboundBin(t)
	certPEM, keyPEM, pool := selfSigned(t)
	dir := t.TempDir()
	for name, b := range map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dot, doh := startUnbound(t, bin, dir)
	res := serveUDP(t, "127.0.0.20", racing(parseZone(t, realZone), parseZone(t, forgedZone)))
	opts := upstream.Options{Timeout: 5 * time.Second, TLS: &tls.Config{RootCAs: pool}}
	for _, addr := range []string{"tls://" + dot + "#dns.example", "https://" + doh + "/dns-query#dns.example"} {
		tr, err := OpenTrusted(addr, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.(*Resolver).Close()
		p := testProber(t, tr, nil)
		p.Timeout = 5 * time.Second
		want := map[string]Verdict{
			"www.open.test.":    Consistent,
			"www.blocked.test.": Injected,
			"www.moved.test.":   Redirected,
			"www.cdn.test.":     Consistent,
			"gone.test.":        Consistent, // NXDOMAIN on both sides
		}
		var targets []Target
		for _, n := range []string{"www.open.test.", "www.blocked.test.", "www.moved.test.", "www.cdn.test.", "gone.test."} {
			targets = append(targets, Target{Name: n, Type: dns.TypeA, Resolver: res})
		}
		for _, r := range p.Run(context.Background(), targets) {
			if r.Verdict != want[r.Name] {
				t.Errorf("%s: %s: %s (%s), want %s", addr, r.Name, r.Verdict, r.Evidence, want[r.Name])
			}
		}
	}
}

// TestOpenTrusted checks how --trusted is read: a file when one exists, an address otherwise.
func TestOpenTrusted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known.txt")
	if err := os.WriteFile(path, []byte(knownText), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := OpenTrusted(path, upstream.Options{}); err != nil || tr.String() != path {
		t.Errorf("file: %v, %v", tr, err)
	}
	if tr, err := OpenTrusted("tls://192.0.2.1:853#dns.example", upstream.Options{}); err != nil || !strings.Contains(tr.String(), "192.0.2.1:853") {
		t.Errorf("DoT address: %v, %v", tr, err)
	}
	if _, err := OpenTrusted(filepath.Join(t.TempDir(), "missing.txt"), upstream.Options{}); err == nil || !strings.Contains(err.Error(), "neither a readable file nor a resolver address") {
		t.Errorf("missing file: error %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(bad, []byte("www.example. A nowhere\n"), 0o644)
	if _, err := OpenTrusted(bad, upstream.Options{}); err == nil || !strings.Contains(err.Error(), "bad.txt:1:") {
		t.Errorf("bad file: error %v", err)
	}
}

// startUnbound runs Unbound in the foreground with DoT and DoH listeners on free loopback ports,
// serving unboundLocalData, and returns their addresses once DoT answers. A port taken between
// choosing and binding makes it try again with new ports.
func startUnbound(t *testing.T, bin, dir string) (dot, doh string) {
	t.Helper()
	var lastErr error
	for range 3 {
		dotPort, dohPort := freeTCPPort(t), freeTCPPort(t)
		conf := fmt.Sprintf(`server:
	interface: 127.0.0.1@%[1]d
	interface: 127.0.0.1@%[2]d
	tls-port: %[1]d
	https-port: %[2]d
	tls-service-key: %[3]q
	tls-service-pem: %[4]q
	port: %[1]d
	do-udp: no
	do-daemonize: no
	username: ""
	chroot: ""
	directory: %[5]q
	pidfile: ""
	use-syslog: no
	logfile: ""
	num-threads: 1
	module-config: "iterator"
	access-control: 127.0.0.0/8 allow
%[6]s`, dotPort, dohPort, filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"), dir, unboundLocalData)
		path := filepath.Join(dir, "unbound.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		log := &syncLog{}
		cmd := exec.Command(bin, "-d", "-c", path)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
		dot, doh = fmt.Sprintf("127.0.0.1:%d", dotPort), fmt.Sprintf("127.0.0.1:%d", dohPort)
		if err := waitTLS(dot, exited); err != nil {
			stop()
			lastErr = fmt.Errorf("%v\nunbound log:\n%s", err, log.String())
			continue
		}
		t.Cleanup(stop)
		return dot, doh
	}
	t.Fatalf("start unbound: %v", lastErr)
	return "", ""
}

// syncLog collects a child process's output, which it writes while the test may read it.
type syncLog struct {
	mu  sync.Mutex
	buf []byte
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	return len(p), nil
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// waitTLS polls until a TLS handshake on addr succeeds, the process exits, or 10 s pass.
func waitTLS(addr string, exited <-chan struct{}) error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			return errors.New("unbound exited during start")
		default:
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 200 * time.Millisecond}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("no TLS listener on %s after 10s", addr)
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// selfSigned returns a certificate for dns.example and 127.0.0.1 and its key, both PEM, and a
// pool that trusts the certificate.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dns.example"},
		DNSNames:              []string{"dns.example"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), pool
}
