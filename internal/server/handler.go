package server

import "warden/internal/query"

// Handler answers one query. The listener fills req.Wire, req.Client, req.Transport and
// req.Received (read once per message, or once per batch of datagrams); the handler writes the
// response into out (len 0; its capacity covers every usual answer: 64 KiB on UDP, 4 KiB on TCP)
// and returns it, or returns a slice of its own when the answer needs more room. A nil result means
// the query gets no response at all. The handler must not keep req or out after it returns:
// listeners reuse both for the next query.
type Handler interface {
	ServeDNS(req *query.Request, out []byte) []byte
}
