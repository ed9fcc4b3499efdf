package engine

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// yamlLine finds the line number go-yaml puts in its messages ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`line (\d+)`)

// decodeManifests decodes a YAML stream (or a JSON document) into objects. Errors
// name the file and the line in the file, not in the document. Empty documents are
// skipped; a List's items are expanded.
func decodeManifests(file string, data []byte) ([]*unstructured.Unstructured, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, &Error{File: file, Line: err.line, Err: err}
	}
	var objs []*unstructured.Unstructured
	for _, doc := range docs {
		jsonDoc, err := yaml.YAMLToJSON(doc.data)
		if err != nil {
			return nil, &Error{File: file, Line: doc.lineOf(lineIn(err)), Err: fmt.Errorf("invalid YAML: %w", err)}
		}
		if bytes.Equal(bytes.TrimSpace(jsonDoc), []byte("null")) {
			continue // empty document, or only comments
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(jsonDoc); err != nil {
			return nil, &Error{File: file, Line: doc.line, Err: fmt.Errorf("not a Kubernetes object: %w", err)}
		}
		items := []*unstructured.Unstructured{obj}
		if obj.IsList() {
			list, err := obj.ToList()
			if err != nil {
				return nil, &Error{File: file, Line: doc.line, Err: err}
			}
			items = items[:0]
			for i := range list.Items {
				items = append(items, &list.Items[i])
			}
		}
		for _, o := range items {
			if err := checkObject(o); err != nil {
				return nil, &Error{File: file, Line: doc.line, Err: err}
			}
			objs = append(objs, o)
		}
	}
	return objs, nil
}

// document is one YAML document of a stream and the file line it starts on.
type document struct {
	line int
	data []byte
}

// lineOf is the file line of the document's line n (1-based), kept inside the
// document: go-yaml names the line after the last for an error at the end.
func (d document) lineOf(n int) int {
	last := bytes.Count(d.data, []byte("\n"))
	if len(d.data) > 0 && d.data[len(d.data)-1] != '\n' {
		last++ // a last line without its newline
	}
	return d.line + min(max(n, 1), max(last, 1)) - 1
}

type separatorError struct{ line int }

func (e *separatorError) Error() string {
	return "only a comment may follow a '---' document separator on its line"
}

// splitDocuments splits a YAML stream at '---' lines, keeping each document's first
// line number so errors can point into the file (apimachinery's YAMLReader drops
// separators and empty documents, losing the count). The separator rule is the
// same as kubectl's: '---' at the start of a line, then nothing but a comment.
func splitDocuments(data []byte) ([]document, *separatorError) {
	var docs []document
	cur := document{line: 1}
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		rest, isSep := bytes.CutPrefix(line, []byte("---"))
		if isSep {
			rest = bytes.TrimSpace(rest)
			if len(rest) > 0 && rest[0] != '#' {
				return nil, &separatorError{line: i + 1}
			}
			docs = append(docs, cur)
			cur = document{line: i + 2}
			continue
		}
		cur.data = append(cur.data, line...)
	}
	return append(docs, cur), nil
}

func lineIn(err error) int {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			return n
		}
	}
	return 1
}

// checkObject refuses documents that cannot be applied.
func checkObject(o *unstructured.Unstructured) error {
	switch {
	case o.GetAPIVersion() == "":
		return fmt.Errorf("object has no apiVersion")
	case o.GetKind() == "":
		return fmt.Errorf("object has no kind")
	case o.GetName() == "" && o.GetGenerateName() == "":
		return fmt.Errorf("%s has no metadata.name", o.GetKind())
	}
	// metadata.generateName alone is for hooks, created anew on each run; the
	// plan refuses it on an object kept in sync.
	return nil
}
