// Reference renderer for the differential tests: Go's text/template with Sprig and stand-ins
// for werf's own template functions. Reads a JSON request on stdin, writes JSON on stdout:
//
//	{"cases": [...]}     in-memory templates (partials and files given in the request)
//	{"projects": [...]}  project directories read from disk the way werf v1.1 reads them:
//	                     werf.yaml, every *.tmpl under .werf/ (named by its path inside it),
//	                     .Files.Get/.Glob/.Exists/.IsDir relative to the werf.yaml's directory
//	{"globs": [...]}     doublestar.PathMatch(pattern, name), werf's glob matcher
//	{"functions": true}  the names of sprig.TxtFuncMap()
//	{"yaml": [...]}      yaml.v2's reading of each text: Unmarshal (fromYaml's) and UnmarshalStrict
//	                     (how werf reads a werf.yaml section) into map[string]interface{}
//
// A case with "werf2" is rendered as werf 2.x renders werf.yaml: its functions (toYaml, the
// *_debug ones), its env (an unset variable without a default is an error unless "loose", werf's
// loose giterminism), .Files.Get of a missing file an error, .Env always set.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/ioutil"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/bmatcuk/doublestar"
	"gopkg.in/yaml.v2"
)

type commitInfo struct {
	Hash  string `json:"hash"`
	Human string `json:"human"`
	Unix  string `json:"unix"`
}

type testCase struct {
	Name     string            `json:"name"`
	Template string            `json:"template"`
	Partials map[string]string `json:"partials"`
	Files    map[string]string `json:"files"`
	Env      map[string]string `json:"env"`
	// werf v1.2's template data; absent (nil) means werf v1.1's data: .Files only
	WerfEnv *string     `json:"werfEnv"`
	Commit  *commitInfo `json:"commit"`
	// a project directory on disk instead of Template/Partials/Files
	Dir    string `json:"dir"`
	Config string `json:"config"`
	// werf 2.x's functions and data; Loose is werf's --loose-giterminism
	Werf2 bool `json:"werf2"`
	Loose bool `json:"loose"`
}

type result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Output string `json:"output"`
	Error  string `json:"error"`
}

type globCase struct {
	Pattern string `json:"pattern"`
	Name    string `json:"name"`
}

type globResult struct {
	Matched bool   `json:"matched"`
	Error   string `json:"error"`
}

// memFiles: .Files over the files of an in-memory case (paths relative to the project).
type memFiles struct {
	contents map[string]string
	werf2    bool
}

func (f memFiles) Get(p string) string {
	content, ok := f.contents[path.Clean(strings.TrimPrefix(p, "/"))]
	if !ok && f.werf2 {
		panic(fmt.Sprintf("{{ .Files.Get %q }}: the file %q not found in the project git repository", p, p))
	}
	return content
}

// werf2Glob: werf 2.x's .Files.Glob (giterminism_manager's listFilesWithGlob with path_matcher's
// include matcher): the pattern's literal leading components are the base; a path below it
// matches when its rest matches the glob, the glob with trailing "*"-only components cut, or
// that cut glob joined with "**/*".
func (f memFiles) werf2Glob(pattern string) map[string]interface{} {
	components := []string{}
	for _, part := range strings.Split(pattern, "/") {
		if part != "" && part != "." {
			components = append(components, part)
		}
	}
	literal := 0
	for ; literal < len(components); literal++ {
		if strings.ContainsAny(components[literal], "*?[{\\") {
			break
		}
	}
	base := path.Join(components[:literal]...)
	glob := path.Join(components[literal:]...)
	trimmedParts := components[literal:]
	for len(trimmedParts) > 0 && strings.TrimRight(trimmedParts[len(trimmedParts)-1], "*") == "" {
		trimmedParts = trimmedParts[:len(trimmedParts)-1]
	}
	trimmed := path.Join(trimmedParts...)
	result := map[string]interface{}{}
	for name, content := range f.contents {
		var rel string
		switch {
		case base == "" || base == ".":
			rel = name
		case name == base:
			rel = ""
		case strings.HasPrefix(name, base+"/"):
			rel = strings.TrimPrefix(name, base+"/")
		default:
			continue
		}
		for _, g := range []string{glob, trimmed, path.Join(trimmed, "**", "*")} {
			matched := false
			if rel == "" {
				matched = g == ""
			} else if g != "" {
				matched, _ = doublestar.PathMatch(g, rel)
			}
			if matched {
				result[name] = content
				break
			}
		}
	}
	return result
}

