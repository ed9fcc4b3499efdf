package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/lockstep-dev/lockstep/config"
	"github.com/lockstep-dev/lockstep/internal/bundle"
	"github.com/lockstep-dev/lockstep/internal/image"
	"github.com/lockstep-dev/lockstep/internal/signkey"
)

func newBundleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Carry Lockstep across an air gap: one signed archive of the image, binaries, install manifests and SBOM",
		Long: `A bundle is one .tar.gz with everything a closed network needs to install Lockstep: the image
(an OCI layout), the static binaries lockstep and lockstep-render (the image's own),
install.yaml, the SBOM, the image's signature, and SHA256SUMS signed with your key. Make it
outside (bundle create), check it inside (bundle verify, or sha256sum and openssl alone: see
docs/airgap.md), then put the image into the internal registry (bundle push) and install.`,
	}
	cmd.AddCommand(newBundleCreateCommand(), newBundleVerifyCommand(), newBundlePushCommand())
	return cmd
}

func newBundleCreateCommand() *cobra.Command {
	var buildDir, binary, renderBinary, keyFile, out string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Write a signed bundle from an image build (lockstep image build, or make image)",
		Long: `Create bundles what lockstep image build wrote under --build (the OCI layout, the SBOM and
the image's signature) with the two binaries the image was built from (--binary and
--render-binary, lockstep-render beside --binary with its suffix when not given:
bin/lockstep-static gives bin/lockstep-render-static) and install.yaml for the image's
digest, lists every file in SHA256SUMS and signs it with --key, the key that signed the
image. It then unpacks and verifies what it wrote.`,
		Example: `  make image && bin/lockstep image build --binary bin/lockstep-static --tag lockstep:1.0 --key keys/image.key --out dist
  bin/lockstep bundle create --build dist --binary bin/lockstep-static --key keys/image.key --out lockstep-1.0.tar.gz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := readPrivateKey(keyFile)
			if err != nil {
				return err
			}
			if renderBinary == "" {
				renderBinary = defaultRenderBinary(binary)
			}
			if _, err := os.Stat(renderBinary); err != nil {
				return fmt.Errorf("the render binary (--render-binary): %w", err)
			}
			digest, sbomDigest, err := buildDigests(buildDir)
			if err != nil {
				return err
			}
			sig, err := os.ReadFile(filepath.Join(buildDir, signatureFile))
			if err != nil {
				return fmt.Errorf("%w (sign the image: lockstep image build --key)", err)
			}
			if err := image.Verify(key.Public().(ed25519.PublicKey), sig, digest, sbomDigest); err != nil {
				return fmt.Errorf("the image build in %s: %w", buildDir, err)
			}
			ref, err := layoutName(buildDir)
			if err != nil {
				return err
			}
			objs, err := config.Install(config.InstallOptions{Image: ref.Context().Name() + "@" + digest.String()})
			if err != nil {
				return err
			}
			var install bytes.Buffer
			if err := printYAML(&install, objs); err != nil {
				return err
			}
			files, err := bundle.Dir(filepath.Join(buildDir, image.LayoutDir), bundle.ImageDir)
			if err != nil {
				return err
			}
			files = append(files,
				bundle.File{Name: bundle.Binary, Path: binary, Mode: 0o755},
				bundle.File{Name: bundle.RenderBinary, Path: renderBinary, Mode: 0o755},
				bundle.File{Name: bundle.SBOM, Path: filepath.Join(buildDir, sbomFile)},
				bundle.File{Name: bundle.ImageSignature, Data: sig},
				bundle.File{Name: bundle.Install, Data: install.Bytes()})
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			top := "lockstep-" + ref.TagStr()
			err = bundle.Create(f, top, files, key)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				_, err = verifyBundle(out, key.Public().(ed25519.PublicKey), "")
			}
			if err != nil {
				os.Remove(out)
				return err
			}
			st, _ := os.Stat(out)
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%.0f MiB): image %s, signed by %s\n", out, float64(st.Size())/(1<<20), digest, signkey.Fingerprint(key.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&buildDir, "build", "dist", "the folder lockstep image build wrote (with --key)")
	f.StringVar(&binary, "binary", "bin/lockstep-static", "the static binary the image was built from")
	f.StringVar(&renderBinary, "render-binary", "", "the static lockstep-render binary the image was built from (default: lockstep-render beside --binary, with its suffix)")
	f.StringVar(&keyFile, "key", "", "ed25519 signing key (PEM), the one that signed the image (required)")
	f.StringVar(&out, "out", "", "the bundle to write, a .tar.gz (required; never overwritten)")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newBundleVerifyCommand() *cobra.Command {
	var pubFile, extract string
	cmd := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Check a bundle offline with the signer's public key, and optionally unpack it",
		Long: `Verify unpacks the bundle into a temporary folder (or --extract DIR, kept) and checks it:
SHA256SUMS is signed by the public key and lists every file, each file matches it, the
image's blobs match their digests, the image and SBOM signature is by the same key, both
binaries (lockstep and lockstep-render) are the image's, and install.yaml installs that
image.`,
		Example: `  lockstep bundle verify lockstep-1.0.tar.gz --public-key image.pub --extract lockstep-1.0`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := readPublicKey(pubFile)
			if err != nil {
				return err
			}
			c, err := verifyBundle(args[0], pub, extract)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK: %s: %d files, image %s (%s), signed by %s\n", args[0], c.Files, c.Image, c.Name, c.Key)
			return nil
		},
	}
	cmd.Flags().StringVar(&pubFile, "public-key", "", "the signer's public key (PEM) (required)")
	cmd.Flags().StringVar(&extract, "extract", "", "unpack into this folder (new or empty) and keep it")
	_ = cmd.MarkFlagRequired("public-key")
	return cmd
}

func newBundlePushCommand() *cobra.Command {
	var pubFile, to, caFile string
	var plainHTTP bool
	cmd := &cobra.Command{
		Use:   "push BUNDLE",
		Short: "Verify a bundle, then copy its image into the internal registry",
		Long: `Push verifies the bundle (as bundle verify does) and copies its image to --to, a repository
with an optional tag (the bundle's when absent). Credentials come from the Docker config
file ($DOCKER_CONFIG, ~/.docker/config.json) as the Docker and Podman CLIs write it. It
prints the image by digest and the install command for it.`,
		Example: `  lockstep bundle push lockstep-1.0.tar.gz --public-key image.pub --to registry.internal/platform/lockstep`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := readPublicKey(pubFile)
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "lockstep-bundle-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			c, err := verifyBundle(args[0], pub, dir)
			if err != nil {
				return err
			}
			var nameOpts []name.Option
			if plainHTTP {
				nameOpts = append(nameOpts, name.Insecure)
			}
			if !hasTag(to) {
				if i := strings.LastIndex(c.Name, ":"); i >= 0 {
					to += c.Name[i:]
				}
			}
			dst, err := name.NewTag(to, nameOpts...)
			if err != nil {
				return &UsageError{fmt.Errorf("--to: %w", err)}
			}
			transport, err := registryTransport(caFile)
			if err != nil {
				return err
			}
			pushed, err := bundle.Push(dir, c.Image, dst,
				remote.WithContext(cmd.Context()), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithTransport(transport))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %s\ninstall it with:\n  lockstep install --image %s\n", pushed, pushed)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&pubFile, "public-key", "", "the signer's public key (PEM) (required)")
	f.StringVar(&to, "to", "", "registry repository, with an optional tag: registry.internal/platform/lockstep[:1.0] (required)")
	f.StringVar(&caFile, "ca-file", "", "PEM CA bundle the registry's certificate is checked against (default: the system's)")
	f.BoolVar(&plainHTTP, "plain-http", false, "talk HTTP, not HTTPS, to the registry (a local test registry only)")
	_ = cmd.MarkFlagRequired("public-key")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// verifyBundle unpacks archive and verifies it with pub; with keep, the
// verified bundle ends up in that folder (new or empty). It is unpacked into
// a folder of its own beside keep and renamed into place only once it
// verifies: a refused bundle leaves nothing, and keep is never emptied.
func verifyBundle(archive string, pub ed25519.PublicKey, keep string) (bundle.Contents, error) {
	f, err := os.Open(archive)
	if err != nil {
		return bundle.Contents{}, err
	}
	defer f.Close()
	parent := ""
	if keep != "" {
		entries, err := os.ReadDir(keep)
		if err != nil && !os.IsNotExist(err) {
			return bundle.Contents{}, err
		}
		if len(entries) > 0 {
			return bundle.Contents{}, fmt.Errorf("%s is not empty: a bundle is unpacked into a new or empty folder", keep)
		}
		parent = filepath.Dir(filepath.Clean(keep))
	}
	work, err := os.MkdirTemp(parent, ".lockstep-bundle-")
	if err != nil {
		return bundle.Contents{}, err
	}
	defer os.RemoveAll(work) // gone already once renamed
	c, err := extractAndVerify(f, work, pub)
	if err != nil {
		return bundle.Contents{}, fmt.Errorf("%s: %w", archive, err)
	}
	if keep != "" {
		_ = os.Remove(keep) // the empty folder, if there is one
		if err := os.Rename(work, keep); err != nil {
			return bundle.Contents{}, err
		}
	}
	return c, nil
}

func extractAndVerify(r io.Reader, dir string, pub ed25519.PublicKey) (bundle.Contents, error) {
	if _, err := bundle.Extract(r, dir, pub, bundle.DefaultLimits); err != nil {
		return bundle.Contents{}, err
	}
	return bundle.Verify(dir, pub)
}

// layoutName is the name lockstep image build gave the image in dir.
func layoutName(dir string) (name.Tag, error) {
	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, image.LayoutDir))
	if err != nil {
		return name.Tag{}, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return name.Tag{}, err
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations[image.RefName] == "" {
		return name.Tag{}, fmt.Errorf("%s holds no one named image (build it with lockstep image build --tag)", filepath.Join(dir, image.LayoutDir))
	}
	return name.NewTag(m.Manifests[0].Annotations[image.RefName])
}

// hasTag says whether a repository reference ends in a tag (a colon after
// the last slash, which is not a registry's port).
func hasTag(ref string) bool {
	return strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":")
}

// registryTransport trusts caFile's CAs (only them) when given.
func registryTransport(caFile string) (http.RoundTripper, error) {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	if caFile == "" {
		return t, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", caFile)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

func readPrivateKey(file string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return signkey.ParsePrivate(data, "signing key "+file)
}

func readPublicKey(file string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return signkey.ParsePublic(data, "public key "+file)
}
