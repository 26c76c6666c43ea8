package main

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"text/template"
	"unicode"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// The app `streamer init` writes: every file of template/app, its path and content
// rendered with initData, without the .tmpl suffix that keeps the Go tools away from
// the templates.
//
//go:embed all:template/app
var appTemplate embed.FS

// Versions the scaffold pins.
const (
	// streamerRelease is the version the app requires the Streamer modules at when this
	// CLI is not itself a release build (see releaseVersion): the version this tree's
	// modules require each other at (go.work replaces it here).
	streamerRelease = "v0.2.0"
	// cdkCLIVersion and cdkCLIIntegrity pin the CDK CLI in the app's package.json and
	// lockfile, as this repository's package-lock.json does.
	cdkCLIVersion   = "2.1148.1"
	cdkCLIIntegrity = "sha512-K3d02L17IwmAuiBWNuX1DzYhKUs9GrKYI7bZnGJfJ1bKz9ymXFxfudBOL3rUb8JAusDNSULiQU2fsJH7kyY2XA=="
	// dynamoDBLocalVersion and tslibVersion (its one dependency) pin DynamoDB Local, which
	// the app's make test starts, likewise.
	dynamoDBLocalVersion   = "11.1.0"
	dynamoDBLocalIntegrity = "sha512-xjxD55EBV8kA9dMYri+a9gXmQSWanzTOGf4O0wObsDahmy0oFo6+yUKNC1975lFDqxSoJF8ZOkj2f7gnG8YdeQ=="
	tslibVersion           = "2.9.1"
	tslibIntegrity         = "sha512-a4Ux9VKuIMHsOS7ENbEq6hK2ZGYIT27Rtl0E4eD9KqwxhKiQeMZE/9xb3IdYwWaSOyIBQLExhQgXDTYoiCxnWA=="
	// goVersion is the go line of the app's go.mod.
	goVersion = "1.26"
)

// initData fills the templates.
type initData struct {
	Name         string // the directory's base name
	Module       string // the app's module path
	StackName    string // the CloudFormation stack
	Checkout     string // absolute path of the Streamer checkout, "" for released modules
	Version      string // of the Streamer modules
	GoVersion    string
	CDKVersion   string
	CDKIntegrity string

	DynamoDBLocalVersion, DynamoDBLocalIntegrity string
	TSLibVersion, TSLibIntegrity                 string
}

// runInit implements `streamer init`.
func runInit(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "init", "init DIR [--module PATH] [--streamer CHECKOUT] [--no-tidy]")
	modPath := fs.String("module", "", "the app's module path (default: the directory's name)")
	checkout := fs.String("streamer", "", "a Streamer checkout the app uses through replace lines (default: the checkout this streamer was built from, when known; \"none\" for the released modules)")
	noTidy := fs.Bool("no-tidy", false, "do not run go mod tidy (which downloads the dependencies)")
	// Flags may follow DIR: parse what comes after it too.
	var dir string
	rest := args
	for {
		if code, ok := parseFlags(fs, rest); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		if dir != "" {
			fs.Usage()
			return exitUsage
		}
		dir, rest = fs.Arg(0), fs.Args()[1:]
	}
	if dir == "" {
		fmt.Fprintln(e.stderr, "streamer init: which directory? e.g. streamer init myapp")
		return exitUsage
	}
	data, err := newInitData(dir, *modPath, *checkout)
	if err != nil {
		fmt.Fprintln(e.stderr, "streamer init:", err)
		return exitUsage
	}
	if err := writeApp(dir, data); err != nil {
		fmt.Fprintln(e.stderr, "streamer init:", err)
		return exitError
	}
	if data.Checkout != "" {
		fmt.Fprintf(e.stderr, "streamer init: %s uses the Streamer checkout at %s (replace lines in go.mod)\n", dir, data.Checkout)
	} else {
		fmt.Fprintf(e.stderr, "streamer init: %s requires the released Streamer modules %s\n", dir, data.Version)
	}
	if !*noTidy {
		fmt.Fprintln(e.stderr, "streamer init: go mod tidy (downloads the dependencies; the CDK bindings are large)")
		tidy := exec.CommandContext(ctx, "go", "mod", "tidy")
		tidy.Dir = dir
		tidy.Env = append(os.Environ(), "GOWORK=off")
		tidy.Stdout, tidy.Stderr = e.stderr, e.stderr
		if err := tidy.Run(); err != nil {
			fmt.Fprintf(e.stderr, "streamer init: go mod tidy failed (%v); the files are written: fix the cause, then run it in %s\n", err, dir)
			return exitError
		}
	}
	fmt.Fprintf(e.stdout, "Created %s (module %s). Next:\n\n  cd %s\n  make dev     # run it here, with a page at http://127.0.0.1:8080/\n  make test\n  make synth   # the CloudFormation template of the stack %s\n\n", dir, data.Module, dir, data.StackName)
	return exitOK
}

