package naskguard

import "github.com/llmrouter/llm-router/plugins/httpguard"

func init() {
	httpguard.Register(Name, HostEnv)
}
