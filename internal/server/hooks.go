package server

import (
	"context"
	"net/http"
	"time"
)

// hookTimeout bounds a webhook request, reading its body included: Git
// servers give up after about 10 s (GitHub), and a sender dribbling a body
// holds nothing for long.
const hookTimeout = 20 * time.Second

// hookLimits gives a webhook request the deadlines every API request has,
// without the authentication: a Receiver checks its own signatures.
func hookLimits(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadline := time.Now().Add(hookTimeout)
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline)
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}
