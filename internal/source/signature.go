package source

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/crypto/ssh"
)

// ticketPattern finds issue-tracker references: PROJ-123 (Jira style) and #45
// (Git forges), not inside words or URLs' fragments of other text.
var ticketPattern = regexp.MustCompile(`(?:^|[^\w/#-])([A-Z][A-Z0-9]+-[0-9]+|#[0-9]+)\b`)

// notTickets are upper-case words with a dash and a number that name standards,
// not tickets.
var notTickets = []string{"SHA", "UTF", "ISO", "RFC", "TLS", "AES", "X"}

// Tickets returns the ticket references the commit message mentions, in order,
// each once.
func (c Commit) Tickets() []string { return Tickets(c.Message) }

// Tickets returns the ticket references a commit message mentions, in order,
// each once.
func Tickets(message string) []string {
	var out []string
	for _, m := range ticketPattern.FindAllStringSubmatch(message, 50) {
		t := m[1]
		prefix, _, _ := strings.Cut(t, "-")
		if slices.Contains(notTickets, prefix) || slices.Contains(out, t) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// SignatureKey names the key the commit's signature says it was made with (see
// the function SignatureKey).
func (c Commit) SignatureKey() string { return SignatureKey(c.Signature) }

// SignatureKey names the key a commit signature says it was made with: the
// OpenPGP issuer fingerprint (or key ID) of a PGP signature, or the SHA256
// fingerprint of an SSH signature's public key. It does not verify anything:
// that is the verification stage's work, which records the key it trusted.
// Empty when the signature is absent or unreadable.
func SignatureKey(signature string) string {
	switch {
	case strings.Contains(signature, "-----BEGIN PGP SIGNATURE-----"):
		return pgpIssuer(signature)
	case strings.Contains(signature, "-----BEGIN SSH SIGNATURE-----"):
		return sshSigner(signature)
	}
	return ""
}

func pgpIssuer(armored string) string {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return ""
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return ""
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return ""
	}
	switch {
	case len(sig.IssuerFingerprint) > 0:
		return "PGP:" + strings.ToUpper(hex.EncodeToString(sig.IssuerFingerprint))
	case sig.IssuerKeyId != nil:
		return "PGP:" + strings.ToUpper(hex.EncodeToString(binary.BigEndian.AppendUint64(nil, *sig.IssuerKeyId)))
	}
	return ""
}

// sshSigner reads the public key out of an SSH signature (the SSHSIG format of
// OpenSSH's PROTOCOL.sshsig: magic, version, then the key as an SSH string).
func sshSigner(armored string) string {
	body := armored[strings.Index(armored, "-----BEGIN SSH SIGNATURE-----")+len("-----BEGIN SSH SIGNATURE-----"):]
	body, _, _ = strings.Cut(body, "-----END SSH SIGNATURE-----")
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return ""
	}
	keyBytes, err := sshsigKey(raw)
	if err != nil {
		return ""
	}
	key, err := ssh.ParsePublicKey(keyBytes)
	if err != nil {
		return ""
	}
	return "SSH:" + ssh.FingerprintSHA256(key)
}

func sshsigKey(raw []byte) ([]byte, error) {
	const magic = "SSHSIG"
	if !bytes.HasPrefix(raw, []byte(magic)) || len(raw) < len(magic)+8 {
		return nil, errors.New("not an SSH signature")
	}
	rest := raw[len(magic)+4:] // skip the version
	n := binary.BigEndian.Uint32(rest)
	if uint64(n) > uint64(len(rest)-4) {
		return nil, errors.New("truncated SSH signature")
	}
	return rest[4 : 4+n], nil
}
