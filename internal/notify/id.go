package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// messageID is a message's idempotency key: the same for every try of one
// message (Matrix deduplicates by it; webhooks carry it as "id"), different
// for messages that differ in anything, their time included.
func messageID(m Message) string {
	b, err := json.Marshal(m) // plain values only: it cannot fail
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
