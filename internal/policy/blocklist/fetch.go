package blocklist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Source is where one list comes from and how often to look at it again.
type Source struct {
	// Location is a file path, or an http:// or https:// URL.
	Location string
	Format   Format
	// Refresh is how often the list is fetched again; 0 fetches it once (a failed first fetch is
	// still retried).
	Refresh time.Duration
	// Allow makes every entry of the list an exception: an allow-list.
	Allow bool
}

func (s Source) isURL() bool {
	return strings.HasPrefix(s.Location, "http://") || strings.HasPrefix(s.Location, "https://")
}

// Fetcher keeps the lists of some sources current: Run loads each one, then fetches it again on
// its Refresh interval. A fetch that fails (unreachable, a status other than 200 or 304, a body cut
// short, too large, too slow) or that parses to no entries where the previous version had some
// keeps the previous list in force and is reported; what is loaded is never dropped. Unchanged
// lists cost little: URLs are asked with If-None-Match and If-Modified-Since, files are read only
// when their size or modification time changed, and a body identical to the last one is not
// parsed into a new list.
//
// Set the fields before Run, call Run once, and do not change the fields while it runs.
type Fetcher struct {
	Sources []Source

	// Client fetches URLs; nil means a client of Run's own, whose idle connections Run closes
	// when it returns.
	Client *http.Client
	// Timeout bounds one fetch, from connecting to the last byte parsed; 0 means one minute.
	Timeout time.Duration
	// MaxBytes bounds the size of one list; a larger one is a failed fetch. 0 means 64 MiB.
	MaxBytes int64
	// Retry is the wait before fetching again after a failure; it doubles with each failure in a
	// row, up to the source's Refresh (or an hour when Refresh is 0). 0 means 30 seconds.
	Retry time.Duration
	// Log receives a line per list loaded and per failure; nil means slog.Default().
	Log *slog.Logger
	// OnUpdate, if set, is called with every source's current list (nil for one never loaded),
	// in the order of Sources: once when every source has been tried the first time, then after
	// each change. Calls do not overlap. The caller compiles the lists into a new Index there.
	// A list that did not change since the last call is the same *List.
	//
	// The Fetcher does not read a list's Entries once the list is handed out (by OnUpdate or
	// Lists), so the caller may set them to nil after compiling them: a million names then live
	// on only in the compiled Index, not twice.
	OnUpdate func(lists []*List)
	// KeepData makes every list carry the bytes it was parsed from (List.Data), for a caller
	// that stores them; like Entries, the caller may set them to nil once it has.
	KeepData bool
	// OnError, if set, is called for each failed fetch, which is then logged at debug level
	// only: the caller reports it (once per run of failures, say). Calls do not overlap one
	// another nor OnSuccess (but may overlap a call of OnUpdate).
	OnError func(src Source, err error)
	// OnSuccess, if set, is called for each fetch that succeeded, the list changed or not.
	OnSuccess func(src Source)

	mu      sync.Mutex // guards lists and kicks
	lists   []*List
	kicks   []chan struct{} // one per source, for Refresh
	publish sync.Mutex      // serialises OnUpdate
	report  sync.Mutex      // serialises OnError
}

// fetchState is what the Fetcher remembers of one source between fetches.
type fetchState struct {
	list          *List
	entries       int       // len(list.Entries) when loaded: the caller may drop the entries
	etag, lastMod string    // from the last 200 response of a URL
	mtime         time.Time // of a file when last read
	size          int64
	sum           [sha256.Size]byte // of the last content parsed
	failures      int               // in a row
	loadedAt      time.Time
}

// Lists returns every source's current list, nil for one not loaded yet. Safe to call at any time.
func (f *Fetcher) Lists() []*List {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*List(nil), f.lists...)
}

