package upstream

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// dohServer answers RFC 8484 requests at /dns-query with answerA; mangle, if set, may change the
// reply bytes or the response. It records the protocol and the query ID it saw last.
type dohServer struct {
	srv    *httptest.Server
	proto  atomic.Int32 // HTTP major version of the last request
	id     atomic.Int32 // query ID of the last request
	method atomic.Value
	mangle func(w http.ResponseWriter, reply []byte) []byte
}

func newDoHServer(t *testing.T) *dohServer {
	d := &dohServer{}
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(d.serve))
	d.srv.EnableHTTP2 = true
	d.srv.StartTLS()
	t.Cleanup(d.srv.Close)
	return d
}

func (d *dohServer) serve(w http.ResponseWriter, r *http.Request) {
	d.proto.Store(int32(r.ProtoMajor))
	d.method.Store(r.Method)
	var q []byte
	switch r.Method {
	case http.MethodPost:
		if r.Header.Get("Content-Type") != dnsMessage {
			http.Error(w, "content type", http.StatusUnsupportedMediaType)
			return
		}
		q, _ = io.ReadAll(io.LimitReader(r.Body, maxMsgLen))
	case http.MethodGet:
		q, _ = base64.RawURLEncoding.DecodeString(r.URL.Query().Get("dns"))
	}
	reply := answerA(q)
	if reply == nil {
		http.Error(w, "bad query", http.StatusBadRequest)
		return
	}
	d.id.Store(int32(binary.BigEndian.Uint16(q)))
	w.Header().Set("Content-Type", dnsMessage)
	if d.mangle != nil {
		reply = d.mangle(w, reply)
	}
	w.Write(reply)
}

func (d *dohServer) upstream(t *testing.T, get bool) Upstream {
	t.Helper()
	opts := Options{Timeout: slow, DoHGet: get}
	opts.TLS = d.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	// The test certificate names example.com and 127.0.0.1; the fragment checks the name path.
	up, err := ParseAddrOptions(d.srv.URL+"/dns-query#example.com", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.(*DoH).Close() })
	return up
}

func TestDoH(t *testing.T) {
	d := newDoHServer(t)
	for _, get := range []bool{false, true} {
		up := d.upstream(t, get)
		d.id.Store(-1)
		r, err := up.Exchange(context.Background(), mustQuery(t, "www.example.", dns.TypeA))
		if err != nil {
			t.Fatalf("get=%v: %v", get, err)
		}
		if a := firstA(t, unpack(t, r.Data)); a.String() != "192.0.2.1" {
			t.Errorf("get=%v: A = %v", get, a)
		}
		if p := d.proto.Load(); p != 2 {
			t.Errorf("get=%v: HTTP/%d, want HTTP/2", get, p)
		}
		if id := d.id.Load(); id != 0 {
			t.Errorf("get=%v: query ID %d, want 0", get, id)
		}
		want := map[bool]string{false: http.MethodPost, true: http.MethodGet}[get]
		if m := d.method.Load(); m != want {
			t.Errorf("method %v, want %s", m, want)
		}
		if s := up.Stats(); s.Queries != 1 || s.SRTT <= 0 {
			t.Errorf("stats %+v", s)
		}
	}
}

func TestDoHRejects(t *testing.T) {
	tests := []struct {
		name     string
		mangle   func(w http.ResponseWriter, reply []byte) []byte
		mismatch bool
	}{
		{"wrong question", func(_ http.ResponseWriter, b []byte) []byte { b[headerLen+1] ^= 0x20; return b }, true},
		{"wrong ID", func(_ http.ResponseWriter, b []byte) []byte { b[1] = 7; return b }, true},
		{"short", func(_ http.ResponseWriter, b []byte) []byte { return b[:5] }, true},
		{"content type", func(w http.ResponseWriter, b []byte) []byte {
			w.Header().Set("Content-Type", "text/plain")
			return b
		}, false},
		{"status", func(w http.ResponseWriter, b []byte) []byte { w.WriteHeader(http.StatusBadGateway); return b }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDoHServer(t)
			d.mangle = tt.mangle
			up := d.upstream(t, false)
			r, err := up.Exchange(context.Background(), mustQuery(t, "www.example.", dns.TypeA))
			if err == nil {
				t.Fatalf("accepted %q", r.Data)
			}
			s := up.Stats()
			if tt.mismatch && (s.Mismatches != 1 || !errors.Is(err, ErrMismatch)) || !tt.mismatch && (s.Errors != 1 || !errors.Is(err, errHTTP)) {
				t.Errorf("err %v, stats %+v", err, s)
			}
		})
	}
}

func TestDoHTimeout(t *testing.T) {
	d := newDoHServer(t)
	release := make(chan struct{})
	d.mangle = func(_ http.ResponseWriter, b []byte) []byte { <-release; return b }
	up := d.upstream(t, false)
	defer close(release) // before the server's Close, which waits for the handler
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := up.Exchange(ctx, mustQuery(t, "www.example.", dns.TypeA))
	if !isTimeout(err) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), "https://127.0.0.1") {
		t.Errorf("error %q does not name the server", err)
	}
}
