// Package renderer makes a binary able to be a render process: a binary that
// imports it (lockstep-render, and the tests that render in sandboxes) turns
// into one, before main runs, when a sandbox.Pool starts it as one, and its
// own Pools start it rather than lockstep-render. The controller's binary
// does not import it, so it links none of the renderers (see package render).
package renderer

import (
	"github.com/lockstep-dev/lockstep/internal/render/engine"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

func init() { sandbox.ServeIfChild(engine.Render) }