func (f memFiles) Glob(pattern string) map[string]interface{} {
	if f.werf2 {
		return f.werf2Glob(pattern)
	}
	full := path.Join("/project", pattern)
	result := map[string]interface{}{}
	for name, content := range f.contents {
		if ok, _ := doublestar.PathMatch(full, path.Join("/project", name)); ok {
			result[name] = content
		}
	}
	if len(result) == 0 {
		return nil
	}
	return result
}

func (f memFiles) Exists(p string) bool {
	if _, ok := f.contents[path.Clean(strings.TrimPrefix(p, "/"))]; ok {
		return true
	}
	return f.IsDir(p)
}

func (f memFiles) IsDir(p string) bool {
	clean := path.Clean(strings.TrimPrefix(p, "/"))
	if clean == "." {
		return true
	}
	for name := range f.contents {
		if strings.HasPrefix(name, clean+"/") {
			return true
		}
	}
	return false
}

// diskFiles: .Files of a project directory, as werf v1.1's pkg/config/parser.go reads them
// (Exists and IsDir as werf 2 defines them).
type diskFiles struct {
	ProjectDir string
	werf2      bool
}

func (f diskFiles) Get(p string) string {
	filePath := filepath.Join(f.ProjectDir, filepath.FromSlash(p))
	if _, err := os.Stat(filePath); os.IsNotExist(err) {
		if f.werf2 {
			panic(fmt.Sprintf("{{ .Files.Get %q }}: the file %q not found in the project directory", p, p))
		}
		return ""
	}
	b, err := ioutil.ReadFile(filePath)
	if err != nil {
		return ""
	}
	return string(b)
}

func (f diskFiles) Glob(pattern string) map[string]interface{} {
	if f.werf2 {
		contents := map[string]string{}
		_ = filepath.Walk(f.ProjectDir, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			b, err := ioutil.ReadFile(p)
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(f.ProjectDir, p)
			contents[filepath.ToSlash(rel)] = string(b)
			return nil
		})
		return memFiles{contents, true}.werf2Glob(pattern)
	}
	result := map[string]interface{}{}
	err := walkByPattern(f.ProjectDir, filepath.FromSlash(pattern), func(p string, s os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if s.IsDir() {
			return nil
		}
		filePath := p
		if s.Mode()&os.ModeSymlink == os.ModeSymlink {
			link, err := filepath.EvalSymlinks(p)
			if err != nil {
				return err
			}
			linkStat, err := os.Lstat(link)
			if err != nil {
				return err
			}
			if linkStat.IsDir() {
				return nil
			}
			filePath = link
		}
		b, err := ioutil.ReadFile(filePath)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, f.ProjectDir+string(os.PathSeparator))
		result[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil || len(result) == 0 {
		return nil
	}
	return result
}

func (f diskFiles) Exists(p string) bool {
	_, err := os.Stat(filepath.Join(f.ProjectDir, filepath.FromSlash(p)))
	return err == nil
}

func (f diskFiles) IsDir(p string) bool {
	s, err := os.Stat(filepath.Join(f.ProjectDir, filepath.FromSlash(p)))
	return err == nil && s.IsDir()
}

// walkByPattern walks from the pattern's literal leading directories and reports every path
// that doublestar.PathMatch(dir/pattern, path) accepts; symlinks are not followed.
func walkByPattern(dir, pattern string, walkFunc filepath.WalkFunc) error {
	full := filepath.Join(dir, pattern)
	components := strings.Split(filepath.ToSlash(pattern), "/")
	literal := 0
	for ; literal < len(components); literal++ {
		if strings.ContainsAny(components[literal], "*?[{\\") {
			break
		}
	}
	if literal > 0 {
		dir = filepath.Join(append([]string{dir}, components[:literal]...)...)
	}
	return filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return walkFunc(p, info, err)
		}
		matched, err := doublestar.PathMatch(full, p)
		if err != nil {
			return walkFunc(p, info, err)
		}
		if matched {
			return walkFunc(p, info, nil)
		}
		return nil
	})
}

