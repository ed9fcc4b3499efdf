package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// Document is one object read from an input: a YAML or JSON document, or one
// item of a List.
type Document struct {
	File   string
	Line   int
	Object map[string]any
}

// Limits bound what is read, so that a hostile or mistaken input (a huge
// file, a folder of millions, a deeply nested document) fails with a message
// instead of taking the machine's memory.
type Limits struct {
	// MaxFileBytes bounds one file (or standard input).
	MaxFileBytes int64
	// MaxTotalBytes bounds everything read.
	MaxTotalBytes int64
	// MaxDocuments bounds the objects read, List items included.
	MaxDocuments int
	// MaxDepth bounds the nesting of maps and lists in a document.
	MaxDepth int
}

// DefaultLimits are generous for any real set of Applications and sources.
func DefaultLimits() Limits {
	return Limits{MaxFileBytes: 8 << 20, MaxTotalBytes: 64 << 20, MaxDocuments: 10000, MaxDepth: 64}
}

// ErrLimit is wrapped by every error of an input over a limit.
var ErrLimit = errors.New("over the limit")

// InputError is an input that could not be read or parsed; the rest of the
// inputs are still read.
type InputError struct {
	File string
	Line int
	Err  error
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// Reader reads inputs within its limits; it counts across calls.
type Reader struct {
	limits Limits
	total  int64
	docs   int
}

// NewReader returns a Reader with limits.
func NewReader(limits Limits) *Reader { return &Reader{limits: limits} }

// ReadPath reads a file, or every .yaml, .yml and .json file under a folder
// (in lexical order; hidden files and folders are skipped). Errors of single
// files or documents are returned with the documents that could be read.
func (r *Reader) ReadPath(path string) ([]Document, []error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, []error{&InputError{File: path, Err: err}}
	}
	if !info.IsDir() {
		return r.readFile(path)
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && isManifestName(d.Name()) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, []error{&InputError{File: path, Err: err}}
	}
	if len(files) == 0 {
		return nil, []error{&InputError{File: path, Err: errors.New("no .yaml, .yml or .json file in this folder")}}
	}
	sort.Strings(files)
	var docs []Document
	var errs []error
	for _, f := range files {
		d, e := r.readFile(f)
		docs, errs = append(docs, d...), append(errs, e...)
	}
	return docs, errs
}

func isManifestName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml" || ext == ".json"
}

func (r *Reader) readFile(path string) ([]Document, []error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, []error{&InputError{File: path, Err: err}}
	}
	defer f.Close()
	return r.ReadStream(path, f)
}

// ReadStream reads a YAML stream (or one JSON document) named name.
func (r *Reader) ReadStream(name string, in io.Reader) ([]Document, []error) {
	data, err := io.ReadAll(io.LimitReader(in, r.limits.MaxFileBytes+1))
	if err != nil {
		return nil, []error{&InputError{File: name, Err: err}}
	}
	if int64(len(data)) > r.limits.MaxFileBytes {
		return nil, []error{&InputError{File: name, Err: fmt.Errorf("larger than %d bytes: %w", r.limits.MaxFileBytes, ErrLimit)}}
	}
	if r.total+int64(len(data)) > r.limits.MaxTotalBytes {
		return nil, []error{&InputError{File: name, Err: fmt.Errorf("the inputs are larger than %d bytes together: %w", r.limits.MaxTotalBytes, ErrLimit)}}
	}
	r.total += int64(len(data))
	return r.parse(name, data)
}

