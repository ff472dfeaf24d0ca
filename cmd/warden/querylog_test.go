package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/lab/labtest"
)

// The query log end to end, with the built binary: a server with --query-log answers queries
// from two clients; `warden log` finds them within two seconds by name (with and without the
// final dot, in any case), by client, with --since and --limit, and --json has the fields;
// /api/querylog answers the same search behind the token; after a restart the old rows are
// still there beside the new ones.

const queryLogZone = `$TTL 300
@ SOA ns h 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
www A 192.0.2.80
mail A 192.0.2.25
`

// askFrom sends one A query for name from the address local to server and returns the rcode.
func askFrom(local, server, name string) (int, error) {
	m := dns.NewMsg(name, dns.TypeA)
	if err := m.Pack(); err != nil {
		return 0, err
	}
	laddr, err := net.ResolveUDPAddr("udp", local+":0")
	if err != nil {
		return 0, err
	}
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return 0, err
	}
	c, err := net.DialUDP("udp", laddr, raddr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(m.Data); err != nil {
		return 0, err
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		return 0, err
	}
	if n < 12 {
		return 0, fmt.Errorf("answer of %d bytes", n)
	}
	return int(buf[3] & 0xF), nil
}

// qlServer is one run of the built warden with the query log on.
type qlServer struct {
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *syncBuffer
}

