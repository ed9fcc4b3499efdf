package rbac

import (
	"fmt"
	"slices"
	"strings"
)

// MaxRoleDepth is how many g lines a chain of memberships may follow, from a
// user or group to the last role it reaches. Real policies nest two or three
// deep; the bound keeps resolving a caller cheap, and a policy past it is an
// error rather than a chain cut short, which would silently drop deny lines.
const MaxRoleDepth = 16

// RolePrefix starts the name of every role. User and group names may not start
// with it (see Subjects), so nobody can be a role by choosing its name.
const RolePrefix = "role:"

// An edge is one g line: from is a member of to.
type edge struct {
	from, to string
	file     string
	line     int
}

func (e edge) String() string { return fmt.Sprintf("%s:%d: g, %s, %s", e.file, e.line, e.from, e.to) }

// checkRoles reports a cycle of g lines, or a chain longer than MaxRoleDepth,
// as an error on the line that closes or lengthens it. A cycle would be harmless
// to resolve, but it is never what its author meant.
func checkRoles(members map[string][]edge) error {
	// height[s] is the longest chain of g lines starting at s, once known.
	height := map[string]int{}
	onPath := map[string]bool{}
	var path []edge
	var visit func(s string) (int, error)
	visit = func(s string) (int, error) {
		if h, ok := height[s]; ok {
			return h, nil
		}
		onPath[s] = true
		h := 0
		for _, e := range members[s] {
			if onPath[e.to] {
				return 0, &LineError{File: e.file, Line: e.line, Err: fmt.Errorf("g, %s, %s closes a cycle: %s", e.from, e.to, cycle(path, e))}
			}
			if len(path) == MaxRoleDepth {
				return 0, tooDeep(append(path, e))
			}
			path = append(path, e)
			below, err := visit(e.to)
			path = path[:len(path)-1]
			if err != nil {
				return 0, err
			}
			h = max(h, below+1)
		}
		onPath[s] = false
		height[s] = h
		// The recursion stops at subjects already measured, so a chain through
		// one is checked here, with its rest found from the heights.
		if len(path)+h > MaxRoleDepth {
			return 0, tooDeep(append(slices.Clone(path), longest(s, members, height)...))
		}
		return h, nil
	}
	// Sorted, so the same policy always reports the same line.
	starts := make([]string, 0, len(members))
	for s := range members {
		starts = append(starts, s)
	}
	slices.Sort(starts)
	for _, s := range starts {
		if _, err := visit(s); err != nil {
			return err
		}
	}
	return nil
}

// longest returns the longest chain of g lines from s, whose height and that
// of every subject it reaches are known.
func longest(s string, members map[string][]edge, height map[string]int) []edge {
	var out []edge
	for height[s] > 0 {
		for _, e := range members[s] {
			if height[e.to] == height[s]-1 {
				out = append(out, e)
				s = e.to
				break
			}
		}
	}
	return out
}

// tooDeep is the error for a chain longer than MaxRoleDepth, on the first line
// past the bound.
func tooDeep(edges []edge) error {
	e := edges[MaxRoleDepth]
	return &LineError{File: e.file, Line: e.line, Err: fmt.Errorf("roles nest more than %d g lines deep: %s", MaxRoleDepth, chain(edges))}
}

// cycle spells the cycle that closing, a g line back to a subject on path, makes.
func cycle(path []edge, closing edge) string {
	start := len(path)
	for i, e := range path {
		if e.from == closing.to {
			start = i
			break
		}
	}
	return chain(append(path[start:len(path):len(path)], closing))
}

// chain spells a run of g lines as a → b → c.
func chain(edges []edge) string {
	names := []string{edges[0].from}
	for _, e := range edges {
		names = append(names, e.to)
	}
	return strings.Join(names, " → ")
}

// closure returns the subjects and every role they reach through g lines,
// each once, in the order first reached. checkRoles has bounded the chains;
// the visited set is what keeps this finite regardless.
func (p *Policy) closure(subjects []string) []string {
	seen := make(map[string]bool, len(subjects)+4)
	var out []string
	for _, s := range subjects {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for i := 0; i < len(out); i++ {
		for _, e := range p.members[out[i]] {
			if !seen[e.to] {
				seen[e.to] = true
				out = append(out, e.to)
			}
		}
	}
	return out
}