func execute(tmpl *template.Template, name string, data interface{}) (string, error) {
	buf := bytes.NewBuffer(nil)
	if err := tmpl.ExecuteTemplate(buf, name, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func funcMap(tmpl *template.Template, c testCase) template.FuncMap {
	env := c.Env
	fm := sprig.TxtFuncMap()
	delete(fm, "expandenv")
	fm["fromYaml"] = func(str string) (map[string]interface{}, error) {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(str), &m); err != nil {
			return nil, err
		}
		return m, nil
	}
	fm["include"] = func(name string, data interface{}) (string, error) {
		return execute(tmpl, name, data)
	}
	counter := 0
	fm["tpl"] = func(content string, data interface{}) (string, error) {
		counter++
		name := fmt.Sprintf("tpl-%d", counter)
		if _, err := tmpl.New(name).Parse(content); err != nil {
			return "", err
		}
		return execute(tmpl, name, data)
	}
	fm["env"] = func(value interface{}, args ...string) (string, error) {
		if len(args) > 1 {
			return "", fmt.Errorf("more than 1 optional argument prohibited")
		}
		v, found := env[fmt.Sprint(value)]
		if len(args) == 1 && (!found || v == "") {
			return args[0], nil
		}
		if !found && c.Werf2 && !c.Loose {
			return "", fmt.Errorf("the environment variable %q must be set or default must be provided", fmt.Sprint(value))
		}
		return v, nil
	}
	fm["required"] = func(msg string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(msg)
		} else if s, ok := val.(string); ok && s == "" {
			return val, errors.New(msg)
		}
		return val, nil
	}
	if c.Werf2 {
		fm["toYaml"] = func(v interface{}) string {
			data, err := yaml.Marshal(v)
			if err != nil {
				return ""
			}
			return strings.TrimSuffix(string(data), "\n")
		}
		fm["tpl_debug"] = fm["tpl"]
		fm["include_debug"] = fm["include"]
		fm["printf_debug"] = func(format string, args ...interface{}) string { return "" }
		fm["dump_debug"] = func(obj interface{}) string { return "" }
	}
	return fm
}

func templateData(c testCase, files interface{}) map[string]interface{} {
	data := map[string]interface{}{"Files": files}
	if c.WerfEnv != nil {
		data["Env"] = *c.WerfEnv
	} else if c.Werf2 {
		data["Env"] = ""
	}
	if c.Commit != nil {
		data["Commit"] = map[string]interface{}{
			"Hash": c.Commit.Hash,
			"Date": map[string]string{"Human": c.Commit.Human, "Unix": c.Commit.Unix},
		}
	}
	return data
}

func render(c testCase) (string, error) {
	tmpl := template.New("werfConfig")
	tmpl.Funcs(funcMap(tmpl, c))
	names := make([]string, 0, len(c.Partials))
	for name := range c.Partials {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := tmpl.New(name).Parse(c.Partials[name]); err != nil {
			return "", err
		}
	}
	if _, err := tmpl.Parse(c.Template); err != nil {
		return "", err
	}
	return execute(tmpl, "werfConfig", templateData(c, memFiles{c.Files, c.Werf2}))
}

// renderProject follows werf v1.1's parseWerfConfigYaml: partials first (filepath.Walk order),
// then werf.yaml, executed with .Files rooted at the werf.yaml's directory.
func renderProject(c testCase) (string, error) {
	config := c.Config
	if config == "" {
		config = "werf.yaml"
	}
	configPath := filepath.Join(c.Dir, config)
	data, err := ioutil.ReadFile(configPath)
	if err != nil {
		return "", err
	}
	tmpl := template.New("werfConfig")
	tmpl.Funcs(funcMap(tmpl, c))
	templatesDir := filepath.Join(c.Dir, ".werf")
	if _, err := os.Stat(templatesDir); err == nil {
		err := filepath.Walk(templatesDir, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if info.IsDir() {
				return nil
			}
			if matched, _ := filepath.Match("*.tmpl", info.Name()); !matched {
				return nil
			}
			name, err := filepath.Rel(templatesDir, p)
			if err != nil {
				return err
			}
			content, err := ioutil.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tmpl.New(name).Parse(string(content))
			return err
		})
		if err != nil {
			return "", err
		}
	}
	if _, err := tmpl.Parse(string(data)); err != nil {
		return "", err
	}
	return execute(tmpl, "werfConfig", templateData(c, diskFiles{filepath.Dir(configPath), c.Werf2}))
}

