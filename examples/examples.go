// Package examples holds the example configuration repositories that `lockstep dev`
// seeds into its local Git server, embedded so the binary needs no checkout.
package examples

import "embed"

// WebApp is a small web application: plain manifests under base/ with Kustomize
// overlays for dev, stage and prod, and the same application as a Helm chart under
// chart/. Paths are relative to the repository root (the FS root is "webapp").
//
//go:embed all:webapp
var WebApp embed.FS
