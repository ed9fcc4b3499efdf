package image

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"os"
	"runtime/debug"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// SBOM describes the binary from the build information Go writes into it:
// the main module and every module linked in, each with its version and
// checksum, the Go version and the build settings (CGO, -trimpath, the VCS
// revision). CycloneDX JSON; nothing in it depends on when or where it was
// made, so the same binary gives the same SBOM.
func SBOM(binary string) ([]byte, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	info, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s carries no Go build information: %w", binary, err)
	}
	sum := sha256.Sum256(data)
	main := module("application", &info.Main)
	main.Name, main.BOMRef = "lockstep", "lockstep"
	main.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: hex.EncodeToString(sum[:])}}
	props := []cdx.Property{{Name: "go:version", Value: info.GoVersion}, {Name: "go:module", Value: info.Main.Path}}
	for _, s := range info.Settings {
		props = append(props, cdx.Property{Name: "go:build:" + s.Key, Value: s.Value})
	}
	main.Properties = &props

	bom := cdx.NewBOM()
	// A serial number from the binary's digest: reproducible, and unique per binary.
	bom.SerialNumber = fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	bom.Metadata = &cdx.Metadata{Component: &main}
	var components []cdx.Component
	var refs []string
	for _, dep := range info.Deps {
		if dep.Replace != nil {
			dep = dep.Replace
		}
		c := module("library", dep)
		components = append(components, c)
		refs = append(refs, c.BOMRef)
	}
	bom.Components = &components
	bom.Dependencies = &[]cdx.Dependency{{Ref: main.BOMRef, Dependencies: &refs}}
	var out bytes.Buffer
	if err := cdx.NewBOMEncoder(&out, cdx.BOMFileFormatJSON).SetPretty(true).Encode(bom); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
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
