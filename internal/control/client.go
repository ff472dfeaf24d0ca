package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"
)

// Client talks to a running server's control interface, on its socket or over HTTP.
type Client struct {
	http  *http.Client
	base  string // URL prefix of every request
	token string // sent as a bearer token; empty on the socket
	where string // the socket or URL, for messages
}

// clientTimeout bounds one request. A reload that fetches blocklists again takes a while.
const clientTimeout = 2 * time.Minute

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{http: &http.Client{Transport: tr, Timeout: clientTimeout}, base: "http://warden", where: path}
}

// NewHTTPClient returns a client for the control interface at base ("http://127.0.0.1:8953")
// that sends token with every request.
func NewHTTPClient(base string, token []byte) (*Client, error) {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return nil, fmt.Errorf("control URL %q: %w", base, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("control URL %q: want http://HOST:PORT", base)
	case u.Host == "" || u.Port() == "":
		return nil, fmt.Errorf("control URL %q: want http://HOST:PORT, with the port", base)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.User != nil:
		return nil, fmt.Errorf("control URL %q: want only http://HOST:PORT", base)
	}
	base = u.Scheme + "://" + u.Host
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the control interface is close by; a proxy would see the token
	return &Client{http: &http.Client{Transport: tr, Timeout: clientTimeout}, base: base, token: string(token), where: base}, nil
}

// Where is the socket or URL the client talks to.
func (c *Client) Where() string { return c.where }

// UnreachableError is a control interface that could not be reached at all.
type UnreachableError struct {
	Where string
	Err   error
}

func (e *UnreachableError) Error() string {
	why, hint := e.Err.Error(), "is `warden serve` running with control enabled?"
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		switch errno {
		case syscall.ENOENT:
			why = "no such file"
		case syscall.EACCES:
			why, hint = "permission denied", "the socket is open only to the user `warden serve` runs as"
		default:
			why = errno.Error()
		}
	} else if errors.Is(e.Err, os.ErrDeadlineExceeded) {
		why, hint = "timed out", "is this the address warden's control.http listens on?"
	}
	return fmt.Sprintf("cannot reach warden at %s: %s — %s", e.Where, why, hint)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// StatusError is a request the server answered but refused or failed.
type StatusError struct {
	Status int    // the HTTP status
	Msg    string // the server's message
}

func (e *StatusError) Error() string { return e.Msg }

// maxReply bounds a reply read: the zone list of a server with many zones is the largest.
const maxReply = 64 << 20

// Do sends method to the API path and decodes the JSON reply into out (when not nil; a
// *json.RawMessage takes it as it came). A status other than 200 is returned as a *StatusError
// carrying the server's message, a server not reached as an *UnreachableError; a *Done out is
// still filled from a refusal's body, which may carry a report.
func (c *Client) Do(method, path string, out any) error {
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return &UnreachableError{Where: c.where, Err: op.Err}
		}
		return fmt.Errorf("%s %s at %s: %w", method, path, c.where, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxReply)
	if resp.StatusCode == http.StatusUnauthorized {
		return &StatusError{Status: resp.StatusCode, Msg: "the control token was refused"}
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" {
		return fmt.Errorf("%s answered %s %s with %q, not JSON: is this warden's control interface?", c.where, method, path, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
			Report  string `json:"report"`
		}
		_ = json.NewDecoder(body).Decode(&e)
		if d, ok := out.(*Done); ok {
			d.Message, d.Report = e.Message, e.Report
		}
		msg := e.Error
		if msg == "" {
			msg = e.Message
		}
		if msg == "" {
			msg = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return &StatusError{Status: resp.StatusCode, Msg: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the reply: %w", method, path, err)
	}
	return nil
}

// IsUnreachable reports whether err says the control interface could not be reached.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}
