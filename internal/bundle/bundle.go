// Package bundle makes and checks Lockstep's offline bundle: one archive
// that carries everything a closed network needs to install Lockstep (the
// image as an OCI layout, its two binaries, the install manifests, the SBOM
// and the image's signature), with a signed list of checksums.
//
// The checksums are a sha256sum file and the signature is a raw ed25519
// signature of it, so a bundle can be checked at the air gap with sha256sum
// and openssl alone, before any binary from it is trusted:
//
//	openssl pkeyutl -verify -pubin -inkey image.pub -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
//	sha256sum --check --strict SHA256SUMS
package bundle

// The files of a bundle, under its one top folder.
const (
	Binary         = "lockstep"             // the static binary, the same as the image's
	RenderBinary   = "lockstep-render"      // the render process's static binary, the same as the image's
	ImageDir       = "image"                // the image, an OCI image layout
	SBOM           = "sbom.cdx.json"        // CycloneDX, from the binaries' build information
	ImageSignature = "image-signature.json" // the image's and the SBOM's digests, signed
	Install        = "install.yaml"         // lockstep install --dry-run for the image's digest
	Checksums      = "SHA256SUMS"           // every other file's sha256, as sha256sum writes it
	ChecksumsSig   = "SHA256SUMS.sig"       // ed25519 over SHA256SUMS, raw (64 bytes)
)
