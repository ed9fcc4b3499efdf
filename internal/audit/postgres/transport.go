package postgres

import (
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// transportWarning says what an operator should know about how the
// connection cfg describes travels, or "" when it is TLS with the server's
// certificate verified, or never leaves the machine (loopback, a Unix
// socket). Tampering in transit is caught all the same (the chain and its
// signed checkpoints); reading is not: records name authors, commits and
// the fields each sync changed.
func transportWarning(cfg *pgx.ConnConfig) string {
	all := append([]*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...)
	warning := ""
	for _, c := range all {
		switch {
		case local(c.Host):
		case c.TLSConfig == nil: // the worst: said at once
			return "the ledger's database connection may travel unencrypted (sslmode disable, allow or prefer, the default): anyone on the path can read the records; use sslmode=verify-full"
		case c.TLSConfig.InsecureSkipVerify && c.TLSConfig.VerifyPeerCertificate == nil:
			warning = "the ledger's database connection is encrypted but the server is not verified (sslmode require): a machine in the path can pose as the database; use sslmode=verify-full"
		}
	}
	return warning
}

// local is a host that never leaves the machine: a Unix socket's folder, or
// a loopback address.
func local(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
