package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/rackctl/rackctl/api"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("pages").Option("missingkey=error").ParseFS(assets, "assets/*.html"))

// Config configures the page.
type Config struct {
	// API is the rack's API server, whose documents the page reads.
	API *api.Server
	// ReadOnlyReason, when set, is shown in place of the approve action
	// even if a token is configured (`rackctl serve` has no loop to
	// release a commit to).
	ReadOnlyReason string
	// Fleet, when set, serves GET /api/fleet and the fleet page (/fleet);
	// nil: both answer 404 naming the setting, and the page has no fleet
	// link.
	Fleet *api.Fleet
}

// pageData is what index.html is rendered from.
type pageData struct {
	CSRF           string
	Approve        bool
	ReadOnlyReason string
	Fleet          bool
}

// contentSecurity allows the page's own files and its API only: no inline
// script, no other origin.
const contentSecurity = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page at "/", its assets under /ui/, and the fleet
// page at /fleet with its GET /api/fleet; everything else is left to the
// caller's mux.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.API == nil {
		return nil, fmt.Errorf("web: an API server is required")
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("web: assets: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
		serveTemplate(rw, "index.html", pageData{CSRF: api.CSRFToken(rw, r), Approve: cfg.API.ApproveEnabled() && cfg.ReadOnlyReason == "",
			ReadOnlyReason: cfg.ReadOnlyReason, Fleet: cfg.Fleet != nil})
	})
	if cfg.Fleet != nil {
		mux.Handle("GET /api/fleet", cfg.Fleet)
		mux.HandleFunc("GET /fleet", func(rw http.ResponseWriter, _ *http.Request) { serveTemplate(rw, "fleet.html", nil) })
	} else {
		mux.HandleFunc("GET /api/fleet", api.FleetOff)
		mux.HandleFunc("GET /fleet", api.FleetOff)
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(static))
	mux.HandleFunc("GET /ui/", func(rw http.ResponseWriter, r *http.Request) {
		secure(rw.Header())
		files.ServeHTTP(rw, r)
	})
	return mux, nil
}

// serveTemplate renders the page name whole before answering, so a
// template error is a clean 500.
func serveTemplate(rw http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(rw, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	secure(rw.Header())
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	_, _ = rw.Write(buf.Bytes())
}

func secure(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurity)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}
