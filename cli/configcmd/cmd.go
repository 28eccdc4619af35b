package configcmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/llmrouter/llm-router/caddymodule/config"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "config",
		Usage: "discover|merge|validate [flags]",
		Short: "Discovers LLM runtimes, merges and validates models-config files",
		Long: `
  llm-router config discover localhost 10.0.0.5 gpu1:8001 -o models-config.json
      probes Ollama (11434), vLLM (8000), LM Studio (1234), llama.cpp (8080),
      KoboldCpp (5001) and TabbyAPI (5000, 8080) on each host (--all-ports adds
      18765, 7000, 1235) and writes a models-config the router accepts.
  llm-router config merge a.json b.json -o merged.json
      deep-merges models-configs, reporting every conflict.
  llm-router config validate models-config.json
      runs the router's own validator.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(discoverCommand(), mergeCommand(), validateCommand())
		},
	})
}

// maxConfigBytes bounds a models-config read.
const maxConfigBytes = 16 << 20

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConfigBytes)
	}
	return b, nil
}

// writeChecked validates doc with the router's validator and writes it to
// path ("-" or "": stdout).
func writeChecked(c *cobra.Command, doc map[string]any, path string) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	name := path
	if name == "" || name == "-" {
		name = "output"
	}
	if _, err := config.Parse(name, b); err != nil {
		return fmt.Errorf("the result does not pass the router's validator: %w", err)
	}
	if path == "" || path == "-" {
		_, err = c.OutOrStdout().Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.ErrOrStderr(), "wrote %s\n", path)
	return nil
}

func discoverCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "discover HOST[:PORT]|SCHEME://HOST:PORT... [-o FILE] [--all-ports]",
		Short: "Probes hosts for LLM runtimes and writes a models-config",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			c.SilenceUsage = true
			out, _ := c.Flags().GetString("output-config-file")
			all, _ := c.Flags().GetBool("all-ports")
			timeout, _ := c.Flags().GetDuration("timeout")
			var targets []Target
			for _, a := range args {
				t, err := ParseTarget(a)
				if err != nil {
					return err
				}
				targets = append(targets, t)
			}
			w := c.ErrOrStderr()
			eps := Discover(c.Context(), targets, all, timeout, func(f string, a ...any) { fmt.Fprintf(w, f+"\n", a...) })
			n := 0
			for _, ep := range eps {
				n += len(ep.Models)
			}
			if n == 0 {
				return errors.New("no runtime with a model was found")
			}
			doc := ModelsConfig(eps)
			if noActive, _ := c.Flags().GetBool("no-active"); noActive {
				am := doc["active_models"].(map[string]any)
				for g := range am {
					am[g] = []string{}
				}
			}
			return writeChecked(c, doc, out)
		},
	}
	c.Flags().StringP("output-config-file", "o", "-", "file to write (- = stdout)")
	c.Flags().Bool("all-ports", false, "also probe the less usual ports")
	c.Flags().Bool("no-active", false, "list no model in active_models (activate them by hand)")
	c.Flags().Duration("timeout", 2*time.Second, "timeout of each probe")
	return c
}

func mergeCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "merge A.json B.json... -o OUT.json",
		Short: "Deep-merges models-configs (the first wins) and reports conflicts",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			c.SilenceUsage = true
			out, _ := c.Flags().GetString("output-config-file")
			strict, _ := c.Flags().GetBool("strict")
			var ins []Input
			for _, a := range args {
				b, err := readConfig(a)
				if err != nil {
					return err
				}
				ins = append(ins, Input{a, b})
			}
			doc, conflicts, err := Merge(ins)
			if err != nil {
				return err
			}
			for _, cf := range conflicts {
				fmt.Fprintln(c.ErrOrStderr(), "conflict:", cf)
			}
			if strict && len(conflicts) > 0 {
				return fmt.Errorf("%d conflicts; nothing written (--strict)", len(conflicts))
			}
			return writeChecked(c, doc, out)
		},
	}
	c.Flags().StringP("output-config-file", "o", "-", "file to write (- = stdout)")
	c.Flags().Bool("strict", false, "fail, writing nothing, when there is a conflict")
	return c
}

func validateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Checks a models-config with the router's validator",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			c.SilenceUsage = true
			b, err := readConfig(args[0])
			if err != nil {
				return err
			}
			cfg, err := config.Parse(args[0], b)
			if err != nil {
				return err
			}
			provs := 0
			for _, m := range cfg.Models() {
				provs += len(m.Providers)
			}
			fmt.Fprintf(c.OutOrStdout(), "%s: valid: %d active models, %d providers\n", args[0], len(cfg.Models()), provs)
			return nil
		},
	}
}
