package release

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// Copied is one value a promotion set in the target's folder.
type Copied struct {
	// File in the target's folder, and the value's path in it
	// (images[web].digest, image.tag).
	File string `json:"file"`
	Path string `json:"path"`
	// From is the value before ("" when there was none), To the value now.
	From string `json:"from,omitempty"`
	To   string `json:"to"`
}

// maxCopiedFile bounds a file a promotion reads or writes: values files and
// kustomizations are small; a huge one is a mistake or an attack.
const maxCopiedFile = 1 << 20

// kustomizationNames are the names Kustomize reads, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// CopyValues computes what a promotion changes in the target's folder: the
// values copy names, read from source (the source's folder at the revision
// it runs) and set in the target's files, read through target (a path
// relative to the target's folder; an error wrapping fs.ErrNotExist for a
// missing file). It returns the new contents of the files it changed, and
// each value it set. Comments and layout of the target's files are kept.
func CopyValues(source fs.FS, target func(name string) ([]byte, error), c v1.PromotionCopy) (map[string][]byte, []Copied, error) {
	if !c.KustomizeImages && len(c.Values) == 0 {
		return nil, nil, errors.New("spec.promotion.copy names nothing to copy: set kustomizeImages or values")
	}
	docs := map[string]*kyaml.RNode{} // target files parsed, by name
	styles := map[string]string{}     // and how their lists are indented
	open := func(name string) (*kyaml.RNode, error) {
		if doc, ok := docs[name]; ok {
			return doc, nil
		}
		data, err := target(name)
		if err != nil {
			return nil, fmt.Errorf("the target's %s: %w", name, err)
		}
		doc, err := parseFile("the target's "+name, data)
		if err != nil {
			return nil, err
		}
		docs[name], styles[name] = doc, kyaml.DeriveSeqIndentStyle(string(data))
		return doc, nil
	}
	var copied []Copied
	if c.KustomizeImages {
		got, err := copyImages(source, target, open)
		if err != nil {
			return nil, nil, err
		}
		copied = append(copied, got...)
	}
	for i, v := range c.Values {
		got, err := copyValue(source, open, v)
		if err != nil {
			return nil, nil, fmt.Errorf("spec.promotion.copy.values[%d]: %w", i, err)
		}
		if got != nil {
			copied = append(copied, *got)
		}
	}
	out := map[string][]byte{}
	for _, c := range copied {
		if _, done := out[c.File]; done {
			continue
		}
		data, err := kyaml.MarshalWithOptions(docs[c.File].Document(), &kyaml.EncoderOptions{SeqIndent: kyaml.SequenceIndentStyle(styles[c.File])})
		if err != nil {
			return nil, nil, fmt.Errorf("writing the target's %s: %w", c.File, err)
		}
		out[c.File] = data
	}
	return out, copied, nil
}

func parseFile(what string, data []byte) (*kyaml.RNode, error) {
	if len(data) > maxCopiedFile {
		return nil, fmt.Errorf("%s is %d bytes; a promotion reads files of at most 1 MiB", what, len(data))
	}
	// Decoded as nodes, aliases stay aliases: nothing is expanded, so an
	// alias bomb costs its size.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s is not YAML: %w", what, err)
		}
		docs = append(docs, &n)
	}
	// Written back, a file keeps only what was parsed: a promotion edits
	// files of one document, or it would drop the others.
	if len(docs) != 1 {
		return nil, fmt.Errorf("%s holds %d YAML documents; a promotion edits files that hold one", what, len(docs))
	}
	doc := kyaml.NewRNode(docs[0])
	if doc.Field("sops") != nil {
		return nil, fmt.Errorf("%s is SOPS-encrypted; a promotion copies plain values only", what)
	}
	return doc, nil
}

// plainValue refuses a value that holds a YAML alias or anchor: copied
// alone, it would point at an anchor the target does not define.
func plainValue(n *kyaml.Node) error {
	if n.Kind == kyaml.AliasNode || n.Anchor != "" {
		return errors.New("holds a YAML alias or anchor; copy a plain value")
	}
	for _, c := range n.Content {
		if err := plainValue(c); err != nil {
			return err
		}
	}
	return nil
}

