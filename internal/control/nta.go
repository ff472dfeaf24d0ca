package control

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"warden/internal/validator"
)

// DefaultNTALifetime is how long a negative trust anchor added without a lifetime lasts: an
// hour, as Unbound's and BIND's, so that a forgotten one ends by itself (RFC 7646 §2).
const DefaultNTALifetime = time.Hour

// maxNTALifetime bounds what may be asked: RFC 7646 §2 says a week at most.
const maxNTALifetime = 7 * 24 * time.Hour

// NTAList is the reply of GET /nta.
type NTAList struct {
	Anchors []validator.NTA `json:"anchors"`
}

func (d Deps) ntaRoutes(mux *http.ServeMux) {
	set := d.NTA
	if set == nil {
		off := func(w http.ResponseWriter, r *http.Request) {
			reply(w, http.StatusNotImplemented, Error{"this server does not resolve: no negative trust anchors"})
		}
		for _, p := range []string{"GET /nta", "POST /nta/{domain}", "DELETE /nta/{domain}"} {
			mux.HandleFunc(p, off)
		}
		return
	}
	mux.HandleFunc("GET /nta", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, NTAList{Anchors: set.List(time.Now())})
	})
	mux.HandleFunc("POST /nta/{domain}", func(w http.ResponseWriter, r *http.Request) {
		life := DefaultNTALifetime
		if v := r.URL.Query().Get("for"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > maxNTALifetime {
				reply(w, http.StatusBadRequest, Error{fmt.Sprintf("lifetime %q: want a duration from 1s to %s, as 2h", v, maxNTALifetime)})
				return
			}
			life = d
		}
		domain, err := validator.NTADomain(r.PathValue("domain"))
		if err != nil {
			reply(w, http.StatusBadRequest, Error{err.Error()})
			return
		}
		expiry := time.Now().Add(life).Truncate(time.Second)
		if err := set.Add(domain, expiry, false); err != nil {
			reply(w, http.StatusBadRequest, Error{err.Error()})
			return
		}
		reply(w, http.StatusOK, Done{Message: fmt.Sprintf("negative trust anchor %s until %s", domain, expiry.UTC().Format(time.RFC3339))})
	})
	mux.HandleFunc("DELETE /nta/{domain}", func(w http.ResponseWriter, r *http.Request) {
		domain, err := validator.NTADomain(r.PathValue("domain"))
		if err != nil {
			reply(w, http.StatusBadRequest, Error{err.Error()})
			return
		}
		found, err := set.Remove(domain)
		switch {
		case err != nil:
			reply(w, http.StatusBadRequest, Error{err.Error()})
		case !found:
			reply(w, http.StatusNotFound, Error{"no negative trust anchor for " + domain})
		default:
			reply(w, http.StatusOK, Done{Message: "negative trust anchor " + domain + " removed"})
		}
	})
}

// NTAPath is the path of a domain's negative trust anchor; the root is spelled %2E, as the empty
// path segment a bare "." would leave cannot be routed.
func NTAPath(domain string) string {
	name := strings.TrimSuffix(domain, ".")
	if name == "" {
		return "/nta/%2E"
	}
	return "/nta/" + url.PathEscape(name)
}
