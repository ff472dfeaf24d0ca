package signer

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/rdata"
)

// Timing is a key's life as BIND's timing fields record it; a zero time is an event not set.
type Timing struct {
	Created  time.Time
	Publish  time.Time // the DNSKEY is in the zone from then
	Activate time.Time // the key signs from then
	Inactive time.Time // the key stops signing then
	Delete   time.Time // the DNSKEY leaves the zone then
	// SyncPublish and SyncDelete bound the CDS and CDNSKEY of a KSK or CSK (RFC 7344). A zero
	// SyncPublish on a key made before rollovers existed means from Publish on.
	SyncPublish time.Time
	SyncDelete  time.Time
	// DSPublish is when the parent was seen (or said) to hold the key's DS; DSRemoved when its
	// DS is known gone from the parent and from caches.
	DSPublish time.Time
	DSRemoved time.Time
}

// timingFields are BIND's names for the Timing fields, in the order BIND writes them.
var timingFields = []string{"Created", "Publish", "Activate", "Inactive", "Delete", "DSPublish", "DSRemoved", "SyncPublish", "SyncDelete"}

func (t *Timing) field(name string) *time.Time {
	switch name {
	case "Created":
		return &t.Created
	case "Publish":
		return &t.Publish
	case "Activate":
		return &t.Activate
	case "Inactive":
		return &t.Inactive
	case "Delete":
		return &t.Delete
	case "SyncPublish":
		return &t.SyncPublish
	case "SyncDelete":
		return &t.SyncDelete
	case "DSPublish":
		return &t.DSPublish
	case "DSRemoved":
		return &t.DSRemoved
	}
	return nil
}

// timeLayout is BIND's timing field format (UTC).
const timeLayout = "20060102150405"

// maxKeyFile bounds what is read of a key file: a large RSA private key is under 2 KiB, so
// anything bigger is not a key file.
const maxKeyFile = 64 << 10

// parseTiming reads the timing fields of a BIND .private file. Lines that are not timing
// fields (the key material) are left to the key parser; a timing field that does not read is an
// error naming its line, because a key whose schedule is misread could be used at the wrong time.
func parseTiming(data []byte, file string) (Timing, error) {
	var t Timing
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxKeyFile)
	for line := 1; sc.Scan(); line++ {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := t.field(strings.TrimSpace(name))
		if f == nil {
			continue
		}
		v, err := time.Parse(timeLayout, strings.TrimSpace(value))
		if err != nil {
			return Timing{}, fmt.Errorf("%s:%d: %s: %q is not a time as YYYYMMDDHHMMSS", file, line, strings.TrimSpace(name), strings.TrimSpace(value))
		}
		*f = v
	}
	if err := sc.Err(); err != nil {
		return Timing{}, fmt.Errorf("%s: %w", file, err)
	}
	return t, nil
}

// parseDNSKEY reads a BIND .key file: comment lines and one DNSKEY record of origin.
func parseDNSKEY(data []byte, file, origin string) (*dns.DNSKEY, error) {
	var key *dns.DNSKEY
	for i, line := range strings.Split(string(data), "\n") {
		text := strings.TrimSpace(line)
		if text == "" || text[0] == ';' {
			continue
		}
		if key != nil {
			return nil, fmt.Errorf("%s:%d: a second record; a key file holds one DNSKEY", file, i+1)
		}
		rr, err := dns.New(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, i+1, err)
		}
		k, ok := rr.(*dns.DNSKEY)
		if !ok {
			return nil, fmt.Errorf("%s:%d: a %s record, not DNSKEY", file, i+1, dns.TypeToString[dns.RRToType(rr)])
		}
		if !strings.EqualFold(k.Hdr.Name, origin) {
			return nil, fmt.Errorf("%s:%d: the key is for %s, not %s", file, i+1, k.Hdr.Name, origin)
		}
		if k.Protocol != 3 || k.Flags&dns.FlagZONE == 0 {
			return nil, fmt.Errorf("%s:%d: not a zone key (flags %d, protocol %d)", file, i+1, k.Flags, k.Protocol)
		}
		k.Hdr.Name = strings.ToLower(k.Hdr.Name)
		key = k
	}
	if key == nil {
		return nil, fmt.Errorf("%s: no DNSKEY record", file)
	}
	return key, nil
}

// parsePrivate reads a .private file for pub and checks that the two belong together, by
// signing with the one and verifying with the other: a key directory with mixed-up files would
// otherwise publish signatures no validator accepts.
func parsePrivate(data []byte, file string, pub *dns.DNSKEY) (crypto.Signer, Timing, error) {
	t, err := parseTiming(data, file)
	if err != nil {
		return nil, Timing{}, err
	}
	priv, err := pub.NewPrivate(string(data))
	if err != nil {
		return nil, Timing{}, fmt.Errorf("%s: %w", file, err)
	}
	// The key reader hands back keys of the wrong size without an error (an Ed25519 seed of
	// the wrong length makes an empty key, on which signing panics): check them here.
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, Timing{}, fmt.Errorf("%s: the Ed25519 private key is not %d octets", file, ed25519.SeedSize)
		}
	case *rsa.PrivateKey:
		if err := k.Validate(); err != nil {
			return nil, Timing{}, fmt.Errorf("%s: %w", file, err)
		}
	case *ecdsa.PrivateKey:
		if k.D == nil || k.D.Sign() <= 0 {
			return nil, Timing{}, fmt.Errorf("%s: the ECDSA private key is zero", file)
		}
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, Timing{}, fmt.Errorf("%s: algorithm %d keys cannot sign", file, pub.Algorithm)
	}
	if err := matches(pub, signer); err != nil {
		return nil, Timing{}, fmt.Errorf("%s: %w", file, err)
	}
	return signer, t, nil
}

