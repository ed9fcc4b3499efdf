// Package render says what the render stage is asked and what it returns: a
// folder of a source snapshot turned into Kubernetes objects (plain
// YAML/JSON, Kustomize, Helm or Jsonnet, then ${VAR} substitution), or an
// error naming the file and line to fix.
//
// The renderers are in package engine, which only the render process
// (lockstep-render, see package sandbox) and tests link. The controller's
// binary holds no template engine: text/template's calls of methods by name
// make Go's linker keep every exported method of every type in a binary, a
// third of the controller's size and resident memory; and the code that runs
// what a Git writer wrote is not in the process that holds the cluster's
// credentials.
package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Renderer names a way of rendering a folder.
type Renderer string

// Renderers, in the order detection tries them.
const (
	Kustomize Renderer = "Kustomize"
	Helm      Renderer = "Helm"
	Jsonnet   Renderer = "Jsonnet"
	Plain     Renderer = "Plain"
)

// Limits bound what a repository can make the renderer read.
type Limits struct {
	// MaxFileSize is the largest single file read, in bytes.
	MaxFileSize int64
	// MaxTotalSize is the most bytes read from all files together.
	MaxTotalSize int64
	// MaxObjects is the most objects one render may produce.
	MaxObjects int
}

// DefaultLimits are generous for configuration and small for anything else.
func DefaultLimits() Limits {
	return Limits{MaxFileSize: 4 << 20, MaxTotalSize: 64 << 20, MaxObjects: 10000}
}

// Options control Render.
type Options struct {
	// Namespace is the destination namespace: Helm's release namespace.
	Namespace string
	// Substitute replaces ${NAME} in string values of the rendered objects,
	// strictly (a name not listed is an error); nil: no substitution.
	Substitute map[string]string
	// Helm options, for a folder holding Chart.yaml.
	Helm HelmOptions
	// Jsonnet options, for a folder holding *.jsonnet.
	Jsonnet JsonnetOptions
	// Limits; DefaultLimits() when zero.
	Limits Limits
	// AgeIdentities decrypt SOPS-encrypted YAML and JSON files (AGE-SECRET-KEY-1...
	// lines). Secret: never log Options.
	AgeIdentities string
	// Tenant says who asked (an Application), for a renderer that schedules
	// renders fairly; it changes nothing in the result.
	Tenant string `json:"-"`
}

// Func renders the folder dir of fsys: Render, or Render elsewhere (in a
// sandbox process).
type Func func(ctx context.Context, fsys fs.FS, dir string, opts Options) (*Result, error)

// HelmOptions control chart rendering.
type HelmOptions struct {
	ReleaseName string
	// ValuesFiles are paths relative to the chart folder, merged after values.yaml.
	ValuesFiles []string
	// Values are further values documents (from ConfigMaps, Secrets, the inline
	// spec), merged in order after the values files.
	Values []map[string]any
	// KubeVersion is what .Capabilities.KubeVersion reports, e.g. v1.34.3.
	KubeVersion string
}

// JsonnetOptions control Jsonnet evaluation.
type JsonnetOptions struct {
	TLAs    map[string]string
	ExtVars map[string]string
}

// Result is what a render produced.
type Result struct {
	// Renderer that was used.
	Renderer Renderer
	// Objects in a deterministic order (group, kind, namespace, name).
	Objects []*unstructured.Unstructured
	// Origins[i] says where Objects[i] came from.
	Origins []Origin
	// Inputs are the folders the render read files from, slash-separated and
	// relative to the repository root ("." is the root): a commit that
	// changes nothing in them renders the same (webhooks skip such
	// Applications). They can lie outside the rendered folder (Kustomize
	// bases, Jsonnet imports).
	Inputs []string
	// Size is the objects' JSON size together, when the renderer knows it
	// (a sandbox process sends them as JSON); 0 otherwise.
	Size int64
}

// Origin is where a rendered object came from.
type Origin struct {
	// File is the manifest, template or jsonnet file, slash-separated and
	// relative to the repository root; for Kustomize, the kustomization file.
	File string
	// Encrypted is true when the file was SOPS-encrypted in Git.
	Encrypted bool
}

// Error is a render failure located in a file, and when known a line.
type Error struct {
	File string // slash-separated, relative to the repository root
	Line int    // 1-based; 0 when unknown
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.File == "":
		return e.Err.Error()
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	default:
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// ErrPathNotFound is wrapped when the folder to render is not in the snapshot.
var ErrPathNotFound = errors.New("path not found in the repository")

// ErrLimit is wrapped by errors about a file, a total or an object count over its limit.
var ErrLimit = errors.New("over the limit")

// ErrNoDecryptionKey is wrapped when a file is SOPS-encrypted and no age key
// was given.
var ErrNoDecryptionKey = errors.New("the file is SOPS-encrypted and no age key is configured (spec.decryption.secretRef)")

// ErrDecryptionNotHere is wrapped when a Helm chart or Jsonnet program holds a
// SOPS-encrypted file: templates and programs can transform a value past any
// check, so decrypted values are only handed to manifests.
var ErrDecryptionNotHere = errors.New("SOPS-encrypted files are decrypted in plain YAML and Kustomize folders only, not in Helm charts or Jsonnet (give a chart its secrets through helm.valuesFrom Secrets)")
