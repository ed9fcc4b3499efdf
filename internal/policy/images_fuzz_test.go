package policy

import (
	"strings"
	"testing"

	"github.com/distribution/reference"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// FuzzCheckImage feeds an image reference to the image rule of a Project that
// allows one registry under a path prefix and one whole registry, pinned by
// digest. Invariants: the remembered parse is the parse; an allowed image is
// pulled from an allowed registry host, under the allowed path, by digest, as
// the reference grammar (what the container runtime uses) reads it. The
// prefix's own repository (registry.internal:5000/team) is under the prefix.
func FuzzCheckImage(f *testing.F) {
	const digest = "@sha256:4b4e1c2a3f0d9e8b7c6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	for _, s := range []string{
		"registry.internal:5000/team/web" + digest,
		"registry.internal:5000/team/web:1.2" + digest,
		"registry.internal:5000/team/web:1.2",
		"registry.internal:5000/teamx/web" + digest,
		"registry.internal:5000/team" + digest,
		"REGISTRY.INTERNAL:5000/team/web" + digest,
		"mirror.example/library/nginx" + digest,
		"mirror.example.evil.com/x" + digest,
		"nginx",
		"docker.io/library/nginx:latest",
		"localhost/x@sha256:abc",
		"",
		"Upper/Case",
	} {
		f.Add(s)
	}
	p := &v1.ImagePolicy{Registries: []string{"registry.internal:5000/team/", "mirror.example"}, RequireDigest: true}
	f.Fuzz(func(t *testing.T, image string) {
		named, parseErr := reference.ParseNormalizedNamed(image)
		got := parseImage(image)
		if (got.err == "") != (parseErr == nil) {
			t.Fatalf("remembered parse error %q, the grammar says %v", got.err, parseErr)
		}
		rule, msg := checkImage(p, image)
		if (rule == "") != (msg == "") {
			t.Fatalf("rule %q with message %q", rule, msg)
		}
		if parseErr != nil {
			if rule == "" {
				t.Fatalf("%q is allowed but does not parse: %v", image, parseErr)
			}
			return
		}
		if got.name != named.Name() {
			t.Fatalf("remembered name %q, the grammar says %q", got.name, named.Name())
		}
		if rule != "" {
			return
		}
		if _, pinned := named.(reference.Digested); !pinned {
			t.Fatalf("%q is allowed but not pinned by digest", image)
		}
		domain, path := reference.Domain(named), reference.Path(named)
		switch {
		case strings.EqualFold(domain, "registry.internal:5000") && (path == "team" || strings.HasPrefix(path, "team/")):
		case strings.EqualFold(domain, "mirror.example"):
		default:
			t.Fatalf("%q is allowed but is pulled from %s, path %s", image, domain, path)
		}
	})
}
