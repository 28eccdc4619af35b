// Package sdkcompat holds only tests: they feed the router's translated
// streams to the official OpenAI, Anthropic and Ollama Go clients and check
// what those clients read. It is separate so the core protocol tests stay
// quick to build.
package sdkcompat
