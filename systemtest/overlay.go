package systemtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// repoRoot is the repository's directory, from this file's.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// patches lists the test hooks' patches and the named bugs', under root.
func patches(root string, bugs ...string) []string {
	ps, _ := filepath.Glob(filepath.Join(root, "systemtest", "testdata", "hooks", "*.patch")) // only a bad pattern fails
	for _, b := range bugs {
		ps = append(ps, filepath.Join(root, "systemtest", "testdata", "bugs", b+".patch"))
	}
	return ps
}

// overlay applies patches (unified diffs against the repository at root,
// as git diff writes them) to copies of the files they change, kept under
// dir, and returns the file for go build -overlay that puts the copies in
// place of the originals. The test hooks and injected bugs are built this
// way so that production sources hold neither. A patch that no longer
// applies to the current sources is an error naming it.
func overlay(root, dir string, patches ...string) (string, error) {
	replace := map[string]string{}
	for _, p := range patches {
		paths, err := patchedPaths(p)
		if err != nil {
			return "", err
		}
		for _, rel := range paths {
			src, dst := filepath.Join(root, rel), filepath.Join(dir, rel)
			if _, ok := replace[src]; ok {
				continue // an earlier patch's copy: patch it further
			}
			replace[src] = dst
			b, err := os.ReadFile(src)
			if errors.Is(err, fs.ErrNotExist) {
				continue // the patch creates it
			}
			if err == nil {
				err = os.MkdirAll(filepath.Dir(dst), 0o755)
			}
			if err == nil {
				err = os.WriteFile(dst, b, 0o644)
			}
			if err != nil {
				return "", err
			}
		}
		cmd := exec.Command("git", "apply", "--whitespace=nowarn", p)
		// dir is no repository: git apply patches the files under it, as
		// patch(1) would, and must not look for one above it.
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
		if out, err := cmd.CombinedOutput(); err != nil {
			name, _ := filepath.Rel(root, p)
			return "", fmt.Errorf("%s no longer applies to the current sources: %v\n%s"+
				"make the change again on the current files and save it with git diff (see systemtest/testdata/README)",
				name, err, out)
		}
	}
	b, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return "", err
	}
	file := filepath.Join(dir, "overlay.json")
	return file, os.WriteFile(file, b, 0o644)
}

// patchedPaths lists the files a unified diff changes or creates, relative
// to the root it was made in.
func patchedPaths(patch string) ([]string, error) {
	b, err := os.ReadFile(patch)
	if err != nil {
		return nil, err
	}
	var paths []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "+++ b/"); ok {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no file changed (+++ b/<path> lines)", patch)
	}
	return paths, nil
}
