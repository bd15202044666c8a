package api

import (
	"net/http"
	"strconv"

	"github.com/rackctl/rackctl/view"
)

// HistoryReader reads the newest limit records of `rackctl history -o
// json` (0: all); the command wires engine.Engine.History to it.
type HistoryReader func(limit int) (*view.History, error)

// DefaultHistoryLimit is GET /api/history's default ?limit=.
const DefaultHistoryLimit = 50

func (s *Server) serveHistory(rw http.ResponseWriter, r *http.Request) {
	if s.cfg.History == nil {
		http.Error(rw, "this server keeps no history", http.StatusNotFound)
		return
	}
	limit := DefaultHistoryLimit
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 0 {
			http.Error(rw, "?limit="+q+": want a whole number, 0 for all", http.StatusBadRequest)
			return
		}
		limit = n
	}
	h, err := s.cfg.History(limit)
	if err != nil {
		s.log.Warn("/api/history", "err", err)
		http.Error(rw, "reading the history: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeDoc(rw, h)
}
