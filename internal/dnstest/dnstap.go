package dnstest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Collector is fstrm_capture (Debian's fstrm-bin) listening on a unix socket and writing what it
// receives to a file, as a dnstap collector would: it asks for the bidirectional handshake.
type Collector struct {
	Socket, File string
	cmd          *exec.Cmd
	out          *SyncBuffer
}

// StartCollector starts fstrm_capture on dir/dnstap.sock, writing dir/NAME.fstrm; the test is
// skipped without it (failed under CI). It is stopped in t.Cleanup unless stopped before.
func StartCollector(t testing.TB, dir, name string) *Collector {
	t.Helper()
	return StartCollectorTo(t, dir, filepath.Join(dir, name+".fstrm"))
}

// StartCollectorTo is StartCollector writing to file (/dev/null for benchmarks).
func StartCollectorTo(t testing.TB, dir, file string) *Collector {
	t.Helper()
	bin, err := exec.LookPath("fstrm_capture")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("fstrm_capture: %v; CI must install fstrm-bin", err)
		}
		t.Skip("fstrm_capture not installed (Debian package fstrm-bin)")
	}
	c := &Collector{Socket: filepath.Join(dir, "dnstap.sock"), File: file, out: &SyncBuffer{}}
	_ = os.Remove(c.Socket)
	c.cmd = exec.Command(bin, "-t", "protobuf:dnstap.Dnstap", "-u", c.Socket, "-w", c.File)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("fstrm_capture: %v", err)
	}
	t.Cleanup(func() {
		c.Stop(t)
		if t.Failed() {
			t.Logf("fstrm_capture output:\n%s", c.out.String())
		}
	})
	WaitUntil(t, "fstrm_capture listening on "+c.Socket, func() bool {
		_, err := os.Stat(c.Socket)
		return err == nil
	})
	return c
}

// Stop ends the collector with SIGTERM, on which it closes its file cleanly, and waits for it.
func (c *Collector) Stop(t testing.TB) {
	t.Helper()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
		t.Errorf("fstrm_capture did not stop on SIGTERM within 10s")
	}
	c.cmd = nil
}

// PID is the collector's process id, for a benchmark that pins it to a CPU of its own.
func (c *Collector) PID() int { return c.cmd.Process.Pid }

// Pause stops the collector's process (SIGSTOP) so that it reads nothing; Resume lets it go on.
func (c *Collector) Pause() error  { return c.cmd.Process.Signal(syscall.SIGSTOP) }
func (c *Collector) Resume() error { return c.cmd.Process.Signal(syscall.SIGCONT) }

// DnstapMessage is what dnstap-read (bind9-utils) printed of one dnstap message in YAML: the
// message's scalar fields by name (type, socket_family, socket_protocol, query_address, ...)
// (the message's direct children only) and the DNS messages as it decoded them.
type DnstapMessage struct {
	Identity, Version string
	Fields            map[string]string
	// Query and Response are dnstap-read's text of the wire messages, "" when absent.
	Query, Response string
}

// ReadDnstap runs dnstap-read -y on file and returns the messages it printed, failing the test
// when it cannot read the file.
func ReadDnstap(t testing.TB, file string) []DnstapMessage {
	t.Helper()
	bin, err := exec.LookPath("dnstap-read")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dnstap-read: %v; CI must install bind9-utils", err)
		}
		t.Skip("dnstap-read not installed (Debian package bind9-utils)")
	}
	out, err := exec.Command(bin, "-y", file).CombinedOutput()
	if err != nil {
		t.Fatalf("dnstap-read -y %s: %v\n%s", file, err, out)
	}
	msgs, err := parseDnstapYAML(out)
	if err != nil {
		t.Fatalf("dnstap-read -y %s: %v\n%s", file, err, out)
	}
	return msgs
}

// parseDnstapYAML reads the subset of YAML dnstap-read writes: documents separated by ---,
// "key: value" lines, the message's fields indented under "message:", and the DNS messages as
// literal blocks ("query_message: |").
func parseDnstapYAML(out []byte) ([]DnstapMessage, error) {
	var msgs []DnstapMessage
	var cur *DnstapMessage
	var block *string // the literal block being read
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// Documents are separated by ---; the first one has no marker before it.
		if line == "---" || cur == nil {
			if line != "---" && !strings.HasPrefix(line, "type:") {
				if strings.TrimSpace(line) == "" {
					continue
				}
				return nil, fmt.Errorf("a document starts with %q, not type:", line)
			}
			msgs = append(msgs, DnstapMessage{Fields: map[string]string{}})
			cur, block = &msgs[len(msgs)-1], nil
			if line == "---" {
				continue
			}
		}
		if block != nil && strings.HasPrefix(line, "    ") {
			*block += strings.TrimPrefix(line, "    ") + "\n"
			continue
		}
		block = nil
		key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"`)
		switch {
		case !strings.HasPrefix(line, " ") && key == "identity":
			cur.Identity = value
		case !strings.HasPrefix(line, " ") && key == "version":
			cur.Version = value
		case key == "query_message" && value == "|":
			block = &cur.Query
		case key == "response_message" && value == "|":
			block = &cur.Response
		case strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   "):
			cur.Fields[key] = value
		}
	}
	return msgs, sc.Err()
}
