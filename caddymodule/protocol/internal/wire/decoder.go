package wire

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Decoder unmarshals a sequence of independent JSON documents (stream
// events) while reusing one json.Decoder, which keeps its scanner and
// buffers between documents: far fewer allocations than json.Unmarshal per
// event. Each document must be exactly one JSON value.
type Decoder struct {
	r   bytes.Reader
	d   *json.Decoder
	fed int64
}

var errTrailing = errors.New("invalid character after top-level value")

// Decode unmarshals data into v. Like json.Unmarshal, it merges into v:
// callers reset v first.
func (x *Decoder) Decode(data []byte, v any) error {
	if x.d == nil {
		x.d = json.NewDecoder(&x.r)
		x.fed = 0
	}
	x.r.Reset(data)
	before := x.fed
	x.fed += int64(len(data))
	if err := x.d.Decode(v); err != nil {
		x.d = nil
		return err
	}
	used := x.d.InputOffset() - before
	if used < 0 || used > int64(len(data)) || len(bytes.TrimSpace(data[used:])) != 0 {
		x.d = nil
		return errTrailing
	}
	return nil
}
