package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/validator"
)

// TestTrustKeeperOnSignedBed: the trust anchors' RFC 5011 state is written into the state
// directory at start, a refresh of the bed's root keys changes nothing and keeps validating, a
// saved state wins over the configured anchor at the next start, and a damaged state file is an
// error naming it.
func TestTrustKeeperOnSignedBed(t *testing.T) {
	bed := startBed(t)
	state := t.TempDir()
	conf := "resolver:\n  root_hints: " + bed.hints + "\n  trust_anchor: " + bed.anchor + "\n  timeout: 10s\n"
	rec, err := NewRecursor(parseConfig(t, conf), quiet)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	keeper, err := newTrustKeeper(state, rec.TrustAnchors(), logTo(&logs))
	if err != nil {
		t.Fatal(err)
	}
	keeper.use(rec)
	path := filepath.Join(state, trustStateFile)
	var saved []*validator.Tracker
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &saved); err != nil || len(saved) != 1 || saved[0].Zone != "." || len(saved[0].Keys) != 1 || saved[0].Keys[0].State != validator.KeyValid {
		t.Fatalf("state file: %v\n%s", err, data)
	}
	ctx := context.Background()
	if wait := keeper.refresh(ctx); wait < time.Hour {
		t.Errorf("next refresh in %v, want at least an hour\n%s", wait, logs.String())
	}
	if strings.Contains(logs.String(), "not taken") || strings.Contains(logs.String(), "failed") {
		t.Errorf("refresh complained:\n%s", logs.String())
	}
	if got := serveRecursive(t, rec, "www.secure.sec.", dns.TypeA, true, false); !got.AuthenticatedData {
		t.Errorf("after a refresh: rcode %d AD %t, want secure", got.Rcode, got.AuthenticatedData)
	}

	// A state whose only trusted root key is another one wins over the configured anchor: the
	// bed's chain no longer validates, and its DNSKEY RRset is not taken.
	other := &dns.DNSKEY{Hdr: dns.Header{Name: ".", Class: dns.ClassINET, TTL: 3600}}
	other.Flags, other.Protocol, other.Algorithm = 257, 3, dns.ECDSAP256SHA256
	if _, err := other.Generate(256); err != nil {
		t.Fatal(err)
	}
	stranger := validator.NewTracker(&validator.Anchor{Zone: ".", Keys: []*dns.DNSKEY{other}}, time.Now())
	data, err = json.Marshal([]*validator.Tracker{stranger})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	rec2, err := NewRecursor(parseConfig(t, conf), quiet)
	if err != nil {
		t.Fatal(err)
	}
	keeper2, err := newTrustKeeper(state, rec2.TrustAnchors(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	keeper2.use(rec2)
	if got := serveRecursive(t, rec2, "www.secure.sec.", dns.TypeA, true, false); got.Rcode != dns.RcodeServerFailure {
		t.Errorf("with the saved stranger key: rcode %d AD %t, want SERVFAIL", got.Rcode, got.AuthenticatedData)
	}
	if wait := keeper2.refresh(ctx); wait != retryAfterFailure {
		t.Errorf("refresh with a key the zone does not have: next in %v, want %v", wait, retryAfterFailure)
	}

	if err := os.WriteFile(path, []byte(`[{"zone":".","keys":[{"key":"garbage","state":"valid"}]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newTrustKeeper(state, rec.TrustAnchors(), quiet); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a damaged state file: %v, want an error naming %s", err, path)
	}
}
