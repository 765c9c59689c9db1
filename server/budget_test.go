package server

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// TestJSONLenIsWhatIsWritten: the budget charges a string what it takes
// in the response as the transports write it, escapes included.
func TestJSONLenIsWhatIsWritten(t *testing.T) {
	tests := []string{
		"",
		"hello, world",
		"line\nline\r\n\ttab",
		`quote " and backslash \`,
		"\x00\x01\x1f bell \a",
		"if a < b && b > c:",
		"line\u2028separator\u2029paragraph",
		"héllo wörld, 你好, 🐍",
		"\xe2\x80 truncated separator at the end \xe2\x80",
		"invalid \xff utf-8",
	}
	for _, s := range tests {
		var quoted bytes.Buffer
		graphql.MarshalString(s).MarshalGQL(&quoted)
		written, err := json.Marshal(json.RawMessage(quoted.Bytes()))
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got := jsonLen(s); got != len(written) {
			t.Errorf("jsonLen(%q) = %d, written %d bytes: %s", s, got, len(written), written)
		}
	}
}
