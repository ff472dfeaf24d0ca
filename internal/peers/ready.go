package peers

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"codeberg.org/miekg/dns"
)

// probeTimeout bounds one readiness query.
const probeTimeout = 200 * time.Millisecond

// soaReady returns a check that every zone in origins is answered at addr: its SOA with AA set.
// Before a zone is loaded the daemons answer SERVFAIL or REFUSED, and before the socket is bound
// nothing answers. Zones once answered are not asked again.
func soaReady(addr string, origins []string) func(context.Context) bool {
	pending := append([]string(nil), origins...)
	return func(ctx context.Context) bool {
		next := pending[:0]
		for _, origin := range pending {
			if !answersSOA(ctx, addr, origin) {
				next = append(next, origin)
			}
		}
		pending = next
		return len(pending) == 0
	}
}

func answersSOA(ctx context.Context, addr, origin string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	r, err := dns.Exchange(ctx, dns.NewMsg(origin, dns.TypeSOA), "udp", addr)
	if err != nil || r.Rcode != dns.RcodeSuccess || !r.Authoritative {
		return false
	}
	for _, rr := range r.Answer {
		if _, ok := rr.(*dns.SOA); ok {
			return true
		}
	}
	return false
}

// answers returns a check that addr answers probe over UDP, whatever the answer.
func answers(addr string, probe *dns.Msg) func(context.Context) bool {
	return func(ctx context.Context) bool {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		_, err := dns.Exchange(ctx, probe, "udp", addr)
		return err == nil
	}
}

// handshakes returns a check that a TLS handshake with addr succeeds (the certificate unchecked).
func handshakes(addr string) func(context.Context) bool {
	return func(ctx context.Context) bool {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		d := tls.Dialer{NetDialer: &net.Dialer{}, Config: &tls.Config{InsecureSkipVerify: true}}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}
}
