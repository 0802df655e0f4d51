package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; it
// is 100 on every Linux this runs on.
const clockTicks = 100

// Proc is one process the run watches.
type Proc struct {
	Name string
	PID  int
}

// stackProcs finds the local stack's processes through their pid files in
// runDir, plus this process. A process that is not found is left out and
// named in the returned warnings: the run goes on without its figures.
func stackProcs(runDir string) ([]Proc, []string) {
	files := []struct{ name, file string }{
		{"mariadbd", "mariadb/mariadbd.pid"},
		{"nats-server", "nats.pid"},
		{"account-service", "account-service.pid"},
		{"ledger-service", "ledger-service.pid"},
		{"outbox-relay", "outbox-relay.pid"},
	}
	var procs []Proc
	var warnings []string
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(runDir, f.file))
		pid, convErr := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil || convErr != nil {
			warnings = append(warnings, fmt.Sprintf("%s: no pid in %s", f.name, filepath.Join(runDir, f.file)))
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: pid %d is not running", f.name, pid))
			continue
		}
		procs = append(procs, Proc{Name: f.name, PID: pid})
	}
	return append(procs, Proc{Name: "bench", PID: os.Getpid()}), warnings
}

// Usage is a process's use of the machine over a phase.
type Usage struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// Sampler measures CPU time between Start and Stop and samples the resident
// set every 250 ms in between, keeping the peak.
type Sampler struct {
	procs    []Proc
	startCPU []int64
	peakKiB  []int64
	mu       sync.Mutex
	stop     chan struct{}
	done     chan struct{}
}

// StartSampler reads each process's CPU time now and starts sampling RSS.
func StartSampler(procs []Proc) *Sampler {
	s := &Sampler{procs: procs, startCPU: make([]int64, len(procs)), peakKiB: make([]int64, len(procs)),
		stop: make(chan struct{}), done: make(chan struct{})}
	for i, p := range procs {
		s.startCPU[i], _ = cpuTicks(p.PID)
	}
	s.sampleRSS()
	go s.loop()
	return s
}

func (s *Sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sampleRSS()
		}
	}
}

func (s *Sampler) sampleRSS() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.procs {
		if kib, err := rssKiB(p.PID); err == nil {
			s.peakKiB[i] = max(s.peakKiB[i], kib)
		}
	}
}

// Stop ends sampling and returns each process's CPU seconds since Start and
// its peak RSS.
func (s *Sampler) Stop() []Usage {
	close(s.stop)
	<-s.done
	s.sampleRSS()
	out := make([]Usage, len(s.procs))
	for i, p := range s.procs {
		end, _ := cpuTicks(p.PID)
		out[i] = Usage{Name: p.Name, PID: p.PID, CPUSeconds: float64(end-s.startCPU[i]) / clockTicks,
			PeakRSSMiB: float64(s.peakKiB[i]) / 1024}
	}
	return out
}

// cpuTicks returns utime+stime of pid in clock ticks.
func cpuTicks(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(raw))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and may
// hold spaces, so fields are counted after its closing parenthesis.
func parseStatCPU(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: bad utime/stime %q %q", f[11], f[12])
	}
	return utime + stime, nil
}

// rssKiB returns VmRSS of pid in KiB.
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
			return strconv.ParseInt(kib, 10, 64)
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS", pid)
}
