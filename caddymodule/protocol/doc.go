// Package protocol is the canonical chat model the router translates
// through, plus the stream plumbing (SSE and NDJSON readers, Pump) every
// dialect shares; the dialects' stream decoders run one read loop,
// internal/frame. The dialects live in subpackages:
//
//	openai     Chat (client+provider; also vLLM and LM Studio), Responses,
//	           Completions (client side), Embeddings
//	anthropic  Messages (client+provider)
//	ollama     Chat (client+provider), Generate (client side), Embed,
//	           Embeddings (legacy single vector)
//
// Package codecs picks the codec for a client dialect or a provider api_type.
//
// A handler that serves client dialect C with provider dialect P does:
//
//	creq, err := clientCodec.DecodeRequest(body) // *RequestError → 400 via clientCodec.WriteError
//	creq.VisitTexts(mask)                         // texts the model reads (masking)
//	creq.Model = upstreamModel
//	upBody, err := providerCodec.EncodeRequest(creq) // *RequestError → 400 (not expressible there)
//	resp := send(upBody)                              // stream iff creq.Stream
//	if creq.Stream {
//		w.Header().Set("Content-Type", clientCodec.StreamContentType())
//		dec := providerCodec.NewStreamDecoder(resp.Body)
//		enc := clientCodec.NewStreamEncoder(w, flush, protocol.StreamOptions{
//			Model: clientModel, IncludeUsage: creq.IncludeUsage})
//		res, err := protocol.Pump(ctx, dec, enc) // writes the dialect's error event on upstream failure
//	} else {
//		cres, err := providerCodec.DecodeResponse(respBody)
//		cres.Model = clientModel
//		out, err := clientCodec.EncodeResponse(cres)
//	}
//
// When C and P are the same dialect the handler may skip translation and
// relay bytes; it can still decode the request for VisitTexts.
//
// Streams are read event by event from an io.Reader and never buffered
// whole. Encoders append JSON by hand on the per-delta hot path and flush
// after every event. An encoder writes its dialect's in-stream error for an
// EvError event (OpenAI `data: {"error":…}`, Anthropic `event: error`,
// Responses `error` + `response.failed`, Ollama `{"error":…}` line) and never
// a clean finish after it. A "blocked" answer is WriteText: start, text,
// stop, end.
//
// Translation rules worth knowing:
//   - A leading system/developer message becomes Request.System; later ones
//     stay RoleSystem messages (the Anthropic encoder hoists them into the
//     top-level system prompt).
//   - Tool results are RoleTool messages of PartToolResult parts; the
//     Anthropic encoder merges them, results first, into one user turn.
//   - Fields this package does not model are kept in Request.Extra and are
//     replayed only to a provider of the very same dialect; content parts and
//     tools it does not model are PartOther / Tool.Raw and are rejected with
//     a *RequestError by encoders of another dialect (never silently dropped),
//     and so are Extra members whose loss changes the answer
//     (Request.Untranslatable: previous_response_id, generate raw/template,
//     completions suffix/echo...).
//     Sampling fields a target lacks (seed and penalties for Anthropic,
//     top_k for official OpenAI) are dropped.
//   - Reasoning history is dropped for OpenAI-wire providers, kept as
//     message.thinking for Ollama, and sent to Anthropic only with its
//     signature. Tool-call ids Anthropic would reject are rewritten
//     deterministically (call and result still match). Anthropic
//     temperature is clamped to 1; max_tokens defaults to Messages.MaxTokens
//     (DefaultMaxTokens, 4096, when that is 0); an effort becomes a thinking
//     budget below max_tokens.
package protocol
