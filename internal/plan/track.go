package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Digest is the SHA-256 of the desired objects, in order: the same render of the
// same inputs gives the same digest, so a status that records the digest of the
// last successful sync can tell drift in the cluster from a change in Git.
func Digest(objs []*unstructured.Unstructured) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, o := range objs {
		_ = enc.Encode(o.Object) // encoding/json sorts map keys: stable output
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
