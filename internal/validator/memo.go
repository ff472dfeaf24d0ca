package validator

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"codeberg.org/miekg/dns"
)

// sigMemo remembers RRsets whose signatures verified, so that the same signed records met again
// (the NSEC that proves one wildcard answer after another, a DNSKEY RRset fetched again) cost a
// lookup instead of a public-key operation. The key holds the records' data and the signature
// itself, so only the very same signed data hits.
type sigMemo struct {
	mu      sync.Mutex
	entries map[string]memoEntry
}

type memoEntry struct {
	v Verified
	// until is the end of the signature's window with the skew allowed: past it the RRset is
	// checked again, and then found expired.
	until time.Time
}

// maxMemo bounds the memo; when full it starts afresh.
const maxMemo = 20000

func newSigMemo() *sigMemo { return &sigMemo{entries: map[string]memoEntry{}} }

// memoKey is the RRset's owner, type and data (TTLs aside, as they count down in caches) with
// the signatures offered for it.
func memoKey(rrset []dns.RR, sigs []*dns.RRSIG) string {
	var b strings.Builder
	// A wildcard expansion is signed as the wildcard: every name it answers for is the same
	// signed data.
	owner := strings.ToLower(rrset[0].Header().Name)
	if l := int(sigs[0].Labels); l < countLabels(owner) {
		owner = wildcardOf(owner, l)
	}
	for _, rr := range rrset {
		c := rr.Clone()
		c.Header().TTL = 0
		c.Header().Name = owner
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	for _, s := range sigs {
		b.WriteString(strconv.Itoa(int(s.KeyTag)))
		b.WriteByte(' ')
		b.WriteString(strings.ToLower(s.SignerName))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(uint64(s.Inception), 10) + " " + strconv.FormatUint(uint64(s.Expiration), 10) + " " +
			strconv.Itoa(int(s.Labels)) + " " + strconv.FormatUint(uint64(s.OrigTTL), 10) + " " + strconv.Itoa(int(s.Algorithm)) + " ")
		b.WriteString(s.Signature)
		b.WriteByte('\n')
	}
	return b.String()
}

// verify is Options.VerifyRRset through the memo. An entry counts only while the key that
// verified it is among the keys trusted now.
func (c *Chain) verify(rrset []dns.RR, sigs []*dns.RRSIG, keys []*dns.DNSKEY) Verified {
	if len(rrset) == 0 || len(sigs) == 0 {
		return c.opts.VerifyRRset(rrset, sigs, keys)
	}
	key := memoKey(rrset, sigs)
	now := c.opts.now()
	c.memo.mu.Lock()
	e, ok := c.memo.entries[key]
	c.memo.mu.Unlock()
	if ok && now.Before(e.until) && keysInclude(keys, e.v.key) {
		return e.v
	}
	v := c.opts.VerifyRRset(rrset, sigs, keys)
	if v.State != Secure {
		return v
	}
	c.memo.mu.Lock()
	if len(c.memo.entries) >= maxMemo {
		clear(c.memo.entries)
	}
	c.memo.entries[key] = memoEntry{v: v, until: v.Expires.Add(v.skew)}
	c.memo.mu.Unlock()
	return v
}

// keysInclude reports whether the key that verified an entry is still among the trusted keys:
// a key since withdrawn from the zone vouches for nothing.
func keysInclude(keys []*dns.DNSKEY, verifier *dns.DNSKEY) bool {
	for _, k := range keys {
		if k.Algorithm == verifier.Algorithm && k.PublicKey == verifier.PublicKey && sameName(k.Hdr.Name, verifier.Hdr.Name) {
			return true
		}
	}
	return false
}
