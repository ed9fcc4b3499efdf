package engine

import "github.com/lockstep-dev/lockstep/internal/render"

// The render stage's types, under their own names here, so the renderers
// read as they did when they were one package with them.
type (
	Renderer       = render.Renderer
	Limits         = render.Limits
	Options        = render.Options
	Func           = render.Func
	HelmOptions    = render.HelmOptions
	JsonnetOptions = render.JsonnetOptions
	Result         = render.Result
	Origin         = render.Origin
	Error          = render.Error
)

// Renderers.
const (
	Kustomize = render.Kustomize
	Helm      = render.Helm
	Jsonnet   = render.Jsonnet
	Plain     = render.Plain
)

// Errors the renderers wrap.
var (
	ErrPathNotFound      = render.ErrPathNotFound
	ErrLimit             = render.ErrLimit
	ErrNoDecryptionKey   = render.ErrNoDecryptionKey
	ErrDecryptionNotHere = render.ErrDecryptionNotHere
)

// DefaultLimits are render.DefaultLimits.
func DefaultLimits() Limits { return render.DefaultLimits() }

// Render is a Func.
var _ Func = Render
