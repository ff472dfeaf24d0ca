package main

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"warden/internal/signer"
	"warden/internal/zone"
)

func zoneCommand() *command {
	return &command{
		name:    "zone",
		args:    "sign",
		summary: "sign a zone file offline, with the signer and keys a running server uses",
		about: `"warden zone sign" signs a master file as a running server signs a zone with dnssec.sign:
the same keys (K<zone>+<alg>+<tag> files in --key-dir, made there when it holds none for the
zone), the same policy defaults, the same records out. It writes the signed zone as a master
file, as dnssec-signzone does, so that a zone can be signed where it is edited and served
pre-signed elsewhere, or checked with dnssec-verify before a server signs it.

Records already signed in the input (RRSIG, NSEC, NSEC3, NSEC3PARAM, and the apex DNSKEY, CDS
and CDNSKEY) are replaced, and a warning says so.

With --next, a later version of the zone is then signed incrementally from the first, as a
server does on a reload, an UPDATE or an IXFR: only the changed RRsets and the denial records
around them get new signatures. The output is that later version.

The time each step took goes to stderr, with the CPU time and the peak memory of the process.`,
		verbs: []entry{{"sign", "sign --zone ORIGIN=FILE with the keys of --key-dir and write it to --out"}},
		flags: func() []flagDef { var o zoneSignOptions; return zoneSignFlags(&o) },
		exit:  "0 signed, 1 the zone or the keys are wrong or signing failed, 2 usage error.",
		run:   zoneCmd,
	}
}

type zoneSignOptions struct {
	zone      string
	keyDir    string
	out       string
	algorithm string
	denial    string
	csk       bool
	serial    int
	next      string
}

func zoneSignFlags(o *zoneSignOptions) []flagDef {
	return []flagDef{
		stringFlag(&o.zone, "zone", "ORIGIN=FILE", "", "the zone to sign and its master file"),
		stringFlag(&o.keyDir, "key-dir", "DIR", "", "the zone's keys (made here, mode 0700, when it holds none for the zone)"),
		stringFlag(&o.out, "out", "FILE", "", "where the signed zone goes (- for stdout)"),
		stringFlag(&o.algorithm, "algorithm", "NAME", "ecdsap256sha256", "of new keys: ecdsap256sha256, ed25519 or rsasha256"),
		stringFlag(&o.denial, "denial", "nsec|nsec3", "nsec", "how names that do not exist are proven (nsec3: RFC 9276, no salt, no extra iterations)"),
		boolFlag(&o.csk, "single-type-signing", "one key (a CSK) signs everything, instead of a KSK and a ZSK"),
		intFlag(&o.serial, "serial", "N", -1, "the signed SOA serial (default: the file's)"),
		stringFlag(&o.next, "next", "FILE", "", "then sign this later version of the zone incrementally; --out gets it"),
	}
}

func zoneCmd(args []string, stdout, stderr io.Writer) int {
	c := zoneCommand()
	var o zoneSignOptions
	words, err := c.parse(zoneSignFlags(&o), args)
	if err == nil {
		err = o.check(words)
	}
	if err != nil {
		return c.fail(err, stdout, stderr)
	}
	if err := o.sign(stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "warden zone sign: %v\n", err)
		return 1
	}
	return 0
}

func (o *zoneSignOptions) check(words []string) error {
	switch {
	case len(words) == 0:
		return usagef("say sign")
	case words[0] != "sign":
		return usagef("unknown zone action %q (the one there is: sign)", words[0])
	case len(words) > 1:
		return usagef("unexpected arguments %q", words[1:])
	case o.zone == "" || !strings.Contains(o.zone, "="):
		return usagef("--zone ORIGIN=FILE is needed")
	case o.keyDir == "":
		return usagef("--key-dir DIR is needed")
	case o.out == "":
		return usagef("--out FILE is needed (- for stdout)")
	case o.serial > 0xFFFFFFFF:
		return usagef("--serial %d is past 4294967295", o.serial)
	}
	if _, err := signer.ParseAlgorithm(o.algorithm); err != nil {
		return usagef("--algorithm: %v", err)
	}
	if d := strings.ToLower(o.denial); d != "nsec" && d != "nsec3" {
		return usagef("--denial %q: want nsec or nsec3", o.denial)
	}
	return nil
}

