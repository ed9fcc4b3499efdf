package cli

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/lockstep-dev/lockstep/internal/image"
	"github.com/lockstep-dev/lockstep/internal/signkey"
)

// Files image build writes besides the image.
const (
	sbomFile      = "sbom.cdx.json"
	signatureFile = "signature.json"
)

func newImageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, sign and verify Lockstep's container image, without Docker",
	}
	cmd.AddCommand(newImageBuildCommand(), newImageVerifyCommand(), newImageKeygenCommand())
	return cmd
}

func newImageBuildCommand() *cobra.Command {
	var (
		opts         image.Options
		tag, out, kf string
	)
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the image of the static lockstep and lockstep-render binaries: an OCI layout, a tarball, its SBOM and signature",
		Long: `Build makes the image from two static binaries built from the same sources (make image builds
them with CGO_ENABLED=0 -trimpath): lockstep (--binary, the entrypoint /lockstep) and
lockstep-render (--render-binary, /lockstep-render: the sandboxed process lockstep starts for
every render, as lockstep itself does not link the template engines), the CA certificates
and a non-root user (65532), nothing else, the same digest from the same inputs. Without
--render-binary it is lockstep-render beside --binary, with the suffix --binary's name has
after "lockstep": bin/lockstep-static gives bin/lockstep-render-static. It writes, under
--out: oci/ (an OCI image layout), lockstep.tar (a tarball), sbom.cdx.json (CycloneDX, from
both binaries' Go build information) and, with --key, signature.json (the image's and the
SBOM's digests, signed). It prints the image's digest.`,
		Example: `  lockstep image keygen --out keys
  lockstep image build --binary bin/lockstep-static --tag registry.internal/lockstep:1.0 --key keys/image.key --out dist
  lockstep image build --binary dist/lockstep --render-binary dist/render/lockstep-render --out dist/image`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := name.NewTag(tag)
			if err != nil {
				return &UsageError{fmt.Errorf("--tag: %w", err)}
			}
			if opts.RenderBinary == "" {
				opts.RenderBinary = defaultRenderBinary(opts.Binary)
			}
			if err := image.CheckStatic(opts.Binary, runtime.GOARCH); err != nil {
				return err
			}
			if err := image.CheckStatic(opts.RenderBinary, runtime.GOARCH); err != nil {
				return fmt.Errorf("the render binary (--render-binary): %w", err)
			}
			img, err := image.Build(opts)
			if err != nil {
				return err
			}
			if err := image.WriteTo(out, img, ref); err != nil {
				return err
			}
			sbom, err := image.SBOM(opts)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, sbomFile), sbom, 0o644); err != nil {
				return err
			}
			digest, err := img.Digest()
			if err != nil {
				return err
			}
			if kf != "" {
				key, err := readPrivateKey(kf)
				if err != nil {
					return err
				}
				sbomDigest, _, err := v1.SHA256(bytes.NewReader(sbom))
				if err != nil {
					return err
				}
				sig, err := image.Sign(key, digest, sbomDigest)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(out, signatureFile), sig, 0o644); err != nil {
					return err
				}
			}
			// The repository as written (a bare name stays bare: no Docker Hub here).
			repo := tag
			if i := strings.LastIndex(tag, ":"); i > strings.LastIndex(tag, "/") {
				repo = tag[:i]
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s@%s\n", repo, digest)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Binary, "binary", "", "a static lockstep binary for linux (required)")
	f.StringVar(&opts.RenderBinary, "render-binary", "", "the static lockstep-render binary built with it (default: lockstep-render beside --binary, with its suffix)")
	f.StringVar(&opts.CACerts, "ca-certs", image.DefaultCACerts, "the CA certificates the image trusts (PEM bundle)")
	f.StringVar(&tag, "tag", "lockstep:dev", "the name the layout and the tarball give the image")
	f.StringVar(&out, "out", "dist", "folder to write into")
	f.StringVar(&kf, "key", "", "ed25519 signing key (PEM, from lockstep image keygen); none: unsigned")
	_ = cmd.MarkFlagRequired("binary")
	return cmd
}

// defaultRenderBinary is where the render binary built with binary is, as
// make static and a release name them: lockstep-render beside it, with the
// suffix binary's name has after "lockstep" (bin/lockstep-static:
// bin/lockstep-render-static); plain lockstep-render beside a binary named
// otherwise.
func defaultRenderBinary(binary string) string {
	suffix, ok := strings.CutPrefix(filepath.Base(binary), "lockstep")
	if !ok {
		suffix = ""
	}
	return filepath.Join(filepath.Dir(binary), "lockstep-render"+suffix)
}