// readSource reads a file of the source's folder.
func readSource(source fs.FS, name string) (*kyaml.RNode, error) {
	f, err := source.Open(name)
	if err != nil {
		return nil, fmt.Errorf("the source's %s: %w", name, err)
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(io.LimitReader(f, maxCopiedFile+1)); err != nil {
		return nil, fmt.Errorf("reading the source's %s: %w", name, err)
	}
	return parseFile("the source's "+name, b.Bytes())
}

// copyImages copies the source kustomization's images entries into the
// target's, by name: the target's entry takes the source's newName, newTag
// and digest (one the source does not set is removed); an entry the target
// lacks is added; the target's others are kept.
func copyImages(source fs.FS, target func(string) ([]byte, error), open func(string) (*kyaml.RNode, error)) ([]Copied, error) {
	srcName, err := findKustomization(func(n string) error { _, err := fs.Stat(source, n); return err })
	if err != nil {
		return nil, fmt.Errorf("spec.promotion.copy.kustomizeImages: the source's folder: %w", err)
	}
	dstName, err := findKustomization(func(n string) error { _, err := target(n); return err })
	if err != nil {
		return nil, fmt.Errorf("spec.promotion.copy.kustomizeImages: the target's folder: %w", err)
	}
	src, err := readSource(source, srcName)
	if err != nil {
		return nil, err
	}
	dst, err := open(dstName)
	if err != nil {
		return nil, err
	}
	srcImages, err := src.Pipe(kyaml.Lookup("images"))
	if err != nil || srcImages == nil || len(srcImages.YNode().Content) == 0 {
		return nil, fmt.Errorf("spec.promotion.copy.kustomizeImages: the source's %s has no images entries to copy", srcName)
	}
	if srcImages.YNode().Kind != kyaml.SequenceNode {
		return nil, fmt.Errorf("the source's %s: images is not a list", srcName)
	}
	dstImages, err := dst.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "images"))
	if err != nil || dstImages.YNode().Kind != kyaml.SequenceNode {
		return nil, fmt.Errorf("the target's %s: images is not a list", dstName)
	}
	var copied []Copied
	for _, entry := range srcImages.YNode().Content {
		e := kyaml.NewRNode(entry)
		name := scalar(e, "name")
		if name == "" {
			return nil, fmt.Errorf("the source's %s: an images entry has no name", srcName)
		}
		target := findByName(dstImages, name)
		if target == nil {
			target = kyaml.NewMapRNode(&map[string]string{"name": name})
			if err := dstImages.PipeE(kyaml.Append(target.YNode())); err != nil {
				return nil, err
			}
		}
		for _, field := range []string{"newName", "newTag", "digest"} {
			from, to := scalar(target, field), scalar(e, field)
			if from == to {
				continue
			}
			if to == "" {
				if err := target.PipeE(kyaml.Clear(field)); err != nil {
					return nil, err
				}
			} else if err := target.PipeE(kyaml.SetField(field, kyaml.NewStringRNode(to))); err != nil {
				return nil, err
			}
			copied = append(copied, Copied{File: dstName, Path: fmt.Sprintf("images[%s].%s", name, field), From: from, To: to})
		}
	}
	return copied, nil
}

func findKustomization(exists func(string) error) (string, error) {
	for _, n := range kustomizationNames {
		if err := exists(n); err == nil {
			return n, nil
		}
	}
	return "", fmt.Errorf("no kustomization.yaml")
}

func findByName(list *kyaml.RNode, name string) *kyaml.RNode {
	for _, n := range list.YNode().Content {
		if r := kyaml.NewRNode(n); scalar(r, "name") == name {
			return r
		}
	}
	return nil
}

func scalar(n *kyaml.RNode, field string) string {
	v := n.Field(field)
	if v == nil || v.Value == nil || v.Value.YNode().Kind != kyaml.ScalarNode {
		return ""
	}
	return v.Value.YNode().Value
}

// copyValue copies one value; nil when the target already holds it.
func copyValue(source fs.FS, open func(string) (*kyaml.RNode, error), v v1.PromotedValue) (*Copied, error) {
	srcFile, err := cleanFile(v.File)
	if err != nil {
		return nil, err
	}
	dstFile := srcFile
	if v.TargetFile != "" {
		if dstFile, err = cleanFile(v.TargetFile); err != nil {
			return nil, err
		}
	}
	srcPath, err := parseValuePath(v.Path)
	if err != nil {
		return nil, err
	}
	dstPath := srcPath
	if v.TargetPath != "" {
		if dstPath, err = parseValuePath(v.TargetPath); err != nil {
			return nil, err
		}
	}
	src, err := readSource(source, srcFile)
	if err != nil {
		return nil, err
	}
	value, err := lookup(src.YNode(), srcPath, false)
	if err != nil || value == nil {
		return nil, fmt.Errorf("the source's %s has no %s", srcFile, v.Path)
	}
	if err := plainValue(value); err != nil {
		return nil, fmt.Errorf("the source's %s: %s %w", srcFile, v.Path, err)
	}
	dst, err := open(dstFile)
	if err != nil {
		return nil, err
	}
	slot, err := lookup(dst.YNode(), dstPath, true)
	if err != nil {
		return nil, fmt.Errorf("the target's %s: %s: %w", dstFile, pathString(dstPath), err)
	}
	from, to := describe(slot), describe(value)
	if from == to && slot.Kind == value.Kind {
		return nil, nil
	}
	comments := [3]string{slot.HeadComment, slot.LineComment, slot.FootComment}
	*slot = *deepCopy(value)
	slot.HeadComment, slot.LineComment, slot.FootComment = comments[0], comments[1], comments[2]
	return &Copied{File: dstFile, Path: pathString(dstPath), From: from, To: to}, nil
}

