package sops_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"

	"github.com/lockstep-dev/lockstep/internal/render/sops"
	"github.com/lockstep-dev/lockstep/internal/testenv/sopsfile"
)

// A key for fuzzing only, fixed so that seeds encrypted in one fuzzing process
// decrypt in the others.
const (
	fuzzIdentity  = "AGE-SECRET-KEY-1R3LF2ZT29A0HSC2VPSKC40K52LKQ4U2R3TNPE4J3PPZYJQXV0T4SYUMWG5"
	fuzzRecipient = "age1wjpp9e5rgz9dfarwt42kw6fzu0hmfjrwgrpm82n9tq9p0qln9qgqa5erj6"
)

// fuzzSecrets are the values the seeds encrypt: no error may show them.
var fuzzSecrets = []string{"s3cr3t-horse-battery", "correct-staple-4711", "dmFsdWUtaW4tYmFzZTY0"}

// FuzzDecrypt feeds a file, starting from SOPS files encrypted to the fuzzing
// key, to Decrypt. Invariants: a file is reported as encrypted exactly when
// IsEncrypted says so; a file that is not is returned unchanged; a decrypted
// file is YAML without its sops metadata; an error never holds a decrypted
// value or the key.
func FuzzDecrypt(f *testing.F) {
	ids, err := sops.ParseIdentities(fuzzIdentity)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct{ name, plain, regex string }{
		{"db.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  password: s3cr3t-horse-battery\n  user: app\n", "^(data|stringData)$"},
		{"all.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {token: correct-staple-4711, port: \"5432\"}\nlist: [1, 2.5, true, null]\n", ""},
		{"two.yaml", "a: 1\n---\nkind: Secret\ndata: {k: dmFsdWUtaW4tYmFzZTY0}\n", ""},
		{"s.json", `{"kind": "Secret", "data": {"k": "dmFsdWUtaW4tYmFzZTY0"}, "n": 7}`, ""},
	} {
		enc, err := sopsfile.Encrypt(seed.name, []byte(seed.plain), fuzzRecipient, seed.regex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n"))
	f.Add([]byte("a: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n"))
	f.Add([]byte("a: b\nsops:\n  age: []\n  mac: x\n  version: 3.9.0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, ok, err := decryptWithin(t, data, ids, 10*time.Second)
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "AGE-SECRET-KEY") {
				t.Fatalf("error holds the key: %q", msg)
			}
			for _, s := range fuzzSecrets {
				if strings.Contains(msg, s) && !bytes.Contains(data, []byte(s)) {
					t.Fatalf("error holds the decrypted value %q: %q", s, msg)
				}
			}
			if errors.Is(err, sops.ErrNoIdentity) {
				t.Fatalf("ErrNoIdentity with an identity given: %v", err)
			}
			return
		}
		if ok != sops.IsEncrypted(data) {
			t.Fatalf("Decrypt says encrypted=%v, IsEncrypted says %v", ok, !ok)
		}
		if !ok {
			if !bytes.Equal(out.Plain, data) {
				t.Fatalf("a file that is not encrypted came back changed")
			}
			return
		}
		dec := yaml.NewDecoder(bytes.NewReader(out.Plain))
		for {
			var doc any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("decrypted file is not YAML: %v\n%s", err, out.Plain)
			}
			if m, isMap := doc.(map[string]any); isMap {
				if _, has := m["sops"]; has {
					t.Fatalf("decrypted file keeps its sops metadata:\n%s", out.Plain)
				}
			}
		}
	})
}

// decryptWithin fails the test when Decrypt has not returned after d (real
// files take microseconds): the fuzzing engine does not report an input that
// hangs, only one that fails.
func decryptWithin(t *testing.T, data []byte, ids []age.Identity, d time.Duration) (sops.Decrypted, bool, error) {
	t.Helper()
	type result struct {
		out sops.Decrypted
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, ok, err := sops.Decrypt(data, ids)
		done <- result{out, ok, err}
	}()
	select {
	case r := <-done:
		return r.out, r.ok, r.err
	case <-time.After(d):
		t.Fatalf("Decrypt still running after %s on %d bytes", d, len(data))
	}
	return sops.Decrypted{}, false, nil
}
