package systemtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Each injected bug's patch still applies to the current sources and still
// injects its bug: the package test it adds (TestBug*, in a *_bug_test.go)
// shows the bug's local effect in seconds, where the nemesis run that
// catches it takes minutes. A failure names the patch to make again; with
// -short only that each patch applies is checked.
func TestBugPatchesStillInjectTheirBugs(t *testing.T) {
	root := repoRoot()
	bugs, _ := filepath.Glob(filepath.Join(root, "systemtest", "testdata", "bugs", "*.patch"))
	if len(bugs) == 0 {
		t.Fatal("no bug patches in testdata/bugs")
	}
	for _, p := range bugs {
		t.Run(strings.TrimSuffix(filepath.Base(p), ".patch"), func(t *testing.T) {
			ov, err := overlay(root, t.TempDir(), p)
			if err != nil {
				t.Fatal(err)
			}
			if testing.Short() {
				return
			}
			paths, _ := patchedPaths(p)
			var pkgs []string
			for _, f := range paths {
				if strings.HasSuffix(f, "_bug_test.go") {
					pkgs = append(pkgs, "./"+filepath.Dir(f))
				}
			}
			if len(pkgs) == 0 {
				t.Fatalf("%s adds no *_bug_test.go that shows its bug", filepath.Base(p))
			}
			cmd := exec.Command("go", append([]string{"test", "-overlay", ov, "-count=1", "-v", "-run", "^TestBug"}, pkgs...)...)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestBug") {
				t.Fatalf("%s no longer shows its bug: %v\n%s", filepath.Base(p), err, out)
			}
		})
	}
}

// A patch whose context is gone from the current file is refused, naming
// the patch, rather than built into something else.
func TestOverlayRefusesAStalePatch(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a.go"), []byte("package a\n\nconst x = 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	patch := filepath.Join(root, "stale.patch")
	stale := "diff --git a/a.go b/a.go\n--- a/a.go\n+++ b/a.go\n@@ -1,3 +1,3 @@\n package a\n \n-const x = 1\n+const x = 3\n"
	if err := os.WriteFile(patch, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := overlay(root, t.TempDir(), patch)
	if err == nil || !strings.Contains(err.Error(), "stale.patch no longer applies") {
		t.Fatalf("err %v, want the stale patch named", err)
	}
	fresh := strings.Replace(stale, "-const x = 1", "-const x = 2", 1)
	if err := os.WriteFile(patch, []byte(fresh), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ov, err := overlay(root, dir, patch)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(ov)
	got, _ := os.ReadFile(filepath.Join(dir, "a.go"))
	if !strings.Contains(string(b), filepath.Join(root, "a.go")) || !strings.Contains(string(got), "const x = 3") {
		t.Fatalf("overlay %s maps to %q, want a.go patched", b, got)
	}
}
