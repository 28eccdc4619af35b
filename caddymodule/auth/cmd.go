package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/llmrouter/llm-router/caddymodule/env"
	"github.com/llmrouter/llm-router/caddymodule/rdb"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "keys",
		Usage: "create|list|disable|enable|rotate|delete|push [flags]",
		Short: "Manages the API keys of the router",
		Long: `
Manages the router's API keys, stored as SHA-256 hashes in a HuJSON keys file
(--keys-file, default $LLM_ROUTER_AUTH_KEYS_FILE or /etc/llm-router/keys.json)
or, for a fleet, in Redis (--redis-url). A running router picks up changes
without a restart. A new key is printed once, by create and rotate, and is
never stored: keep it safe.

An edited keys file keeps its owner and mode; a new one gets mode 0640 and the
group of its directory (root:llm-router in /etc/llm-router). A write that would
leave the file unreadable to the service user (--service-user, default
llm-router, when that user exists) is refused with the command that fixes it.

  llm-router keys create --name alice --models 'gpt-4o*,llama3' --rpm 60 --tpm 100000 --expires 90d
  llm-router keys list
  llm-router keys rotate alice --grace 24h
  llm-router keys disable alice
  llm-router keys delete alice
  llm-router keys push --keys-file keys.json --redis-url redis://redis:6379/0
  llm-router keys list --redis-sentinels s1:26379,s2:26379,s3:26379 --redis-master-name mymaster
  llm-router keys list --redis-cluster n1:6379,n2:6379,n3:6379

With --redis-sentinels or --redis-cluster the password, db and TLS come from
LLM_ROUTER_REDIS_PASSWORD, _DB and _TLS, as for the router.
`,
		CobraFunc: keysCommand,
	})
}

// cliEnv is what the CLI takes from its surroundings (a clock and a user
// database for tests).
type cliEnv struct {
	now    func() time.Time
	lookup func(name string) (*account, error)
}

// ServiceUser is the account the packaged service runs as; the keys command
// refuses to leave a keys file it cannot read.
const ServiceUser = "llm-router"

// keysCommand builds the keys command tree under cmd.
func keysCommand(cmd *cobra.Command) {
	keysCommandWith(cmd, cliEnv{now: time.Now, lookup: lookupAccount})
}

// keysCommandWith builds the keys command tree under cmd with env.
func keysCommandWith(cmd *cobra.Command, env cliEnv) {
	// Not Caddy's help footer (its command-line docs) under a router command.
	cmd.SetHelpTemplate(cmd.HelpTemplate() + "\nDocumentation: https://github.com/llmrouter/llm-router#api-keys\n")
	defFile := os.Getenv("LLM_ROUTER_AUTH_KEYS_FILE")
	if defFile == "" {
		defFile = DefaultKeysFile
	}
	pf := cmd.PersistentFlags()
	pf.String("keys-file", defFile, "keys file to edit")
	pf.String("redis-url", "", "edit the keys document in Redis instead (redis://[:password@]host:port/db)")
	pf.String("redis-key", DefaultRedisKey, "Redis hash holding the keys document")
	pf.String("redis-sentinels", "", "edit the keys document on the primary of these Redis Sentinels instead (host:port,...; with --redis-master-name)")
	pf.String("redis-master-name", "", "name of the primary the sentinels watch")
	pf.String("redis-cluster", "", "edit the keys document on this Redis Cluster instead (seed nodes host:port,...)")
	pf.String("service-user", ServiceUser, "user that must be able to read the keys file ('' to skip the check)")
	if env.lookup == nil {
		env.lookup = lookupAccount
	}

	k := keysCLI{env: env}
	create, list := k.createCommand(), k.listCommand()
	disable := k.byNameCommand("disable", "Disables a key (it stays in the file)",
		func(doc []byte, name string) ([]byte, error) { return setDisabled(doc, name, true) }, "disabled")
	enable := k.byNameCommand("enable", "Re-enables a disabled key",
		func(doc []byte, name string) ([]byte, error) { return setDisabled(doc, name, false) }, "enabled")
	del := k.byNameCommand("delete", "Deletes a key", deleteKey, "deleted")

	grace := time.Hour
	if s := os.Getenv("LLM_ROUTER_AUTH_ROTATION_GRACE_PERIOD"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			grace = time.Duration(n) * time.Second
		}
	}
	rotate, push := k.rotateCommand(grace), k.pushCommand()
	cmd.AddCommand(create, list, disable, enable, rotate, del, push)
}

// keysCLI builds the keys subcommands; env is the clock and the account
// lookup (fakes in tests).
type keysCLI struct{ env cliEnv }

