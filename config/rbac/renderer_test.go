package rbac_test

// This test binary is its own render process: it links the renderers.
import _ "github.com/lockstep-dev/lockstep/internal/render/renderer"
