package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Memory reads the resident-memory lines of /proc/PID/status, in bytes:
// VmRSS in all, RssAnon (the Go heap, stacks), RssFile (the binary's pages
// in memory) and VmHWM (the most VmRSS has been); and Pss from
// /proc/PID/smaps_rollup: VmRSS with each page shared with other processes
// (render processes run one binary between them) divided among them, so the
// Pss of a process and its children add up to what they use together.
func Memory(pid int) (map[string]int64, error) {
	out := map[string]int64{}
	if err := readKB(fmt.Sprintf("/proc/%d/status", pid), out, "VmRSS", "RssAnon", "RssFile", "VmHWM"); err != nil {
		return nil, err
	}
	if _, ok := out["VmRSS"]; !ok {
		return nil, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	if err := readKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), out, "Pss"); err != nil {
		return nil, err
	}
	return out, nil
}

// readKB reads the "Name:  N kB" lines named from path into out, in bytes.
func readKB(path string, out map[string]int64, names ...string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, name, err)
		}
		out[name] = kb << 10
	}
	return nil
}

// Children lists the processes whose parent is pid (the controller's render
// processes, say).
func Children(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		_, after, _ := strings.Cut(string(data), ") ") // the command name may hold spaces
		f := strings.Fields(after)
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			if child, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				out = append(out, child)
			}
		}
	}
	return out
}
