package object

import "strings"

// RedactedURL is a repository URL without a password it may (wrongly) hold:
// what logs, statuses and notifications may show. The user name (git@ of
// SSH URLs) stays.
func RedactedURL(raw string) string {
	_, redacted, _ := credentials(raw)
	return redacted
}

// credentials splits raw into what stands before the host's last @ (the
// user, maybe with a password; a "/" in a password makes the host's end
// ambiguous, so the last @ of the URL counts) and the URL with it
// REDACTED; ok is false when there is nothing to hide: no @, or an SSH
// user name alone (git@).
func credentials(raw string) (user, redacted string, ok bool) {
	scheme, rest, found := strings.Cut(raw, "://")
	if !found {
		return "", raw, false
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return "", raw, false
	}
	user = rest[:at]
	if scheme == "ssh" && !strings.ContainsAny(user, ":/") {
		return "", raw, false
	}
	return user, scheme + "://REDACTED@" + rest[at+1:], true
}

// RedactURLIn hides, in text (an error message), the credentials raw holds
// wherever they appear: libraries quote the URL they were given.
func RedactURLIn(text, raw string) string {
	user, redacted, ok := credentials(raw)
	if !ok {
		return text
	}
	text = strings.ReplaceAll(text, raw, redacted)
	return strings.ReplaceAll(text, user, "REDACTED")
}