// Run loads every source, calls OnUpdate, and then refreshes each source on its own schedule
// until ctx is done. It returns ctx's error once every fetch it started has returned: no
// goroutine of it outlives it.
func (f *Fetcher) Run(ctx context.Context) error {
	client := f.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	f.mu.Lock()
	f.lists = make([]*List, len(f.Sources))
	f.kicks = make([]chan struct{}, len(f.Sources))
	for i := range f.kicks {
		f.kicks[i] = make(chan struct{}, 1)
	}
	f.mu.Unlock()
	states := make([]fetchState, len(f.Sources))

	// The first round fetches every source at once, so that a slow one does not hold back the
	// rest, and publishes once: compiling a million names once per source at start-up would be
	// waste.
	var wg sync.WaitGroup
	for i := range f.Sources {
		wg.Go(func() { f.refresh(ctx, client, i, &states[i]) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	f.update()

	for i := range f.Sources {
		wg.Go(func() { f.keepFresh(ctx, client, i, &states[i]) })
	}
	wg.Wait()
	return ctx.Err()
}

// Fetch loads src once, with the Fetcher's Client, Timeout and MaxBytes, and keeps nothing: for
// checking a source before it is served. Sources and the callbacks are not used.
func (f *Fetcher) Fetch(ctx context.Context, src Source) (*List, error) {
	client := f.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	return f.fetch(ctx, client, src, &fetchState{})
}

// Refresh makes a running Fetcher fetch every source now rather than when it is due (a reload
// signal, say), and returns at once; a source being fetched is fetched again afterwards. The
// usual rules hold: URLs are asked conditionally, files read only when they changed, and a failure
// keeps the list loaded. Before Run has started, Refresh does nothing.
func (f *Fetcher) Refresh() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.kicks {
		select {
		case k <- struct{}{}:
		default: // one is pending already
		}
	}
}

// keepFresh fetches source i whenever it is due or Refresh asks, until ctx is done.
func (f *Fetcher) keepFresh(ctx context.Context, client *http.Client, i int, st *fetchState) {
	f.mu.Lock()
	kick := f.kicks[i]
	f.mu.Unlock()
	for {
		var t *time.Timer
		var due <-chan time.Time // nil, never ready, when the source is not due again
		if wait, ok := f.nextWait(f.Sources[i], st); ok {
			t = time.NewTimer(wait)
			due = t.C
		}
		select {
		case <-ctx.Done():
		case <-due:
		case <-kick:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if f.refresh(ctx, client, i, st) {
			f.update()
		}
	}
}

// nextWait says how long until source src is fetched again, or false for never.
func (f *Fetcher) nextWait(src Source, st *fetchState) (time.Duration, bool) {
	if st.failures == 0 {
		return src.Refresh, src.Refresh > 0
	}
	limit := src.Refresh
	if limit <= 0 {
		limit = time.Hour
	}
	wait := f.Retry
	if wait <= 0 {
		wait = 30 * time.Second
	}
	for n := 1; n < st.failures && wait < limit; n++ {
		wait *= 2
	}
	return min(wait, limit), true
}

// refresh fetches source i once and reports whether its list changed.
func (f *Fetcher) refresh(ctx context.Context, client *http.Client, i int, st *fetchState) bool {
	src := f.Sources[i]
	log := f.Log
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	l, err := f.fetch(ctx, client, src, st)
	if err != nil {
		if ctx.Err() != nil {
			return false // shutting down: not the list's fault
		}
		st.failures++
		wait, _ := f.nextWait(src, st)
		kept, none := slog.LevelWarn, slog.LevelError
		if f.OnError != nil {
			kept, none = slog.LevelDebug, slog.LevelDebug
		}
		if st.list != nil {
			log.Log(ctx, kept, "blocklist fetch failed; the previous list stays in force", "source", src.Location,
				"err", err, "entries", st.entries, "loaded", st.loadedAt.Format(time.RFC3339), "retry_in", wait)
		} else {
			log.Log(ctx, none, "blocklist fetch failed; no version of the list is loaded", "source", src.Location,
				"err", err, "retry_in", wait)
		}
		if f.OnError != nil {
			f.report.Lock()
			f.OnError(src, err)
			f.report.Unlock()
		}
		return false
	}
	st.failures = 0
	if f.OnSuccess != nil {
		f.report.Lock()
		f.OnSuccess(src)
		f.report.Unlock()
	}
	if l == nil {
		log.Debug("blocklist unchanged", "source", src.Location)
		return false
	}
	st.list, st.entries, st.loadedAt = l, len(l.Entries), time.Now()
	f.mu.Lock()
	f.lists[i] = l // from here on, another goroutine's OnUpdate may drop l.Entries
	f.mu.Unlock()
	log.Info("blocklist loaded", "source", src.Location, "format", l.Format.String(), "entries", st.entries,
		"skipped", l.SkippedTotal, "took", time.Since(start).Round(time.Millisecond))
	if len(l.Skipped) > 0 {
		log.Warn("blocklist lines skipped", "source", src.Location, "count", l.SkippedTotal, "first", l.Describe(l.Skipped[0]))
	}
	return true
}

// update hands the current lists to OnUpdate.
func (f *Fetcher) update() {
	if f.OnUpdate == nil {
		return
	}
	f.publish.Lock()
	defer f.publish.Unlock()
	f.OnUpdate(f.Lists())
}

var errTooLarge = errors.New("list too large")

// fetch gets and parses source src. It returns a nil List and no error when the list has not
// changed since the last fetch, and fills st with what the next fetch needs to know.
func (f *Fetcher) fetch(ctx context.Context, client *http.Client, src Source, st *fetchState) (*List, error) {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	var etag, lastMod string
	var mtime time.Time
	var size int64
	if src.isURL() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.Location, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("User-Agent", "warden")
		if st.list != nil {
			if st.etag != "" {
				req.Header.Set("If-None-Match", st.etag)
			}
			if st.lastMod != "" {
				req.Header.Set("If-Modified-Since", st.lastMod)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err // *url.Error names the method and URL
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNotModified && st.list != nil:
			return nil, nil
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("GET %s: %s", src.Location, resp.Status)
		}
		body, etag, lastMod = resp.Body, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	} else {
		file, err := os.Open(src.Location)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		fi, err := file.Stat()
		if err != nil {
			return nil, err
		}
		mtime, size = fi.ModTime(), fi.Size()
		if st.list != nil && mtime.Equal(st.mtime) && size == st.size {
			return nil, nil
		}
		body = file
	}

	limit := f.MaxBytes
	if limit <= 0 {
		limit = 64 << 20
	}
	sum := sha256.New()
	var kept bytes.Buffer
	read := io.TeeReader(&capReader{r: body, left: limit}, sum)
	if f.KeepData {
		read = io.TeeReader(read, &kept)
	}
	l, err := Parse(read, src.Location, src.Format)
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("%s: larger than %d bytes", src.Location, limit)
	}
	if err != nil {
		if ctx.Err() != nil { // the transport reports a timeout as a closed connection
			return nil, fmt.Errorf("%s: not complete within %v: %w", src.Location, timeout, context.Cause(ctx))
		}
		return nil, err // names the source and the line
	}
	l.Digest = [sha256.Size]byte(sum.Sum(nil))
	if st.list != nil && l.Digest == st.sum {
		st.etag, st.lastMod, st.mtime, st.size = etag, lastMod, mtime, size
		return nil, nil // same bytes, new validators
	}
	if len(l.Entries) == 0 && st.list != nil && st.entries > 0 {
		return nil, fmt.Errorf("%s: no entries (%d lines skipped), where the version loaded has %d",
			src.Location, l.SkippedTotal, st.entries)
	}
	if src.Allow {
		for i := range l.Entries {
			l.Entries[i].Allow = true
		}
	}
	if f.KeepData {
		l.Data = kept.Bytes()
	}
	st.etag, st.lastMod, st.mtime, st.size, st.sum = etag, lastMod, mtime, size, l.Digest
	return l, nil
}

// capReader fails with errTooLarge once more than left bytes have been read.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errTooLarge
	}
	return n, err
}
