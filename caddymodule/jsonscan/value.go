package jsonscan

import "strconv"

// The readers below read one raw value, as the walkers give it, with JSON
// white space (TrimWS) around it or not.

// TrimWS trims JSON whitespace (not the wider Unicode set bytes.TrimSpace does).
func TrimWS(data []byte) []byte {
	i := skipWS(data, 0)
	j := len(data)
	for j > i && (data[j-1] == ' ' || data[j-1] == '\t' || data[j-1] == '\n' || data[j-1] == '\r') {
		j--
	}
	return data[i:j]
}

// String decodes v if it is a JSON string.
func String(v []byte) (string, bool) { return Unquote(TrimWS(v)) }

// IsNull reports whether v is absent or the JSON null.
func IsNull(v []byte) bool {
	v = TrimWS(v)
	return len(v) == 0 || string(v) == "null"
}

// IsString reports whether v is a JSON string.
func IsString(v []byte) bool {
	v = TrimWS(v)
	return len(v) > 0 && v[0] == '"'
}

// Boolean reads a JSON true or false (without the reflection and the
// allocations of json.Unmarshal, on every request's sampling options).
func Boolean(v []byte) (b, ok bool) {
	switch string(TrimWS(v)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// Number reads a JSON number as float64, as json.Unmarshal would: false
// for another kind of value or one out of float64's range.
func Number(v []byte) (float64, bool) {
	v = TrimWS(v)
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return f, err == nil
}
