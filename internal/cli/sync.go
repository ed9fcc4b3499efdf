package cli

import (
	"context"
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
)

func newSyncCommand() *cobra.Command {
	var kf kubeFlags
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "sync APP",
		Short: "Ask the controller to sync an Application now, recording who asked",
		Long: `Asks the controller to sync APP now. For an Application with automated sync off,
this is how its pending plan gets applied. The request is recorded with the name the
API server knows you by, and shows in the Application's history. Lockstep still applies
only what Git says.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var request string
			c, app, err := requestAsUser(cmd, &kf, args[0], "sync", func(who, now string) map[string]any {
				request = who + " at " + now
				return map[string]any{"metadata": map[string]any{"annotations": map[string]any{v1.AnnotationSyncRequestedBy: request}}}
			})
			if err != nil {
				return err
			}
			if !wait {
				return nil
			}
			return waitForSync(cmd.Context(), cmd, c, app, request, timeout)
		},
	}
	kf.add(cmd)
	cmd.Flags().BoolVar(&wait, "wait", true, "wait for the controller to handle the request and print the result")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	return cmd
}

func waitForSync(ctx context.Context, cmd *cobra.Command, c client.Client, app *v1.Application, request string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if err := c.Get(ctx, client.ObjectKeyFromObject(app), app); err != nil {
			return err
		}
		ready := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady)
		if app.Status.LastHandledSyncRequest == request {
			fmt.Fprintf(cmd.OutOrStdout(), "synced %s: %s\n", short(app.Status.Sync.Revision), ready.Message)
			return nil
		}
		if ready != nil && ready.Status == metav1.ConditionFalse && app.Status.ObservedGeneration == app.Generation &&
			ready.Reason != v1.ReasonOutOfSync && meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionStalled) {
			return fmt.Errorf("sync failed (%s): %s", ready.Reason, ready.Message)
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
