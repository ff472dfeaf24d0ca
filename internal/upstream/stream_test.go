package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// TestTCPSkipsMismatch: a stale or forged message on the stream is skipped and counted; the
// matching one after it is accepted.
func TestTCPSkipsMismatch(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := streamServer(t, l, false, func(q []byte) [][]byte {
		good := answerA(q)
		bad := append([]byte(nil), good...)
		bad[0] ^= 0xff
		return [][]byte{bad, {0}, good}
	})
	up := NewTCP(addr, Options{Timeout: slow})
	r, err := up.Exchange(context.Background(), mustQuery(t, "www.example.", dns.TypeA))
	if err != nil {
		t.Fatal(err)
	}
	if a := firstA(t, unpack(t, r.Data)); a.String() != "192.0.2.1" {
		t.Errorf("A = %v", a)
	}
	if s := up.Stats(); s.Mismatches != 2 || s.Queries != 1 {
		t.Errorf("stats %+v, want 2 mismatches", s)
	}
}

// TestTCPTimeout: a server that sends only non-matching messages and then nothing makes the
// exchange end at the deadline.
func TestTCPTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := streamServer(t, l, false, func(q []byte) [][]byte {
		b := answerA(q)
		b[0] ^= 0xff
		return [][]byte{b}
	})
	up := NewTCP(addr, Options{Timeout: 200 * time.Millisecond})
	_, err = up.Exchange(context.Background(), mustQuery(t, "www.example.", dns.TypeA))
	if !isTimeout(err) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	if s := up.Stats(); s.Timeouts != 1 || s.Mismatches != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestTCPClosed: a server that hangs up without answering gives an error at once, not a timeout.
func TestTCPClosed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	defer func() { l.Close(); <-done }()
	up := NewTCP(l.Addr().String(), Options{Timeout: slow})
	start := time.Now()
	_, err = up.Exchange(context.Background(), mustQuery(t, "www.example.", dns.TypeA))
	if err == nil || isTimeout(err) {
		t.Fatalf("err %v, want a closed-connection error", err)
	}
	if d := time.Since(start); d > bound {
		t.Errorf("took %v", d)
	}
	if s := up.Stats(); s.Errors != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestTCPReuse: sequential queries share one connection; when the server hangs up after each
// answer, the next query notices the closed idle connection and succeeds on a new one.
func TestTCPReuse(t *testing.T) {
	for _, hangUp := range []bool{false, true} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr, accepts := streamServer(t, l, hangUp, func(q []byte) [][]byte { return [][]byte{answerA(q)} })
		up := NewTCP(addr, Options{Timeout: slow})
		const n = 5
		for i := range n {
			if _, err := up.Exchange(context.Background(), mustQuery(t, "www.example.", dns.TypeA)); err != nil {
				t.Fatalf("hangUp=%v query %d: %v", hangUp, i, err)
			}
		}
		want := int32(1)
		if hangUp {
			want = n
		}
		if got := accepts.Load(); got != want {
			t.Errorf("hangUp=%v: %d connections for %d queries, want %d", hangUp, got, n, want)
		}
		if s := up.Stats(); s.Queries != n || s.Errors != 0 || s.Mismatches != 0 {
			t.Errorf("hangUp=%v: stats %+v", hangUp, s)
		}
		up.Close()
	}
}

// TestTCPConcurrent runs queries in parallel on one upstream: each gets its own reply, and the
// idle pool stays within its bound.
func TestTCPConcurrent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	taddr, _ := streamServer(t, l, false, func(q []byte) [][]byte { return [][]byte{answerA(q)} })
	up := NewTCP(taddr, Options{Timeout: slow})
	defer up.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			name := fmt.Sprintf("n%d.example.", i)
			q, err := NewQuery(name, dns.TypeA)
			if err != nil {
				errs <- err
				return
			}
			r, err := up.Exchange(context.Background(), q)
			if err != nil {
				errs <- err
				return
			}
			m := &dns.Msg{Data: r.Data}
			if err := m.Unpack(); err != nil || m.Question[0].Header().Name != name {
				errs <- fmt.Errorf("query %s got %v (%v)", name, m.Question, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	up.pool.mu.Lock()
	defer up.pool.mu.Unlock()
	if len(up.pool.idle) > maxIdleConns {
		t.Errorf("%d idle connections, bound is %d", len(up.pool.idle), maxIdleConns)
	}
}

func tlsServer(t *testing.T) (addr string, cfg *tls.Config, accepts *atomic.Int32) {
	t.Helper()
	cert, pool := selfSigned(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	addr, accepts = streamServer(t, l, false, func(q []byte) [][]byte { return [][]byte{answerA(q)} })
	return addr, &tls.Config{RootCAs: pool}, accepts
}

func TestDoT(t *testing.T) {
	addr, cfg, accepts := tlsServer(t)
	ctx := context.Background()
	for _, s := range []string{"tls://" + addr + "#dns.example", "tls://" + addr} {
		up, err := ParseAddrOptions(s, Options{TLS: cfg, Timeout: slow})
		if err != nil {
			t.Fatal(err)
		}
		defer up.(*DoT).Close()
		for range 3 {
			r, err := up.Exchange(ctx, mustQuery(t, "www.example.", dns.TypeA))
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			if a := firstA(t, unpack(t, r.Data)); a.String() != "192.0.2.1" {
				t.Errorf("%s: A = %v", s, a)
			}
		}
	}
	// Each upstream reuses its connection: two upstreams, two handshakes for six queries.
	if n := accepts.Load(); n != 2 {
		t.Errorf("%d TLS connections, want 2", n)
	}
	// A name the certificate does not carry must fail verification.
	up, err := ParseAddrOptions("tls://"+addr+"#other.example", Options{TLS: cfg, Timeout: slow})
	if err != nil {
		t.Fatal(err)
	}
	_, err = up.Exchange(ctx, mustQuery(t, "www.example.", dns.TypeA))
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("err %v, want a certificate verification error", err)
	}
	if s := up.Stats(); s.Errors != 1 {
		t.Errorf("stats %+v", s)
	}
	// Unknown roots: the system pool does not trust the test certificate.
	if _, err := NewDoT(addr, Options{Timeout: slow}).Exchange(ctx, mustQuery(t, "www.example.", dns.TypeA)); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	if cfg.ServerName != "" {
		t.Errorf("caller's tls.Config was modified: ServerName %q", cfg.ServerName)
	}
}