// matches signs a record with signer and verifies it with pub.
func matches(pub *dns.DNSKEY, signer crypto.Signer) error {
	probe := &dns.TXT{Hdr: dns.Header{Name: pub.Hdr.Name, Class: dns.ClassINET, TTL: 0}, TXT: rdata.TXT{Txt: []string{"key check"}}}
	sig := &dns.RRSIG{Hdr: dns.Header{Name: pub.Hdr.Name, Class: dns.ClassINET}}
	sig.Algorithm, sig.KeyTag, sig.SignerName = pub.Algorithm, pub.KeyTag(), pub.Hdr.Name
	sig.Inception, sig.Expiration = 0, 1
	if err := sig.Sign(signer, []dns.RR{probe}, &dns.SignOption{}); err != nil {
		return fmt.Errorf("the private key does not sign: %w", err)
	}
	if err := sig.Verify(pub, []dns.RR{probe}, &dns.SignOption{}); err != nil {
		return errors.New("the private key does not belong to the public key of the .key file")
	}
	return nil
}

// readKey reads the key pair at base (the path without .key or .private).
func readKey(base, origin string) (*Key, error) {
	pubData, err := readSmall(base + ".key")
	if err != nil {
		return nil, err
	}
	pub, err := parseDNSKEY(pubData, base+".key", origin)
	if err != nil {
		return nil, err
	}
	privData, err := readSmall(base + ".private")
	if err != nil {
		return nil, err
	}
	signer, t, err := parsePrivate(privData, base+".private", pub)
	if err != nil {
		return nil, err
	}
	return &Key{DNSKEY: pub, Signer: signer, Timing: t, Base: base}, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s: larger than %d bytes; not a key file", path, maxKeyFile)
	}
	return data, nil
}

// fileName is BIND's name for a key of origin: K<origin>+<alg>+<tag>, the origin with its
// final dot, the algorithm and tag zero-padded.
func fileName(origin string, alg uint8, tag uint16) string {
	return fmt.Sprintf("K%s+%03d+%05d", origin, alg, tag)
}

// writeKey writes k's two files into dir: the .private file first, mode 0600, and the .key
// file last, so that a key directory never holds a public key without its private half.
func writeKey(dir string, k *Key, priv crypto.PrivateKey) error {
	base := filepath.Join(dir, fileName(k.DNSKEY.Hdr.Name, k.DNSKEY.Algorithm, k.DNSKEY.KeyTag()))
	if err := writeFile(base+".private", k.DNSKEY.PrivateKeyString(priv)+timingLines(k), 0o600); err != nil {
		return err
	}
	if err := writeFile(base+".key", pubFile(k), 0o644); err != nil {
		return err
	}
	k.Base = base
	return nil
}

// timingLines are k's timing fields as the .private file holds them.
func timingLines(k *Key) string {
	var b strings.Builder
	for _, name := range timingFields {
		if v := *k.Timing.field(name); !v.IsZero() {
			fmt.Fprintf(&b, "%s: %s\n", name, v.UTC().Format(timeLayout))
		}
	}
	return b.String()
}

// pubFile is k's .key file: the timing as comments, as BIND writes them, and the DNSKEY.
func pubFile(k *Key) string {
	var c strings.Builder
	kind := "zone-signing"
	if k.DNSKEY.Flags&dns.FlagSEP != 0 {
		kind = "key-signing"
	}
	fmt.Fprintf(&c, "; This is a %s key, keyid %d, for %s\n", kind, k.DNSKEY.KeyTag(), k.DNSKEY.Hdr.Name)
	for _, name := range timingFields {
		if v := *k.Timing.field(name); !v.IsZero() {
			fmt.Fprintf(&c, "; %s: %s (%s)\n", name, v.UTC().Format(timeLayout), v.UTC().Format(time.ANSIC))
		}
	}
	c.WriteString(k.DNSKEY.String())
	c.WriteString("\n")
	return c.String()
}

// writeFile writes data to path through a temporary file, so that a crash leaves either no file
// or a whole one.
func writeFile(path, data string, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// saveTiming writes k's timing fields into its files, keeping every other line of the .private
// file as it is (a key made by BIND's tools may carry fields Warden does not use), so that a
// rollover's schedule outlives a restart. The .private file is written first: it is what a
// restart reads the timing from.
func saveTiming(k *Key) error {
	data, err := readSmall(k.Base + ".private")
	if err != nil {
		return err
	}
	var p strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		name, _, ok := strings.Cut(line, ":")
		if strings.TrimSpace(line) == "" || ok && (&Timing{}).field(strings.TrimSpace(name)) != nil {
			continue
		}
		p.WriteString(line)
		p.WriteString("\n")
	}
	p.WriteString(timingLines(k))
	if err := writeFile(k.Base+".private", p.String(), 0o600); err != nil {
		return err
	}
	return writeFile(k.Base+".key", pubFile(k), 0o644)
}
