package simredfish

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// obj is a Redfish resource body.
type obj = map[string]any

func link(uri string) obj { return obj{"@odata.id": uri} }

// request is one authenticated call being served, under BMC.mu.
type request struct {
	r    *http.Request
	who  *account
	sess *session
	uri  string   // the path without a trailing slash
	args []string // the path segments that matched "*"
}

// reply is a successful answer other than a plain GET.
type reply struct {
	status int
	header map[string]string
	body   any
}

// route is one resource: which methods it has is which funcs are set.
type route struct {
	pattern string
	get     func(b *BMC, q *request) (obj, *apiError)
	patch   func(b *BMC, q *request, body obj) *apiError
	post    func(b *BMC, q *request, body obj) (reply, *apiError)
	del     func(b *BMC, q *request) *apiError
}

const maxBody = 64 << 10

func (b *BMC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ch := b.gate.hung(); ch != nil {
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
	b.mu.Lock()
	slow := b.slow
	b.mu.Unlock()
	if slow > 0 {
		t := time.NewTimer(slow)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	b.mu.Lock()
	rep, err := b.serve(r)
	b.mu.Unlock()
	if err != nil {
		if err.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="simredfish"`)
		}
		if err.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", strings.Join(b.allowed(r.URL.Path), ", "))
		}
		rep = reply{status: err.status, body: err.body()}
	}
	writeReply(w, rep)
}

func writeReply(w http.ResponseWriter, rep reply) {
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("OData-Version", "4.0")
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	data, err := json.MarshalIndent(rep.body, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(rep.status)
	w.Write(append(data, '\n'))
}

func cleanPath(p string) string {
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

// serve answers one request: the public resources first, then
// authentication (a real BMC answers 401 before it says 404), then the
// route's method.
func (b *BMC) serve(r *http.Request) (reply, *apiError) {
	uri := cleanPath(r.URL.Path)
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		switch uri {
		case "/redfish":
			return reply{status: http.StatusOK, body: obj{"v1": "/redfish/v1/"}}, nil
		case "/redfish/v1":
			return okGet(b.serviceRoot())
		}
	}
	if uri == "/redfish/v1/SessionService/Sessions" && r.Method == http.MethodPost {
		body, err := readBody(r)
		if err != nil {
			return reply{}, err
		}
		return b.login(body)
	}
	who, sess, aerr := b.authenticate(r)
	if aerr != nil {
		return reply{}, aerr
	}
	rt, args := match(uri)
	if rt == nil {
		return reply{}, errMissing(r.URL.Path)
	}
	q := &request{r: r, who: who, sess: sess, uri: uri, args: args}
	switch {
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && rt.get != nil:
		return okGet(rt.get(b, q))
	case r.Method == http.MethodPatch && rt.patch != nil:
		return b.servePatch(q, rt)
	case r.Method == http.MethodPost && rt.post != nil:
		body, err := readBody(r)
		if err != nil {
			return reply{}, err
		}
		return rt.post(b, q, body)
	case r.Method == http.MethodDelete && rt.del != nil:
		if err := rt.del(b, q); err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusNoContent}, nil
	}
	// A method the resource lacks on a resource that does not exist is
	// still a 404.
	if rt.get != nil {
		if _, err := rt.get(b, q); err != nil {
			return reply{}, err
		}
	}
	return reply{}, errMethod(r.Method, r.URL.Path)
}

func okGet(body obj, err *apiError) (reply, *apiError) {
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, header: map[string]string{"ETag": etag(body)}, body: body}, nil
}

// servePatch checks If-Match against the resource's current ETag (a
// client without If-Match is served, as real BMCs do) and answers with
// the changed resource.
func (b *BMC) servePatch(q *request, rt *route) (reply, *apiError) {
	cur, err := rt.get(b, q)
	if err != nil {
		return reply{}, err
	}
	body, err := readBody(q.r)
	if err != nil {
		return reply{}, err
	}
	if match := q.r.Header.Get("If-Match"); match != "" {
		if b.conflictOnce {
			b.conflictOnce = false
			return reply{}, errPrecondition()
		}
		if !etagMatches(match, etag(cur)) {
			return reply{}, errPrecondition()
		}
	}
	if err := rt.patch(b, q, body); err != nil {
		return reply{}, err
	}
	return okGet(rt.get(b, q))
}

// etag is a weak validator of a resource's content, like the W/"..."
// ETags of iDRAC and bmcweb.
func etag(body obj) string {
	data, _ := json.Marshal(body)
	sum := sha256.Sum256(data)
	return `W/"` + hex.EncodeToString(sum[:8]) + `"`
}

// etagMatches compares weakly (RFC 9110 §8.8.3.2): a client may send the
// weak tag as a strong one (sushy retries that way) or a list, or "*".
func etagMatches(header, current string) bool {
	want := strings.TrimPrefix(current, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// readBody decodes a JSON object body; anything else is MalformedJSON.
func readBody(r *http.Request) (obj, *apiError) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, maxBody)); err != nil {
		return nil, errMalformed()
	}
	if buf.Len() == 0 {
		return obj{}, nil
	}
	var body obj
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&body); err != nil || body == nil || dec.More() {
		return nil, errMalformed()
	}
	return body, nil
}

func (b *BMC) authenticate(r *http.Request) (*account, *session, *apiError) {
	if token := r.Header.Get("X-Auth-Token"); token != "" {
		s := b.sessions[token]
		if s == nil {
			return nil, nil, errNoAuth()
		}
		a := b.st.account(s.AccountID)
		if a == nil || !a.Enabled {
			delete(b.sessions, token)
			return nil, nil, errNoAuth()
		}
		return a, s, nil
	}
	user, pw, ok := r.BasicAuth()
	if !ok {
		return nil, nil, errNoAuth()
	}
	a := b.checkLogin(user, pw)
	if a == nil {
		return nil, nil, errNoAuth()
	}
	return a, nil, nil
}

// checkLogin returns the account the credentials open, or nil.
func (b *BMC) checkLogin(user, pw string) *account {
	a := b.st.accountByName(user)
	if a == nil || !a.checkPassword(pw) || !a.Enabled || a.RefuseLogin {
		return nil
	}
	return a
}

func (b *BMC) login(body obj) (reply, *apiError) {
	var msgs []message
	creds := map[string]string{}
	for _, k := range []string{"UserName", "Password"} {
		v, ok := body[k]
		s, isString := v.(string)
		switch {
		case !ok:
			msgs = append(msgs, msgMissing(k))
		case !isString:
			msgs = append(msgs, msgType(shown(k, v), k))
		default:
			creds[k] = s
		}
	}
	if len(msgs) > 0 {
		return reply{}, newErr(http.StatusBadRequest, msgs...)
	}
	a := b.checkLogin(creds["UserName"], creds["Password"])
	if a == nil {
		return reply{}, errNoAuth()
	}
	b.nextSession++
	var tok [16]byte
	rand.Read(tok[:])
	s := &session{ID: fmt.Sprint(b.nextSession), Token: hex.EncodeToString(tok[:]), AccountID: a.ID}
	b.sessions[s.Token] = s
	loc := "/redfish/v1/SessionService/Sessions/" + s.ID
	return reply{
		status: http.StatusCreated,
		header: map[string]string{"X-Auth-Token": s.Token, "Location": loc},
		body:   b.sessionBody(s),
	}, nil
}

// dropSessions logs out every session of the account but keep (the
// caller's own, when it changed its own password).
func (b *BMC) dropSessions(accountID string, keep *session) {
	for tok, s := range b.sessions {
		if s.AccountID == accountID && s != keep {
			delete(b.sessions, tok)
		}
	}
}

// privileges per role (DMTF Redfish predefined roles).
var privileges = map[string][]string{
	"Administrator": {"Login", "ConfigureManager", "ConfigureUsers", "ConfigureSelf", "ConfigureComponents"},
	"Operator":      {"Login", "ConfigureSelf", "ConfigureComponents"},
	"ReadOnly":      {"Login", "ConfigureSelf"},
}

var roleIDs = []string{"Administrator", "Operator", "ReadOnly"}

func (q *request) require(priv string) *apiError {
	if !slices.Contains(privileges[q.who.RoleID], priv) {
		return errForbidden()
	}
	return nil
}

// match finds the route of uri; "*" segments match one id each.
func match(uri string) (*route, []string) {
	segs := strings.Split(uri, "/")
	for i := range routes {
		p := strings.Split(routes[i].pattern, "/")
		if len(p) != len(segs) {
			continue
		}
		var args []string
		ok := true
		for j := range p {
			if p[j] == "*" {
				args = append(args, segs[j])
			} else if p[j] != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return &routes[i], args
		}
	}
	return nil, nil
}

func (b *BMC) allowed(path string) []string {
	rt, _ := match(cleanPath(path))
	if rt == nil {
		return nil
	}
	var m []string
	if rt.get != nil {
		m = append(m, "GET", "HEAD")
	}
	if rt.patch != nil {
		m = append(m, "PATCH")
	}
	if rt.post != nil {
		m = append(m, "POST")
	}
	if rt.del != nil {
		m = append(m, "DELETE")
	}
	return m
}
