// SPDX-License-Identifier: LGPL-2.1-or-later

package delegate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// APIVersion is the protocol version this package speaks.
const APIVersion = 1

// Limits of the wire protocol (delegate-protocol(7), TRANSPORT).
const (
	MaxMessage    = 65536     // bytes per datagram, either direction
	MaxFDs        = 16        // descriptors per datagram from the broker
	MaxRequestID  = 1<<53 - 1 // largest request id
	maxJSONDepth  = 64        // nesting levels
	resumeTokenLn = 32        // hex digits of a resume token
)

// validJSON checks what encoding/json does not: the protocol's strict JSON
// (UTF-8, no key repeated in an object, no NUL in strings, at most 64 levels,
// one value and nothing after it).  It never panics.
func validJSON(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("empty message")
	}
	if len(data) > MaxMessage {
		return fmt.Errorf("message of %d bytes exceeds the %d-byte limit", len(data), MaxMessage)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("message is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object    bool
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) != 0 {
				return fmt.Errorf("truncated JSON")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("malformed JSON: %v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.expectKey = true
				}
				if len(stack) >= maxJSONDepth {
					return fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
				}
				stack = append(stack, &frame{object: d == '{', keys: map[string]bool{}, expectKey: d == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					// the top-level value is complete: nothing may follow
					if _, err := dec.Token(); err != io.EOF {
						return fmt.Errorf("trailing data after the JSON value")
					}
					return nil
				}
			}
			continue
		}
		if top == nil {
			// a scalar at the top level
			if _, err := dec.Token(); err != io.EOF {
				return fmt.Errorf("trailing data after the JSON value")
			}
			return checkScalar(tok)
		}
		if top.object && top.expectKey {
			k, _ := tok.(string)
			if strings.IndexByte(k, 0) >= 0 {
				return fmt.Errorf("NUL character in key")
			}
			if top.keys[k] {
				return fmt.Errorf("key '%s' repeated in an object", k)
			}
			top.keys[k] = true
			top.expectKey = false
			continue
		}
		if top.object {
			top.expectKey = true
		}
		if err := checkScalar(tok); err != nil {
			return err
		}
	}
}

func checkScalar(tok json.Token) error {
	if s, ok := tok.(string); ok && strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("NUL character in string")
	}
	return nil
}

// strictUnmarshal decodes data into v refusing unknown keys.
func strictUnmarshal(data []byte, v interface{}) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// objectKeys splits a JSON object into its members, refusing keys not in allowed.
func objectKeys(data []byte, what string, allowed ...string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%s is not a JSON object", what)
	}
	for k := range m {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return nil, fmt.Errorf("%s has an unknown key '%s'", what, k)
		}
	}
	return m, nil
}

func uintField(m map[string]json.RawMessage, key, what string, max uint64, required bool) (uint64, bool, error) {
	raw, ok := m[key]
	if !ok {
		if required {
			return 0, false, fmt.Errorf("%s has no '%s'", what, key)
		}
		return 0, false, nil
	}
	v, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || v > max {
		return 0, false, fmt.Errorf("%s: '%s' is not an integer from 0 to %d", what, key, max)
	}
	return v, true, nil
}

func stringField(m map[string]json.RawMessage, key, what string, required bool) (string, bool, error) {
	raw, ok := m[key]
	if !ok {
		if required {
			return "", false, fmt.Errorf("%s has no '%s'", what, key)
		}
		return "", false, nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false, fmt.Errorf("%s: '%s' is not a string", what, key)
	}
	return s, true, nil
}

func boolField(m map[string]json.RawMessage, key, what string, required bool) (bool, bool, error) {
	raw, ok := m[key]
	if !ok {
		if required {
			return false, false, fmt.Errorf("%s has no '%s'", what, key)
		}
		return false, false, nil
	}
	switch string(raw) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, false, fmt.Errorf("%s: '%s' is not a boolean", what, key)
}