// withStore opens the keys store the flags of c name (a Redis URL, Sentinels
// or Cluster, else the keys file) and runs fn on it.
func (k keysCLI) withStore(c *cobra.Command, fn func(ctx context.Context, s docStore) error) error {
	c.SilenceUsage = true
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	url, _ := c.Flags().GetString("redis-url")
	sentinels, _ := c.Flags().GetString("redis-sentinels")
	master, _ := c.Flags().GetString("redis-master-name")
	cluster, _ := c.Flags().GetString("redis-cluster")
	key, _ := c.Flags().GetString("redis-key")
	if sentinels != "" || cluster != "" || master != "" {
		if url != "" {
			return errors.New("--redis-url and --redis-sentinels/--redis-cluster exclude each other")
		}
		rc, err := haClient(sentinels, master, cluster)
		if err != nil {
			return err
		}
		defer rc.Close()
		return fn(ctx, &redisStore{c: rc, key: key})
	}
	if url == "" {
		path, _ := c.Flags().GetString("keys-file")
		name, _ := c.Flags().GetString("service-user")
		var reader *account
		if name != "" {
			var err error
			if reader, err = k.env.lookup(name); err != nil {
				return err
			}
		}
		return fn(ctx, &fileStore{path: path, reader: reader, note: c.ErrOrStderr()})
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("--redis-url: %w", err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	return fn(ctx, &redisStore{c: rc, key: key})
}

// createCommand is `keys create`: a new key, its secret printed once.
func (k keysCLI) createCommand() *cobra.Command {
	create := &cobra.Command{
		Use:   "create --name NAME [--models m1,m2] [--endpoints chat,...] [--rpm N] [--tpm N] [--expires DATE]",
		Short: "Creates a key and prints it once",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f := c.Flags()
			name, _ := f.GetString("name")
			models, _ := f.GetString("models")
			endpoints, _ := f.GetString("endpoints")
			exp, _ := f.GetString("expires")
			o := createOptions{Name: name, Models: splitList(models)}
			o.RPM, _ = f.GetInt("rpm")
			o.TPM, _ = f.GetInt("tpm")
			for _, e := range splitList(endpoints) {
				o.Endpoints = append(o.Endpoints, Family(e))
			}
			now := k.env.now()
			var err error
			if o.Expires, err = parseExpiry(exp, now); err != nil {
				return err
			}
			return k.withStore(c, func(ctx context.Context, s docStore) error {
				var secret string
				err := edit(ctx, s, func(doc []byte) (out []byte, err error) {
					out, secret, err = addKey(doc, o, now)
					return out, err
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(c.ErrOrStderr(), "Created key %q in %s. It is shown only now; store it safely:\n", name, s)
				fmt.Fprintln(c.OutOrStdout(), secret)
				return nil
			})
		},
	}
	cf := create.Flags()
	cf.String("name", "", "unique key name (required)")
	cf.String("models", "", "allowed models, comma-separated names or globs (default: all)")
	cf.String("endpoints", "", "allowed endpoint families: chat,embeddings,builtin,listing (default: all)")
	cf.Int("rpm", 0, "requests per minute (0: unlimited)")
	cf.Int("tpm", 0, "tokens per minute (0: unlimited)")
	cf.String("expires", "", "expiry: 2026-12-31 (midnight UTC), RFC 3339 time, or duration (90d, 720h)")
	_ = create.MarkFlagRequired("name")
	return create
}

// listCommand is `keys list`: the keys, never their secrets.
func (k keysCLI) listCommand() *cobra.Command {
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "Lists the keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			asJSON, _ := c.Flags().GetBool("json")
			return k.withStore(c, func(ctx context.Context, s docStore) error {
				doc, _, err := s.load(ctx)
				if err != nil {
					return err
				}
				recs, err := parseDoc(doc, s.String())
				if err != nil {
					return err
				}
				return printList(c.OutOrStdout(), recs, k.env.now(), asJSON)
			})
		},
	}
	list.Flags().Bool("json", false, "print JSON")
	return list
}

// byNameCommand is a keys subcommand that edits the key NAME with fn and
// reports it done.
func (k keysCLI) byNameCommand(use, short string, fn func(doc []byte, name string) ([]byte, error), done string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return k.withStore(c, func(ctx context.Context, s docStore) error {
				err := edit(ctx, s, func(doc []byte) ([]byte, error) { return fn(doc, args[0]) })
				if err == nil {
					fmt.Fprintf(c.ErrOrStderr(), "Key %q %s in %s.\n", args[0], done, s)
				}
				return err
			})
		},
	}
}

