package server

import "warden/internal/query"

// Handler answers one query. The listener fills req.Wire, req.Client and req.Transport; the handler
// writes the response into out (len 0, cap at least 65535) and returns it. A nil result means the
// query gets no response at all. The handler must not keep req or out after it returns: listeners
// reuse both for the next query.
type Handler interface {
	ServeDNS(req *query.Request, out []byte) []byte
}
