package dnstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"warden/internal/peers"
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
	UnboundBin(t)
	dir := t.TempDir()
	for name, b := range map[string][]byte{"cert.pem": cert.CertPEM, "key.pem": cert.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var dohPort int
	p := startPeer(t, "unbound", true, func() (*peers.Proc, error) {
		dohPort = freePort(t)
		return peers.StartUnbound(peers.Unbound{
			DoTPort:  freePort(t),
			DoHPort:  dohPort,
			CertFile: filepath.Join(dir, "cert.pem"),
			KeyFile:  filepath.Join(dir, "key.pem"),
			Dir:      dir,
			Server:   server,
		})
	})
	return p.Addr(), net.JoinHostPort("127.0.0.1", strconv.Itoa(dohPort))
}