func (o *zoneSignOptions) policy() signer.Policy {
	p := signer.Policy{SingleTypeSigning: o.csk}
	p.Algorithm, _ = signer.ParseAlgorithm(o.algorithm) // checked
	if strings.EqualFold(o.denial, "nsec3") {
		p.Denial = signer.NSEC3
	}
	return p.Defaults()
}

// sign does the work; each step's time goes to stderr as it ends.
func (o *zoneSignOptions) sign(stdout, stderr io.Writer) error {
	origin, file, _ := strings.Cut(o.zone, "=")
	steps := newStepLog(stderr)
	u, err := loadUnsigned(origin, file, stderr)
	if err != nil {
		return err
	}
	steps.done("load", fmt.Sprintf("%d records from %s", u.Records, file))
	p := o.policy()
	keys, made, err := signer.OpenKeys(o.keyDir, u.Origin, p, time.Now())
	if err != nil {
		return err
	}
	for _, k := range keys.Keys {
		what := "using"
		if made {
			what = "made"
		}
		fmt.Fprintf(stderr, "key %d %s (%s): %s.key\n", k.Tag(), k.Role, what, k.Base)
	}
	serial := u.Serial()
	if o.serial >= 0 {
		serial = uint32(o.serial)
	}
	s, err := signer.Sign(u, keys, p, time.Now(), serial)
	if err != nil {
		return err
	}
	steps.done("sign", fmt.Sprintf("%d records in the signed zone, serial %d", s.Zone.Records, s.Zone.Serial()))
	if o.next != "" {
		next, err := loadUnsigned(origin, o.next, stderr)
		if err != nil {
			return err
		}
		steps.done("load next", fmt.Sprintf("%d records from %s", next.Records, o.next))
		var d zone.Diff
		if s, d, err = signer.Resign(s, next, keys, p, time.Now()); err != nil {
			return err
		}
		steps.done("re-sign", fmt.Sprintf("serial %d → %d: %d records out, %d in", d.From.Serial, d.To.Serial, len(d.Removed), len(d.Added)))
	}
	if err := writeZone(s.Zone, o.out, stdout); err != nil {
		return err
	}
	steps.done("write", o.out)
	steps.summary()
	return nil
}

// loadUnsigned reads a zone file for signing; a file that is signed already says so once.
func loadUnsigned(origin, file string, stderr io.Writer) (*zone.Zone, error) {
	u, problems, err := zone.LoadFile(origin, file)
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "warning: %v\n", p)
	}
	if n := signer.DNSSECRecords(u); n > 0 {
		fmt.Fprintf(stderr, "warning: %s is signed already: its %d DNSSEC records are replaced by new ones\n", file, n)
	}
	return u, nil
}

func writeZone(z *zone.Zone, path string, stdout io.Writer) error {
	if path == "-" {
		w := bufio.NewWriterSize(stdout, 1<<16)
		if err := zone.WriteText(w, z); err != nil {
			return err
		}
		return w.Flush()
	}
	if err := zone.WriteFile(z, path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Clean(path), err)
	}
	return nil
}

// stepLog reports how long each step took, and at the end the CPU time and peak memory of the
// process: what a comparison with another signer needs.
type stepLog struct {
	w     io.Writer
	start time.Time
	last  time.Time
	cpu   time.Duration
}

func newStepLog(w io.Writer) *stepLog {
	now := time.Now()
	return &stepLog{w: w, start: now, last: now, cpu: processCPU()}
}

func (l *stepLog) done(step, what string) {
	now, cpu := time.Now(), processCPU()
	fmt.Fprintf(l.w, "%-10s %8.3fs wall %8.3fs cpu  %s\n", step, now.Sub(l.last).Seconds(), (cpu - l.cpu).Seconds(), what)
	l.last, l.cpu = now, cpu
}

func (l *stepLog) summary() {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Fprintf(l.w, "%-10s %8.3fs wall %8.3fs cpu  peak RSS %d MiB\n", "total", time.Since(l.start).Seconds(), processCPU().Seconds(), ru.Maxrss/1024)
}

// processCPU is the user and system time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
