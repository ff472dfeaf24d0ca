package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"
	"warden/internal/server"

	"codeberg.org/miekg/dns"
)

// An answer larger than the pooled TCP buffer still goes out whole.
func TestTCPLargeAnswer(t *testing.T) {
	var big string
	for i := range 120 {
		big += fmt.Sprintf("txt TXT \"%03d a fairly long string to make the answer larger than four KiB\"\n", i)
	}
	p := testPipeline(t, big)
	l, err := server.Listen(server.ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := dns.Exchange(ctx, dns.NewMsg("txt.example.test.", dns.TypeTXT), "tcp", l.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 120 || r.Truncated || len(r.Data) <= 4096 {
		t.Fatalf("%d answers, tc=%v, %d bytes", len(r.Answer), r.Truncated, len(r.Data))
	}
}