func startQueryLogServer(t *testing.T, bin, cfgPath, dnsAddr string) *qlServer {
	t.Helper()
	s := &qlServer{cmd: exec.Command(bin, "serve", "--config", cfgPath), exited: make(chan struct{}), logs: &syncBuffer{}}
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rc, err := askFrom("127.0.8.1", dnsAddr, "ns.ql.test."); err == nil && rc == 0 {
			return s
		}
		select {
		case <-s.exited:
			t.Fatalf("warden exited:\n%s", s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("warden did not answer within 10 s:\n%s", s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *qlServer) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// wardenLog runs `warden log` with args and returns its output, failing the test on an exit
// status other than 0.
func wardenLog(t *testing.T, bin string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, append([]string{"log"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("warden log %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

// logRows runs `warden log --json` with args and decodes each line.
func logRows(t *testing.T, bin string, args ...string) []map[string]any {
	t.Helper()
	out := wardenLog(t, bin, append([]string{"--json"}, args...)...)
	var rows []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("warden log --json: line %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

// rowsWithin searches until want rows are found, for at most within; it returns what it found
// and how long that took.
func rowsWithin(t *testing.T, bin string, want int, within time.Duration, args ...string) ([]map[string]any, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		rows := logRows(t, bin, args...)
		if len(rows) >= want || time.Since(start) > within {
			return rows, time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestQueryLogEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds warden")
	}
	dir := t.TempDir()
	bin := dnstest.BuildWarden(t, dir)
	zoneFile := filepath.Join(dir, "ql.test.zone")
	writeFile(t, zoneFile, queryLogZone)
	token := "querylog-token-0123456789"
	writeFile(t, filepath.Join(dir, "token"), token+"\n")
	if err := os.Chmod(filepath.Join(dir, "token"), 0o600); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "qlog")
	host := fmt.Sprintf("127.0.8.%d", 2+rand.IntN(200))
	dnsAddr := fmt.Sprintf("%s:%d", host, 20000+rand.IntN(20000))
	httpAddr := fmt.Sprintf("%s:%d", host, 40000+rand.IntN(20000))
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`listen: [%s]
zones:
  - origin: ql.test.
    file: ql.test.zone
storage: %s
control:
  socket: ""
http:
  listen: [%s]
  token_file: token
query_log:
  dir: qlog
  max_bytes: 104857600
`, dnsAddr, filepath.Join(dir, "storage"), httpAddr))

	srv := startQueryLogServer(t, bin, cfgPath, dnsAddr)
	before := time.Now()
	for _, q := range []struct{ from, name string }{
		{"127.0.8.251", "www.ql.test."}, {"127.0.8.252", "WWW.QL.test."}, {"127.0.8.252", "mail.ql.test."}, {"127.0.8.251", "nothing.ql.test."},
	} {
		if _, err := askFrom(q.from, dnsAddr, q.name); err != nil {
			t.Fatalf("query %s from %s: %v", q.name, q.from, err)
		}
		// A row's time is read after its reply left, on whichever worker took it; a worker
		// descheduled between the send and the clock reading stamps its row late, so queries
		// asked back to back can be logged out of order on a busy machine. The pause keeps the
		// order this test checks far above that gap.
		time.Sleep(50 * time.Millisecond)
	}
	asked := time.Now()

	// By name, without the final dot: both answers to www, the newest first, within 2 s.
	rows, took := rowsWithin(t, bin, 2, 2*time.Second, "--query-log", logDir, "--name", "Www.Ql.Test")
	if len(rows) != 2 {
		t.Fatalf("--name without the final dot: %d rows after %v, want 2: %v\n%s", len(rows), took, rows, srv.logs.String())
	}
	t.Logf("rows searchable %v after the queries", took)
	if rows[0]["client"] != "127.0.8.252" || rows[1]["client"] != "127.0.8.251" {
		t.Errorf("not newest first: %v", rows)
	}
	r := rows[1]
	for k, want := range map[string]any{"name": "www.ql.test.", "qtype": "A", "rcode": "NOERROR", "source": "authority", "transport": "udp"} {
		if r[k] != want {
			t.Errorf("row field %s = %v, want %v (row %v)", k, r[k], want, r)
		}
	}
	if _, ok := r["latency_us"].(float64); !ok {
		t.Errorf("no latency_us: %v", r)
	}
	tm, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r["time"]))
	if err != nil || tm.Before(before.Add(-time.Second)) || tm.After(asked.Add(time.Second)) {
		t.Errorf("time %v not between %v and %v: %v", r["time"], before, asked, err)
	}
	if _, ok := r["policy_set"]; ok {
		t.Errorf("policy_set shown for an answer no policy made: %v", r)
	}
	// With the final dot, the same rows.
	if rows := logRows(t, bin, "--query-log", logDir, "--name", "www.ql.test."); len(rows) != 2 {
		t.Errorf("--name with the final dot: %d rows", len(rows))
	}
	// By client: mail and www from .252, newest (mail) first; NXDOMAIN for the missing name.
	rows = logRows(t, bin, "--query-log", logDir, "--client", "127.0.8.252")
	if len(rows) != 2 || rows[0]["name"] != "mail.ql.test." {
		t.Errorf("--client: %v", rows)
	}
	if rows := logRows(t, bin, "--query-log", logDir, "--name", "nothing.ql.test"); len(rows) != 1 || rows[0]["rcode"] != "NXDOMAIN" {
		t.Errorf("NXDOMAIN row: %v", rows)
	}
	// --limit keeps the newest; --since a moment ago, nothing older.
	if rows := logRows(t, bin, "--query-log", logDir, "--limit", "1", "--client", "127.0.8.251"); len(rows) != 1 || rows[0]["name"] != "nothing.ql.test." {
		t.Errorf("--limit 1: %v", rows)
	}
	time.Sleep(1100 * time.Millisecond)
	if rows := logRows(t, bin, "--query-log", logDir, "--since", "1s", "--name", "www.ql.test"); len(rows) != 0 {
		t.Errorf("--since 1s found older rows: %v", rows)
	}
	if rows := logRows(t, bin, "--query-log", logDir, "--since", "1h", "--name", "www.ql.test"); len(rows) != 2 {
		t.Errorf("--since 1h: %d rows", len(rows))
	}
	if out := wardenLog(t, bin, "--query-log", logDir, "--name", "mail.ql.test"); !strings.Contains(out, "mail.ql.test.") || !strings.Contains(out, "127.0.8.252") {
		t.Errorf("table output:\n%s", out)
	}

	// The same search over HTTP, behind the token.
	get := func(target string, auth bool) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+target, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, _ := get("/api/querylog?name=www.ql.test", false); code != http.StatusUnauthorized {
		t.Errorf("/api/querylog without the token: %d", code)
	}
	code, body := get("/api/querylog?name=www.ql.test&client=127.0.8.251&since=1h&limit=5", true)
	var answer struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(body), &answer); code != 200 || err != nil || len(answer.Rows) != 1 || answer.Rows[0]["client"] != "127.0.8.251" {
		t.Errorf("/api/querylog: %d %s", code, body)
	}
	if code, body := get("/api/querylog?limit=lots", true); code != http.StatusBadRequest || !strings.Contains(body, "limit") {
		t.Errorf("/api/querylog?limit=lots: %d %s", code, body)
	}
	if code, body := get("/metrics", false); code != 200 || !strings.Contains(body, "warden_query_log_rows_total") || !strings.Contains(body, "warden_query_log_dropped_total 0") {
		t.Errorf("/metrics without the query log's counters or with drops:\n%.2000s", body)
	}

	// A restart keeps the rows, and the new ones join them.
	srv.stop()
	startQueryLogServer(t, bin, cfgPath, dnsAddr)
	if _, err := askFrom("127.0.8.251", dnsAddr, "www.ql.test."); err != nil {
		t.Fatal(err)
	}
	rows, took = rowsWithin(t, bin, 3, 2*time.Second, "--query-log", logDir, "--name", "www.ql.test")
	if len(rows) != 3 {
		t.Fatalf("after a restart: %d rows after %v, want 3", len(rows), took)
	}

	// Usage errors name the flag; a missing directory is an error, not an empty answer.
	out, err := exec.Command(bin, "log", "--query-log", logDir, "--client", "not-an-ip").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "client") {
		t.Errorf("bad --client: exit %d: %s", code, out)
	}
	out, err = exec.Command(bin, "log", "--query-log", filepath.Join(dir, "none")).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "no such directory") {
		t.Errorf("missing directory: exit %d: %s", code, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestQueryLogUpstream checks the upstream column with real upstreams: a forwarded zone's answer
// names the forwarder (knotd) as configured, a resolved answer the authoritative server of the
// lab that gave it (knotd serving shop.example. on 127.0.3.1), and the same question answered
// again from the cache names none.
func TestQueryLogUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds warden")
	}
	l := labtest.Start(t)
	knot := dnstest.StartKnot(t, dnstest.TestZones()[3:4]) // other.test.
	dir := t.TempDir()
	bin := dnstest.BuildWarden(t, dir)
	writeFile(t, filepath.Join(dir, "ql.test.zone"), queryLogZone)
	writeFile(t, filepath.Join(dir, "root.hints"), l.RootHints())
	logDir := filepath.Join(dir, "qlog")
	dnsAddr := fmt.Sprintf("127.0.42.%d:%d", 2+rand.IntN(200), 20000+rand.IntN(20000))
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`listen: [%s]
zones:
  - origin: ql.test.
    file: ql.test.zone
storage: %s
control:
  socket: ""
resolver:
  root_hints: root.hints
  forward:
    - zone: other.test.
      upstreams: [%q]
query_log:
  dir: qlog
`, dnsAddr, filepath.Join(dir, "storage"), knot))
	srv := startQueryLogServer(t, bin, cfgPath, dnsAddr)
	for _, name := range []string{"www.other.test.", "www.shop.example.", "www.shop.example."} {
		m, err := dnstest.Exchange(dnsAddr, dnstest.Query{Name: name, Type: dns.TypeA, RD: true})
		if err != nil || m.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: %v %v\n%s", name, m, err, srv.logs.String())
		}
		time.Sleep(50 * time.Millisecond) // keeps the rows' order far above the clock's gaps
	}
	rows, took := rowsWithin(t, bin, 1, 2*time.Second, "--query-log", logDir, "--name", "www.other.test")
	if len(rows) != 1 || rows[0]["source"] != "forward" || rows[0]["upstream"] != knot {
		t.Errorf("forwarded answer after %v: %v, want source forward, upstream %s", took, rows, knot)
	}
	rows, took = rowsWithin(t, bin, 2, 2*time.Second, "--query-log", logDir, "--name", "www.shop.example")
	if len(rows) != 2 {
		t.Fatalf("resolved answers after %v: %v, want 2 rows\n%s", took, rows, srv.logs.String())
	}
	// Newest first: the cache hit, then the resolution.
	if rows[0]["source"] != "cache" || rows[0]["upstream"] != nil {
		t.Errorf("cache hit: %v, want source cache and no upstream", rows[0])
	}
	if rows[1]["source"] != "resolver" || rows[1]["upstream"] != "127.0.3.1" {
		t.Errorf("resolved answer: %v, want source resolver, upstream 127.0.3.1", rows[1])
	}
	// An authoritative answer has no upstream.
	if _, err := askFrom("127.0.42.251", dnsAddr, "www.ql.test."); err != nil {
		t.Fatal(err)
	}
	rows, _ = rowsWithin(t, bin, 1, 2*time.Second, "--query-log", logDir, "--name", "www.ql.test")
	if len(rows) != 1 || rows[0]["source"] != "authority" || rows[0]["upstream"] != nil {
		t.Errorf("authoritative answer: %v, want no upstream", rows)
	}
}
