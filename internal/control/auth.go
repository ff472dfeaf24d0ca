package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"warden/internal/config"
)

// ServeTCP answers h on l, a TCP listener, until ctx ends; every request must carry
// "Authorization: Bearer TOKEN". Anyone who can reach l can try tokens, so one shorter than
// config.MinTokenLen is refused.
func ServeTCP(ctx context.Context, l net.Listener, token []byte, h http.Handler, log *slog.Logger) error {
	gate, err := requireToken(token, h)
	if err != nil {
		l.Close()
		return err
	}
	log.Info("control interface", "http", l.Addr().String())
	return serveOn(ctx, l, gate)
}

// tokenGate passes on only the requests that carry the token.
type tokenGate struct {
	// want is the token's SHA-256: comparing digests, which have one length, keeps the time a
	// comparison takes from telling the token's length.
	want [sha256.Size]byte
	next http.Handler
	// equal is subtle.ConstantTimeCompare, kept here so a test can see it is what decides.
	equal func(x, y []byte) int
}

func requireToken(token []byte, next http.Handler) (*tokenGate, error) {
	if len(token) < config.MinTokenLen {
		return nil, fmt.Errorf("control over HTTP: the token is %d bytes; want at least %d", len(token), config.MinTokenLen)
	}
	return &tokenGate{want: sha256.Sum256(token), next: next, equal: subtle.ConstantTimeCompare}, nil
}

func (g *tokenGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := sha256.Sum256([]byte(bearer(r.Header.Get("Authorization"))))
	if g.equal(got[:], g.want[:]) != 1 {
		// The same answer for a missing and a wrong token: a caller learns nothing but "no".
		w.Header().Set("WWW-Authenticate", `Bearer realm="warden"`)
		reply(w, http.StatusUnauthorized, Error{"unauthorized"})
		return
	}
	g.next.ServeHTTP(w, r)
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header value (the scheme's case
// does not matter, RFC 9110 section 11.1), or "" for any other.
func bearer(h string) string {
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(h[len(scheme):])
}
