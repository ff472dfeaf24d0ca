package daemon

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"warden/internal/config"
	"warden/internal/dnstap"
	"warden/internal/metrics"
)

// openDnstap starts the dnstap writer of the configuration, nil when dnstap is off. The writer
// connects in the background: a collector that is not there yet delays nothing.
func openDnstap(dc config.DnstapConfig, log *slog.Logger) *dnstap.Writer {
	if !dc.On() {
		return nil
	}
	network, addr, err := dc.Endpoint()
	if err != nil {
		return nil // unreachable: Validate checked it
	}
	var types []dnstap.MessageType
	for _, m := range dc.Messages {
		types = append(types, dnstapTypes(m)...)
	}
	log.Info("dnstap on", "socket", dc.Socket, "messages", dc.Messages)
	return dnstap.Open(dnstap.Config{Network: network, Addr: addr, Types: types,
		Identity: dnstapIdentity(dc.Identity), Version: dnstapVersion(dc.Version),
		QueueBytes: dc.QueueBytes, Log: log})
}

// dnstapTypes maps a name of config.DnstapMessages onto its message types.
func dnstapTypes(name string) []dnstap.MessageType {
	pairs := map[string][2]dnstap.MessageType{
		"auth":      {dnstap.AuthQuery, dnstap.AuthResponse},
		"client":    {dnstap.ClientQuery, dnstap.ClientResponse},
		"resolver":  {dnstap.ResolverQuery, dnstap.ResolverResponse},
		"forwarder": {dnstap.ForwarderQuery, dnstap.ForwarderResponse},
	}
	role, half, _ := strings.Cut(name, "_")
	p := pairs[role]
	switch half {
	case "query":
		return p[:1]
	case "response":
		return p[1:]
	}
	return p[:]
}

// dnstapIdentity is the identity field: the host name by default, as BIND's.
func dnstapIdentity(s string) []byte {
	switch s {
	case "none":
		return nil
	case "hostname", "":
		h, err := os.Hostname()
		if err != nil {
			return nil
		}
		return []byte(h)
	}
	return []byte(s)
}

// dnstapVersion is the version field: Warden's module version by default.
func dnstapVersion(s string) []byte {
	switch s {
	case "none":
		return nil
	case "version", "":
		v := "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
		return []byte("warden " + v)
	}
	return []byte(s)
}

// dnstapState hands the metrics a writer that may be nil as a nil interface, which they export
// at 0.
func dnstapState(w *dnstap.Writer) metrics.DnstapState {
	if w == nil {
		return nil
	}
	return w
}