// cleanFile is a file of an Application's folder: relative, inside it.
func cleanFile(name string) (string, error) {
	clean := path.Clean(name)
	if name == "" || !fs.ValidPath(clean) || clean == "." || strings.Contains(name, `\`) {
		return "", fmt.Errorf("file %q: want a path inside the Application's folder", name)
	}
	return clean, nil
}

// step is one segment of a value path: a map key, or a list index.
type step struct {
	key   string
	index int // -1 for a key
}

var indexSuffix = regexp.MustCompile(`\[(\d{1,4})\]$`)

// parseValuePath reads image.tag, dependencies[0].version.
func parseValuePath(p string) ([]step, error) {
	if p == "" || len(p) > 1024 {
		return nil, fmt.Errorf("path %q: want keys joined by dots", p)
	}
	var steps []step
	for _, part := range strings.Split(p, ".") {
		var indexes []int
		for {
			m := indexSuffix.FindStringSubmatchIndex(part)
			if m == nil {
				break
			}
			n, _ := strconv.Atoi(part[m[2]:m[3]])
			indexes = append([]int{n}, indexes...)
			part = part[:m[0]]
		}
		if part == "" && len(indexes) == 0 || strings.ContainsAny(part, "[]") {
			return nil, fmt.Errorf("path %q: want keys joined by dots, [N] for a list's item", p)
		}
		if part != "" {
			steps = append(steps, step{key: part, index: -1})
		}
		for _, n := range indexes {
			steps = append(steps, step{index: n})
		}
	}
	return steps, nil
}

func pathString(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		if s.index >= 0 {
			fmt.Fprintf(&b, "[%d]", s.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// lookup finds the node at steps under doc (a document node or its
// content). With create, missing map keys are added (as empty values to
// fill); a list index must exist either way.
func lookup(doc *kyaml.Node, steps []step, create bool) (*kyaml.Node, error) {
	n := doc
	if n.Kind == kyaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for i, s := range steps {
		if s.index >= 0 {
			if n.Kind != kyaml.SequenceNode || s.index >= len(n.Content) {
				return nil, fmt.Errorf("%s is not a list with an item %d", pathString(steps[:i]), s.index)
			}
			n = n.Content[s.index]
			continue
		}
		if n.Kind != kyaml.MappingNode {
			if create && n.Kind == kyaml.ScalarNode && n.Tag == "!!null" {
				n.Kind, n.Tag, n.Value = kyaml.MappingNode, "!!map", ""
			} else {
				return nil, fmt.Errorf("%s is not a map", cmp.Or(pathString(steps[:i]), "the file"))
			}
		}
		var next *kyaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == s.key {
				next = n.Content[j+1]
				break
			}
		}
		if next == nil {
			if !create {
				return nil, nil
			}
			next = &kyaml.Node{Kind: kyaml.ScalarNode, Tag: "!!null"}
			n.Content = append(n.Content, &kyaml.Node{Kind: kyaml.ScalarNode, Tag: "!!str", Value: s.key}, next)
		}
		n = next
	}
	return n, nil
}

func describe(n *kyaml.Node) string {
	switch {
	case n == nil || n.Kind == kyaml.ScalarNode && n.Tag == "!!null":
		return ""
	case n.Kind == kyaml.ScalarNode:
		return n.Value
	}
	data, err := kyaml.NewRNode(n).String()
	if err != nil {
		return "(a structure)"
	}
	return strings.TrimSpace(data)
}

func deepCopy(n *kyaml.Node) *kyaml.Node {
	c := *n
	c.Content = make([]*kyaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = deepCopy(child)
	}
	return &c
}
