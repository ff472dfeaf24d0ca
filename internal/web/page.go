package web

import (
	"crypto/sha256"
	_ "embed" // the page's files
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// The dashboard is one HTML page, its style and script written inline when the package loads:
// a request for / is then all the browser needs, and the token it was opened with (which a
// request for a separate script would not carry) guards it whole.
var (
	//go:embed page/index.html
	pageHTML string
	//go:embed page/dashboard.css
	pageCSS string
	//go:embed page/dashboard.js
	pageJS string
)

// dashboardPage is the page served at /, and pageCSP its Content-Security-Policy: the inline
// style and script by their digests, API calls to this listener only, nothing from elsewhere.
var dashboardPage, pageCSP = composePage(pageHTML, pageCSS, pageJS)

func composePage(html, css, js string) ([]byte, string) {
	page := strings.NewReplacer("<style></style>", "<style>"+css+"</style>",
		"<script></script>", "<script>"+js+"</script>").Replace(html)
	digest := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	csp := fmt.Sprintf("default-src 'none'; script-src %s; style-src %s; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		digest(js), digest(css))
	return []byte(page), csp
}

func index(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	// The page's address may carry the token: it must not travel on in a Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(dashboardPage)
}
