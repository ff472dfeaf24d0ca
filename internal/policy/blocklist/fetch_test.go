package blocklist

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// listServer is an HTTP server whose answer the test changes between fetches.
type listServer struct {
	*httptest.Server
	handler atomic.Pointer[http.HandlerFunc]
	mu      sync.Mutex
	reqs    []*http.Request
}

func newListServer(t *testing.T) *listServer {
	s := &listServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.mu.Unlock()
		(*s.handler.Load())(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *listServer) set(h http.HandlerFunc) { s.handler.Store(&h) }

func (s *listServer) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

func serve(status int, etag, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if etag != "" {
			w.Header().Set("ETag", etag)
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// TestFetchKeepsPreviousList walks one URL through the answers a list server gives in practice and
// checks after each that a failure keeps the list loaded.
func TestFetchKeepsPreviousList(t *testing.T) {
	srv := newListServer(t)
	f := &Fetcher{
		Sources:  []Source{{Location: srv.URL + "/hosts.txt"}},
		Timeout:  300 * time.Millisecond,
		MaxBytes: 1 << 10,
		Log:      quiet,
	}
	var errs []error
	f.OnError = func(_ Source, err error) { errs = append(errs, err) }
	f.lists = make([]*List, 1)
	var st fetchState

	steps := []struct {
		name    string
		h       http.HandlerFunc
		changed bool
		err     string   // substring of the error reported; "" for none
		want    []string // entries in force afterwards
		check   func(r *http.Request) string
	}{
		{name: "first load", h: serve(200, `"v1"`, "||a.example^\n"), changed: true, want: []string{"a.example. +sub"},
			check: func(r *http.Request) string {
				if ua := r.Header.Get("User-Agent"); ua != "warden" {
					return "User-Agent " + ua
				}
				if r.Header.Get("If-None-Match") != "" {
					return "first fetch sent If-None-Match"
				}
				return ""
			}},
		{name: "not modified", h: serve(200, `"v1"`, "never sent"), want: []string{"a.example. +sub"},
			check: func(r *http.Request) string {
				if got := r.Header.Get("If-None-Match"); got != `"v1"` {
					return "If-None-Match " + got
				}
				return ""
			}},
		{name: "server error", h: serve(500, "", "oops"), err: "500 Internal Server Error", want: []string{"a.example. +sub"}},
		{name: "body cut short", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "||b.example^\n||c.exa")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // closes the connection mid-body
		}, err: "unexpected EOF", want: []string{"a.example. +sub"}},
		{name: "too slow", h: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			io.WriteString(w, "||b.example^\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, err: "deadline exceeded", want: []string{"a.example. +sub"}},
		{name: "no entries", h: serve(200, "", "# emptied by mistake\n<html>error page</html>\n"), err: "no entries",
			want: []string{"a.example. +sub"}},
		{name: "too large", h: serve(200, "", strings.Repeat("0.0.0.0 big.example\n", 100)), err: "larger than 1024 bytes",
			want: []string{"a.example. +sub"}},
		{name: "same content, new validator", h: serve(200, `"v2"`, "||a.example^\n"), want: []string{"a.example. +sub"}},
		{name: "validator remembered", h: serve(200, `"v2"`, "never sent"), want: []string{"a.example. +sub"}},
		{name: "new content", h: serve(200, `"v3"`, "||b.example^\n0.0.0.0 c.example\n"), changed: true,
			want: []string{"b.example. +sub", "c.example."}},
	}
	client := srv.Client()
	for _, step := range steps {
		errs = nil
		srv.set(step.h)
		changed := f.refresh(t.Context(), client, 0, &st)
		if changed != step.changed {
			t.Errorf("%s: changed = %v, want %v", step.name, changed, step.changed)
		}
		switch {
		case step.err == "" && len(errs) > 0:
			t.Errorf("%s: unexpected error %v", step.name, errs[0])
		case step.err != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), step.err)):
			t.Errorf("%s: errors %v, want one containing %q", step.name, errs, step.err)
		}
		if got := entries(f.Lists()[0]); !slices.Equal(got, step.want) {
			t.Errorf("%s: list in force %q, want %q", step.name, got, step.want)
		}
		if step.check != nil {
			if msg := step.check(srv.last()); msg != "" {
				t.Errorf("%s: %s", step.name, msg)
			}
		}
	}
	if st.failures != 0 {
		t.Errorf("failures = %d after a success", st.failures)
	}

	srv.Close()
	errs = nil
	f.refresh(t.Context(), client, 0, &st)
	if len(errs) != 1 || len(f.Lists()[0].Entries) != 2 {
		t.Errorf("server gone: errors %v, list %q", errs, entries(f.Lists()[0]))
	}
}

func TestFetchFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list.txt")
	write := func(text string, age time.Duration) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-age)
		if err := os.Chtimes(path, when, when); err != nil {
			t.Fatal(err)
		}
	}
	var errs []error
	f := &Fetcher{Sources: []Source{{Location: path, Format: Domains, Allow: true}}, Log: quiet,
		OnError: func(_ Source, err error) { errs = append(errs, err) }}
	f.lists = make([]*List, 1)
	var st fetchState

	write("a.example\n", time.Hour)
	if !f.refresh(t.Context(), nil, 0, &st) || !slices.Equal(entries(f.Lists()[0]), []string{"a.example. allow"}) {
		t.Fatalf("first load: %q %v", entries(f.Lists()[0]), errs)
	}
	if f.refresh(t.Context(), nil, 0, &st) {
		t.Error("unchanged file read again")
	}
	write("b.example\n", 30*time.Minute)
	if !f.refresh(t.Context(), nil, 0, &st) || !slices.Equal(entries(f.Lists()[0]), []string{"b.example. allow"}) {
		t.Errorf("changed file: %q %v", entries(f.Lists()[0]), errs)
	}
	write("", 20*time.Minute)
	if f.refresh(t.Context(), nil, 0, &st) || len(errs) != 1 || !strings.Contains(errs[0].Error(), "no entries") {
		t.Errorf("emptied file: %v", errs)
	}
	os.Remove(path)
	if f.refresh(t.Context(), nil, 0, &st) || len(errs) != 2 || !errors.Is(errs[1], os.ErrNotExist) {
		t.Errorf("removed file: %v", errs)
	}
	if !slices.Equal(entries(f.Lists()[0]), []string{"b.example. allow"}) {
		t.Errorf("list in force %q", entries(f.Lists()[0]))
	}
}

func TestNextWait(t *testing.T) {
	f := &Fetcher{Retry: time.Second}
	for _, tc := range []struct {
		refresh  time.Duration
		failures int
		want     time.Duration
		ok       bool
	}{
		{0, 0, 0, false},
		{time.Hour, 0, time.Hour, true},
		{time.Hour, 1, time.Second, true},
		{time.Hour, 3, 4 * time.Second, true},
		{10 * time.Second, 10, 10 * time.Second, true},
		{0, 100, time.Hour, true},
	} {
		got, ok := f.nextWait(Source{Refresh: tc.refresh}, &fetchState{failures: tc.failures})
		if got != tc.want || ok != tc.ok {
			t.Errorf("refresh %v, %d failures: %v %v, want %v %v", tc.refresh, tc.failures, got, ok, tc.want, tc.ok)
		}
	}
}

