package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// DnstapConfig sends a dnstap record of the server's traffic to a collector over Frame Streams.
// Off unless Socket is set.
type DnstapConfig struct {
	// Socket is where the collector listens: "unix:PATH" or "tcp:IP:PORT".
	Socket string `yaml:"socket"`
	// Messages are the kinds of message sent, of DnstapMessages; empty sends every kind.
	Messages []string `yaml:"messages"`
	// Identity is the identity field of each record: "hostname" (the host's name, as BIND's
	// dnstap-identity defaults to), "none" (left out), or the string itself.
	Identity string `yaml:"identity"`
	// Version is the version field: "version" (Warden's), "none", or the string itself.
	Version string `yaml:"version"`
	// QueueBytes is the size of each listener worker's queue of records waiting for the
	// collector; when it is full, records are dropped and counted, never waited for.
	QueueBytes int `yaml:"queue_bytes"`
}

// DnstapMessages are the names Messages takes: a role alone stands for its queries and
// responses both, and role_query or role_response for one of them.
var DnstapMessages = []string{
	"auth", "auth_query", "auth_response",
	"client", "client_query", "client_response",
	"resolver", "resolver_query", "resolver_response",
	"forwarder", "forwarder_query", "forwarder_response",
}

// DnstapQueueBytes bounds queue_bytes: below the minimum a single large answer would not fit,
// above the maximum a many-core server would hold gigabytes of records.
const (
	DnstapMinQueueBytes = 1 << 16
	DnstapMaxQueueBytes = 1 << 28
)

// On reports whether dnstap is configured.
func (d DnstapConfig) On() bool { return d.Socket != "" }

// Endpoint splits Socket into the network ("unix" or "tcp") and the address to dial.
func (d DnstapConfig) Endpoint() (network, addr string, err error) {
	network, addr, ok := strings.Cut(d.Socket, ":")
	if !ok || addr == "" {
		return "", "", fmt.Errorf("%s: want unix:PATH or tcp:IP:PORT", quote(d.Socket))
	}
	switch network {
	case "unix":
		if strings.ContainsRune(addr, 0) {
			return "", "", fmt.Errorf("%s: the path holds a NUL byte", quote(d.Socket))
		}
		// sun_path holds 108 bytes with its terminating NUL on Linux.
		if len(addr) > 107 {
			return "", "", fmt.Errorf("%s: a unix socket path is at most 107 bytes long", quote(d.Socket))
		}
	case "tcp":
		if _, perr := netip.ParseAddrPort(addr); perr != nil {
			return "", "", fmt.Errorf("%s: want tcp:IP:PORT, as tcp:127.0.0.1:6000 or tcp:[::1]:6000", quote(d.Socket))
		}
	default:
		return "", "", fmt.Errorf("%s: unknown kind %q (want unix:PATH or tcp:IP:PORT)", quote(d.Socket), network)
	}
	return network, addr, nil
}

// Validate checks the socket, the message names and the queue size.
func (d DnstapConfig) Validate() error {
	var p problems
	if d.Socket != "" {
		if _, _, err := d.Endpoint(); err != nil {
			p.add("socket", "%v", err)
		}
	}
	for i, m := range d.Messages {
		if !slices.Contains(DnstapMessages, m) {
			p.add(fmt.Sprintf("messages[%d]", i), "unknown message kind %s (want one of %s)", quote(m), strings.Join(DnstapMessages, ", "))
		}
	}
	if d.QueueBytes < DnstapMinQueueBytes || d.QueueBytes > DnstapMaxQueueBytes {
		p.add("queue_bytes", "%d is out of range (%d..%d)", d.QueueBytes, DnstapMinQueueBytes, DnstapMaxQueueBytes)
	}
	if strings.ContainsRune(d.Identity, 0) || len(d.Identity) > 255 {
		p.add("identity", "at most 255 bytes, without NUL")
	}
	if strings.ContainsRune(d.Version, 0) || len(d.Version) > 255 {
		p.add("version", "at most 255 bytes, without NUL")
	}
	return p.err()
}

// ApplyDnstapFlag applies --dnstap (unix:PATH or tcp:IP:PORT; "" leaves the configuration's),
// validating the result as ApplyFlags does.
func ApplyDnstapFlag(c *Config, socket string) error {
	if socket == "" {
		return nil
	}
	d := c.clone()
	if d.where == nil {
		d.where = make(map[string]location)
	}
	d.Dnstap.Socket = socket
	d.where["dnstap.socket"] = location{flag: flagName("--dnstap", socket)}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = *d
	return nil
}
