// Reference renderer for the differential tests: Go's text/template with Sprig and stand-ins
// for werf's own template functions. Reads {"cases": [...]} on stdin, writes {"results": [...]}.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"
)

type testCase struct {
	Name     string            `json:"name"`
	Template string            `json:"template"`
	Partials map[string]string `json:"partials"`
	Files    map[string]string `json:"files"`
	Env      map[string]string `json:"env"`
}

type result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Output string `json:"output"`
	Error  string `json:"error"`
}

type files struct {
	contents map[string]string
}

// Get returns a file's content, or "" for a missing file (werf v1.1 only warns).
func (f files) Get(p string) string {
	return f.contents[path.Clean(p)]
}

// Glob maps matching paths to contents; nil when nothing matches.
func (f files) Glob(pattern string) map[string]interface{} {
	result := map[string]interface{}{}
	for name, content := range f.contents {
		if ok, _ := path.Match(pattern, name); ok {
			result[name] = content
		}
	}
	if len(result) == 0 {
		return nil
	}
	return result
}

func execute(tmpl *template.Template, name string, data interface{}) (string, error) {
	buf := bytes.NewBuffer(nil)
	if err := tmpl.ExecuteTemplate(buf, name, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func funcMap(tmpl *template.Template, env map[string]string) template.FuncMap {
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
	return fm
}

func render(c testCase) (string, error) {
	tmpl := template.New("werfConfig")
	tmpl.Funcs(funcMap(tmpl, c.Env))
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
	return execute(tmpl, "werfConfig", map[string]interface{}{"Files": files{c.Files}})
}

func main() {
	var input struct {
		Cases []testCase `json:"cases"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&input); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	results := make([]result, 0, len(input.Cases))
	for _, c := range input.Cases {
		out, err := func() (out string, err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return render(c)
		}()
		r := result{Name: c.Name, OK: err == nil, Output: out}
		if err != nil {
			r.Error = err.Error()
		}
		results = append(results, r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"results": results}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