func (r *Reader) parse(name string, data []byte) ([]Document, []error) {
	var docs []Document
	var errs []error
	for _, chunk := range splitDocuments(data) {
		if depth := flowDepth(chunk.data); depth > r.limits.MaxDepth {
			errs = append(errs, &InputError{File: name, Line: chunk.line, Err: fmt.Errorf("nested more than %d levels deep: %w", r.limits.MaxDepth, ErrLimit)})
			continue
		}
		// Strict: a key written twice (two repoURLs) is refused, not resolved
		// silently to the last one.
		jsonDoc, err := yaml.YAMLToJSONStrict(chunk.data)
		if err != nil {
			errs = append(errs, &InputError{File: name, Line: chunk.lineOf(err), Err: fmt.Errorf("not YAML: %w", err)})
			continue
		}
		if t := bytes.TrimSpace(jsonDoc); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue // empty, or only comments
		}
		var v any
		if err := utiljson.Unmarshal(jsonDoc, &v); err != nil {
			errs = append(errs, &InputError{File: name, Line: chunk.line, Err: fmt.Errorf("not YAML: %w", err)})
			continue
		}
		if depth(v) > r.limits.MaxDepth {
			errs = append(errs, &InputError{File: name, Line: chunk.line, Err: fmt.Errorf("nested more than %d levels deep: %w", r.limits.MaxDepth, ErrLimit)})
			continue
		}
		obj, isMap := v.(map[string]any)
		if !isMap {
			errs = append(errs, &InputError{File: name, Line: chunk.line, Err: fmt.Errorf("not a Kubernetes object: the document is %s, not a map", typeName(v))})
			continue
		}
		items := []map[string]any{obj}
		if kind, _ := obj["kind"].(string); strings.HasSuffix(kind, "List") && obj["items"] != nil {
			list, isList := obj["items"].([]any)
			if !isList {
				errs = append(errs, &InputError{File: name, Line: chunk.line, Err: fmt.Errorf("%s: items must be a list", kind)})
				continue
			}
			items = items[:0]
			for i, item := range list {
				m, isMap := item.(map[string]any)
				if !isMap {
					errs = append(errs, &InputError{File: name, Line: chunk.line, Err: fmt.Errorf("%s: items[%d] is %s, not an object", kind, i, typeName(item))})
					continue
				}
				items = append(items, m)
			}
		}
		for _, o := range items {
			if r.docs >= r.limits.MaxDocuments {
				return docs, append(errs, &InputError{File: name, Line: chunk.line, Err: fmt.Errorf("more than %d objects in the inputs: %w", r.limits.MaxDocuments, ErrLimit)})
			}
			r.docs++
			docs = append(docs, Document{File: name, Line: chunk.line, Object: o})
		}
	}
	return docs, errs
}

// chunk is one document of a YAML stream and the file line it starts on.
type chunk struct {
	line int
	data []byte
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// lineOf is the file line of a go-yaml error inside the chunk.
func (c chunk) lineOf(err error) int {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil && n > 0 {
			return c.line + n - 1
		}
	}
	return c.line
}

// splitDocuments splits a stream at lines that are "---" (optionally followed
// by a space and more), keeping each document's first line.
func splitDocuments(data []byte) []chunk {
	var out []chunk
	start, startLine, line := 0, 1, 1
	for i := 0; i <= len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data) + 1
		if end >= 0 {
			end += i
			next = end + 1
		} else {
			end = len(data)
		}
		text := bytes.TrimRight(data[i:end], "\r")
		if bytes.Equal(text, []byte("---")) || bytes.HasPrefix(text, []byte("--- ")) {
			out = append(out, chunk{line: startLine, data: data[start:i]})
			start, startLine = min(next, len(data)), line+1
		}
		i = next
		line++
	}
	return append(out, chunk{line: startLine, data: data[start:]})
}

// flowDepth is the deepest nesting of [ and { outside quotes: a cheap check
// before the YAML parser, which recurses once per level.
func flowDepth(data []byte) int {
	depth, deepest := 0, 0
	var quote byte
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\n' {
			// A quote never spans lines in the manifests we read; ending it
			// here keeps an apostrophe in a plain scalar from hiding the rest.
			quote = 0
			continue
		}
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				i++
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || data[i-1] == ' ' || data[i-1] == '\n'):
			for i < len(data) && data[i] != '\n' {
				i++
			}
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth = max(depth-1, 0)
		}
	}
	return deepest
}

// depth is the nesting of maps and lists of a decoded document.
func depth(v any) int {
	switch v := v.(type) {
	case map[string]any:
		d := 0
		for _, c := range v {
			d = max(d, depth(c))
		}
		return d + 1
	case []any:
		d := 0
		for _, c := range v {
			d = max(d, depth(c))
		}
		return d + 1
	}
	return 0
}