// newInitData checks the command line and fills the templates' data.
func newInitData(dir, modPath, checkout string) (initData, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return initData{}, err
	}
	name := filepath.Base(abs)
	if modPath == "" {
		modPath = name
	}
	if err := module.CheckImportPath(modPath); err != nil {
		return initData{}, fmt.Errorf("%q is not a valid module path (use --module): %w", modPath, err)
	}
	d := initData{
		Name:         name,
		Module:       modPath,
		StackName:    stackName(name),
		Version:      releaseVersion(),
		GoVersion:    goVersion,
		CDKVersion:   cdkCLIVersion,
		CDKIntegrity: cdkCLIIntegrity,

		DynamoDBLocalVersion: dynamoDBLocalVersion, DynamoDBLocalIntegrity: dynamoDBLocalIntegrity,
		TSLibVersion: tslibVersion, TSLibIntegrity: tslibIntegrity,
	}
	switch checkout {
	case "none":
	case "":
		d.Checkout = builtFrom()
	default:
		if d.Checkout, err = filepath.Abs(checkout); err != nil {
			return initData{}, err
		}
		if !isCheckout(d.Checkout) {
			return initData{}, fmt.Errorf("--streamer %s: not a Streamer checkout (no runtime/go.mod of github.com/streamer-go/streamer/runtime)", checkout)
		}
	}
	return d, nil
}

// stackName turns a directory name into a CloudFormation stack name: "my-app" gives
// "MyApp".
func stackName(name string) string {
	var b strings.Builder
	upper := true
	for _, r := range name {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if upper {
				r = unicode.ToUpper(r)
			}
			b.WriteRune(r)
			upper = false
		default:
			upper = true
		}
	}
	s := b.String()
	if s == "" || !unicode.IsLetter(rune(s[0])) {
		s = "App" + s
	}
	return s
}

// releaseVersion is the version of the Streamer modules an app requires: this CLI's
// own when it was installed as a release (go install .../cmd/streamer@v0.2.0 builds
// it from the modules of that version), otherwise streamerRelease.
func releaseVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; semver.IsValid(v) && semver.Prerelease(v) == "" && !module.IsPseudoVersion(v) {
			return v
		}
	}
	return streamerRelease
}

// builtFrom returns the Streamer checkout this binary was compiled from, or "" when it
// is unknown: built with -trimpath, installed from the module cache, or moved.
func builtFrom() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(file))) // <root>/cmd/streamer/init.go
	if !isCheckout(root) {
		return ""
	}
	return root
}

var modulePattern = regexp.MustCompile(`^module\s+github\.com/streamer-go/streamer/runtime\s*$`)

// isCheckout reports whether dir holds the Streamer modules as a checkout does.
func isCheckout(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "constructs", "go.mod")); err != nil {
		return false
	}
	f, err := os.Open(filepath.Join(dir, "runtime", "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if modulePattern.MatchString(s.Text()) {
			return true
		}
	}
	return false
}

// writeApp renders the template into dir, which must not exist or be empty.
func writeApp(dir string, data initData) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty: choose a new directory", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	const root = "template/app"
	return fs.WalkDir(appTemplate, root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		src, err := appTemplate.ReadFile(p)
		if err != nil {
			return err
		}
		tmpl, err := template.New(p).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return fmt.Errorf("template %s: %w", p, err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, data); err != nil {
			return fmt.Errorf("template %s: %w", p, err)
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		dst := filepath.Join(dir, filepath.FromSlash(path.Clean(rel)))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if path.Ext(rel) == ".sh" {
			mode = 0o755
		}
		return os.WriteFile(dst, out.Bytes(), mode)
	})
}