var knownCodes = map[string]bool{
	CodeBadRequest: true, CodeAPIMismatch: true, CodeDenied: true, CodeNotFound: true, CodeExists: true,
	CodeTooLarge: true, CodeRateLimited: true, CodeUnsupported: true, CodeSystem: true,
}

// decodeErrorObject decodes {"code","errno","message","rule","retry_after_ms"}.
func decodeErrorObject(data []byte, handshake bool) (*Error, error) {
	what := "error object"
	allowed := []string{"code", "errno", "message", "rule", "retry_after_ms"}
	if handshake {
		what = "handshake error"
		allowed = []string{"type", "code", "errno", "message"}
	}
	m, err := objectKeys(data, what, allowed...)
	if err != nil {
		return nil, err
	}
	e := &Error{Handshake: handshake}
	if e.Code, _, err = stringField(m, "code", what, true); err != nil {
		return nil, err
	}
	if !knownCodes[e.Code] {
		return nil, fmt.Errorf("%s: unknown code '%s'", what, e.Code)
	}
	en, _, err := uintField(m, "errno", what, 4095, !handshake)
	if err != nil {
		return nil, err
	}
	e.Errno = syscall.Errno(en)
	if e.Message, _, err = stringField(m, "message", what, true); err != nil {
		return nil, err
	}
	if e.Rule, _, err = stringField(m, "rule", what, false); err != nil {
		return nil, err
	}
	if e.RetryAfterMS, _, err = uintField(m, "retry_after_ms", what, 1<<53-1, false); err != nil {
		return nil, err
	}
	return e, nil
}

// reply is one decoded message from the broker after the welcome.
type reply struct {
	hasID  bool
	id     uint64
	result json.RawMessage // ok replies: the result object
	err    *Error          // error replies and handshake errors
}

// decodeReply decodes a reply datagram: {"id":N|null,"ok":true,"result":{}}
// or {"id":N|null,"ok":false,"error":{...}}, or a handshake error
// {"type":"error",...}.  Anything else is an error; it never panics.
func decodeReply(data []byte) (*reply, error) {
	if err := validJSON(data); err != nil {
		return nil, err
	}
	m, err := objectKeys(data, "reply", "type", "id", "ok", "result", "error", "code", "errno", "message")
	if err != nil {
		return nil, err
	}
	if _, ok := m["type"]; ok {
		t, _, err := stringField(m, "type", "reply", true)
		if err != nil {
			return nil, err
		}
		if t != "error" {
			return nil, fmt.Errorf("unexpected message of type '%s' after the welcome", t)
		}
		e, err := decodeErrorObject(data, true)
		if err != nil {
			return nil, err
		}
		return &reply{err: e}, nil
	}
	if _, err := objectKeys(data, "reply", "id", "ok", "result", "error"); err != nil {
		return nil, err
	}
	r := &reply{}
	raw, ok := m["id"]
	if !ok {
		return nil, fmt.Errorf("reply has no 'id'")
	}
	if string(raw) != "null" {
		if r.id, _, err = uintField(m, "id", "reply", MaxRequestID, true); err != nil {
			return nil, err
		}
		r.hasID = true
	}
	okv, _, err := boolField(m, "ok", "reply", true)
	if err != nil {
		return nil, err
	}
	res, hasRes := m["result"]
	ev, hasErr := m["error"]
	if okv {
		if hasErr || !hasRes {
			return nil, fmt.Errorf("a reply with \"ok\":true needs a 'result' and no 'error'")
		}
		if len(res) == 0 || res[0] != '{' {
			return nil, fmt.Errorf("reply: 'result' is not an object")
		}
		if !r.hasID {
			return nil, fmt.Errorf("a reply with \"ok\":true needs an id")
		}
		r.result = res
		return r, nil
	}
	if hasRes || !hasErr {
		return nil, fmt.Errorf("a reply with \"ok\":false needs an 'error' and no 'result'")
	}
	if len(ev) == 0 || ev[0] != '{' {
		return nil, fmt.Errorf("reply: 'error' is not an object")
	}
	if r.err, err = decodeErrorObject(ev, false); err != nil {
		return nil, err
	}
	return r, nil
}

