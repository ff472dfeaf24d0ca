package web

import (
	"net/http"
	"time"

	"warden/internal/querylog"
)

// queryLogAnswer is the body of GET /api/querylog: the rows found, newest first, each with the
// fields of `warden log --json`.
type queryLogAnswer struct {
	Rows []querylog.Row `json:"rows"`
}

// searchQueryLog answers GET /api/querylog?name=&client=&since=&limit=, the search of `warden
// log`: 400 naming the parameter that is wrong, 501 when the log is off.
func searchQueryLog(w http.ResponseWriter, r *http.Request, dir string) {
	if dir == "" {
		replyJSON(w, http.StatusNotImplemented, apiError{"the query log is off (query_log.dir, --query-log)"})
		return
	}
	q := r.URL.Query()
	f, err := querylog.ParseFilter(q.Get("name"), q.Get("client"), q.Get("since"), q.Get("limit"), time.Now())
	if err != nil {
		replyJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	rows, err := querylog.Search(dir, f)
	if err != nil {
		replyJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	if rows == nil {
		rows = []querylog.Row{}
	}
	replyJSON(w, http.StatusOK, queryLogAnswer{Rows: rows})
}
