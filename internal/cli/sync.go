package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/server"
)

func newSyncCommand() *cobra.Command {
	var m modeFlags
	var wait bool
	var timeout time.Duration
	var revision string
	var generation int64
	cmd := &cobra.Command{
		Use:   "sync APP",
		Short: "Ask the controller to sync an Application now, recording who asked",
		Long: `Asks the controller to sync APP now. For an Application with automated sync off,
this is how its pending plan gets applied. The request is recorded with your name
and shows in the Application's history and the ledger. Lockstep still applies only
what Git says.

Through the API the sync is pinned to a commit: --revision, or the newest commit the
Application shows now. If the followed ref has moved on by the time the controller
acts, nothing is applied and the sync fails with RevisionChanged: look at the new
commit (lockstep diff) and sync again.`,
		Example: `  lockstep sync webapp-prod
  lockstep sync team/webapp --revision 3f2a9c1 --timeout 10m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			viaAPI, err := m.useAPI()
			if err != nil {
				return err
			}
			if viaAPI {
				return syncThroughAPI(cmd, &m, args[0], server.SyncRequest{Revision: revision, Generation: generation}, wait, timeout)
			}
			if revision != "" {
				return errors.New("--revision pins a sync through the API: log in first (lockstep login)")
			}
			var request string
			c, app, err := requestAsUser(cmd, &m.kube, args[0], "sync", func(who string, now time.Time) map[string]any {
				request = v1.SyncRequestValue(who, now, "", 0)
				return map[string]any{"metadata": map[string]any{"annotations": map[string]any{v1.AnnotationSyncRequestedBy: request}}}
			})
			if err != nil {
				return err
			}
			if !wait {
				return nil
			}
			return waitForSync(cmd.Context(), cmd, func(ctx context.Context) (*v1.Application, error) {
				return app, c.Get(ctx, client.ObjectKeyFromObject(app), app)
			}, request, timeout)
		},
	}
	m.add(cmd)
	cmd.Flags().BoolVar(&wait, "wait", true, "wait for the controller to handle the request and print the result")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	cmd.Flags().StringVar(&revision, "revision", "", "the commit to sync (API only; default: the newest the Application shows)")
	cmd.Flags().Int64Var(&generation, "generation", 0, "the Application's spec generation previewed, as lockstep diff prints it (API only; default: the one it shows)")
	return cmd
}

func syncThroughAPI(cmd *cobra.Command, m *modeFlags, arg string, req server.SyncRequest, wait bool, timeout time.Duration) error {
	c, r, err := m.api.client()
	if err != nil {
		return err
	}
	ns, name, err := m.appKey(arg, r.Namespace)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if req.Revision == "" {
		app, err := c.Application(ctx, ns, name)
		if err != nil {
			return err
		}
		// What is shown now is what is synced, or nothing.
		req.Generation = app.Generation
		if req.Revision = app.Status.Sync.Revision; req.Revision == "" {
			return fmt.Errorf("%s/%s has not resolved its ref yet: lockstep refresh %s/%s, then sync", ns, name, ns, name)
		}
	}
	res, err := c.Sync(ctx, ns, name, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "sync of %s to %s requested by %s\n", res.Application, short(req.Revision), res.Actor)
	if !wait {
		return nil
	}
	return waitForSync(ctx, cmd, func(ctx context.Context) (*v1.Application, error) { return c.Application(ctx, ns, name) }, res.Request, timeout)
}

// ErrSyncFailed is the error of a sync that ran and failed, or was refused.
var ErrSyncFailed = errors.New("sync failed")

func waitForSync(ctx context.Context, cmd *cobra.Command, get func(context.Context) (*v1.Application, error), request string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		app, err := get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("the controller did not handle the request within %s; is it running?", timeout)
			}
			return err
		}
		ready := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady)
		if app.Status.LastHandledSyncRequest == request {
			if h := app.Status.History; len(h) > 0 && h[0].Result == v1.SyncFailed && h[0].Initiator == v1.ParseSyncRequest(request).Who {
				return fmt.Errorf("%w: %s", ErrSyncFailed, h[0].Message)
			}
			msg := ""
			if ready != nil {
				msg = ready.Message
			}
			fmt.Fprintf(cmd.OutOrStdout(), "synced %s: %s\n", short(app.Status.Sync.Revision), msg)
			return nil
		}
		if ready != nil && ready.Status == metav1.ConditionFalse && app.Status.ObservedGeneration == app.Generation &&
			ready.Reason != v1.ReasonOutOfSync && meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionStalled) {
			return fmt.Errorf("%w (%s): %s", ErrSyncFailed, ready.Reason, ready.Message)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the controller did not handle the request within %s; is it running?", timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// whoAmI asks the API server who the caller is (a SelfSubjectReview).
func whoAmI(ctx context.Context, cfg *rest.Config) (string, error) {
	clients, err := kube.NewClients(cfg)
	if err != nil {
		return "", err
	}
	review, err := clients.Typed.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("asking the API server who you are: %w", err)
	}
	return review.Status.UserInfo.Username, nil
}
