package dnstest

import (
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
	"syscall"
	"testing"
	"time"
)

// TestCert is a self-signed certificate for the name dns.example and the address 127.0.0.1, for
// tests of DNS over TLS and over HTTPS.
type TestCert struct {
	Cert            tls.Certificate
	Pool            *x509.CertPool // trusts Cert
	CertPEM, KeyPEM []byte
}

// TestCertName is the name TestCert is issued to: clients verify servers with it.
const TestCertName = "dns.example"

// SelfSigned makes a TestCert valid for an hour either side of now.
func SelfSigned(t testing.TB) TestCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: TestCertName},
		DNSNames:              []string{TestCertName},
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
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return TestCert{
		Cert:    tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
		Pool:    pool,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// StartUnboundTLS runs Unbound in the foreground with a DoT and a DoH listener on free loopback
// ports, serving with cert, and returns their addresses ("127.0.0.1:PORT") once DoT answers.
// server is appended to Unbound's server: clause and may go on with clauses of its own
// (forward-zone:, say). A port taken between choosing and binding makes it try again with new
// ports. Unbound is stopped in t.Cleanup; its log is shown when the test failed. Without unbound
// the test is skipped, except when CI=true.
func StartUnboundTLS(t testing.TB, cert TestCert, server string) (dot, doh string) {
	t.Helper()
	bin := UnboundBin(t)
	dir := t.TempDir()
	for name, b := range map[string][]byte{"cert.pem": cert.CertPEM, "key.pem": cert.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var lastErr error
	for range startAttempts {
		dotPort, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		dohPort, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
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
%[6]s`, dotPort, dohPort, filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"), dir, server)
		path := filepath.Join(dir, "unbound.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		log := &SyncBuffer{}
		cmd := exec.Command(bin, "-d", "-c", path)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(stopTimeout):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		dot, doh = fmt.Sprintf("127.0.0.1:%d", dotPort), fmt.Sprintf("127.0.0.1:%d", dohPort)
		if err := waitTLS(dot, exited); err != nil {
			stop()
			lastErr = fmt.Errorf("%v\nunbound log:\n%s", err, log.String())
			continue
		}
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("unbound log:\n%s", log.String())
			}
		})
		return dot, doh
	}
	t.Fatalf("start unbound: %v", lastErr)
	return "", ""
}

// waitTLS polls until a TLS handshake on addr succeeds, the process exits, or 10 s pass.
func waitTLS(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("unbound exited during start")
		default:
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 200 * time.Millisecond}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no TLS listener on %s after 10s", addr)
}
