// Command oci builds the llm-router container image without a Docker daemon.
//
//	go run ./packaging/oci            # from the repository root
//
// It cross-compiles the same static binary the .deb/.rpm packages hold
// (CGO_ENABLED=0, -trimpath, version ldflags) for linux/amd64 and linux/arm64,
// puts each on a minimal root it assembles itself (no shell, no package
// manager: /etc/passwd and /etc/group with the non-root user llm-router
// 65532, the build host's CA bundle, /tmp, /etc/llm-router for mounted
// configuration, /var/lib/llm-router for Caddy's data) and writes
//
//	dist/oci/                                     an OCI image layout: one image index, amd64 + arm64
//	dist/llm-router_<version>_linux_<arch>.tar    a `docker load`-able tarball per architecture
//
// The build is reproducible: every timestamp is SOURCE_DATE_EPOCH (default:
// the last commit's time), so the same tree gives the same digests. The
// index digest is printed on stdout.
//
// Environment: LLM_ROUTER_VERSION and SOURCE_DATE_EPOCH as for
// packaging/build.sh; flags: see -help.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image facts shared by the builder and its test.
const (
	// UID and GID of the llm-router user inside the image (distroless' "nonroot").
	UID = 65532
	// Binary is the entrypoint's path inside the image.
	Binary = "/usr/bin/llm-router"
	// DataDir is the writable home of the process: Caddy's XDG data and config.
	DataDir = "/var/lib/llm-router"
	// ConfigDir is where a Caddyfile and models-config.json are mounted.
	ConfigDir = "/etc/llm-router"
	// Port is the HTTP port the embedded default configuration listens on.
	Port = 8080
	// Source is the repository the labels point at.
	Source = "https://github.com/llmrouter/llm-router"
	// License is the SPDX licence of the project (packaging/nfpm.yaml).
	License = "Apache-2.0"
	// CACerts is the build host's CA bundle (Debian's ca-certificates).
	CACerts = "/etc/ssl/certs/ca-certificates.crt"
)

// Options describe one image build.
type Options struct {
	// Root is the repository root (the directory of go.mod).
	Root string
	// Out is the output directory (dist/).
	Out string
	// Version is the router version (labels, ldflags, tag).
	Version string
	// Revision is the commit the image is built from ("" when unknown).
	Revision string
	// Epoch is the timestamp of every file, history entry and the image.
	Epoch time.Time
	// Arches are the GOARCH values to build for (linux only).
	Arches []string
	// Bins maps an arch to a prebuilt binary; the others are built.
	Bins map[string]string
	// CACerts is the CA bundle copied into the image.
	CACerts string
}

// Result is what a build wrote.
type Result struct {
	// Index is the digest of the multi-arch image index.
	Index v1.Hash
	// Layout is the OCI layout directory.
	Layout string
	// Tarballs maps an arch to its `docker load`-able tarball.
	Tarballs map[string]string
	// Images maps an arch to its image.
	Images map[string]v1.Image
}

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "oci:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("oci", flag.ContinueOnError)
	out := fs.String("out", "", "output directory (default <repo>/dist)")
	arches := fs.String("arch", "amd64,arm64", "comma-separated GOARCH list (linux)")
	var bins multiFlag
	fs.Var(&bins, "bin", "use a prebuilt binary: ARCH=PATH (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := repoRoot(ctx)
	if err != nil {
		return err
	}
	o := Options{Root: root, Out: *out, CACerts: CACerts, Bins: map[string]string{}}
	if o.Out == "" {
		o.Out = filepath.Join(root, "dist")
	}
	for _, a := range strings.Split(*arches, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.Arches = append(o.Arches, a)
		}
	}
	for _, b := range bins {
		arch, path, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("-bin %q: want ARCH=PATH", b)
		}
		o.Bins[arch] = path
	}
	if o.Version, err = version(ctx, root); err != nil {
		return err
	}
	if o.Epoch, err = epoch(ctx, root); err != nil {
		return err
	}
	o.Revision = revision(ctx, root)
	fmt.Fprintf(os.Stderr, "oci: version %s, SOURCE_DATE_EPOCH=%d\n", o.Version, o.Epoch.Unix())
	res, err := Build(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "oci: OCI layout %s\n", res.Layout)
	for _, a := range o.Arches {
		fmt.Fprintf(os.Stderr, "oci: docker load -i %s\n", res.Tarballs[a])
	}
	fmt.Println(res.Index)
	return nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// Build compiles the binaries that are not prebuilt and writes the layout and