func newImageVerifyCommand() *cobra.Command {
	var dir, ref, pubFile, caFile string
	var plainHTTP bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check an image's signature offline with a public key: a build's folder, or the image in a registry",
		Long: `Verify checks that the image and its SBOM are signed by the public key's owner: in a folder
lockstep image build wrote (--dir), or in a registry (--ref, by digest), where lockstep bundle
push attached the SBOM and the signature to the image (OCI 1.1 artifacts whose subject is the
image). Registry credentials come from the Docker config file, as for lockstep bundle push.`,
		Example: `  lockstep image verify --dir dist --public-key keys/image.pub
  lockstep image verify --ref registry.internal/platform/lockstep@sha256:... --public-key image.pub --ca-file internal-ca.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pub, err := readPublicKey(pubFile)
			if err != nil {
				return err
			}
			if ref != "" {
				return verifyInRegistry(cmd, ref, pub, caFile, plainHTTP)
			}
			digest, sbomDigest, err := buildDigests(dir)
			if err != nil {
				return err
			}
			sig, err := os.ReadFile(filepath.Join(dir, signatureFile))
			if err != nil {
				return err
			}
			if err := image.Verify(pub, sig, digest, sbomDigest); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK: image %s and its SBOM are signed by %s\n", digest, signkey.Fingerprint(pub))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "dist", "the folder lockstep image build wrote")
	f.StringVar(&ref, "ref", "", "an image in a registry, by digest (registry/lockstep@sha256:...), instead of --dir")
	f.StringVar(&pubFile, "public-key", "", "the signer's public key (PEM) (required)")
	f.StringVar(&caFile, "ca-file", "", "PEM CA bundle the registry's certificate is checked against (default: the system's)")
	f.BoolVar(&plainHTTP, "plain-http", false, "talk HTTP, not HTTPS, to the registry (a local test registry only)")
	_ = cmd.MarkFlagRequired("public-key")
	return cmd
}

// verifyInRegistry checks the image ref names in its registry: what bundle
// push attached to it.
func verifyInRegistry(cmd *cobra.Command, ref string, pub ed25519.PublicKey, caFile string, plainHTTP bool) error {
	var nameOpts []name.Option
	if plainHTTP {
		nameOpts = append(nameOpts, name.Insecure)
	}
	d, err := name.NewDigest(ref, nameOpts...)
	if err != nil {
		return &UsageError{fmt.Errorf("--ref wants an image by digest (registry/lockstep@sha256:...): %w", err)}
	}
	transport, err := registryTransport(caFile)
	if err != nil {
		return err
	}
	sbom, err := image.VerifyRemote(d, pub, remote.WithContext(cmd.Context()), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithTransport(transport))
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "OK: %s and its SBOM (%d bytes) are signed by %s\n", d, len(sbom), signkey.Fingerprint(pub))
	return nil
}

// buildDigests are the digests of the image in dir's OCI layout (its only
// one) and of its SBOM file.
func buildDigests(dir string) (v1.Hash, v1.Hash, error) {
	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, image.LayoutDir))
	if err != nil {
		return v1.Hash{}, v1.Hash{}, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, v1.Hash{}, err
	}
	if len(m.Manifests) != 1 {
		return v1.Hash{}, v1.Hash{}, fmt.Errorf("%s holds %d images, want 1", filepath.Join(dir, image.LayoutDir), len(m.Manifests))
	}
	sbom, err := os.ReadFile(filepath.Join(dir, sbomFile))
	if err != nil {
		return v1.Hash{}, v1.Hash{}, err
	}
	sbomDigest, _, err := v1.SHA256(bytes.NewReader(sbom))
	return m.Manifests[0].Digest, sbomDigest, err
}

func newImageKeygenCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make an ed25519 key pair for signing images and bundles (image.key, image.pub)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := signkey.Generate()
			if err != nil {
				return err
			}
			private, public, err := signkey.Marshal(key)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			keyPath := filepath.Join(out, "image.key")
			if _, err := os.Stat(keyPath); err == nil {
				return fmt.Errorf("%s exists: not overwriting a key", keyPath)
			}
			if err := os.WriteFile(keyPath, private, 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, "image.pub"), public, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (keep it secret) and %s, key %s\n", keyPath, filepath.Join(out, "image.pub"), signkey.Fingerprint(key.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", ".", "folder for image.key and image.pub")
	return cmd
}
