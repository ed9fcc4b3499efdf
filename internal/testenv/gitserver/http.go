package gitserver

import (
	"crypto/subtle"
	"crypto/tls"
	"net/http"
	"net/http/cgi"
	"path"
	"path/filepath"
	"strings"
)

// maxRequestBody bounds a push over HTTPS; a larger one is cut off rather than
// filling the disk.
const maxRequestBody = 256 << 20

func tlsConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// httpHandler authenticates every request with basic auth, refuses pushes from
// read-only users and hands the rest to git http-backend.
func (s *Server) httpHandler() http.Handler {
	backend := filepath.Join(s.gitExecPath, "git-http-backend")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, password, ok := r.BasicAuth()
		if !ok || !s.checkPassword(name, password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="lockstep-git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		// A path that cleaning would change ("..", ".", "//") is never one git sends;
		// refusing it keeps http-backend from resolving anything outside the repository.
		if path.Clean(r.URL.Path) != r.URL.Path {
			http.Error(w, "invalid path", http.StatusBadRequest)
			return
		}
		repo, _, found := strings.Cut(r.URL.Path, ".git/")
		if !found {
			http.Error(w, "not a repository URL", http.StatusNotFound)
			return
		}
		if _, err := s.repoPath(repo + ".git"); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if len(r.URL.Query()["service"]) > 1 {
			http.Error(w, "more than one service parameter", http.StatusBadRequest)
			return
		}
		if isPush(r) {
			if err := s.authorize(name, ReadWrite); err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		// net/http/cgi passes every header to the child as HTTP_*; the password must
		// not reach git or its hooks.
		r.Header.Del("Authorization")
		h := &cgi.Handler{
			Path: backend,
			Env: []string{
				"GIT_PROJECT_ROOT=" + s.reposDir(),
				"GIT_HTTP_EXPORT_ALL=1",
				"REMOTE_USER=" + name,
				// Push permission was checked above; let http-backend accept it.
				"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true",
			},
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			path, _ := s.repoPath(repo + ".git")
			s.afterPush(strings.TrimPrefix(repo, "/"), path, func() { h.ServeHTTP(w, r) })
			return
		}
		h.ServeHTTP(w, r)
	})
}

// isPush reports whether r is part of a push (the ref advertisement for
// git-receive-pack, or the pack upload itself).
func isPush(r *http.Request) bool {
	return r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack")
}

func (s *Server) checkPassword(name, password string) bool {
	s.mu.Lock()
	u, ok := s.users[name]
	s.mu.Unlock()
	// Compare even for unknown users so timing does not reveal which names exist.
	want := u.password
	if !ok {
		want = "\x00unknown"
	}
	return subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1 && ok && u.password != ""
}