// the tarballs.
func Build(ctx context.Context, o Options) (*Result, error) {
	if len(o.Arches) == 0 {
		return nil, errors.New("no architecture to build")
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	bins := map[string]string{}
	stage, err := os.MkdirTemp(o.Out, ".oci-stage-")
	if err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	defer os.RemoveAll(stage)
	for _, arch := range o.Arches {
		if p := o.Bins[arch]; p != "" {
			bins[arch] = p
			continue
		}
		p := filepath.Join(stage, "llm-router-"+arch)
		if err := BuildBinary(ctx, o.Root, arch, o.Version, p); err != nil {
			return nil, err
		}
		bins[arch] = p
	}
	return Assemble(o, bins)
}

// LDFlags are the linker flags of the binary: stripped, no build id, and the
// version for both `llm-router version` (Caddy) and {prefix}/version.
func LDFlags(version string) string {
	return "-s -w -buildid= -X github.com/caddyserver/caddy/v2.CustomVersion=v" + version +
		" -X github.com/llmrouter/llm-router/caddymodule.Version=" + version
}

// BuildBinary cross-compiles the static llm-router binary for linux/arch the
// way packaging/build.sh does.
func BuildBinary(ctx context.Context, root, arch, version, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-tags", "nobadger,nomysql,nopgx", "-ldflags", LDFlags(version), "-o", out, "./appliance")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "oci: go build ./appliance (linux/%s)\n", arch)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build linux/%s: %w", arch, err)
	}
	return nil
}

// Assemble builds the images from the given binaries (arch → path) and writes
// the OCI layout and the tarballs under o.Out.
func Assemble(o Options, bins map[string]string) (*Result, error) {
	ca, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("CA bundle (install Debian's ca-certificates): %w", err)
	}
	base, err := BaseLayer(ca, o.Epoch)
	if err != nil {
		return nil, err
	}
	res := &Result{Layout: filepath.Join(o.Out, "oci"), Tarballs: map[string]string{}, Images: map[string]v1.Image{}}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	tag, err := name.NewTag("llm-router:" + Tag(o.Version))
	if err != nil {
		return nil, fmt.Errorf("tag: %w", err)
	}
	for _, arch := range o.Arches {
		bin, err := os.ReadFile(bins[arch])
		if err != nil {
			return nil, fmt.Errorf("binary for %s: %w", arch, err)
		}
		img, err := Image(o, arch, base, bin)
		if err != nil {
			return nil, fmt.Errorf("image linux/%s: %w", arch, err)
		}
		res.Images[arch] = img
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
		// Tarballs of older versions in Out are stale: keep one per arch.
		old, _ := filepath.Glob(filepath.Join(o.Out, "llm-router_*_linux_"+arch+".tar"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return nil, fmt.Errorf("stale tarball: %w", err)
			}
		}
		tb := filepath.Join(o.Out, fmt.Sprintf("llm-router_%s_linux_%s.tar", Tag(o.Version), arch))
		if err := tarball.WriteToFile(tb, tag, img); err != nil {
			return nil, fmt.Errorf("tarball %s: %w", tb, err)
		}
		res.Tarballs[arch] = tb
	}
	idx = mutate.Annotations(idx, labels(o)).(v1.ImageIndex)
	// A layout directory holds stale blobs of earlier builds: start afresh.
	if err := os.RemoveAll(res.Layout); err != nil {
		return nil, fmt.Errorf("layout: %w", err)
	}
	p, err := layout.Write(res.Layout, empty.Index)
	if err != nil {
		return nil, fmt.Errorf("layout: %w", err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": Tag(o.Version),
	})); err != nil {
		return nil, fmt.Errorf("layout: %w", err)
	}
	if res.Index, err = idx.Digest(); err != nil {
		return nil, fmt.Errorf("index digest: %w", err)
	}
	return res, nil
}

// Image is the image for linux/arch: the base layer, then the binary.
func Image(o Options, arch string, base v1.Layer, bin []byte) (v1.Image, error) {
	app, err := layerOf([]entry{
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/bin/", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(Binary, "/"), mode: 0o755, data: bin},
	}, o.Epoch)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.Epoch}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{
			Created: created, CreatedBy: "llm-router base: passwd, group, CA certificates, /tmp, " + ConfigDir + ", " + DataDir,
		}},
		mutate.Addendum{Layer: app, MediaType: types.OCILayer, History: v1.History{
			Created: created, CreatedBy: "llm-router " + o.Version + " static binary (CGO_ENABLED=0)",
		}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = arch, "linux", created
	cf.Author = ""
	cf.Config = Config(o)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return img, nil
}

// Config is the runtime configuration of the image.
func Config(o Options) v1.Config {
	port := strconv.Itoa(Port)
	return v1.Config{
		User:       fmt.Sprintf("%d:%d", UID, UID),
		Entrypoint: []string{Binary},
		Cmd:        []string{"run"},
		WorkingDir: DataDir,
		Env: []string{
			"PATH=/usr/bin:/bin",
			"HOME=" + DataDir,
			"XDG_CONFIG_HOME=" + DataDir + "/config",
			"XDG_DATA_HOME=" + DataDir + "/data",
			"XDG_CACHE_HOME=" + DataDir + "/cache",
			"LLM_ROUTER_SERVER_HOST=0.0.0.0",
			"LLM_ROUTER_SERVER_PORT=" + port,
		},
		ExposedPorts: map[string]struct{}{port + "/tcp": {}},
		Labels:       labels(o),
	}
}

