package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

func TestDescribeToVersion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3-5-gabcdef1", "1.2.3+git5.gabcdef1"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"v1.2.3-rc1-5-gabcdef1-dirty", "1.2.3~rc1+git5.gabcdef1.dirty"},
	} {
		if got := DescribeToVersion(tc.in); got != tc.want {
			t.Errorf("DescribeToVersion(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTag(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1.2.3", "1.2.3"},
		{"1.2.3~rc1+git5.gabcdef1.dirty", "1.2.3-rc1-git5.gabcdef1.dirty"},
	} {
		if got := Tag(tc.in); got != tc.want {
			t.Errorf("Tag(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if _, err := name.NewTag("llm-router:" + Tag(tc.in)); err != nil {
			t.Errorf("Tag(%q) is not a valid tag: %v", tc.in, err)
		}
	}
}

// TestImage builds the amd64 image once (the real go build), checks that a
// second assembly gives the same bytes, reads the image back from the OCI
// layout and from the docker tarball, asserts its configuration, then unpacks
// its layers into a directory and runs the entrypoint there — chrooted, as the
// image's user, with the image's environment — and talks to it: ping, version
// and a chat through a fake OpenAI provider named in the mounted
// /etc/llm-router/models-config.json.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to chroot into the unpacked image and switch to its user")
	}
	if _, err := os.Stat(CACerts); err != nil {
		t.Fatalf("the image copies the build host's CA bundle: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Root:     root,
		Out:      t.TempDir(),
		Version:  "1.2.3+test",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Epoch:    time.Unix(1700000000, 0).UTC(),
		Arches:   []string{"amd64"},
		CACerts:  CACerts,
	}
	res, err := Build(ctx, o)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("reproducible", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "llm-router")
		img := res.Images["amd64"]
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := layers[len(layers)-1].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := readEntry(rc, strings.TrimPrefix(Binary, "/"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		o2 := o
		o2.Out = t.TempDir()
		res2, err := Assemble(o2, map[string]string{"amd64": bin})
		if err != nil {
			t.Fatal(err)
		}
		if res2.Index != res.Index {
			t.Errorf("index digest %s, then %s from the same binary", res.Index, res2.Index)
		}
		a, _ := os.ReadFile(res.Tarballs["amd64"])
		b, _ := os.ReadFile(res2.Tarballs["amd64"])
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("docker tarballs differ (%d and %d bytes)", len(a), len(b))
		}
		for _, f := range []string{"index.json", "oci-layout"} {
			a, _ := os.ReadFile(filepath.Join(res.Layout, f))
			b, _ := os.ReadFile(filepath.Join(res2.Layout, f))
			if !bytes.Equal(a, b) {
				t.Errorf("layout %s differs:\n%s\n%s", f, a, b)
			}
		}
	})

	img := fromLayout(t, res.Layout, "amd64")
	t.Run("tarball", func(t *testing.T) {
		tag, err := name.NewTag("llm-router:1.2.3-test")
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(res.Tarballs["amd64"]) != "llm-router_1.2.3-test_linux_amd64.tar" {
			t.Errorf("tarball name %s", res.Tarballs["amd64"])
		}
		fromTar, err := tarball.ImageFromPath(res.Tarballs["amd64"], &tag)
		if err != nil {
			t.Fatalf("docker tarball has no image tagged %s: %v", tag, err)
		}
		// docker load keeps the config (its digest is the image ID) and the
		// layers; the tarball's manifest is Docker's, so compare those.
		c1, _ := fromTar.ConfigName()
		c2, _ := img.ConfigName()
		if c1 != c2 {
			t.Errorf("tarball image ID %s, layout image config %s", c1, c2)
		}
		l1, _ := fromTar.Layers()
		l2, _ := img.Layers()
		if len(l1) != len(l2) {
			t.Fatalf("tarball has %d layers, layout %d", len(l1), len(l2))
		}
		for i := range l1 {
			d1, _ := l1[i].DiffID()
			d2, _ := l2[i].DiffID()
			if d1 != d2 {
				t.Errorf("layer %d: tarball %s, layout %s", i, d1, d2)
			}
		}
	})

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("config", func(t *testing.T) {
		c := cf.Config
		if cf.OS != "linux" || cf.Architecture != "amd64" {
			t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
		}
		if !cf.Created.Time.Equal(o.Epoch) {
			t.Errorf("created %v, want SOURCE_DATE_EPOCH %v", cf.Created.Time, o.Epoch)
		}
		if c.User != "65532:65532" {
			t.Errorf("user %q, want 65532:65532 (non-root)", c.User)
		}
		if !slices.Equal(c.Entrypoint, []string{"/usr/bin/llm-router"}) || !slices.Equal(c.Cmd, []string{"run"}) {
			t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
		}
		if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 1 {
			t.Errorf("exposed ports %v, want 8080/tcp", c.ExposedPorts)
		}
		for _, e := range []string{
			"LLM_ROUTER_SERVER_HOST=0.0.0.0", "LLM_ROUTER_SERVER_PORT=8080",
			"XDG_DATA_HOME=/var/lib/llm-router/data", "XDG_CONFIG_HOME=/var/lib/llm-router/config",
			"HOME=/var/lib/llm-router",
		} {
			if !slices.Contains(c.Env, e) {
				t.Errorf("env %q lacks %s", c.Env, e)
			}
		}
		for k, v := range map[string]string{
			"org.opencontainers.image.version":  "1.2.3+test",
			"org.opencontainers.image.source":   "https://github.com/llmrouter/llm-router",
			"org.opencontainers.image.licenses": "Apache-2.0",
			"org.opencontainers.image.revision": o.Revision,
			"org.opencontainers.image.created":  "2023-11-14T22:13:20Z",
		} {
			if c.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
			}
		}
		mt, _ := img.MediaType()
		if mt != types.OCIManifestSchema1 {
			t.Errorf("manifest media type %s", mt)
		}
	})

	dir := unpack(t, img)
	t.Run("files", func(t *testing.T) {
		for _, f := range []string{"bin/sh", "usr/bin/sh", "bin/busybox"} {
			if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
				t.Errorf("/%s exists: the image must have no shell", f)
			}
		}
		passwd, _ := os.ReadFile(filepath.Join(dir, "etc/passwd"))
		if !strings.Contains(string(passwd), "llm-router:x:65532:65532:") {
			t.Errorf("/etc/passwd lacks the llm-router user:\n%s", passwd)
		}
		for p, want := range map[string]os.FileMode{"tmp": os.ModeDir | os.ModeSticky | 0o777, "usr/bin/llm-router": 0o755} {
			fi, err := os.Stat(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (os.ModePerm | os.ModeSticky | os.ModeDir); got != want {
				t.Errorf("/%s mode %v, want %v", p, got, want)
			}
		}
	})

	// The mounted configuration: one model on a fake OpenAI provider on
	// loopback (the chrooted process shares the host's network namespace).
	fake := llmtest.NewOpenAI("image")
	defer fake.Close()
	models := fmt.Sprintf(`{"openai_models": {"m1": {"providers": [
		{"id": "p1", "api_host": %q, "api_type": "openai", "input_size": 4096}]}},
		"active_models": {"openai_models": ["m1"]}}`, fake.URL)
	if err := os.WriteFile(filepath.Join(dir, "etc/llm-router/models-config.json"), []byte(models), 0o644); err != nil {
		t.Fatal(err)
	}

	port, admin := freePort(t), freePort(t)
	env := append(slices.Clone(cf.Config.Env),
		fmt.Sprintf("LLM_ROUTER_SERVER_PORT=%d", port), // a free port instead of 8080
		fmt.Sprintf("CADDY_ADMIN=127.0.0.1:%d", admin), // not the shared 2019
	)
	args := append(slices.Clone(cf.Config.Entrypoint[1:]), cf.Config.Cmd...)
	var stderr bytes.Buffer
	cmd := exec.Command(cf.Config.Entrypoint[0], args...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, cf.Config.WorkingDir, &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     dir,
		Credential: &syscall.Credential{Uid: UID, Gid: UID, NoSetGroups: false, Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s in %s: %v", cf.Config.Entrypoint[0], dir, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("router output:\n%s", stderr.String())
		}
	}()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var ping map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the router exited: %v", err)
		default:
		}
		if err := getJSON(ctx, base+"/api/ping", &ping); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no answer on %s/api/ping within 60s: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ping["body"] != "pong" || ping["status"] != true {
		t.Errorf("ping: %v", ping)
	}

	// Inside a container only a listener on every interface is reachable
	// from outside: ping through a non-loopback address of this host.
	t.Run("all interfaces", func(t *testing.T) {
		ip := hostIP(t)
		if ip == "" {
			t.Skip("this host has no non-loopback IPv4 address")
		}
		var p map[string]any
		if err := getJSON(ctx, fmt.Sprintf("http://%s:%d/api/ping", ip, port), &p); err != nil {
			t.Errorf("not reachable on %s (LLM_ROUTER_SERVER_HOST=0.0.0.0): %v", ip, err)
		}
	})

	t.Run("user", func(t *testing.T) {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "Uid:") && strings.Fields(l)[1] != "65532" {
				t.Errorf("the router runs as %s, want uid 65532", l)
			}
		}
		// Caddy autosaves its config under XDG_CONFIG_HOME: the data dir is writable.
		if _, err := os.Stat(filepath.Join(dir, "var/lib/llm-router/config/caddy/autosave.json")); err != nil {
			t.Errorf("no autosave under XDG_CONFIG_HOME: %v", err)
		}
	})

	t.Run("version", func(t *testing.T) {
		var v map[string]any
		if err := getJSON(ctx, base+"/api/version", &v); err != nil {
			t.Fatal(err)
		}
		if v["version"] != "1.2.3+test" {
			t.Errorf("version %v, want the image's 1.2.3+test", v)
		}
	})

	t.Run("chat", func(t *testing.T) {
		client := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey("unused"))
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "m1",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "Hello from image." {
			t.Errorf("answer %+v", resp.Choices)
		}
		if n := fake.Count("/v1/chat/completions"); n != 1 {
			t.Errorf("the provider got %d chat requests, want 1", n)
		}
	})
}

// fromLayout reads the arch's image from the layout's index.json → image
// index → manifest, as a registry push or `skopeo copy oci:` would.
func fromLayout(t *testing.T, dir, arch string) v1.Image {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].MediaType != types.OCIImageIndex ||
		im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "1.2.3-test" {
		t.Fatalf("index.json: %+v", im.Manifests)
	}
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no linux/%s image in the index: %+v", arch, m.Manifests)
	return nil
}

// unpack writes the image's flattened file system into a new directory,
// keeping modes and owners.
func unpack(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir is 0700: the chroot's / must be searchable by the image's user.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		mode := h.FileInfo().Mode() & (os.ModePerm | os.ModeSticky | os.ModeSetuid | os.ModeSetgid)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				t.Fatal(err)
			}
			continue
		default:
			t.Fatalf("unexpected entry %s (type %c) in the image", h.Name, h.Typeflag)
		}
		if err := os.Chown(p, h.Uid, h.Gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readEntry(rc io.ReadCloser, name string) ([]byte, error) {
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s not in the layer: %w", name, err)
		}
		if h.Name == name {
			return io.ReadAll(tr)
		}
	}
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