// rotateCommand is `keys rotate`: a new secret, the old one valid for grace.
func (k keysCLI) rotateCommand(grace time.Duration) *cobra.Command {
	rotate := &cobra.Command{
		Use:   "rotate NAME [--grace 1h]",
		Short: "Gives a key a new secret; the old one works for a grace period",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			g, _ := c.Flags().GetDuration("grace")
			now := k.env.now()
			return k.withStore(c, func(ctx context.Context, s docStore) error {
				var secret string
				err := edit(ctx, s, func(doc []byte) (out []byte, err error) {
					out, secret, err = rotateKey(doc, args[0], g, now)
					return out, err
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(c.ErrOrStderr(), "Rotated key %q in %s; the old key works until %s. New key, shown only now:\n",
					args[0], s, now.Add(g).UTC().Format(time.RFC3339))
				fmt.Fprintln(c.OutOrStdout(), secret)
				return nil
			})
		},
	}
	rotate.Flags().Duration("grace", grace, "how long the old key keeps working (default $LLM_ROUTER_AUTH_ROTATION_GRACE_PERIOD seconds, else 1h)")
	return rotate
}

// pushCommand is `keys push`: a keys file copied into Redis.
func (k keysCLI) pushCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "push --keys-file F --redis-url URL",
		Short: "Copies a keys file into Redis, replacing the keys there",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			c.SilenceUsage = true
			path, _ := c.Flags().GetString("keys-file")
			if url, _ := c.Flags().GetString("redis-url"); url == "" {
				return errors.New("push needs --redis-url")
			}
			doc, _, err := (&fileStore{path: path}).load(c.Context())
			if err != nil {
				return err
			}
			if doc == nil {
				return fmt.Errorf("%s does not exist", path)
			}
			recs, err := parseDoc(doc, path)
			if err != nil {
				return err
			}
			return k.withStore(c, func(ctx context.Context, s docStore) error {
				err := edit(ctx, s, func([]byte) ([]byte, error) { return doc, nil })
				if err == nil {
					fmt.Fprintf(c.ErrOrStderr(), "Pushed %d keys from %s to %s.\n", len(recs), path, s)
				}
				return err
			})
		},
	}
}

// listItem is one key as `keys list --json` prints it.
type listItem struct {
	Name       string    `json:"name"`
	Hash       string    `json:"sha256_prefix"`
	Status     string    `json:"status"`
	Policy     Policy    `json:"policy"`
	Created    time.Time `json:"created,omitzero"`
	Expires    time.Time `json:"expires,omitzero"`
	InGrace    int       `json:"rotated_keys_in_grace,omitempty"`
	GraceUntil time.Time `json:"grace_until,omitzero"`
}

func printList(w io.Writer, recs []Record, now time.Time, asJSON bool) error {
	items := make([]listItem, 0, len(recs))
	for _, r := range recs {
		it := listItem{Name: r.Name, Hash: strings.ToLower(r.SHA256[:8]), Status: "active",
			Policy: r.Policy, Created: r.Created, Expires: r.Expires}
		switch {
		case r.Disabled:
			it.Status = "disabled"
		case !r.Expires.IsZero() && !now.Before(r.Expires):
			it.Status = "expired"
		}
		for _, p := range r.Previous {
			if p.ValidUntil.After(now) {
				it.InGrace++
				if p.ValidUntil.After(it.GraceUntil) {
					it.GraceUntil = p.ValidUntil
				}
			}
		}
		items = append(items, it)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(items)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSHA256\tSTATUS\tMODELS\tENDPOINTS\tRPM\tTPM\tEXPIRES\tOLD KEY UNTIL")
	for _, it := range items {
		eps := make([]string, len(it.Policy.Endpoints))
		for i, e := range it.Policy.Endpoints {
			eps[i] = string(e)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, it.Hash, it.Status,
			orDash(strings.Join(it.Policy.Models, ",")), orDash(strings.Join(eps, ",")),
			limitText(it.Policy.RPM), limitText(it.Policy.TPM), timeText(it.Expires), timeText(it.GraceUntil))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func limitText(n int) string {
	if n <= 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// haClient opens a Sentinel or Cluster client for the CLI; the password,
// db and TLS come from the router's variables, never from the command line.
func haClient(sentinels, master, cluster string) (redis.UniversalClient, error) {
	r := env.Read(os.Getenv).Redis
	if r.Err != nil {
		return nil, r.Err
	}
	o := rdb.Options{Sentinels: rdb.ParseAddrs(sentinels), MasterName: master, Cluster: rdb.ParseAddrs(cluster),
		Password: r.Password, DB: r.DB, TLS: r.TLS}
	return o.New()
}
