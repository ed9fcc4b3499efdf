package object

import "strings"

// Field paths name a field inside an object as the plan, the ledger and blame
// show it: map keys joined by dots, list items as [i], and a key that itself
// holds dots or brackets in brackets (metadata.labels[app.kubernetes.io/name]).

// JoinPath appends a map key to a field path.
func JoinPath(path, key string) string {
	if strings.ContainsAny(key, ".[]") {
		return path + "[" + key + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// SplitPath splits a field path into its keys and list indexes, undoing JoinPath
// and the [i] of list items.
func SplitPath(path string) []string {
	var segs []string
	for path != "" {
		switch path[0] {
		case '.':
			path = path[1:]
		case '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return append(segs, path[1:])
			}
			segs, path = append(segs, path[1:end]), path[end+1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			segs, path = append(segs, path[:end]), path[end:]
		}
	}
	return segs
}

// Within reports whether path is inside (or is) the field at parent.
func Within(path, parent string) bool {
	return path == parent || strings.HasPrefix(path, parent+".") || strings.HasPrefix(path, parent+"[")
}
