// Command cnibench is the benchmark's container runtime: it drives plugins through libcni (the
// library containerd and CRI-O use), from one process, the way a runtime or Multus does, and
// times every libcni call from inside that process (its own start is in no figure).
//
// It reads one plan as JSON on stdin and writes the timings as JSON on stdout:
//
//	{"cniPath": "DIR[:DIR]", "cacheDir": "DIR", "concurrent": false,
//	 "pods": [{"containerId": "c1", "netns": "/run/netns/p", "confs": ["a.conf", "b.conf"]}],
//	 "execs": [{"argv": ["/path/prog", "arg"], "env": ["K=V"], "stdin": "optional", "anyStatus": false}]}
//
// A pod is ADD of every conf in order (interface eth0 for the first, net1, net2… for the
// others), then DEL of every conf in reverse. Pods run one after another, each ADD then DEL;
// with "concurrent", every pod's ADD starts at once (a goroutine each), then every pod's DEL.
// Then each exec runs once (stdin empty unless given, stdout /dev/null), timed from
// start to exit, as libcni times nothing but spawns plugins the same way; an exit status other
// than 0 fails the run unless "anyStatus". Output:
//
//	{"pods": [{"addMs": 12.3, "delMs": 4.5, "addCpuMs": 9.1, "delCpuMs": 3.2}], "execMs": [3.1], "addMaxRssKiB": 51234}
//
// addCpuMs/delCpuMs: user + system time of the plugin processes (sequential pods only).
// addMaxRssKiB is the largest peak RSS of any process waited for by the end of the ADDs
// (getrusage of the children): in a plan of one pod, its ADD's peak. Any failure: a message
// on stderr and exit status 1.
//
// Built offline against Debian's libcni sources (bench/run.ts does it):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o ../bin/cnibench .
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containernetworking/cni/libcni"
)

type pod struct {
	ContainerID string   `json:"containerId"`
	Netns       string   `json:"netns"`
	Confs       []string `json:"confs"`
}

type execSpec struct {
	Argv  []string `json:"argv"`
	Env   []string `json:"env"`
	Stdin string   `json:"stdin"`
	// AnyStatus: an exit status other than 0 is not a failure (a program timed for its start).
	AnyStatus bool `json:"anyStatus"`
}

type plan struct {
	CniPath    string     `json:"cniPath"`
	CacheDir   string     `json:"cacheDir"`
	Concurrent bool       `json:"concurrent"`
	Pods       []pod      `json:"pods"`
	Execs      []execSpec `json:"execs"`
}

type timing struct {
	AddMs float64 `json:"addMs"`
	DelMs float64 `json:"delMs"`
	// CPU time (user + system) of the plugin processes of the ADD and of the DEL; only when
	// pods run one after another (getrusage of the children cannot tell concurrent ones apart).
	AddCPUMs float64 `json:"addCpuMs,omitempty"`
	DelCPUMs float64 `json:"delCpuMs,omitempty"`
}

type runner struct {
	cni   *libcni.CNIConfig
	pods  []pod
	lists [][]*libcni.NetworkConfigList
	out   []timing
}

func main() {
	var p plan
	if err := json.NewDecoder(os.Stdin).Decode(&p); err != nil {
		fail(fmt.Errorf("reading the plan: %w", err))
	}
	r := &runner{
		cni:   libcni.NewCNIConfigWithCacheDir(filepath.SplitList(p.CniPath), p.CacheDir, nil),
		pods:  p.Pods,
		lists: make([][]*libcni.NetworkConfigList, len(p.Pods)),
		out:   make([]timing, len(p.Pods)),
	}
	for i, pd := range p.Pods {
		for _, f := range pd.Confs {
			l, err := loadList(f)
			if err != nil {
				fail(err)
			}
			r.lists[i] = append(r.lists[i], l)
		}
	}
	var addRss int64
	if p.Concurrent {
		all(len(p.Pods), "ADD", r.add)
		addRss = childrenMaxRss()
		all(len(p.Pods), "DEL", r.del)
	} else {
		for i := range p.Pods {
			c0 := childrenCPU()
			must("ADD", i, r.add(i))
			c1 := childrenCPU()
			if i == 0 {
				addRss = childrenMaxRss()
			}
			must("DEL", i, r.del(i))
			r.out[i].AddCPUMs, r.out[i].DelCPUMs = c1-c0, childrenCPU()-c1
		}
	}
	execMs := make([]float64, len(p.Execs))
	for i, e := range p.Execs {
		execMs[i] = run(e)
	}
	b, err := json.Marshal(map[string]interface{}{"pods": r.out, "execMs": execMs, "addMaxRssKiB": addRss})
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(b, '\n'))
}

func (r *runner) add(i int) error {
	t0 := time.Now()
	for k, l := range r.lists[i] {
		if _, err := r.cni.AddNetworkList(context.Background(), l, runtimeConf(r.pods[i], k)); err != nil {
			return err
		}
	}
	r.out[i].AddMs = ms(time.Since(t0))
	return nil
}

func (r *runner) del(i int) error {
	t0 := time.Now()
	for k := len(r.lists[i]) - 1; k >= 0; k-- {
		if err := r.cni.DelNetworkList(context.Background(), r.lists[i][k], runtimeConf(r.pods[i], k)); err != nil {
			return err
		}
	}
	r.out[i].DelMs = ms(time.Since(t0))
	return nil
}

// all runs fn for every pod at once, released together.
func all(n int, verb string, fn func(i int) error) {
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}(i)
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		must(verb, i, err)
	}
}

func must(verb string, i int, err error) {
	if err != nil {
		fail(fmt.Errorf("%s of pod %d: %w", verb, i, err))
	}
}

func run(e execSpec) float64 {
	cmd := exec.Command(e.Argv[0], e.Argv[1:]...)
	cmd.Env = e.Env
	if e.Stdin != "" {
		cmd.Stdin = strings.NewReader(e.Stdin)
	}
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		if _, exited := err.(*exec.ExitError); exited && e.AnyStatus {
			return ms(time.Since(t0))
		}
		fail(fmt.Errorf("%s: %w", strings.Join(e.Argv, " "), err))
	}
	return ms(time.Since(t0))
}

func childrenCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		fail(err)
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec)*1000 + float64(t.Usec)/1000 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func childrenMaxRss() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		fail(err)
	}
	return ru.Maxrss
}

func runtimeConf(p pod, k int) *libcni.RuntimeConf {
	ifname := "eth0"
	if k > 0 {
		ifname = fmt.Sprintf("net%d", k)
	}
	return &libcni.RuntimeConf{ContainerID: p.ContainerID, NetNS: p.Netns, IfName: ifname}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// loadList reads a .conflist, or a .conf wrapped into a one-plugin list (as containerd does).
func loadList(file string) (*libcni.NetworkConfigList, error) {
	if strings.HasSuffix(file, ".conflist") {
		return libcni.ConfListFromFile(file)
	}
	conf, err := libcni.ConfFromFile(file)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromConf(conf)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "cnibench: %v\n", err)
	os.Exit(1)
}
