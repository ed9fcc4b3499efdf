package notify

import (
	"strings"
	"testing"
	"time"
)

// secretAddress carries a token in its path, as Slack's URLs do.
const secretAddress = "https://hooks.example.org/services/T000/B000/SeCrEtPaThToKeN"

func TestNewRefusesBadConfigs(t *testing.T) {
	long := strings.Repeat("a", 5000)
	smtpOK := Config{Type: SMTP, Address: "smtp://mail.example.org", From: "lockstep@example.org", To: []string{"ops@example.org"}}
	with := func(c Config, edit func(*Config)) Config { edit(&c); return c }
	manyTo := make([]string, 51)
	for i := range manyTo {
		manyTo[i] = "ops@example.org"
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"unknown type", Config{Type: "pager", Address: secretAddress}, `unknown receiver type "pager"`},
		{"commit-status type", Config{Type: "gitea", Address: secretAddress}, "unknown receiver type"},
		{"no address", Config{Type: Slack}, "the address is missing"},
		{"huge address", Config{Type: Slack, Address: secretAddress + "/" + long}, "longer than 2048"},
		{"line break in address", Config{Type: Slack, Address: secretAddress + "\r\nX-Evil: 1"}, "control character"},
		{"space in address", Config{Type: Slack, Address: secretAddress + " x"}, "space"},
		{"not a URL", Config{Type: Slack, Address: "https://hooks.example.org:port/SeCrEtPaThToKeN"}, "not a URL"},
		{"bad escape", Config{Type: Slack, Address: "https://hooks.example.org/SeCrEtPaThToKeN%zz"}, "not a URL"},
		{"no scheme", Config{Type: Slack, Address: "hooks.example.org/SeCrEtPaThToKeN"}, `scheme is ""`},
		{"ftp", Config{Type: Webhook, Address: "ftp://hooks.example.org/SeCrEtPaThToKeN"}, "not http or https"},
		{"https for smtp", with(smtpOK, func(c *Config) { c.Address = "https://mail.example.org" }), "not smtp or smtps"},
		{"no host", Config{Type: Slack, Address: "https:///SeCrEtPaThToKeN"}, "no host"},
		{"user info", Config{Type: Webhook, Address: "https://user:SeCrEtPaThToKeN@hooks.example.org/"}, "user name or password"},
		{"fragment", Config{Type: Webhook, Address: secretAddress + "#frag"}, "fragment"},
		{"token with a line break", Config{Type: Webhook, Address: secretAddress, Token: "abc\r\nX-Evil: 1"}, "the token contains a control character"},
		{"huge password", Config{Type: Webhook, Address: secretAddress, Username: "u", Password: long + long}, "the password is longer"},
		{"token over http", Config{Type: Webhook, Address: "http://hooks.example.org/SeCrEtPaThToKeN", Token: "t"}, "plain text"},
		{"negative timeout", Config{Type: Slack, Address: secretAddress, Timeout: -time.Second}, "timeout"},
		{"huge timeout", Config{Type: Slack, Address: secretAddress, Timeout: time.Hour}, "timeout"},
		{"room on slack", Config{Type: Slack, Address: secretAddress, Room: "!a:b"}, "room is for matrix"},
		{"to on a webhook", Config{Type: Webhook, Address: secretAddress, To: []string{"a@b"}}, "smtp receivers only"},
		{"hmac without a key", Config{Type: WebhookHMAC, Address: secretAddress}, "HMAC key"},
		{"hmac short key", Config{Type: WebhookHMAC, Address: secretAddress, HMACKey: []byte("short")}, "shorter than 16"},
		{"matrix without token", Config{Type: Matrix, Address: "https://matrix.example.org", Room: "!a:b"}, "access token is missing"},
		{"matrix without room", Config{Type: Matrix, Address: "https://matrix.example.org", Token: "t"}, "room is missing"},
		{"matrix alias", Config{Type: Matrix, Address: "https://matrix.example.org", Token: "t", Room: "#ops:example.org"}, "alias"},
		{"matrix not an ID", Config{Type: Matrix, Address: "https://matrix.example.org", Token: "t", Room: "ops"}, `start with "!"`},
		{"matrix room with line break", Config{Type: Matrix, Address: "https://matrix.example.org", Token: "t", Room: "!a:b\r\n"}, "control character"},
		{"matrix huge room", Config{Type: Matrix, Address: "https://matrix.example.org", Token: "t", Room: "!" + long}, "longer than 255"},
		{"smtp without from", with(smtpOK, func(c *Config) { c.From = "" }), "from is missing"},
		{"smtp without to", with(smtpOK, func(c *Config) { c.To = nil }), "to is missing"},
		{"smtp bad to", with(smtpOK, func(c *Config) { c.To = []string{"not an address"} }), "the to address"},
		{"smtp to with a line break", with(smtpOK, func(c *Config) { c.To = []string{"ops@example.org\r\nBcc: evil@example.org"} }), "control character"},
		{"smtp huge from", with(smtpOK, func(c *Config) { c.From = long + "@example.org" }), "longer than 320"},
		{"smtp too many recipients", with(smtpOK, func(c *Config) { c.To = manyTo }), "51 recipients"},
		{"smtp with a path", with(smtpOK, func(c *Config) { c.Address = "smtp://mail.example.org/x" }), "without a path"},
		{"smtp insecure to a remote host", with(smtpOK, func(c *Config) { c.Insecure = true }), "loopback"},
		{"smtp insecure with credentials", with(smtpOK, func(c *Config) {
			c.Address, c.Insecure, c.Username, c.Password = "smtp://127.0.0.1:2525", true, "u", "SeCrEtPaThToKeN"
		}), "never sent without TLS"},
		{"smtp username without password", with(smtpOK, func(c *Config) { c.Username = "u" }), "go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.c)
			if err == nil {
				t.Fatalf("New accepted it: %T", p)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SeCrEtPaThToKeN") || strings.Contains(err.Error(), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") {
				t.Errorf("the error repeats a secret or a huge input: %q", err)
			}
		})
	}
}

func TestNewAcceptsEveryType(t *testing.T) {
	for _, c := range []Config{
		{Type: Webhook, Address: "http://receiver.ops.svc:8080/lockstep"},
		{Type: WebhookHMAC, Address: "https://receiver.example.org/", HMACKey: []byte("0123456789abcdef")},
		{Type: Slack, Address: secretAddress},
		{Type: Matrix, Address: "https://matrix.example.org", Token: "syt_x", Room: "!abc:example.org"},
		{Type: Teams, Address: "https://prod.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=y"},
		{Type: SMTP, Address: "smtps://mail.example.org", From: "Lockstep <lockstep@example.org>", To: []string{"ops@example.org", "Dev Team <dev@example.org>"}, Username: "u", Password: "p"},
		{Type: SMTP, Address: "smtp://localhost:25", From: "lockstep@example.org", To: []string{"ops@example.org"}, Insecure: true},
		{Type: Alertmanager, Address: "http://alertmanager.monitoring:9093"},
	} {
		if _, err := New(c); err != nil {
			t.Errorf("%s: %v", c.Type, err)
		}
	}
}
