package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"
)

// denied are the system calls a render process may not make, by what they
// would reach. The process is given its two sockets before the filter is
// loaded; after it, nothing a template, a Kustomize loader, a JSON-schema
// resolver or a Jsonnet import does can open a file, make a connection, start
// a program or touch another process: such calls fail with EPERM, which the
// render reports as its error; nor can it start another process, which
// could outlive it.
var denied = map[string][]string{
	"network": {"socket", "socketpair", "connect", "bind", "listen", "accept", "accept4"},
	"files": {
		"open", "openat", "openat2", "creat", "open_by_handle_at", "name_to_handle_at",
		"stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2",
		"readlink", "readlinkat", "getdents", "getdents64", "chdir", "fchdir", "chroot",
		"mkdir", "mkdirat", "mknod", "mknodat", "unlink", "unlinkat", "rmdir",
		"rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
		"chmod", "fchmodat", "fchmodat2", "chown", "lchown", "fchownat", "truncate",
		"utime", "utimes", "utimensat", "futimesat", "inotify_add_watch",
		"fanotify_init", "fanotify_mark", "mount", "umount2", "pivot_root", "swapon", "swapoff",
		"io_uring_setup", "io_uring_enter", "io_uring_register", // io_uring opens files past seccomp
	},
	"processes": {
		"fork", "vfork", // and clone without CLONE_THREAD, and clone3 (see restrict)
		"execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev",
		"kill", "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "unshare", "setns",
		"bpf", "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd",
		"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
		"reboot", "setrlimit", "prlimit64",
	},
}

// restrict confines this process for rendering: an address-space limit of
// what it uses now plus memory (an allocation past it fails, and the Go
// runtime exits with "out of memory"), no core files, and the seccomp filter
// of denied, for every thread and every thread to come.
func restrict(memory int64) error {
	if !seccomp.Supported() {
		return fmt.Errorf("the kernel has no seccomp filters: renders cannot be confined")
	}
	used, err := addressSpace()
	if err != nil {
		return err
	}
	limit := uint64(used + memory)
	if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		return fmt.Errorf("limiting memory: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("disabling core files: %w", err)
	}
	info, err := arch.GetInfo("")
	if err != nil {
		return err
	}
	var names []string
	for _, group := range denied {
		for _, name := range group {
			if _, ok := info.SyscallNames[name]; ok { // arm64 has no open, stat, ...
				names = append(names, name)
			}
		}
	}
	return seccomp.LoadFilter(seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy: seccomp.Policy{
			DefaultAction: seccomp.ActionAllow,
			Syscalls: []seccomp.SyscallGroup{
				{Names: names, Action: seccomp.ActionErrno},
				// A new process would outlive the render process's kill
				// (and hold its standard error open): clone may make
				// threads only. clone3 passes its flags in memory, where a
				// filter cannot look: it says it does not exist (ENOSYS, not
				// EPERM), so that the C library falls back to clone.
				{NamesWithCondtions: []seccomp.NameWithConditions{{Name: "clone", Conditions: seccomp.ArgumentConditions{
					{Argument: 0, Operation: seccomp.BitsNotSet, Value: unix.CLONE_THREAD},
				}}}, Action: seccomp.ActionErrno},
				{Names: []string{"clone3"}, Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS)},
			},
		},
	})
}

// addressSpace is the process's virtual memory size now, in bytes.
func addressSpace() (int64, error) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("reading the process's memory size: %w", err)
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, fmt.Errorf("/proc/self/statm is empty")
	}
	pages, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}