// TestFetcherRun runs a Fetcher with short intervals: it publishes the first round once, then each
// change; a source that fails at first is retried; cancelling stops it at once, in the middle of a
// fetch too, and leaves no goroutine behind.
func TestFetcherRun(t *testing.T) {
	before := runtime.NumGoroutine()
	var hits atomic.Int64
	changing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "||v%d.example^\n", hits.Add(1))
	}))
	defer changing.Close()
	var flaky atomic.Int64
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if flaky.Add(1) <= 2 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "0.0.0.0 late.example\n")
	}))
	defer failing.Close()
	stuck, unstick := context.WithCancel(t.Context())
	defer unstick()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			io.WriteString(w, "slow.example\n")
			return
		}
		select { // every later fetch hangs until the client gives up
		case <-r.Context().Done():
		case <-stuck.Done():
		}
	}))
	defer slow.Close()
	path := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(path, []byte("0.0.0.0 file.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var updates [][]*List
	f := &Fetcher{
		Sources: []Source{
			{Location: changing.URL, Refresh: 5 * time.Millisecond},
			{Location: failing.URL, Refresh: time.Hour},
			{Location: path},
		},
		Retry: 5 * time.Millisecond,
		Log:   quiet,
		OnUpdate: func(lists []*List) {
			mu.Lock()
			updates = append(updates, lists)
			mu.Unlock()
		},
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	waitFor(t, "the flaky source to load and the changing one to change twice", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(updates) >= 3 && updates[len(updates)-1][1] != nil
	})
	mu.Lock()
	first := updates[0]
	mu.Unlock()
	if first[0] == nil || first[1] != nil || first[2] == nil || len(first) != 3 {
		t.Errorf("first update: %v", first)
	} else if got := entries(first[2]); !slices.Equal(got, []string{"file.example."}) {
		t.Errorf("file source: %q", got)
	}
	if got := entries(f.Lists()[1]); !slices.Equal(got, []string{"late.example."}) {
		t.Errorf("flaky source after retries: %q", got)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	// Cancelling during a fetch that hangs.
	f2 := &Fetcher{Sources: []Source{{Location: slow.URL + "/first"}, {Location: slow.URL + "/hang", Refresh: time.Hour}}, Log: quiet}
	ctx2, cancel2 := context.WithCancel(t.Context())
	go func() { done <- f2.Run(ctx2) }()
	waitFor(t, "the hanging fetch to start", func() bool { return f2.Lists() != nil && f2.Lists()[0] != nil })
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	cancel2()
	select {
	case <-done:
		if d := time.Since(start); d > time.Second {
			t.Errorf("Run took %v to return", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run stuck in a fetch after cancel")
	}

	unstick()
	slow.Close()
	changing.Close()
	failing.Close()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("timed out waiting for %s\n%s", what, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestFetcherEntriesDropped: a caller that keeps only the compiled Index and drops each list's
// entries in OnUpdate loses nothing: an emptied list is still refused, and logs keep the count.
func TestFetcherEntriesDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(path, []byte("0.0.0.0 a.example b.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ix *Index
	var errs []error
	f := &Fetcher{
		Sources: []Source{{Location: path, Refresh: 5 * time.Millisecond}},
		Log:     quiet,
		Retry:   5 * time.Millisecond,
		OnUpdate: func(lists []*List) {
			mu.Lock()
			defer mu.Unlock()
			ix = Compile(lists...)
			for _, l := range lists {
				l.Entries = nil
			}
		},
		OnError: func(_ Source, err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the first load", func() bool { mu.Lock(); defer mu.Unlock(); return ix != nil })
	later := time.Now().Add(time.Hour)
	if err := os.WriteFile(path, []byte("# emptied\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, later, later)
	waitFor(t, "the emptied list to be refused", func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(errs[0].Error(), "where the version loaded has 2") {
		t.Errorf("error %v", errs[0])
	}
	if blocked, _ := ix.Match("a.example"); !blocked || ix.Len() != 2 {
		t.Errorf("index after the refused list: %d names", ix.Len())
	}
}

func TestFetchOnce(t *testing.T) {
	srv := newListServer(t)
	srv.set(serve(200, `"v1"`, "||a.example^\nbad rule here\n"))
	f := &Fetcher{Timeout: time.Second}
	l, err := f.Fetch(t.Context(), Source{Location: srv.URL + "/list"})
	if err != nil || !slices.Equal(entries(l), []string{"a.example. +sub"}) || l.SkippedTotal != 1 {
		t.Fatalf("Fetch: %v %q", err, entries(l))
	}
	srv.set(serve(404, "", "gone"))
	if _, err := f.Fetch(t.Context(), Source{Location: srv.URL + "/list"}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Fetch of a missing list: %v", err)
	}
}

// TestFetcherRefresh: Refresh fetches every source at once, a source fetched only once (Refresh 0)
// included, and a failure then keeps the list.
func TestFetcherRefresh(t *testing.T) {
	srv := newListServer(t)
	srv.set(serve(200, "", "||one.example^\n"))
	var mu sync.Mutex
	var last []*List
	f := &Fetcher{Sources: []Source{{Location: srv.URL + "/l"}}, Log: quiet, Retry: time.Hour,
		OnUpdate: func(lists []*List) { mu.Lock(); last = lists; mu.Unlock() }}
	f.Refresh() // before Run: nothing
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	current := func() []string {
		mu.Lock()
		defer mu.Unlock()
		if last == nil {
			return nil
		}
		return entries(last[0])
	}
	waitFor(t, "the first load", func() bool { return slices.Equal(current(), []string{"one.example. +sub"}) })
	srv.set(serve(200, "", "||two.example^\n"))
	f.Refresh()
	waitFor(t, "the refreshed list", func() bool { return slices.Equal(current(), []string{"two.example. +sub"}) })
	srv.set(serve(503, "", "down"))
	srv.mu.Lock()
	n := len(srv.reqs)
	srv.mu.Unlock()
	f.Refresh()
	waitFor(t, "the failed fetch", func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return len(srv.reqs) > n })
	f.Refresh()
	if got := entries(f.Lists()[0]); !slices.Equal(got, []string{"two.example. +sub"}) {
		t.Errorf("after a failed refresh: %q", got)
	}
}

// TestFetchDigest: a list carries the SHA-256 of its bytes, and the bytes themselves only when
// the Fetcher keeps them.
func TestFetchDigest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list.txt")
	text := "a.example\nb.example\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte(text))
	for _, keep := range []bool{false, true} {
		f := &Fetcher{KeepData: keep}
		l, err := f.Fetch(t.Context(), Source{Location: path})
		if err != nil {
			t.Fatal(err)
		}
		if l.Digest != want {
			t.Errorf("keep=%v: digest %x, want %x", keep, l.Digest, want)
		}
		if keep != (string(l.Data) == text) {
			t.Errorf("keep=%v: data %q", keep, l.Data)
		}
	}
}
