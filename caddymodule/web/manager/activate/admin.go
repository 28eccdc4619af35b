package activate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// maxAdminBody bounds what is read from the admin endpoint.
const maxAdminBody = 4 << 20

// adminRequest performs one request on the Caddy admin endpoint at addr
// (Caddy's default when empty), as `caddy reload` does: an Origin header for
// TCP, a local Host for a Unix socket.
func adminRequest(ctx context.Context, addr, method, uri string, body []byte) ([]byte, error) {
	if addr == "" {
		listen, disabled := runningAdmin()
		if disabled {
			return nil, fmt.Errorf("the Caddy admin endpoint is off (admin off): %w", ErrCannotApply)
		}
		addr = listen
	}
	if addr == "" {
		addr = caddy.DefaultAdminListen // $CADDY_ADMIN or localhost:2019
	}
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil || na.PortRangeSize() > 1 {
		return nil, fmt.Errorf("invalid admin address %q", addr)
	}
	origin := "http://" + na.JoinHostPort(0)
	if na.IsUnixNetwork() {
		origin = "http://127.0.0.1"
		if i := strings.LastIndexByte(na.Host, '|'); i >= 0 { // socket permission bits
			na.Host = na.Host[:i]
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, origin+uri, rd)
	if err != nil {
		return nil, err
	}
	if !na.IsUnixNetwork() {
		req.Header.Set("Origin", origin)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, na.Network, na.JoinHostPort(0))
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminBody))
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("admin endpoint %s: %s %s: HTTP %d: %s", addr, method, uri, resp.StatusCode,
			strings.TrimSpace(string(data[:min(len(data), 2048)])))
	}
	return data, nil
}

// runningAdmin returns the admin endpoint of the running config ("" when it
// sets none) and whether it is off. Caddy has no accessor for the running
// config in process, so this reads the active context's config by
// reflection; if a Caddy version lays it out differently, the result is
// "" and the default endpoint is used.
func runningAdmin() (listen string, disabled bool) {
	defer func() {
		if recover() != nil {
			listen, disabled = "", false
		}
	}()
	cfg := reflect.ValueOf(caddy.ActiveContext()).FieldByName("cfg")
	if !cfg.IsValid() || cfg.Kind() != reflect.Pointer || cfg.IsNil() {
		return "", false
	}
	admin := cfg.Elem().FieldByName("Admin")
	if !admin.IsValid() || admin.Kind() != reflect.Pointer || admin.IsNil() {
		return "", false
	}
	return admin.Elem().FieldByName("Listen").String(), admin.Elem().FieldByName("Disabled").Bool()
}

func adminGet(ctx context.Context, addr, uri string) ([]byte, error) {
	return adminRequest(ctx, addr, http.MethodGet, uri, nil)
}

func adminSend(ctx context.Context, addr, method, uri string, body []byte) error {
	_, err := adminRequest(ctx, addr, method, uri, body)
	return err
}
