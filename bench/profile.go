package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Profile is what became of one service's CPU profile.
type Profile struct {
	Service string `json:"service"`
	File    string `json:"file,omitempty"`
	Note    string `json:"note,omitempty"`
}

// profileSeconds is how long to profile a load of d: most of it, leaving the
// first second out (connections warming up) and ending before the load does,
// and at most maxProfileSeconds.
func profileSeconds(d time.Duration) int {
	return max(1, min(int(d.Seconds())-2, maxProfileSeconds))
}

// maxProfileSeconds stays below the services' 30 s write timeout
// (web.WriteTimeout), which net/http/pprof refuses to profile beyond.
const maxProfileSeconds = 25

// startProfiles asks each service for a CPU profile of seconds and saves
// each under dir as <stem>-<service>.pprof. It returns at once; wait on the
// returned function for the results. A service without the pprof endpoint
// (404) is noted, not an error.
func startProfiles(ctx context.Context, services map[string]string, token string, seconds int, dir, stem string) func() []Profile {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var out []Profile
	hc := &http.Client{Timeout: time.Duration(seconds+30) * time.Second}
	for name, base := range services {
		wg.Go(func() {
			p := fetchProfile(ctx, hc, token, name, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, seconds),
				filepath.Join(dir, stem+"-"+name+".pprof"))
			mu.Lock()
			out = append(out, p)
			mu.Unlock()
		})
	}
	return func() []Profile {
		wg.Wait()
		return out
	}
}

func fetchProfile(ctx context.Context, hc *http.Client, token, name, url, file string) Profile {
	p := Profile{Service: name}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		p.Note = err.Error()
		return p
	}
	if token != "" { // profiles are for operators
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		p.Note = "fetch failed: " + err.Error()
		return p
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		p.Note = "no /debug/pprof endpoint (404); not profiled"
		return p
	}
	if res.StatusCode != http.StatusOK {
		p.Note = fmt.Sprintf("HTTP %d; not profiled", res.StatusCode)
		return p
	}
	f, err := os.Create(file)
	if err != nil {
		p.Note = err.Error()
		return p
	}
	defer f.Close()
	if _, err := io.Copy(f, res.Body); err != nil {
		p.Note = "save failed: " + err.Error()
		return p
	}
	p.File = file
	return p
}
