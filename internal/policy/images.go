package policy

import (
	"slices"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// podSpecPaths are where workloads keep their pod spec: a Pod's own spec; the
// template of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs,
// ReplicationControllers (and custom kinds shaped the same); a CronJob's job
// template; a PodTemplate's template. Every object is searched at every path,
// so a custom workload with the usual shape is checked too.
var podSpecPaths = [][]string{
	{"spec"},
	{"template", "spec"},
	{"spec", "template", "spec"},
	{"spec", "jobTemplate", "spec", "template", "spec"},
}

// containerFields are the pod spec's container lists, as the message names them.
var containerFields = []struct{ list, name string }{
	{"initContainers", "init container"},
	{"containers", "container"},
	{"ephemeralContainers", "ephemeral container"},
}

type container struct {
	field, name, image string
}

// containers lists every container of o's pod specs.
func containers(o *unstructured.Unstructured) []container {
	var out []container
	for _, p := range podSpecPaths {
		// No copy: only read, and a pod spec can be large.
		field, ok, _ := unstructured.NestedFieldNoCopy(o.Object, p...)
		spec, isMap := field.(map[string]any)
		if !ok || !isMap {
			continue
		}
		for _, f := range containerFields {
			list, _ := spec[f.list].([]any)
			for _, item := range list {
				c, _ := item.(map[string]any)
				name, _ := c["name"].(string)
				image, _ := c["image"].(string)
				out = append(out, container{field: f.name, name: name, image: image})
			}
		}
		// Image volumes mount an image's files: pulled like a container's.
		volumes, _ := spec["volumes"].([]any)
		for _, item := range volumes {
			v, _ := item.(map[string]any)
			if src, ok := v["image"].(map[string]any); ok {
				name, _ := v["name"].(string)
				image, _ := src["reference"].(string)
				out = append(out, container{field: "image volume", name: name, image: image})
			}
		}
	}
	return out
}

// Images are the image references objs run: every container's (init and
// ephemeral ones too) and every image volume's, of every pod spec the image
// rules check (containers), sorted, each once. The ledger keeps them with a
// sync, so that a release says which images it runs.
func Images(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		if o == nil {
			continue
		}
		for _, c := range containers(o) {
			if c.image != "" {
				out = append(out, c.image)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// checkImage returns the rule an image breaks and why, or "" when it is allowed.
func checkImage(p *v1.ImagePolicy, image string) (rule, msg string) {
	if image == "" {
		return "spec.images", "is empty"
	}
	ref := parseImage(image)
	if ref.err != "" {
		return "spec.images", "is not a valid image reference: " + ref.err
	}
	if !fromRegistry(ref.name, p.Registries) {
		return "spec.images.registries", "is not from an allowed registry (" + strings.Join(p.Registries, ", ") + ")"
	}
	if p.RequireDigest && !ref.pinned {
		return "spec.images.requireDigest", "is not pinned by digest (name@sha256:...)"
	}
	return "", ""
}

// imageRef is what the policy needs of a parsed image reference.
type imageRef struct {
	name   string // normalised: registry/path
	pinned bool   // by digest
	err    string
}

// parsedImages remembers parses: the reference grammar is a large regular
// expression, the gate runs on every pass, and a cluster runs few distinct
// images. Bounded; cleared when full.
var parsedImages = struct {
	sync.Mutex
	m map[string]imageRef
}{m: map[string]imageRef{}}

const (
	maxParsedImages   = 8192
	maxCachedImageLen = 512
)

func parseImage(image string) imageRef {
	parsedImages.Lock()
	ref, ok := parsedImages.m[image]
	parsedImages.Unlock()
	if ok {
		return ref
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		ref = imageRef{err: err.Error()}
	} else {
		_, pinned := named.(reference.Digested)
		ref = imageRef{name: named.Name(), pinned: pinned}
	}
	if len(image) > maxCachedImageLen {
		return ref // a hostile reference must not pin memory
	}
	parsedImages.Lock()
	if len(parsedImages.m) >= maxParsedImages {
		parsedImages.m = map[string]imageRef{}
	}
	parsedImages.m[image] = ref
	parsedImages.Unlock()
	return ref
}

// fromRegistry reports whether a normalised repository name (registry/path) is
// one of the registries or under one of their path prefixes.
func fromRegistry(name string, registries []string) bool {
	for _, reg := range registries {
		reg = strings.TrimSuffix(reg, "/")
		if strings.EqualFold(name, reg) || strings.HasPrefix(strings.ToLower(name), strings.ToLower(reg)+"/") {
			return true
		}
	}
	return false
}
