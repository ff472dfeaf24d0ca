package control

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ZoneStatus is what the control interface shows of one zone.
type ZoneStatus struct {
	// Zone is the zone's origin, fully qualified and lower-case.
	Zone string `json:"zone"`
	// Role is "primary" (served from a file) or "secondary" (transferred from a primary).
	Role   string `json:"role"`
	Serial uint32 `json:"serial"`
	// Loaded says the zone is being served; a secondary not yet transferred is not.
	Loaded bool `json:"loaded"`
	// Expired says a secondary went past its SOA expire without reaching its primary, and is no
	// longer served.
	Expired bool `json:"expired"`
	Records int  `json:"records"`
	// Source is the zone file, or the primary's address.
	Source string `json:"source"`
	// Catalog is the catalog zone the zone is a member of; empty when none.
	Catalog string `json:"catalog,omitempty"`
	// LastRefresh is when the zone was last loaded or checked against its primary, NextRefresh
	// when it will be next, ExpiresAt when a secondary stops being served if its primary stays
	// unreachable. Zero means unknown or never.
	LastRefresh time.Time `json:"last_refresh,omitzero"`
	NextRefresh time.Time `json:"next_refresh,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	// LastError is why the last load, refresh or transfer failed; empty when it succeeded.
	// ErrorSince is when the failures began, Failures how many there were since (both zero when
	// the server keeps no record of them).
	LastError  string    `json:"last_error,omitempty"`
	ErrorSince time.Time `json:"error_since,omitzero"`
	Failures   int       `json:"failures,omitempty"`
	// JournalFrom is the oldest serial the zone's journal can send an IXFR from; 0 when it keeps
	// no journal.
	JournalFrom uint32 `json:"journal_from,omitempty"`

	// Signed says the server signs the zone (dnssec.sign); the rest of these describe it.
	Signed bool `json:"signed,omitempty"`
	// UnsignedSerial is the serial of the data the version in force was signed from.
	UnsignedSerial uint32 `json:"unsigned_serial,omitempty"`
	// SignaturesExpire is when the first signature in force expires; SignaturesRefresh when
	// the signatures due are replaced.
	SignaturesExpire  time.Time `json:"signatures_expire,omitzero"`
	SignaturesRefresh time.Time `json:"signatures_refresh,omitzero"`
	// SigningError is why the last signing failed, since SigningErrorSince; the last signed
	// version keeps serving.
	SigningError      string    `json:"signing_error,omitempty"`
	SigningErrorSince time.Time `json:"signing_error_since,omitzero"`
}

// KeyStatus is one DNSSEC key of a zone signed by the server.
type KeyStatus struct {
	Tag       uint16    `json:"tag"`
	Algorithm uint8     `json:"algorithm"`
	Flags     uint16    `json:"flags"`
	Role      string    `json:"role"`  // KSK, ZSK or CSK
	State     string    `json:"state"` // published, active, retired, removed
	Created   time.Time `json:"created"`
	Published time.Time `json:"published,omitzero"`
	Active    time.Time `json:"active,omitzero"`
	// NextEvent is what happens to the key next, at NextEventAt; empty when nothing is planned.
	NextEvent   string    `json:"next_event,omitempty"`
	NextEventAt time.Time `json:"next_event_at,omitzero"`
	File        string    `json:"file"`
}

// KeyList is the body of GET /zones/{zone}/keys.
type KeyList struct {
	Zone string      `json:"zone"`
	Keys []KeyStatus `json:"keys"`
}

// DSList is the body of GET /zones/{zone}/ds: the DS records for the parent, as zone-file text.
type DSList struct {
	Zone string   `json:"zone"`
	DS   []string `json:"ds"`
}

// ErrNotSigned is what ZoneKeys returns, possibly wrapped, for a zone the server does not sign
// (409).
var ErrNotSigned = errors.New("the zone is not signed by this server (no dnssec.sign)")

// ZoneKeys is the part of the zone manager that knows the keys of the zones it signs.
type ZoneKeys interface {
	Keys(zone string) ([]KeyStatus, error)
	DS(zone string) ([]string, error)
}

// ErrNoZone is what Zones returns, possibly wrapped, for a zone it does not serve (404).
var ErrNoZone = errors.New("no such zone is served")

// ErrNotSecondary is what Zones returns, possibly wrapped, when asked to refresh or transfer a
// zone that has no primary (409).
var ErrNotSecondary = errors.New("the zone is not a secondary: it has no primary to transfer from")

// Zones is the zone manager as the control interface sees it. The zone names it is given are
// fully qualified and lower-case; its errors need not name the zone, the reply does. An error
// other than ErrNoZone and ErrNotSecondary is a failure to reach the primary or to transfer
// (502).
type Zones interface {
	// ZoneList returns every zone served or meant to be (a secondary not yet loaded).
	ZoneList() []ZoneStatus
	// Refresh asks a secondary's primary for its SOA now and transfers the zone if it is newer.
	Refresh(zone string) error
	// Retransfer transfers a secondary in full (AXFR) now, whatever the serials.
	Retransfer(zone string) error
}

// ZoneList is the body of GET /zones.
type ZoneList struct {
	Zones []ZoneStatus `json:"zones"`
}

func (d Deps) zoneRoutes(mux *http.ServeMux) {
	zones := d.Zones
	if zones == nil {
		off := func(w http.ResponseWriter, r *http.Request) {
			reply(w, http.StatusNotImplemented, Error{"this server was started without a zone manager: no zone control"})
		}
		for _, p := range []string{"GET /zones", "GET /zones/{zone}", "POST /zones/{zone}/refresh", "POST /zones/{zone}/retransfer"} {
			mux.HandleFunc(p, off)
		}
		return
	}
	mux.HandleFunc("GET /zones", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, ZoneList{Zones: sortedZones(zones)})
	})
	mux.HandleFunc("GET /zones/{zone}", func(w http.ResponseWriter, r *http.Request) {
		name, ok := zoneParam(w, r)
		if !ok {
			return
		}
		st, ok := findZone(zones, name)
		if !ok {
			reply(w, http.StatusNotFound, Error{fmt.Sprintf("zone %s: %v", name, ErrNoZone)})
			return
		}
		reply(w, http.StatusOK, st)
	})
	action := func(verb, done string, do func(string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			name, ok := zoneParam(w, r)
			if !ok {
				return
			}
			if err := do(name); err != nil {
				status := http.StatusBadGateway
				switch {
				case errors.Is(err, ErrNoZone):
					status = http.StatusNotFound
				case errors.Is(err, ErrNotSecondary):
					status = http.StatusConflict
				}
				reply(w, status, Error{fmt.Sprintf("%s zone %s: %v", verb, name, err)})
				return
			}
			body := Done{Message: "zone " + name + " " + done}
			if st, ok := findZone(zones, name); ok {
				body.Message += fmt.Sprintf(": serial %d", st.Serial)
				body.Zone = &st
			}
			reply(w, http.StatusOK, body)
		}
	}
	d.keyRoutes(mux)
	mux.HandleFunc("POST /zones/{zone}/refresh", action("refresh", "refreshed", zones.Refresh))
	mux.HandleFunc("POST /zones/{zone}/retransfer", action("retransfer", "transferred", zones.Retransfer))
}

func sortedZones(zones Zones) []ZoneStatus {
	list := zones.ZoneList()
	slices.SortFunc(list, func(a, b ZoneStatus) int { return strings.Compare(a.Zone, b.Zone) })
	if list == nil {
		list = []ZoneStatus{} // [] rather than null: there are no zones
	}
	return list
}

func findZone(zones Zones, name string) (ZoneStatus, bool) {
	for _, st := range zones.ZoneList() {
		if n, err := ZoneName(st.Zone); err == nil && n == name {
			return st, true
		}
	}
	return ZoneStatus{}, false
}

// zoneParam reads the zone name from the URL, answering 400 when it is not a domain name.
func zoneParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	name, err := ZoneName(r.PathValue("zone"))
	if err != nil {
		reply(w, http.StatusBadRequest, Error{err.Error()})
		return "", false
	}
	return name, true
}

// ZoneName returns s as a zone name in the form Zones is given: fully qualified (the final dot is
// optional in s) and lower-case. The root zone is ".".
func ZoneName(s string) (string, error) {
	if s == "" {
		return "", errors.New("zone name is empty")
	}
	if s == "." {
		return ".", nil
	}
	name := strings.TrimSuffix(s, ".")
	if len(name) > 253 {
		return "", fmt.Errorf("zone name %.40q... is %d bytes; a domain name has at most 253", s, len(s))
	}
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return "", fmt.Errorf("zone name %q has an empty label", s)
		case len(label) > 63:
			return "", fmt.Errorf("zone name %q has a label of %d bytes; at most 63", s, len(label))
		}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' || c == '/' {
			return "", fmt.Errorf("zone name %q: byte %d is %q", s, i, c)
		}
	}
	return strings.ToLower(name) + ".", nil
}

// ZonePath is the URL path of a zone's endpoints. The root zone is sent as %2E: a bare "." would
// be cleaned out of the path.
func ZonePath(name string) string {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "/zones/%2E"
	}
	return "/zones/" + url.PathEscape(name)
}

func (d Deps) keyRoutes(mux *http.ServeMux) {
	keys, ok := d.Zones.(ZoneKeys)
	if !ok {
		return
	}
	get := func(path string, answer func(name string) (any, error)) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			name, ok := zoneParam(w, r)
			if !ok {
				return
			}
			body, err := answer(name)
			if err != nil {
				status := http.StatusInternalServerError
				switch {
				case errors.Is(err, ErrNoZone):
					status = http.StatusNotFound
				case errors.Is(err, ErrNotSigned):
					status = http.StatusConflict
				}
				reply(w, status, Error{fmt.Sprintf("zone %s: %v", name, err)})
				return
			}
			reply(w, http.StatusOK, body)
		})
	}
	get("GET /zones/{zone}/keys", func(name string) (any, error) {
		list, err := keys.Keys(name)
		return KeyList{Zone: name, Keys: list}, err
	})
	get("GET /zones/{zone}/ds", func(name string) (any, error) {
		ds, err := keys.DS(name)
		return DSList{Zone: name, DS: ds}, err
	})
	roll, ok := d.Zones.(KeyRollover)
	if !ok {
		return
	}
	mux.HandleFunc("POST /zones/{zone}/ds-seen", func(w http.ResponseWriter, r *http.Request) {
		name, ok := zoneParam(w, r)
		if !ok {
			return
		}
		msg, err := roll.DSSeen(name)
		if err != nil {
			status := http.StatusConflict // nothing waits for a DS, or the keys refuse
			if errors.Is(err, ErrNoZone) {
				status = http.StatusNotFound
			}
			reply(w, status, Error{fmt.Sprintf("ds-seen zone %s: %v", name, err)})
			return
		}
		reply(w, http.StatusOK, Done{Message: "zone " + name + ": " + msg})
	})
}

// KeyRollover is the part of the zone manager that rolls the keys of the zones it signs.
type KeyRollover interface {
	// DSSeen says that the parent holds the DS of the zone's new KSK, so that the old one
	// can go; it returns what will happen.
	DSSeen(zone string) (string, error)
}
