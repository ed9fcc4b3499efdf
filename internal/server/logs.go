package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// Log limits: a tail of at most maxTailLines lines, at most maxLogBytes in
// all; a followed log ends after maxStream, or when its caller's credential
// or permission stops holding, and counts against the Hub's stream limits
// while open.
const (
	defaultTailLines = 500
	maxTailLines     = 10000
	maxLogBytes      = 10 << 20
)

// podLogs streams a Pod's log as plain text: a Pod of the Application's tree
// only. Query: pod, container, tailLines, sinceSeconds, previous, follow.
func (s *Server) podLogs(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Cluster == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server reads no cluster")}
	}
	q := r.URL.Query()
	key := object.Key{Kind: "Pod", Namespace: q.Get("namespace"), Name: q.Get("pod")}
	if key.Name == "" {
		return badRequest(errors.New("pod is required (and namespace, when not the Application's destination)"))
	}
	if key.Namespace == "" {
		key.Namespace = c.app.Spec.Destination.Namespace
	}
	opts := corev1.PodLogOptions{Container: q.Get("container"), Timestamps: q.Get("timestamps") == "true", LimitBytes: ptr(int64(maxLogBytes))}
	tail, err := boundedInt(q, "tailLines", defaultTailLines, maxTailLines)
	if err != nil {
		return badRequest(err)
	}
	opts.TailLines = ptr(int64(tail))
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return badRequest(fmt.Errorf("sinceSeconds=%q: want a positive number", v))
		}
		opts.SinceSeconds = &n
	}
	opts.Previous = q.Get("previous") == "true"
	opts.Follow = q.Get("follow") == "true"
	if _, err := s.inTree(r.Context(), c.app, key); err != nil {
		return err
	}
	ctx, stop := context.WithCancelCause(r.Context())
	defer stop(nil)
	if opts.Follow {
		// A followed log stays open for up to maxStream: it counts as a
		// live stream does, and is rechecked as one is.
		if s.d.Hub == nil {
			return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server follows no logs: leave out follow=true")}
		}
		release, err := s.d.Hub.hold(c.principal.Account())
		if err != nil {
			return err
		}
		defer release()
		go s.endWhenRefused(ctx, stop, r, c)
	}
	stream, err := s.d.Cluster.Logs(ctx, c.app, key.Namespace, key.Name, opts)
	var refused *apiError
	if err != nil && errors.As(context.Cause(ctx), &refused) {
		return refused // the credential or permission stopped holding first
	}
	if errors.Is(err, context.Canceled) {
		return err // the caller left
	}
	if err != nil {
		// A 5xx is the API server failing to reach the Pod's node.
		hidden := "the cluster could not be reached to read this Pod's log"
		if errors.As(err, new(apierrors.APIStatus)) {
			hidden = "the node's kubelet could not be reached to read this Pod's log"
		}
		return &apiError{status: http.StatusBadGateway, err: fmt.Errorf("reading the log of Pod %s/%s: %s", key.Namespace, key.Name, s.shownCause(r, err, hidden))}
	}
	defer stream.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	flusher, _ := w.(http.Flusher)
	br := bufio.NewReader(io.LimitReader(stream, maxLogBytes))
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return nil
			}
			if opts.Follow && flusher != nil && br.Buffered() == 0 {
				flusher.Flush()
			}
		}
		if err != nil {
			return nil // the end of the log, the byte limit, or the caller left
		}
	}
}

// endWhenRefused stops a followed log (with an *apiError as the cause) once
// a recheck finds that its caller's credential no longer holds (logged out,
// revoked) or that they may no longer read the Application's logs. It
// returns when ctx ends.
func (s *Server) endWhenRefused(ctx context.Context, stop context.CancelCauseFunc, r *http.Request, c *call) {
	for chk := range s.recheckCaller(ctx, r) {
		switch {
		case chk.err != nil:
			stop(&apiError{status: http.StatusUnauthorized, err: fmt.Errorf("the credential no longer holds: %w", chk.err)})
			return
		case !chk.rbac.Enforce(rbac.Logs, rbac.Get, c.object).Allowed():
			stop(forbidden("permission denied: %s %s %s", rbac.Get, rbac.Logs, c.object))
			return
		}
	}
}

func ptr[T any](v T) *T { return &v }

// boundedInt reads a positive integer parameter, def when absent.
func boundedInt(q map[string][]string, name string, def, limit int) (int, error) {
	vs := q[name]
	if len(vs) == 0 || vs[0] == "" {
		return def, nil
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 1 || n > limit {
		return 0, fmt.Errorf("%s=%q: want a number from 1 to %d", name, vs[0], limit)
	}
	return n, nil
}
