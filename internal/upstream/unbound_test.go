package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// TestAgainstUnbound checks DoT and DoH against a real server: Unbound, serving both with a test
// certificate and forwarding up.test. to Knot DNS.
func TestAgainstUnbound(t *testing.T) {
	bin := dnstest.UnboundBin(t)
	knot := dnstest.StartKnot(t, []dnstest.Zone{{Origin: "up.test.", File: filepath.Join("testdata", "up.test.zone")}})
	cert, pool := selfSigned(t)
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "key.pem"), "PRIVATE KEY", keyDER)
	writePEM(t, filepath.Join(dir, "cert.pem"), "CERTIFICATE", cert.Certificate[0])

	dotAddr, dohAddr := startUnbound(t, bin, dir, knot)
	opts := Options{Timeout: slow, TLS: &tls.Config{RootCAs: pool}}
	addrs := []string{
		"tls://" + dotAddr + "#dns.example",
		"https://" + dohAddr + "/dns-query#dns.example",
	}
	for _, a := range addrs {
		for _, get := range []bool{false, true} {
			opts.DoHGet = get
			up, err := ParseAddrOptions(a, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer up.(interface{ Close() error }).Close()
			q := mustQuery(t, "www.up.test.", dns.TypeA)
			q.RD = true
			r, err := up.Exchange(context.Background(), q)
			if err != nil {
				t.Fatalf("%s get=%v: %v", a, get, err)
			}
			if got := firstA(t, unpack(t, r.Data)); got != netip.MustParseAddr("192.0.2.10") {
				t.Errorf("%s: A = %v", a, got)
			}
			if !r.RecursionAvailable() || r.Rcode != dns.RcodeSuccess {
				t.Errorf("%s: flags %#04x rcode %d", a, r.Flags, r.Rcode)
			}
		}
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startUnbound runs unbound in the foreground with DoT and DoH listeners on free loopback ports
// and returns their addresses once DoT answers. A port taken between choosing and binding makes
// it try again with new ports.
func startUnbound(t *testing.T, bin, dir, knot string) (dot, doh string) {
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
	do-not-query-localhost: no
	access-control: 127.0.0.0/8 allow
	local-zone: "test." nodefault
forward-zone:
	name: "up.test."
	forward-addr: %[6]s
`, dotPort, dohPort, filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"), dir,
			unboundAddr(knot))
		path := filepath.Join(dir, "unbound.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		var log syncLog
		cmd := exec.Command(bin, "-d", "-c", path)
		cmd.Stdout, cmd.Stderr = &log, &log
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
		dot = fmt.Sprintf("127.0.0.1:%d", dotPort)
		doh = fmt.Sprintf("127.0.0.1:%d", dohPort)
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

// unboundAddr turns host:port into unbound's host@port.
func unboundAddr(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return host + "@" + port
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
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
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
