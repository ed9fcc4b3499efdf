package cli

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

// pipelineFlags are the controller's settings a command that runs the
// pipeline here (with a kubeconfig) needs to see what the controller sees.
type pipelineFlags struct {
	controllerNS    string
	serviceAccount  string
	requireProjects bool
	renders         sandbox.Options
}

func newPipelineFlags() *pipelineFlags { return &pipelineFlags{renders: sandbox.DefaultOptions()} }

func (f *pipelineFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.controllerNS, "controller-namespace", controller.DefaultOptions().Namespace, "the controller's namespace, where Projects' trusted keys and Git write Secrets live unless they name another")
	cmd.Flags().StringVar(&f.serviceAccount, "default-service-account", "", "the controller's --default-service-account, to act as the same identity")
	cmd.Flags().BoolVar(&f.requireProjects, "require-projects", false, "the controller's --require-projects: a missing Project is a denial")
	addRenderFlags(cmd.Flags(), &f.renders)
}

// run builds the controller's pipeline here, reading and acting with the
// kubeconfig, and calls fn with it and the Application arg names.
func (f *pipelineFlags) run(cmd *cobra.Command, kf *kubeFlags, arg string, fn func(*reconcile.Pipeline, *v1.Application, client.Client, *rest.Config) error) error {
	c, cfg, ns, err := kf.client()
	if err != nil {
		return err
	}
	app := &v1.Application{}
	if err := c.Get(cmd.Context(), types.NamespacedName{Namespace: ns, Name: arg}, app); err != nil {
		return err
	}
	clients, err := kube.NewClients(cfg)
	if err != nil {
		return err
	}
	cache, err := os.MkdirTemp("", "lockstep-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	renderFn, closeRenders, err := controller.Renderer(f.renders)
	if err != nil {
		return err
	}
	defer closeRenders()
	pipeline, _, err := controller.NewPipeline(clients, c, controller.PipelineConfig{
		Render: renderFn, RepositoryDir: cache,
		Namespace: f.controllerNS, DefaultServiceAccount: f.serviceAccount, RequireProjects: f.requireProjects,
		// What the Application names is read with your kubeconfig: you see
		// nothing you could not read yourself.
		TenantReadsAsController: true,
	})
	if err != nil {
		return err
	}
	return fn(pipeline, app, c, cfg)
}