func labels(o Options) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "llm-router",
		"org.opencontainers.image.description": "On-premises LLM gateway: Caddy with the llm-router modules",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.licenses":    License,
		"org.opencontainers.image.created":     o.Epoch.UTC().Format(time.RFC3339),
	}
	if o.Revision != "" {
		l["org.opencontainers.image.revision"] = o.Revision
	}
	return l
}

// BaseLayer is the distroless-style root: users, CA bundle, writable dirs.
func BaseLayer(ca []byte, epoch time.Time) (v1.Layer, error) {
	u := strconv.Itoa(UID)
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"llm-router:x:" + u + ":" + u + ":llm-router:" + DataDir + ":/sbin/nologin\n"
	group := "root:x:0:\nnogroup:x:65534:\nllm-router:x:" + u + ":\n"
	data := strings.TrimPrefix(DataDir, "/")
	return layerOf([]entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: strings.TrimPrefix(ConfigDir, "/") + "/", mode: 0o755, dir: true},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(CACerts, "/"), mode: 0o644, data: ca},
		{name: "root/", mode: 0o700, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "var/", mode: 0o755, dir: true},
		{name: "var/lib/", mode: 0o755, dir: true},
		{name: data + "/", mode: 0o750, dir: true, owner: UID},
		{name: data + "/cache/", mode: 0o750, dir: true, owner: UID},
		{name: data + "/config/", mode: 0o750, dir: true, owner: UID},
		{name: data + "/data/", mode: 0o750, dir: true, owner: UID},
	}, epoch)
}

type entry struct {
	name  string
	mode  int64
	dir   bool
	owner int
	data  []byte
}

// layerOf writes the entries (sorted by name) into a tar with fixed times and
// owners, so the layer's digest depends on its contents only.
func layerOf(entries []entry, epoch time.Time) (v1.Layer, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.owner, Gid: e.owner,
			ModTime: epoch, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.data)),
		}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// Tag is the version as an image tag: characters a tag cannot hold become '-'.
func Tag(version string) string {
	t := regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(version, "-")
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the llm-router repository")
	}
	return filepath.Dir(mod), nil
}

func git(ctx context.Context, root string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}

// version follows packaging/build.sh: LLM_ROUTER_VERSION, else git describe,
// else the VERSION file, else 0.0.0.
func version(ctx context.Context, root string) (string, error) {
	v := os.Getenv("LLM_ROUTER_VERSION")
	if v == "" {
		v = gitVersion(ctx, root)
	}
	if v == "" {
		if b, err := os.ReadFile(filepath.Join(root, "VERSION")); err == nil {
			v = strings.TrimPrefix(strings.TrimSpace(string(b)), "v")
		}
	}
	if v == "" {
		v = "0.0.0"
	}
	v = regexp.MustCompile(`[^0-9A-Za-z.+~]`).ReplaceAllString(v, ".")
	if v[0] < '0' || v[0] > '9' {
		return "", fmt.Errorf("version must start with a digit: %s", v)
	}
	return v, nil
}

var describeRE = regexp.MustCompile(`^(.+)-([0-9]+)-g([0-9a-f]+)$`)

// DescribeToVersion maps `git describe` output to a package version, as
// packaging/build.sh does: v1.2.3-rc1-5-gabcdef1-dirty → 1.2.3~rc1+git5.gabcdef1.dirty.
func DescribeToVersion(d string) string {
	d = strings.TrimPrefix(d, "v")
	dirty := strings.HasSuffix(d, "-dirty")
	d = strings.TrimSuffix(d, "-dirty")
	extra := ""
	if m := describeRE.FindStringSubmatch(d); m != nil {
		d, extra = m[1], "+git"+m[2]+".g"+m[3]
	}
	d = strings.ReplaceAll(d, "-", "~")
	if dirty {
		if extra != "" {
			extra += ".dirty"
		} else {
			extra = "+dirty"
		}
	}
	return d + extra
}

func gitVersion(ctx context.Context, root string) string {
	if _, err := git(ctx, root, "rev-parse", "--verify", "-q", "HEAD"); err != nil {
		return ""
	}
	if d, err := git(ctx, root, "describe", "--tags", "--match", "v[0-9]*", "--dirty"); err == nil && d != "" {
		return DescribeToVersion(d)
	}
	n, _ := git(ctx, root, "rev-list", "--count", "HEAD")
	h, _ := git(ctx, root, "rev-parse", "--short=7", "HEAD")
	v := "0.0.0+git" + n + ".g" + h
	if st, _ := git(ctx, root, "status", "--porcelain", "--untracked-files=no"); st != "" {
		v += ".dirty"
	}
	return v
}

// epoch is SOURCE_DATE_EPOCH, else the last commit's time, else 0.
func epoch(ctx context.Context, root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		s, _ = git(ctx, root, "log", "-1", "--format=%ct")
	}
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

func revision(ctx context.Context, root string) string {
	r, err := git(ctx, root, "rev-parse", "HEAD")
	if err != nil {
		return ""
	}
	return r
}