// Welcome is the broker's answer to the hello.
type Welcome struct {
	API              int    `json:"api"`
	Broker           string `json:"broker"`            // the broker's program version
	Session          uint64 `json:"session"`           // the session number
	PID              int    `json:"pid"`               // the client's pid, as it sees itself
	UID              uint32 `json:"uid"`               // as the broker sees it
	GID              uint32 `json:"gid"`               // as the broker sees it
	Cgroup           string `json:"cgroup"`            // the pod cgroup
	PolicyGeneration uint64 `json:"policy_generation"` // policy loads so far
	ResumeToken      string `json:"resume_token,omitempty"`
	Resumed          bool   `json:"resumed,omitempty"`
}

// decodeWelcome decodes the answer to a hello: a welcome, or a handshake
// error (returned as *Error).
func decodeWelcome(data []byte) (*Welcome, error) {
	if err := validJSON(data); err != nil {
		return nil, err
	}
	m, err := objectKeys(data, "answer to hello", "type", "api", "broker", "session", "pid", "uid", "gid",
		"cgroup", "policy_generation", "resume_token", "resumed", "code", "errno", "message")
	if err != nil {
		return nil, err
	}
	t, _, err := stringField(m, "type", "answer to hello", true)
	if err != nil {
		return nil, err
	}
	switch t {
	case "error":
		e, err := decodeErrorObject(data, true)
		if err != nil {
			return nil, err
		}
		return nil, e
	case "welcome":
	default:
		return nil, fmt.Errorf("the answer to hello is of type '%s', not a welcome", t)
	}
	type welcomeWire struct {
		Type string `json:"type"`
		Welcome
	}
	var w welcomeWire
	if err := strictUnmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("malformed welcome: %v", err)
	}
	for _, k := range []string{"api", "broker", "session", "pid", "uid", "gid", "cgroup", "policy_generation"} {
		if _, ok := m[k]; !ok {
			return nil, fmt.Errorf("the welcome has no '%s'", k)
		}
	}
	if _, ok := m["resume_token"]; ok && !isHex(w.ResumeToken, resumeTokenLn) {
		return nil, fmt.Errorf("the welcome's resume_token is not %d hex digits", resumeTokenLn)
	}
	return &w.Welcome, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// hello is the first message of a connection.
type hello struct {
	Type   string  `json:"type"`
	API    int     `json:"api"`
	Client string  `json:"client,omitempty"`
	VM     string  `json:"vm,omitempty"`
	Resume *resume `json:"resume,omitempty"`
}

type resume struct {
	Session uint64 `json:"session"`
	Token   string `json:"token"`
}

// encodeRequest builds {"id":N,"op":"...","args":{...}}; args nil: no "args".
func encodeRequest(id uint64, op string, args interface{}) ([]byte, error) {
	if id > MaxRequestID {
		return nil, fmt.Errorf("request id %d exceeds %d", id, uint64(MaxRequestID))
	}
	var buf bytes.Buffer
	buf.WriteString(`{"id":`)
	buf.WriteString(strconv.FormatUint(id, 10))
	buf.WriteString(`,"op":`)
	o, _ := json.Marshal(op)
	buf.Write(o)
	if args != nil {
		a, err := marshalArgs(args)
		if err != nil {
			return nil, err
		}
		buf.WriteString(`,"args":`)
		buf.Write(a)
	}
	buf.WriteByte('}')
	if buf.Len() > MaxMessage {
		return nil, &Error{Code: CodeTooLarge, Errno: syscall.EMSGSIZE,
			Message: fmt.Sprintf("%s request of %d bytes exceeds the %d-byte limit", op, buf.Len(), MaxMessage)}
	}
	return buf.Bytes(), nil
}

func marshalArgs(args interface{}) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(args); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
