package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"warden/internal/query"
)

// DoH sends queries as DNS over HTTPS (RFC 8484) requests. The HTTP client keeps connections open
// and uses HTTP/2 when the server offers it, so queries to one server share one TLS connection.
type DoH struct {
	counters
	url    string
	server netip.AddrPort // for the Tap
	opts   Options
	client *http.Client
}

var (
	_ Upstream  = (*DoH)(nil)
	_ io.Closer = (*DoH)(nil)
)

const dnsMessage = "application/dns-message"

// NewDoH returns an Upstream for the DoH endpoint url ("https://127.0.0.1:8443/dns-query"). opts.TLS
// supplies the roots and, when the URL's host is an IP address that the certificate does not name,
// the server name to verify. Close releases its idle connections.
func NewDoH(url string, opts Options) *DoH {
	var cfg *tls.Config
	if opts.TLS != nil {
		cfg = opts.TLS.Clone()
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		ForceAttemptHTTP2:   true, // a custom TLS config turns HTTP/2 off unless forced
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: opts.timeout(),
	}
	return &DoH{url: url, server: serverOf(url), opts: opts, client: &http.Client{Transport: tr}}
}

// Addr returns the endpoint URL.
func (h *DoH) Addr() string { return h.url }

// Stats returns the counters and SRTT.
func (h *DoH) Stats() Stats { return h.snapshot() }

// Close closes idle connections; the DoH value stays usable and reconnects on the next query.
func (h *DoH) Close() error {
	h.client.CloseIdleConnections()
	return nil
}

// errHTTP marks replies that are not a DNS message: a status other than 200 or another media type.
var errHTTP = errors.New("not a DNS message")

// Exchange sends q and returns the reply if it matches. The ID is 0 (RFC 8484 section 4.1, so that
// equal queries are equal requests for HTTP caches), which makes checking the question all the
// more necessary.
func (h *DoH) Exchange(ctx context.Context, q *Query) (*Reply, error) {
	// tapped is the reply the Tap is shown, set once one is accepted.
	var tapped []byte
	out, err := q.pack(0, false)
	if err != nil {
		return nil, err
	}
	h.queries.Add(1)
	start := time.Now()
	dctx, cancel := context.WithDeadline(ctx, h.opts.deadline(ctx, start))
	defer cancel()
	var req *http.Request
	if h.opts.DoHGet {
		req, err = http.NewRequestWithContext(dctx, http.MethodGet,
			h.url+"?dns="+base64.RawURLEncoding.EncodeToString(out.msg), nil)
	} else {
		req, err = http.NewRequestWithContext(dctx, http.MethodPost, h.url, bytes.NewReader(out.msg))
		if req != nil {
			req.Header.Set("Content-Type", dnsMessage)
		}
	}
	if err != nil {
		return nil, h.fail(ctx, start, fmt.Errorf("https %s: %w", h.url, err))
	}
	req.Header.Set("Accept", dnsMessage)
	resp, err := h.client.Do(req)
	if h.opts.Tap != nil {
		defer func() { h.opts.tap(query.DoH, netip.AddrPort{}, h.server, &out, tapped, start) }()
	}
	if err != nil {
		return nil, h.failCtx(ctx, dctx, start, fmt.Errorf("https %s: %w", h.url, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, h.fail(ctx, start, fmt.Errorf("https %s: %w: HTTP status %d", h.url, errHTTP, resp.StatusCode))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != dnsMessage {
		return nil, h.fail(ctx, start, fmt.Errorf("https %s: %w: content type %q", h.url, errHTTP, resp.Header.Get("Content-Type")))
	}
	// One byte more than a DNS message can hold reveals an oversized body without reading it all.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMsgLen+1))
	if err != nil {
		return nil, h.failCtx(ctx, dctx, start, fmt.Errorf("https %s: %w", h.url, err))
	}
	if len(body) > maxMsgLen {
		return nil, h.fail(ctx, start, fmt.Errorf("https %s: %w: body over %d bytes", h.url, errHTTP, maxMsgLen))
	}
	r, err := validate(body, out)
	if err != nil {
		// HTTP has one response per request, so there is nothing else to wait for.
		h.mismatches.Add(1)
		return nil, fmt.Errorf("https %s: %w: %w", h.url, ErrMismatch, err)
	}
	r.RTT = time.Since(start)
	r.Data = body
	tapped = body
	h.observe(r.RTT)
	if r.Truncated() {
		h.truncated.Add(1)
		return &r, ErrTruncated
	}
	return &r, nil
}

// failCtx is fail for errors from the HTTP client, which reports a passed deadline of dctx as a
// plain error in some paths.
func (h *DoH) failCtx(ctx, dctx context.Context, start time.Time, err error) error {
	if dctx.Err() == context.DeadlineExceeded && ctx.Err() != context.Canceled {
		err = fmt.Errorf("%w: %w", err, context.DeadlineExceeded)
	}
	return h.fail(ctx, start, err)
}

// serverOf is the IP and port of a DoH endpoint's URL, for dnstap; ParseAddr only builds URLs
// whose host is an IP address.
func serverOf(endpoint string) netip.AddrPort {
	u, err := url.Parse(endpoint)
	if err != nil {
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(u.Host)
	if err != nil {
		if a, aerr := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); aerr == nil {
			return netip.AddrPortFrom(a, 443)
		}
	}
	return ap
}