// canonical prints a value read from YAML with its Go types: "string:x", "int:1", "float64:1.5",
// "bool:true", "<nil>", "[a b]", "map[k:v]" (keys sorted by their canonical text).
func canonical(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case []interface{}:
		items := make([]string, len(x))
		for i, item := range x {
			items[i] = canonical(item)
		}
		return "[" + strings.Join(items, " ") + "]"
	case map[interface{}]interface{}:
		items := []string{}
		for k, item := range x {
			items = append(items, canonical(k)+":"+canonical(item))
		}
		sort.Strings(items)
		return "map[" + strings.Join(items, " ") + "]"
	case map[string]interface{}:
		items := []string{}
		for k, item := range x {
			items = append(items, canonical(k)+":"+canonical(item))
		}
		sort.Strings(items)
		return "map[" + strings.Join(items, " ") + "]"
	default:
		return fmt.Sprintf("%T:%v", v, v)
	}
}

type yamlResult struct {
	OK          bool   `json:"ok"`
	Value       string `json:"value"`
	Error       string `json:"error"`
	StrictOK    bool   `json:"strictOk"`
	StrictValue string `json:"strictValue"`
	StrictError string `json:"strictError"`
}

func readYaml(text string) (r yamlResult) {
	defer func() {
		if p := recover(); p != nil {
			r.Error = fmt.Sprintf("panic: %v", p)
		}
	}()
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		r.Error = err.Error()
	} else {
		r.OK, r.Value = true, canonical(m)
	}
	var strict map[string]interface{}
	if err := yaml.UnmarshalStrict([]byte(text), &strict); err != nil {
		r.StrictError = err.Error()
	} else {
		r.StrictOK, r.StrictValue = true, canonical(strict)
	}
	return r
}

func safely(f func() (string, error)) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

func main() {
	var input struct {
		Cases     []testCase `json:"cases"`
		Projects  []testCase `json:"projects"`
		Globs     []globCase `json:"globs"`
		Functions bool       `json:"functions"`
		Yaml      []string   `json:"yaml"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&input); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	output := map[string]interface{}{}
	results := make([]result, 0, len(input.Cases)+len(input.Projects))
	for _, c := range input.Cases {
		c := c
		out, err := safely(func() (string, error) { return render(c) })
		r := result{Name: c.Name, OK: err == nil, Output: out}
		if err != nil {
			r.Error = err.Error()
		}
		results = append(results, r)
	}
	for _, c := range input.Projects {
		c := c
		out, err := safely(func() (string, error) { return renderProject(c) })
		r := result{Name: c.Name, OK: err == nil, Output: out}
		if err != nil {
			r.Error = err.Error()
		}
		results = append(results, r)
	}
	output["results"] = results
	globs := make([]globResult, 0, len(input.Globs))
	for _, g := range input.Globs {
		matched, err := doublestar.PathMatch(g.Pattern, g.Name)
		r := globResult{Matched: matched}
		if err != nil {
			r.Error = err.Error()
		}
		globs = append(globs, r)
	}
	output["globs"] = globs
	yamls := make([]yamlResult, 0, len(input.Yaml))
	for _, text := range input.Yaml {
		yamls = append(yamls, readYaml(text))
	}
	output["yaml"] = yamls
	if input.Functions {
		names := []string{}
		for name := range sprig.TxtFuncMap() {
			names = append(names, name)
		}
		sort.Strings(names)
		output["functions"] = names
	}
	if err := json.NewEncoder(os.Stdout).Encode(output); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
