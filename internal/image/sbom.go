package image

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime/debug"
	"slices"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// SBOM describes the image's two binaries from the build information Go
// writes into each: the main module and every module linked in, each with
// its version and checksum, the Go version and the build settings (CGO,
// -trimpath, the VCS revision). The BOM's component is lockstep;
// lockstep-render is a component of its own, and each binary's entry under
// dependencies lists the modules it links (a module both link is listed
// once among the components). CycloneDX JSON; nothing in it depends on when
// or where it was made, so the same binaries give the same SBOM.
func SBOM(o Options) ([]byte, error) {
	if o.RenderBinary == "" {
		return nil, errors.New("the render binary: none given (the SBOM describes lockstep-render too)")
	}
	main, err := describe(o.Binary, "lockstep")
	if err != nil {
		return nil, err
	}
	render, err := describe(o.RenderBinary, "lockstep-render")
	if err != nil {
		return nil, err
	}
	bom := cdx.NewBOM()
	// A serial number from the binaries' digests: reproducible, and unique
	// per pair of binaries.
	sum := sha256.Sum256(append(main.sum[:], render.sum[:]...))
	bom.SerialNumber = fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	bom.Metadata = &cdx.Metadata{Component: &main.component}
	libraries := map[string]cdx.Component{}
	for _, b := range []described{main, render} {
		for _, c := range b.modules {
			libraries[c.BOMRef] = c
		}
	}
	components := []cdx.Component{render.component}
	for _, ref := range slices.Sorted(maps.Keys(libraries)) {
		components = append(components, libraries[ref])
	}
	bom.Components = &components
	// lockstep starts lockstep-render: it depends on it as on its modules.
	mainRefs := append([]string{render.component.BOMRef}, main.refs()...)
	renderRefs := render.refs()
	bom.Dependencies = &[]cdx.Dependency{
		{Ref: main.component.BOMRef, Dependencies: &mainRefs},
		{Ref: render.component.BOMRef, Dependencies: &renderRefs},
	}
	var out bytes.Buffer
	if err := cdx.NewBOMEncoder(&out, cdx.BOMFileFormatJSON).SetPretty(true).Encode(bom); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// described is one binary as the SBOM tells it: an application component
// named name and the modules it links, in its build information's order.
type described struct {
	component cdx.Component
	sum       [sha256.Size]byte
	modules   []cdx.Component
}

func (d described) refs() []string {
	refs := make([]string, 0, len(d.modules))
	for _, m := range d.modules {
		refs = append(refs, m.BOMRef)
	}
	return refs
}

// describe reads binary's build information.
func describe(binary, name string) (described, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return described{}, err
	}
	info, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		return described{}, fmt.Errorf("%s carries no Go build information: %w", binary, err)
	}
	d := described{sum: sha256.Sum256(data)}
	d.component = module("application", &info.Main)
	d.component.Name, d.component.BOMRef = name, name
	d.component.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: hex.EncodeToString(d.sum[:])}}
	props := []cdx.Property{{Name: "go:version", Value: info.GoVersion}, {Name: "go:module", Value: info.Main.Path}}
	for _, s := range info.Settings {
		props = append(props, cdx.Property{Name: "go:build:" + s.Key, Value: s.Value})
	}
	d.component.Properties = &props
	for _, dep := range info.Deps {
		if dep.Replace != nil {
			dep = dep.Replace
		}
		d.modules = append(d.modules, module("library", dep))
	}
	return d, nil
}

// module is one Go module as a CycloneDX component, named by its package URL.
func module(kind cdx.ComponentType, m *debug.Module) cdx.Component {
	purl := "pkg:golang/" + m.Path + "@" + m.Version
	c := cdx.Component{Type: kind, Name: m.Path, Version: m.Version, PackageURL: purl, BOMRef: purl}
	if m.Sum != "" {
		c.Properties = &[]cdx.Property{{Name: "go:sum", Value: m.Sum}}
	}
	return c
}

// CheckStatic refuses a binary that cannot run in the image: one not built
// by Go for linux and arch, or linked against the C library (the image has
// none), as its build information says.
func CheckStatic(binary, arch string) error {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("%s carries no Go build information: %w", binary, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	switch {
	case settings["GOOS"] != "linux" || settings["GOARCH"] != arch:
		return fmt.Errorf("%s is built for %s/%s, the image for linux/%s", binary, settings["GOOS"], settings["GOARCH"], arch)
	case settings["CGO_ENABLED"] != "0":
		return fmt.Errorf("%s is linked against the C library (CGO_ENABLED=%s), which the image does not have: build it with CGO_ENABLED=0 (make image does)", binary, settings["CGO_ENABLED"])
	}
	return nil
}
