package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// gate passes on only the requests that carry the token, in an "Authorization: Bearer" header
// or a token parameter (so that a browser can open the dashboard from a link). Without a token
// configured it passes everything.
type gate struct {
	// want is the token's SHA-256: comparing digests, which have one length, keeps the time a
	// comparison takes from telling the token's length.
	want [sha256.Size]byte
	on   bool
}

func newGate(token []byte) gate {
	if len(token) == 0 {
		return gate{}
	}
	return gate{want: sha256.Sum256(token), on: true}
}

func (g gate) wrap(next http.Handler) http.Handler {
	if !g.on {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.allows(r) {
			// The same answer for a missing and a wrong token: a caller learns nothing but "no".
			w.Header().Set("WWW-Authenticate", `Bearer realm="warden"`)
			replyJSON(w, http.StatusUnauthorized, apiError{"unauthorized: this needs the token (Authorization: Bearer TOKEN, or ?token=TOKEN)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g gate) allows(r *http.Request) bool {
	got := bearer(r.Header.Get("Authorization"))
	if got == "" {
		got = r.URL.Query().Get("token")
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], g.want[:]) == 1
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
