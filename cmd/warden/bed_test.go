package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/lab"
	"warden/internal/lab/labtest"
	"warden/internal/peers"
)

// bedQuestion is one question of the differential over the signed bed.
type bedQuestion struct {
	c        lab.Case
	name     string // c.Name, in the case it is asked in
	do, cd   bool
	adQuery  bool // AD=1 in the query, which asks for the AD bit without DO (RFC 6840 §5.7)
	withEDNS bool
}

func (q bedQuestion) String() string {
	flags := []string{}
	for _, f := range []struct {
		on   bool
		name string
	}{{q.withEDNS, "EDNS"}, {q.do, "DO"}, {q.cd, "CD"}, {q.adQuery, "AD"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	return fmt.Sprintf("%s %s [%s] (%s, built %s)", q.name, dns.TypeToString[q.c.Type], strings.Join(flags, " "), q.c.Branch, q.c.Outcome)
}

// bedQuestions asks every case of the bed five ways: DO=1; EDNS without DO; DO=1 with CD=1;
// DO=1 in mixed case; AD=1 without EDNS.
func bedQuestions() []bedQuestion {
	rng := rand.New(rand.NewPCG(12, 12))
	var qs []bedQuestion
	for _, c := range lab.BedCases() {
		qs = append(qs,
			bedQuestion{c: c, name: c.Name, do: true, withEDNS: true},
			bedQuestion{c: c, name: c.Name, withEDNS: true},
			bedQuestion{c: c, name: c.Name, do: true, cd: true, withEDNS: true},
			bedQuestion{c: c, name: dnstest.MixCase(c.Name, rng), do: true, withEDNS: true},
			bedQuestion{c: c, name: c.Name, adQuery: true},
		)
	}
	return qs
}

func askBed(addr string, q bedQuestion) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	m := dns.NewMsg(q.name, q.c.Type)
	m.RecursionDesired, m.CheckingDisabled, m.AuthenticatedData = true, q.cd, q.adQuery
	if q.withEDNS {
		m.UDPSize, m.Security = 1232, q.do
	}
	r, err := dns.Exchange(ctx, m, "udp", addr)
	if err == nil && r.Truncated {
		r, err = dns.Exchange(ctx, m, "tcp", addr)
	}
	return r, err
}

// bedAnswer is what the differential compares: rcode, AD and the answer section as a set (TTLs
// aside, owner names in lower case).
func bedAnswer(r *dns.Msg) string {
	var rrs []string
	for _, rr := range r.Answer {
		f := strings.Fields(rr.String())
		rrs = append(rrs, strings.ToLower(f[0])+" "+strings.Join(f[2:], " "))
	}
	slices.Sort(rrs)
	rrs = slices.Compact(rrs)
	return fmt.Sprintf("%s AD=%t answer {%s}", dns.RcodeToString[r.Rcode], r.AuthenticatedData, strings.Join(rrs, "; "))
}

// TestValidatingResolverMatchesUnbound: a Warden resolver started with the signed bed's root hints
// and trust anchor (--root-hints FILE --trust-anchor FILE) and a validating Unbound with the same
// anchor must give every question over the bed the same rcode, AD bit and answer set: every
// branch (secure, insecure, bogus), asked with and without DO, with CD, in mixed case and with AD.
func TestValidatingResolverMatchesUnbound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds warden")
	}
	bed, _, port := labtest.StartBed(t)
	unbound := dnstest.StartValidatingUnboundStubs(t, "127.0.35.1", bed.TrustAnchor, bed.UnboundStubs(port))
	warden := startBedWarden(t, bed, port)
	qs := bedQuestions()
	if len(qs) < 200 {
		t.Fatalf("%d questions; at least 200 wanted", len(qs))
	}
	var differ []string
	for _, q := range qs {
		w, werr := askBed(warden, q)
		u, uerr := askBed(unbound, q)
		if uerr != nil {
			t.Fatalf("%s to Unbound: %v", q, uerr)
		}
		want := bedAnswer(u)
		got := fmt.Sprint(werr)
		if werr == nil {
			got = bedAnswer(w)
		}
		if got != want {
			differ = append(differ, fmt.Sprintf("%s\n\tWarden  %s\n\tUnbound %s", q, got, want))
		}
	}
	if len(differ) > 0 {
		t.Errorf("%d of %d questions differ from Unbound:\n%s", len(differ), len(qs), strings.Join(differ, "\n"))
	}
	t.Logf("%d questions over %d branches, %d differ", len(qs), len(bed.Origins()), len(differ))
}

// startBedWarden runs the warden binary as a validating resolver over the bed and returns its
// address once it answers.
func startBedWarden(t *testing.T, bed *lab.Bed, port int) string {
	t.Helper()
	dir := t.TempDir()
	bin := dnstest.BuildWarden(t, dir)
	addr := freeAddr(t, "127.0.35.2")
	cfg := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfg, fmt.Sprintf("listen: [%s]\nstorage: %s\ncontrol:\n  socket: \"\"\nresolver:\n  server_port: %d\n",
		addr, filepath.Join(dir, "storage"), port))
	cmd := exec.Command(bin, "serve", "--config", cfg, "--root-hints", bed.Hints, "--trust-anchor", bed.TrustAnchor)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("warden output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := dns.NewMsg(".", dns.TypeSOA)
		m.RecursionDesired = true
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := dns.Exchange(ctx, m, "udp", addr)
		cancel()
		if err == nil {
			return addr
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("warden serve --root-hints %s --trust-anchor %s exited (%v); a validating resolver must accept them:\n%s", bed.Hints, bed.TrustAnchor, err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("warden did not answer on %s within 10 s:\n%s", addr, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr returns ip with a port free for UDP and TCP.
func freeAddr(t *testing.T, ip string) string {
	t.Helper()
	for range 50 {
		addr := net.JoinHostPort(ip, strconv.Itoa(20000+rand.IntN(20000)))
		if peers.CheckFree(addr) == nil {
			return addr
		}
	}
	t.Fatalf("no free port on %s", ip)
	return ""
}
