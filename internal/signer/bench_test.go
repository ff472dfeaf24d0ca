package signer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time the process has used, user and system: on a machine whose cores are
// shared, records per CPU-second compare where records per second of wall time do not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchZone is a zone of n A records under one apex.
func benchZone(n int) string {
	var b strings.Builder
	b.WriteString("$ORIGIN example.test.\n$TTL 3600\n@ SOA ns h 1 7200 900 1209600 300\n@ NS ns\nns A 192.0.2.1\n")
	for i := range n {
		fmt.Fprintf(&b, "h%d A 192.0.%d.%d\n", i, i/256%256, i%256)
	}
	return b.String()
}

// BenchmarkSign signs a 10,000-record zone whole and reports records signed a second; go test
// -bench Sign -benchmem ./internal/signer/.
func BenchmarkSign(b *testing.B) {
	for _, denial := range []Denial{NSEC, NSEC3} {
		b.Run(denial.String(), func(b *testing.B) {
			u := loadZone(b, benchZone(10000))
			p := Policy{Denial: denial}.Defaults()
			keys := testKeys(b, b.TempDir(), p)
			b.ResetTimer()
			cpu := cpuTime(b)
			for b.Loop() {
				if _, err := Sign(u, keys, p, now, 1); err != nil {
					b.Fatal(err)
				}
			}
			cpu = cpuTime(b) - cpu
			b.ReportMetric(float64(u.Records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(u.Records)*float64(b.N)/cpu.Seconds(), "records/cpu-s")
		})
	}
}

// BenchmarkResign re-signs the same zone after a 10-record change.
func BenchmarkResign(b *testing.B) {
	text := benchZone(10000)
	u := loadZone(b, text)
	p := Policy{}.Defaults()
	keys := testKeys(b, b.TempDir(), p)
	s, err := Sign(u, keys, p, now, 1)
	if err != nil {
		b.Fatal(err)
	}
	changed := strings.Replace(text, "h 1 7200", "h 2 7200", 1)
	for i := range 10 {
		changed += fmt.Sprintf("new%d A 198.51.100.%d\n", i, i)
	}
	next := loadZone(b, changed)
	b.ResetTimer()
	cpu := cpuTime(b)
	for b.Loop() {
		if _, _, err := Resign(s, next, keys, p, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkECDSAFloor is what the signatures alone cost: one P-256 signature over a SHA-256
// digest with Go's crypto/ecdsa, which every ECDSA signature of the signer goes through. A zone
// signed with NSEC needs two per name (its RRset's and its NSEC's).
func BenchmarkECDSAFloor(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("www.example.test. A 192.0.2.1"))
	b.ReportAllocs()
	cpu := cpuTime(b)
	for b.Loop() {
		if _, err := key.Sign(rand.Reader, digest[:], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/(cpuTime(b)-cpu).Seconds(), "sigs/cpu-s")
}
